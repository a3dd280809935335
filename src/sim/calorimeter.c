/* `cascade simulate calorimeter`: a fast parametric ATLAS-like Pb/LAr sampling calorimeter in
 * the CaloGAN layout (three layers of 3×96, 12×12 and 12×6 cells over 480×480 mm), hit at
 * normal incidence near its centre by e+, γ or π+ of 1–100 GeV.
 *
 * EM showers follow Gflash (Grindhammer & Peters, hep-ex/0001020; default tuning of Geant4's
 * GVFlashHomoShowerTuning): a Gamma longitudinal profile with correlated log-normal
 * fluctuations of T and α, and a two-component radial profile whose core and tail radii grow
 * with depth. Energy is deposited as spots: stratified in depth bins of 0.5 X0 along the
 * profile, radius drawn by inverting the radial CDF r²/(r²+R²). π+ travel as a MIP to an
 * exponentially distributed first interaction, then split into π0 photon sub-showers (Gflash)
 * and a deeper, broader non-EM part (Bock et al. 1981 λ-component) seen with h/e < 1.
 * datasets/README.md (calorimeter) documents every number here. */
#include <math.h>
#include <string.h>

#include "sim/sim.h"

#define CALO_KIND_ID 2

/* ---- geometry: Pb/LAr 2 mm / 4 mm, mass fractions 0.80 / 0.20 ---- */
#define X0_MM 15.6            /* radiation length of the mixture */
#define MOLIERE_MM 35.0       /* Molière radius R_M */
#define CRITICAL_MEV 9.3      /* critical energy Ec */
#define Z_EFF 69.0            /* mass-weighted Z (Gflash's Z) */
#define LAMBDA_PI_X0 28.0     /* π+ interaction length (1.17 nuclear λ_I = 24 X0) */
#define LAMBDA_I_X0 24.0      /* nuclear interaction length, scale of the hadronic profile */
#define HALF_SIZE_MM 240.0    /* every layer covers [-240, 240]² mm */
#define BIN_X0 0.5            /* depth bin of the profile tables; layer boundaries fall on bins */
#define DEPTH_X0 21.0         /* total depth */
#define NBINS 42              /* DEPTH_X0 / BIN_X0 */
#define SAMPLING_FRACTION 0.18 /* e/(all) deposited in LAr; stored energies are at the EM scale */
#define STOCHASTIC_EM 0.10    /* sampling term a of σ/E = a/√(E/GeV) */
#define STOCHASTIC_HAD 0.20   /* the same for the non-EM part */
#define E_OVER_H 1.5          /* non-EM energy is seen with h/e = 1/1.5 */
#define H_FLUCT 0.15          /* log-normal spread of the non-EM visible fraction */
#define MIP_MEV_PER_X0 12.6   /* most probable MIP deposit at the EM scale (8.8 MeV/X0 / e/mip 0.7) */
#define JITTER_MM 2.5         /* impact point uniform in ±2.5 mm (one strip width) */
#define PAIR_X0 (9.0 / 7.0)   /* photon conversion length */
#define CE_SHIFT (-0.812)     /* Gflash: <ln T> = ln(ln y + CE_SHIFT) */
#define SPOTS_MIN 200
#define SPOTS_MAX 20000
#define LAYER_MIN_SPOTS 96   /* per layer, unless that makes spots lighter than MIN_SPOT_MEV */
#define MIN_SPOT_MEV 1.0
#define TAIL_SHARE_MIN 0.5   /* fraction of spots drawn from the radial tail, at least */
#define MAX_SHOWERS 8         /* per event: 1 for e+/γ; π+: non-EM part + ≤ 7 π0 photons */

typedef struct {
    int rows, cols;
    double cell_h_mm, cell_w_mm; /* row (y) and column (x) pitch */
    double per_h_mm, per_w_mm;   /* their inverses (the spot loop multiplies) */
    double begin_x0, end_x0;
} calo_layer;

static const calo_layer LAYERS[3] = {
    {3, 96, 160.0, 5.0, 1 / 160.0, 1 / 5.0, 0.0, 3.0},    /* strips: fine in x (η) */
    {12, 12, 40.0, 40.0, 1 / 40.0, 1 / 40.0, 3.0, 19.0}, /* middle */
    {12, 6, 40.0, 80.0, 1 / 40.0, 1 / 80.0, 19.0, 21.0}, /* back */
};

enum { P_EPLUS, P_GAMMA, P_PIPLUS, P_MIX };
/* Sub-streams of an event (sim_rng_sub ids are flat, not nested): shower parameters, the π+
 * MIP track, one per π0 photon, one per shower's spots. The event stream itself draws the
 * particle, energy and impact point. */
enum { SUB_SHOWER = 1, SUB_MIP = 2, SUB_PHOTON = 16, SUB_SPOTS = 64 };
static const char *const PARTICLES[] = {"e+", "gamma", "pi+", "mix", NULL};
enum { F_LAYER0, F_LAYER1, F_LAYER2, F_ENERGY, F_OVERFLOW, F_PARTICLE_ID, F_COUNT };

typedef struct {
    int particle;
    double emin_gev, emax_gev, spots_per_gev;
} calo_cfg;

static cascade_status calo_configure(void *cfgp, sim_options *o) {
    calo_cfg *c = cfgp;
    memset(c, 0, sizeof *c);
    CASCADE_TRY(sim_opt_enum(o, "particle", PARTICLES, P_EPLUS, &c->particle));
    CASCADE_TRY(sim_opt_double(o, "emin", 1.0, 0.1, 1000.0, &c->emin_gev));
    CASCADE_TRY(sim_opt_double(o, "emax", 100.0, 0.1, 1000.0, &c->emax_gev));
    CASCADE_TRY(sim_opt_double(o, "spots-per-gev", 20.0, 0.0, 1000.0, &c->spots_per_gev));
    if (c->emin_gev > c->emax_gev)
        return cascade_fail(CASCADE_EUSAGE, "--emin %g --emax %g: emin must not exceed emax (GeV)", c->emin_gev,
                            c->emax_gev);
    return CASCADE_OK;
}

static int calo_fields(const void *cfgp, sim_field *f) {
    const calo_cfg *c = cfgp;
    int n = c->particle == P_MIX ? F_COUNT : F_PARTICLE_ID;
    const char *names[F_COUNT] = {"layer_0", "layer_1", "layer_2", "energy", "overflow", "particle_id"};
    for (int i = 0; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        strcpy(f[i].name, names[i]);
        f[i].type = i == F_PARTICLE_ID ? CASCADE_H5_I32 : CASCADE_H5_F32;
        if (i <= F_LAYER2) {
            f[i].ndim = 2;
            f[i].dims[0] = LAYERS[i].rows;
            f[i].dims[1] = LAYERS[i].cols;
        } else if (i != F_PARTICLE_ID) {
            f[i].ndim = 1;
            f[i].dims[0] = i == F_ENERGY ? 1 : 3;
        }
    }
    return n;
}


static int calo_attrs(const void *cfgp, sim_attr *a) {
    const calo_cfg *c = cfgp;
    int n = 0;
    sim_attr_text(a, &n, "particle", PARTICLES[c->particle]);
    if (c->particle == P_MIX) sim_attr_text(a, &n, "particle_id_codes", "0 e+, 1 gamma, 2 pi+ (uniform mix)");
    sim_attr_number(a, &n, "emin_GeV", c->emin_gev);
    sim_attr_number(a, &n, "emax_GeV", c->emax_gev);
    sim_attr_text(a, &n, "energy_spectrum", "uniform in [emin, emax]");
    sim_attr_text(a, &n, "cell_unit", "MeV (EM scale: deposited energy / sampling fraction)");
    sim_attr_text(a, &n, "energy_unit", "GeV (incident)");
    sim_attr_text(a, &n, "overflow_definition", "MeV per layer deposited outside the layer's 480x480 mm cells");
    sim_attr_text(a, &n, "layer_cells", "layer_0 3x96 of 160x5 mm, layer_1 12x12 of 40x40 mm, layer_2 12x6 of 40x80 mm "
                                     "(rows = y, columns = x)");
    sim_attr_number(a, &n, "layer_0_X0", LAYERS[0].end_x0 - LAYERS[0].begin_x0);
    sim_attr_number(a, &n, "layer_1_X0", LAYERS[1].end_x0 - LAYERS[1].begin_x0);
    sim_attr_number(a, &n, "layer_2_X0", LAYERS[2].end_x0 - LAYERS[2].begin_x0);
    sim_attr_text(a, &n, "medium", "Pb/LAr 2 mm/4 mm sampling");
    sim_attr_number(a, &n, "X0_mm", X0_MM);
    sim_attr_number(a, &n, "moliere_radius_mm", MOLIERE_MM);
    sim_attr_number(a, &n, "critical_energy_MeV", CRITICAL_MEV);
    sim_attr_number(a, &n, "z_eff", Z_EFF);
    sim_attr_number(a, &n, "lambda_int_X0", LAMBDA_I_X0);
    sim_attr_number(a, &n, "lambda_pi_X0", LAMBDA_PI_X0);
    sim_attr_number(a, &n, "sampling_fraction", SAMPLING_FRACTION);
    sim_attr_number(a, &n, "stochastic_term_em", STOCHASTIC_EM);
    sim_attr_number(a, &n, "stochastic_term_had", STOCHASTIC_HAD);
    sim_attr_number(a, &n, "e_over_h", E_OVER_H);
    sim_attr_number(a, &n, "mip_MeV_per_X0", MIP_MEV_PER_X0);
    sim_attr_number(a, &n, "impact_jitter_mm", JITTER_MM);
    sim_attr_number(a, &n, "spots_per_GeV", c->spots_per_gev);
    sim_attr_number(a, &n, "spots_min", SPOTS_MIN);
    sim_attr_text(a, &n, "em_model", "Gflash (Grindhammer & Peters) with Geant4 default homogeneous tuning");
    sim_attr_text(a, &n, "hadron_model", "MIP to first interaction; pi0 photon sub-showers (Gflash) + non-EM "
                                      "part (Bock et al. 1981 lambda profile)");
    return n;
}

/* ---- one shower: a Gamma longitudinal profile and a two-component radial profile ---- */

typedef struct {
    int hadronic;            /* 0: EM (Gflash radial profile), 1: non-EM hadronic part */
    double energy_gev;       /* energy the parametrisation is evaluated at */
    double visible_mev;      /* energy deposited at the EM scale, back leakage included */
    double t_start;          /* depth where the profile starts [X0] */
    double x_mm, y_mm;       /* axis at t_start */
    double dx_mm, dy_mm;     /* lateral drift of the axis per X0 of depth */
    double alpha, beta;      /* dE/dt ∝ (βt)^(α−1) e^(−βt), t from t_start [X0] */
    double tau_scale;        /* Gflash τ: depth in units of the shower maximum, corrected to <α> */
    double rc1, rc2;         /* EM radial parameters (Gflash), in R_M, τ-independent parts */
    double rt1, rt4, p1, p2, p3;
} shower;

/* Regularised lower incomplete gamma P(a, x) by its power series (x small here: one bin). */
static double gamma_p_series(double a, double x) {
    if (x <= 0) return 0;
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 300 && term > sum * 1e-13; n++) {
        term *= x / (a + n);
        sum += term;
    }
    return sum * exp(a * log(x) - x) / tgamma(a);
}

/* Gflash EM shower of `e_gev` starting at t_start; `tmax_shift` moves <ln T>'s argument
 * (photons: −ln 2, the pair shares the energy). Fluctuations from sub-stream r. */
static void em_shower(sim_rng *r, double e_gev, double t_start, double tmax_shift, shower *s) {
    memset(s, 0, sizeof *s);
    s->energy_gev = e_gev;
    s->t_start = t_start;
    double lny = log(e_gev * 1e3 / CRITICAL_MEV);
    if (lny < 2.0) lny = 2.0; /* parametrisation valid above ~70 MeV; lower energies share its shape */
    double ln_tmax = log(fmax(lny + CE_SHIFT + tmax_shift, 0.5));
    double mean_alpha = 0.81 + (0.458 + 2.26 / Z_EFF) * lny;
    double ln_alpha = log(mean_alpha);
    double sig_t = 1.0 / (-1.4 + 1.26 * lny), sig_a = 1.0 / (-0.58 + 0.86 * lny);
    double rho = 0.705 - 0.023 * lny;
    double z1 = sim_normal(r), z2 = sim_normal(r);
    double c1 = sqrt((1 + rho) / 2), c2 = sqrt((1 - rho) / 2);
    double tmax = exp(ln_tmax + sig_t * (c1 * z1 + c2 * z2));
    s->alpha = fmax(exp(ln_alpha + sig_a * (c1 * z1 - c2 * z2)), 1.05);
    s->beta = (s->alpha - 1.0) / tmax;
    s->tau_scale = (s->alpha - 1.0) / s->alpha * mean_alpha / (mean_alpha - 1.0) / tmax;
    double lne = log(fmax(e_gev, 0.05));
    s->rc1 = 0.0251 + 0.00319 * lne;
    s->rc2 = 0.1162 - 0.000381 * Z_EFF;
    s->rt1 = 0.659 - 0.00309 * Z_EFF;
    s->rt4 = 0.3585 + 0.0412 * lne;
    s->p1 = 2.632 - 0.00094 * Z_EFF;
    s->p2 = 0.401 + 0.00187 * Z_EFF;
    s->p3 = 1.313 - 0.0686 * lne;
    double k = e_gev / (STOCHASTIC_EM * STOCHASTIC_EM); /* sampling: σ/E = a/√E */
    s->visible_mev = e_gev * 1e3 * sim_gamma(r, k, 1.0 / k);
}

/* Radial parameters at depth u past the start: core radius, tail radius (R_M), core weight. */
static void radial_at(const shower *s, double u, double *rc, double *rt, double *p) {
    if (s->hadronic) { /* broad: ~R_M core, 4 R_M halo, both widening with depth */
        double grow = 1.0 + 0.03 * u;
        *rc = 1.0 * grow;
        *rt = 4.0 * grow;
        *p = 0.55;
        return;
    }
    double tau = u * s->tau_scale, q = (s->p2 - tau) / s->p3;
    *rc = s->rc1 + s->rc2 * tau;
    *rt = s->rt1 * (exp(-2.59 * (tau - 0.645)) + exp(s->rt4 * (tau - 0.645)));
    double pc = s->p1 * exp(q - exp(q));
    *p = pc < 0 ? 0 : pc > 1 ? 1 : pc;
}

/* Cell accumulators of one event (double: thousands of small spots). */
typedef struct {
    double cells[3][12 * 12 > 3 * 96 ? 12 * 12 : 3 * 96];
    double overflow[3];
} calo_acc;

static void deposit(calo_acc *acc, int layer, double x, double y, double e_mev) {
    const calo_layer *L = &LAYERS[layer];
    double col = (x + HALF_SIZE_MM) * L->per_w_mm, row = (y + HALF_SIZE_MM) * L->per_h_mm;
    if (col >= 0 && col < L->cols && row >= 0 && row < L->rows)
        acc->cells[layer][(int)row * L->cols + (int)col] += e_mev;
    else
        acc->overflow[layer] += e_mev;
}

/* A uniform split into two (26 and 27 bits): halves the Philox calls of the spot loop. */
static inline void two_uniforms(sim_rng *r, double *a, double *b) {
    double d = sim_uniform(r) * 67108864.0, f = floor(d);
    *a = f * (1.0 / 67108864.0);
    *b = d - f;
}

/* Integral of shower s's profile over each 0.5 X0 depth bin: exact (incomplete gamma) in the
 * bin holding the start, where t^(α−1) may diverge, midpoint rule after. Returns the sum. */
static double profile_bins(const shower *s, double *w) {
    double total = 0, log_norm = log(s->beta) - log(tgamma(s->alpha));
    for (int i = 0; i < NBINS; i++) {
        double lo = i * BIN_X0, hi = lo + BIN_X0;
        if (hi <= s->t_start) {
            w[i] = 0;
        } else if (lo <= s->t_start) {
            w[i] = gamma_p_series(s->alpha, s->beta * (hi - s->t_start));
        } else {
            double u = 0.5 * (lo + hi) - s->t_start;
            w[i] = BIN_X0 * exp((s->alpha - 1.0) * log(s->beta * u) - s->beta * u + log_norm);
        }
        total += w[i];
    }
    return total;
}

/* n spots of e_spot MeV on average over bins [b0, b1) of weight sum wsum, by systematic
 * sampling (each bin gets its share ±1 spot). At least TAIL_SHARE_MIN of the spots are drawn
 * from the radial tail (weighted down accordingly), so the sparse halo is resolved. Lateral: the radial CDF F(r) = r²/(r²+R²) inverted with a point
 * (u1, u2) uniform in the unit disc: q = u1²+u2² is uniform, so r = R √(q/(1−q)) and the offset
 * is R (u1, u2)/√(1−q) — one sqrt, no trig. */
static void spots_in_bins(const shower *s, sim_rng *r, const double *w, int b0, int b1, double wsum, int n,
                          double e_spot, int layer, calo_acc *acc) {
    double step = wsum / n, target = sim_uniform(r) * step, cum = 0, tail_acc = sim_uniform(r);
    int bin = b0 - 1;
    double rc = 0, rt = 0, p = 0, cx = 0, cy = 0, q_tail = 0.5, e_core = 0, e_tail = 0;
    for (int j = 0; j < n; j++, target += step) {
        int moved = 0;
        while (bin < b1 - 1 && (bin < b0 || cum + w[bin] <= target)) {
            if (bin >= b0) cum += w[bin];
            bin++;
            moved = 1;
        }
        if (moved) { /* radial parameters and axis at the bin's centre */
            double u = fmax((bin + 0.5) * BIN_X0 - s->t_start, 0.0);
            radial_at(s, u, &rc, &rt, &p);
            cx = s->x_mm + s->dx_mm * u;
            cy = s->y_mm + s->dy_mm * u;
            q_tail = fmax(1.0 - p, TAIL_SHARE_MIN); /* importance sampling, weights keep the mean */
            e_core = e_spot * p / (1.0 - q_tail);
            e_tail = e_spot * (1.0 - p) / q_tail;
        }
        tail_acc += q_tail; /* stratified: ⌊n q_tail⌋ or ⌈n q_tail⌉ tail spots, the sum stays put */
        int tail = tail_acc >= 1.0;
        if (tail) tail_acc -= 1.0;
        double radius = (tail ? rt : rc) * MOLIERE_MM, u1, u2, q;
        do {
            two_uniforms(r, &u1, &u2);
            u1 = 2.0 * u1 - 1.0;
            u2 = 2.0 * u2 - 1.0;
            q = u1 * u1 + u2 * u2;
        } while (q >= 1.0);
        double scale = radius / sqrt(1.0 - q);
        deposit(acc, layer, cx + u1 * scale, cy + u2 * scale, tail ? e_tail : e_core);
    }
}

/* Deposits shower s as about n_spots spots, shared among the layers by their energy; a layer
 * gets at least min(LAYER_MIN_SPOTS, E_layer / MIN_SPOT_MEV) spots, so the thin strip and back
 * layers are not drawn from a handful of heavy spots. Energy beyond 21 X0 leaks out. */
static void deposit_shower(const shower *s, sim_rng *r, int n_spots, calo_acc *acc) {
    double w[NBINS];
    double total = profile_bins(s, w);
    if (total <= 0 || n_spots < 1) return;
    double norm = total > 1.0 ? 1.0 / total : 1.0; /* midpoint excess: nothing leaks */
    for (int l = 0; l < 3; l++) {
        int b0 = (int)lround(LAYERS[l].begin_x0 / BIN_X0), b1 = (int)lround(LAYERS[l].end_x0 / BIN_X0);
        double wl = 0;
        for (int b = b0; b < b1; b++) wl += w[b];
        if (wl <= 0) continue;
        double e_layer = s->visible_mev * wl * norm;
        double n = ceil(n_spots * wl / total), floor_n = fmin(LAYER_MIN_SPOTS, floor(e_layer / MIN_SPOT_MEV));
        if (n < floor_n) n = floor_n;
        spots_in_bins(s, r, w, b0, b1, wl, (int)n, e_layer / n, l, acc);
    }
}

/* Moyal variate (Landau approximation, mode 0): −ln Z², Z ~ N(0, 1). */
static double moyal(sim_rng *r) {
    double z = sim_normal(r);
    return -log(fmax(z * z, 1e-300));
}

/* MIP track along the axis from the front to depth t_end: energy at the impact cell. */
static void deposit_mip(sim_rng *r, double x, double y, double t_end, calo_acc *acc) {
    for (int l = 0; l < 3; l++) {
        double len = fmin(t_end, LAYERS[l].end_x0) - LAYERS[l].begin_x0;
        if (len <= 0) break;
        double f = 1.0 + 0.15 / sqrt(len) * moyal(r);
        deposit(acc, l, x, y, MIP_MEV_PER_X0 * len * fmax(f, 0.3));
    }
}

static double beta_variate(sim_rng *r, double a, double b) {
    double x = sim_gamma(r, a, 1.0), y = sim_gamma(r, b, 1.0);
    return x / (x + y);
}

/* π+: MIP to the first interaction at t0 ~ Exp(λ_π); there a fraction f_em (Groom: mean
 * 1 − (E/1 GeV)^(−0.18), Beta-distributed) goes to π0 photons (1 + Poisson sub-showers,
 * Dirichlet energies, pT-kicked directions), the rest is a non-EM part with h/e < 1 and a
 * Bock λ-scale profile. Returns the number of showers written to s. */
static int pion_showers(sim_rng *ev, double e_gev, double x0, double y0, calo_acc *acc, shower *s) {
    double t0 = sim_exponential(ev, LAMBDA_PI_X0);
    sim_rng mip;
    sim_rng_sub(&mip, ev, SUB_MIP);
    deposit_mip(&mip, x0, y0, fmin(t0, DEPTH_X0), acc);
    if (t0 >= DEPTH_X0) return 0; /* punch-through: a MIP only */
    double mean_fem = fmax(1.0 - pow(e_gev, -0.18), 0.05), conc = 5.0;
    double fem = beta_variate(ev, mean_fem * conc, (1.0 - mean_fem) * conc);
    int n = 0;
    /* non-EM part */
    shower *h = &s[n++];
    memset(h, 0, sizeof *h);
    h->hadronic = 1;
    h->energy_gev = e_gev * (1.0 - fem);
    h->t_start = t0;
    h->x_mm = x0;
    h->y_mm = y0;
    double lg = log10(e_gev);
    h->alpha = (0.6165 + 0.3183 * lg) * exp(0.2 * sim_normal(ev));
    h->beta = (0.9099 - 0.0237 * lg) / LAMBDA_I_X0;
    double seen = exp(H_FLUCT * sim_normal(ev) - 0.5 * H_FLUCT * H_FLUCT) / E_OVER_H;
    double kh = fmax(h->energy_gev, 1e-3) / (STOCHASTIC_HAD * STOCHASTIC_HAD);
    h->visible_mev = h->energy_gev * 1e3 * seen * sim_gamma(ev, kh, 1.0 / kh);
    /* π0 photons */
    double e_em = e_gev * fem;
    long n_photons = 1 + sim_poisson(ev, fmin(log1p(e_em), 4.0));
    if (n_photons > MAX_SHOWERS - 1) n_photons = MAX_SHOWERS - 1;
    double share[MAX_SHOWERS], sum = 0;
    for (long k = 0; k < n_photons; k++) sum += share[k] = sim_exponential(ev, 1.0);
    for (long k = 0; k < n_photons; k++) {
        double eg = e_em * share[k] / sum;
        sim_rng sub;
        sim_rng_sub(&sub, ev, SUB_PHOTON + (uint64_t)k);
        shower *g = &s[n++];
        em_shower(&sub, fmax(eg, 1e-3), t0 + sim_exponential(&sub, PAIR_X0), -M_LN2, g);
        g->visible_mev *= eg / g->energy_gev; /* tiny photons keep their energy */
        double pt = 0.25 * sqrt(-2.0 * log(sim_uniform_pos(&sub))); /* Rayleigh, GeV */
        double theta = fmin(pt / fmax(eg, 1e-3), 0.8), phi = 2.0 * M_PI * sim_uniform(&sub);
        g->dx_mm = theta * cos(phi) * X0_MM;
        g->dy_mm = theta * sin(phi) * X0_MM;
        double lead = g->t_start - t0; /* the photon flew from the interaction point */
        g->x_mm = x0 + g->dx_mm * lead;
        g->y_mm = y0 + g->dy_mm * lead;
    }
    return n;
}

static void calo_generate(const void *cfgp, uint64_t seed, int64_t index, void *const *rows) {
    const calo_cfg *c = cfgp;
    sim_rng ev;
    sim_rng_init(&ev, seed, CALO_KIND_ID, index);
    int particle = c->particle == P_MIX ? (int)(sim_uniform(&ev) * 3.0) : c->particle;
    if (particle > P_PIPLUS) particle = P_PIPLUS;
    double e_gev = c->emin_gev + (c->emax_gev - c->emin_gev) * sim_uniform(&ev);
    double x0 = JITTER_MM * (2.0 * sim_uniform(&ev) - 1.0), y0 = JITTER_MM * (2.0 * sim_uniform(&ev) - 1.0);
    calo_acc acc;
    memset(&acc, 0, sizeof acc);
    shower s[MAX_SHOWERS];
    int n = 0;
    sim_rng sub;
    sim_rng_sub(&sub, &ev, SUB_SHOWER);
    if (particle == P_PIPLUS) {
        n = pion_showers(&sub, e_gev, x0, y0, &acc, s);
    } else {
        int photon = particle == P_GAMMA;
        em_shower(&sub, e_gev, photon ? sim_exponential(&sub, PAIR_X0) : 0.0, photon ? -M_LN2 : 0.0, &s[0]);
        s[0].x_mm = x0;
        s[0].y_mm = y0;
        n = 1;
    }
    double visible = 0;
    for (int k = 0; k < n; k++) visible += s[k].visible_mev;
    double spots = SPOTS_MIN + c->spots_per_gev * e_gev;
    if (spots > SPOTS_MAX) spots = SPOTS_MAX;
    for (int k = 0; k < n && visible > 0; k++) {
        sim_rng spot_rng;
        sim_rng_sub(&spot_rng, &ev, SUB_SPOTS + (uint64_t)k);
        int ns = (int)ceil(spots * s[k].visible_mev / visible);
        deposit_shower(&s[k], &spot_rng, ns < 8 ? 8 : ns, &acc);
    }
    for (int l = 0; l < 3; l++) {
        float *out = rows[F_LAYER0 + l];
        for (int i = 0; i < LAYERS[l].rows * LAYERS[l].cols; i++) out[i] = (float)acc.cells[l][i];
        ((float *)rows[F_OVERFLOW])[l] = (float)acc.overflow[l];
    }
    *(float *)rows[F_ENERGY] = (float)e_gev;
    if (c->particle == P_MIX) *(int32_t *)rows[F_PARTICLE_ID] = particle;
}

const sim_kind sim_kind_calorimeter = {
    .kind = "calorimeter",
    .id = CALO_KIND_ID,
    .help = "  --particle e+|gamma|pi+|mix  incident particle [e+]; mix: each event uniformly one of\n"
            "                          the three, written to particle_id (int32: 0 e+, 1 gamma, 2 pi+)\n"
            "  --emin E, --emax E      incident energy range [GeV], uniform [1, 100]\n"
            "  --spots-per-gev N       energy spots per GeV on top of 200 (speed vs. smoothness) [20]\n",
    .cfg_size = sizeof(calo_cfg),
    .configure = calo_configure,
    .fields = calo_fields,
    .attrs = calo_attrs,
    .generate = calo_generate,
};
