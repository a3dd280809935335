/* LArTPC particle transport: charge deposition by stepping along straight sub-pixel
 * steps, tracks with a Bragg peak and multiple scattering, and electromagnetic showers as a
 * branching process on a fixed-size stack (no allocation per event). Parametrisations and
 * their sources are listed in datasets/README.md (lartpc). */
#include <math.h>
#include <string.h>

#include "sim/lartpc.h"

/* Proton stopping power against residual range, dE/dx = A r^B (ArgoNeuT / MicroBooNE
 * calorimetry fit); other masses scale at equal velocity: r -> r * M_p / M. */
#define BRAGG_A 17.0 /* MeV/cm at r = 1 cm */
#define BRAGG_B (-0.42)
/* Birks recombination (ArgoNeuT, JINST 7 P10019): A_B / (1 + k_B dE/dx / (rho E)) at
 * E = 0.5 kV/cm. */
#define BIRKS_A 0.800
#define BIRKS_K (0.0486 / (LAR_DENSITY * 0.5)) /* cm/MeV */
/* Electromagnetic branching. */
#define PAIR_LENGTH (9.0 / 7.0 * LAR_X0_CM) /* photon conversion mean free path, cm */
#define BREM_KMIN 2.0          /* MeV: softer bremsstrahlung photons are not followed */
#define COMPTON_BELOW 10.0     /* MeV: photons below give one (Compton) electron */
#define MAX_GENERATION 12      /* deeper particles stop branching */
#define EM_STACK 256
#define MICHEL_MAX 52.8 /* MeV */
#define OUTSIDE_MARGIN 2.0 /* pixels beyond the image edge where transport stops */

void lartpc_image_init(lartpc_image *im, double pixel_cm) {
    memset(im->track, 0, sizeof im->track);
    memset(im->shower, 0, sizeof im->shower);
    im->pixel_cm = pixel_cm;
    im->inv_pixel_cm = 1.0 / pixel_cm;
    im->substep_cm = 0.25 * pixel_cm;
    im->inv_charge_unit = (1.0 + BIRKS_K * LAR_MIP_DEDX) / (BIRKS_A * LAR_MIP_DEDX * pixel_cm);
}

/* Collected charge [MIP units] of an energy loss dE over a path ds. */
static inline double collected(const lartpc_image *im, double dE, double ds) {
    double dedx = ds > 0 ? dE / ds : 0;
    return dE * BIRKS_A / (1.0 + BIRKS_K * dedx) * im->inv_charge_unit;
}

static inline void deposit(const lartpc_image *im, float *layer, const double x[3], double q) {
    double fw = x[0] * im->inv_pixel_cm, ft = x[1] * im->inv_pixel_cm;
    if (fw < 0 || ft < 0 || fw >= LARTPC_SIZE || ft >= LARTPC_SIZE) return;
    layer[(int)fw * LARTPC_SIZE + (int)ft] += (float)q;
}

static inline int outside(const lartpc_image *im, const double x[3]) {
    double fw = x[0] * im->inv_pixel_cm, ft = x[1] * im->inv_pixel_cm;
    return fw < -OUTSIDE_MARGIN || ft < -OUTSIDE_MARGIN || fw > LARTPC_SIZE + OUTSIDE_MARGIN ||
           ft > LARTPC_SIZE + OUTSIDE_MARGIN;
}

/* Straight line of length s with q_per_cm, deposited at the midpoints of sub-steps; moves x. */
static void deposit_line(const lartpc_image *im, float *layer, double x[3], const double d[3], double s,
                         double q_per_cm) {
    int n = (int)(s / im->substep_cm) + 1;
    double h = s / n, q = q_per_cm * h;
    for (int i = 0; i < 3; i++) x[i] += 0.5 * h * d[i];
    for (int k = 0; k < n; k++) {
        deposit(im, layer, x, q);
        for (int i = 0; i < 3; i++) x[i] += (k + 1 < n ? h : 0.5 * h) * d[i];
    }
}

void lartpc_normal_pair(sim_rng *r, double *a, double *b) {
    for (;;) {
        double u = 2.0 * sim_uniform(r) - 1.0, v = 2.0 * sim_uniform(r) - 1.0, s = u * u + v * v;
        if (s > 0 && s < 1) {
            double f = sqrt(-2.0 * log(s) / s);
            *a = u * f;
            *b = v * f;
            return;
        }
    }
}

void lartpc_basis(const double d[3], double u[3], double v[3]) {
    double a[3] = {0, 0, 0};
    a[fabs(d[0]) < 0.6 ? 0 : 1] = 1.0; /* an axis far from d */
    double ad = a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
    for (int i = 0; i < 3; i++) u[i] = a[i] - ad * d[i];
    double un = 1.0 / sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    for (int i = 0; i < 3; i++) u[i] *= un;
    v[0] = d[1] * u[2] - d[2] * u[1];
    v[1] = d[2] * u[0] - d[0] * u[2];
    v[2] = d[0] * u[1] - d[1] * u[0];
}

/* Turns unit vector d by a small random angle: projected angles N(0, theta0) each. */
static void kick(sim_rng *r, double d[3], double theta0) {
    if (!(theta0 > 0)) return;
    if (theta0 > 1.0) theta0 = 1.0; /* small-angle form; beyond that the direction is random enough */
    double u[3], v[3];
    lartpc_basis(d, u, v);
    double ta, tb;
    lartpc_normal_pair(r, &ta, &tb);
    ta *= theta0;
    tb *= theta0;
    double n2 = 0;
    for (int i = 0; i < 3; i++) {
        d[i] += ta * u[i] + tb * v[i];
        n2 += d[i] * d[i];
    }
    double dn = 1.0 / sqrt(n2);
    for (int i = 0; i < 3; i++) d[i] *= dn;
}

/* Highland (PDG 34.16) without the 1/(beta p) factor, for a step s [cm]: MeV. */
static double highland(double s) {
    double t = s / LAR_X0_CM;
    double f = 1.0 + 0.038 * log(t);
    return f > 0 ? 13.6 * sqrt(t) * f : 0.0;
}

/* Range-energy law of one species: Bragg-law below r_mip, minimum ionisation above. */
typedef struct {
    double mass, A, rmip, Tmip, lambda;
} range_law;

static range_law law_of(lartpc_species s) {
    range_law L;
    L.mass = s == LARTPC_MUON ? MASS_MUON : s == LARTPC_PION ? MASS_PION : MASS_PROTON;
    L.A = BRAGG_A * pow(MASS_PROTON / L.mass, BRAGG_B);
    L.rmip = pow(LAR_MIP_DEDX / L.A, 1.0 / BRAGG_B); /* A r^B = MIP */
    L.Tmip = LAR_MIP_DEDX * L.rmip / (BRAGG_B + 1.0);
    L.lambda = s == LARTPC_MUON ? 0.0 : LAR_LAMBDA_INT;
    return L;
}

/* Kinetic energy of a particle with residual range r, and its inverse. */
static inline double energy_at_range(const range_law *L, double r) {
    if (r >= L->rmip) return L->Tmip + (r - L->rmip) * LAR_MIP_DEDX;
    return r > 0 ? L->A / (BRAGG_B + 1.0) * pow(r, BRAGG_B + 1.0) : 0.0;
}

static double range_at_energy(const range_law *L, double T) {
    if (T >= L->Tmip) return L->rmip + (T - L->Tmip) / LAR_MIP_DEDX;
    return pow((BRAGG_B + 1.0) * T / L->A, 1.0 / (BRAGG_B + 1.0));
}

int lartpc_track(lartpc_image *im, sim_rng *r, lartpc_species species, double x[3], double d[3], double T) {
    range_law L = law_of(species);
    double R = range_at_energy(&L, T);
    double to_interaction = L.lambda > 0 ? sim_exponential(r, L.lambda) : INFINITY;
    double segment = im->pixel_cm; /* one multiple-scattering kick per pixel of path */
    double Tnow = energy_at_range(&L, R);
    while (R > 0) {
        double s = segment < R ? segment : R;
        int interacts = 0;
        if (s >= to_interaction) {
            s = to_interaction;
            interacts = 1;
        }
        to_interaction -= s;
        int n = (int)(s / im->substep_cm) + 1;
        double h = s / n;
        for (int k = 0; k < n; k++) {
            double r1 = R - h > 0 ? R - h : 0.0, T1 = energy_at_range(&L, r1);
            for (int i = 0; i < 3; i++) x[i] += 0.5 * h * d[i];
            deposit(im, im->track, x, collected(im, Tnow - T1, h));
            for (int i = 0; i < 3; i++) x[i] += 0.5 * h * d[i];
            R = r1;
            Tnow = T1;
        }
        if (interacts || outside(im, x)) return 0;
        if (R <= 0) return 1;
        double p = sqrt(Tnow * (Tnow + 2.0 * L.mass)), beta = p / (Tnow + L.mass);
        kick(r, d, highland(s) / (beta * p));
    }
    return 1;
}

double lartpc_michel_energy(sim_rng *r) {
    for (;;) { /* rejection under the maximum 1 at x = 1 */
        double x = sim_uniform(r);
        if (sim_uniform(r) < x * x * (3.0 - 2.0 * x)) return MICHEL_MAX * x;
    }
}

typedef struct {
    double x[3], d[3], E;
    int generation, photon;
} em_particle;

static int push(em_particle *stack, int *n, const double x[3], const double d[3], double E, int generation,
                int photon) {
    if (*n == EM_STACK) return 0;
    em_particle *p = &stack[(*n)++];
    memcpy(p->x, x, sizeof p->x);
    memcpy(p->d, d, sizeof p->d);
    p->E = E;
    p->generation = generation;
    p->photon = photon;
    return 1;
}

/* Path to the next bremsstrahlung photon harder than BREM_KMIN: the 1/k spectrum gives
 * (4/3) ln(E / k_min) such photons per radiation length. */
static double next_brem(sim_rng *r, double E, int generation) {
    if (generation >= MAX_GENERATION || E <= 1.01 * BREM_KMIN) return INFINITY;
    return sim_exponential(r, LAR_X0_CM / (4.0 / 3.0 * log(E / BREM_KMIN)));
}

/* An electron of kinetic energy E: ionisation at minimum dE/dx, radiating photons (pushed on
 * the stack) and scattering, until it ranges out or leaves the image. */
static void electron(lartpc_image *im, sim_rng *r, em_particle *stack, int *n, em_particle e) {
    double q_per_cm = LAR_MIP_DEDX * BIRKS_A / (1.0 + BIRKS_K * LAR_MIP_DEDX) * im->inv_charge_unit;
    double E = e.E, to_brem = next_brem(r, E, e.generation);
    while (E > 0) {
        double s = im->pixel_cm, range = E / LAR_MIP_DEDX;
        if (range < s) s = range;
        int brem = to_brem <= s;
        if (brem) s = to_brem;
        deposit_line(im, im->shower, e.x, e.d, s, q_per_cm);
        E -= LAR_MIP_DEDX * s;
        to_brem -= s;
        if (outside(im, e.x) || E <= 0) return;
        if (brem) {
            double k = E * pow(BREM_KMIN / E, sim_uniform(r)); /* dN/dk ~ 1/k on [k_min, E] */
            if (k < E) {
                double dg[3] = {e.d[0], e.d[1], e.d[2]};
                kick(r, dg, MASS_ELECTRON / E);
                E -= k;
                if (!push(stack, n, e.x, dg, k, e.generation + 1, 1))
                    deposit(im, im->shower, e.x, k * q_per_cm / LAR_MIP_DEDX); /* stack full: absorb here */
            }
            to_brem = next_brem(r, E, e.generation);
        }
        kick(r, e.d, highland(s) / sqrt(E * (E + 2.0 * MASS_ELECTRON)));
    }
}

/* A photon: a gap (exponential conversion length), then an e+e- pair or, when soft or too
 * deep in the cascade, a single electron. */
static void photon(lartpc_image *im, sim_rng *r, em_particle *stack, int *n, em_particle g) {
    double gap = sim_exponential(r, PAIR_LENGTH);
    for (int i = 0; i < 3; i++) g.x[i] += gap * g.d[i];
    if (outside(im, g.x)) return;
    int generation = g.generation + 1;
    double q_per_mev = BIRKS_A / (1.0 + BIRKS_K * LAR_MIP_DEDX) * im->inv_charge_unit;
    if (g.E < COMPTON_BELOW || g.generation >= MAX_GENERATION) {
        kick(r, g.d, 0.5);
        if (!push(stack, n, g.x, g.d, g.E, generation, 0)) deposit(im, im->shower, g.x, g.E * q_per_mev);
        return;
    }
    double kinetic = g.E - 2.0 * MASS_ELECTRON, z = sim_uniform(r); /* Bethe-Heitler: ~flat share */
    double share[2] = {z * kinetic, (1.0 - z) * kinetic};
    for (int k = 0; k < 2; k++) {
        double d[3] = {g.d[0], g.d[1], g.d[2]};
        if (share[k] <= 0) continue;
        kick(r, d, MASS_ELECTRON / (share[k] + MASS_ELECTRON));
        if (!push(stack, n, g.x, d, share[k], generation, 0)) deposit(im, im->shower, g.x, share[k] * q_per_mev);
    }
}

void lartpc_em(lartpc_image *im, sim_rng *r, const double x[3], const double d[3], double E, int is_photon) {
    em_particle stack[EM_STACK];
    int n = 0;
    push(stack, &n, x, d, E, 0, is_photon);
    while (n > 0) {
        em_particle p = stack[--n];
        if (p.photon)
            photon(im, r, stack, &n, p);
        else
            electron(im, r, stack, &n, p);
    }
}
