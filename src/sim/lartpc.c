/* `cascade simulate lartpc`: MicroBooNE-like neutrino events as 64x64 wire x time images of
 * deposited charge with per-pixel labels (empty / track / shower), the event class
 * (nu_mu CC, nu_e CC, NC) and the neutrino energy. Event kinematics and detector effects
 * live here, the particle transport in lartpc_transport.c; datasets/README.md (lartpc) documents
 * every parametrisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/lartpc.h"

#define MAX_PRIMARIES 12
#define MICHEL_PROBABILITY 0.25 /* mu- decays (not captured) in argon: tau_Ar / tau_mu ~ 0.25 */
#define PROTON_MIN_T 10.0       /* MeV: softer protons leave no visible track */
#define PION_MIN_T 10.0
#define WIRE_NOISE_KNOTS 8 /* samples between knots of the correlated wire noise */

typedef struct {
    double fraction[3];            /* class probabilities (normalised) */
    double energy_min, energy_max; /* GeV */
    double noise, wire_noise;      /* MIP units */
    double dead_wires;             /* probability that a wire is dead */
    double pixel_cm;
    double label_threshold; /* MIP units of noise-free charge for a labelled pixel */
} lartpc_cfg;

/* ---- options ---- */

static cascade_status parse_fractions(sim_options *o, double f[3]) {
    f[0] = f[1] = f[2] = 1.0 / 3.0;
    const char *v = NULL;
    int found = 0;
    for (int i = 0; i < o->n && !found; i++)
        if (strcmp(o->opt[i].key, "fractions") == 0) {
            o->opt[i].used = 1;
            v = o->opt[i].value;
            found = 1;
        }
    if (!found) return CASCADE_OK;
    const char *p = v ? v : "";
    double sum = 0;
    for (int k = 0; k < 3; k++) {
        char *end;
        f[k] = strtod(p, &end);
        int sep_ok = k < 2 ? *end == ',' : *end == 0;
        if (end == p || !sep_ok || !isfinite(f[k]) || f[k] < 0)
            return cascade_fail(CASCADE_EUSAGE,
                                "--fractions needs three non-negative numbers a,b,c (nu_mu CC, nu_e CC, NC), "
                                "got '%s'",
                                v ? v : "");
        sum += f[k];
        p = end + 1;
    }
    if (!(sum > 0)) return cascade_fail(CASCADE_EUSAGE, "--fractions %s: the fractions sum to zero", v);
    for (int k = 0; k < 3; k++) f[k] /= sum;
    return CASCADE_OK;
}

static cascade_status configure(void *cfg, sim_options *o) {
    lartpc_cfg *c = cfg;
    CASCADE_TRY(parse_fractions(o, c->fraction));
    CASCADE_TRY(sim_opt_double(o, "energy-min", 0.2, 0.2, 100.0, &c->energy_min));
    CASCADE_TRY(sim_opt_double(o, "energy-max", 3.0, 0.2, 100.0, &c->energy_max));
    if (c->energy_max < c->energy_min)
        return cascade_fail(CASCADE_EUSAGE, "--energy-max %g is below --energy-min %g", c->energy_max, c->energy_min);
    CASCADE_TRY(sim_opt_double(o, "noise", 0.05, 0.0, 10.0, &c->noise));
    CASCADE_TRY(sim_opt_double(o, "wire-noise", 0.03, 0.0, 10.0, &c->wire_noise));
    CASCADE_TRY(sim_opt_double(o, "dead-wires", 0.03, 0.0, 1.0, &c->dead_wires));
    CASCADE_TRY(sim_opt_double(o, "pixel-cm", 1.0, 0.1, 10.0, &c->pixel_cm));
    CASCADE_TRY(sim_opt_double(o, "label-threshold", 0.1, 0.0, 100.0, &c->label_threshold));
    return CASCADE_OK;
}

static int fields(const void *cfg, sim_field *f) {
    (void)cfg;
    f[0] = (sim_field){"charge", CASCADE_H5_F32, 2, {LARTPC_SIZE, LARTPC_SIZE}};
    f[1] = (sim_field){"pixel_label", CASCADE_H5_U8, 2, {LARTPC_SIZE, LARTPC_SIZE}};
    f[2] = (sim_field){"event_label", CASCADE_H5_I32, 0, {0}};
    f[3] = (sim_field){"energy", CASCADE_H5_F32, 0, {0}};
    return 4;
}


static int attrs(const void *cfg, sim_attr *a) {
    const lartpc_cfg *c = cfg;
    int n = 0;
    sim_attr_number(a, &n, "fraction_numu_cc", c->fraction[0]);
    sim_attr_number(a, &n, "fraction_nue_cc", c->fraction[1]);
    sim_attr_number(a, &n, "fraction_nc", c->fraction[2]);
    sim_attr_number(a, &n, "energy_min_GeV", c->energy_min);
    sim_attr_number(a, &n, "energy_max_GeV", c->energy_max);
    sim_attr_number(a, &n, "noise", c->noise);
    sim_attr_number(a, &n, "wire_noise", c->wire_noise);
    sim_attr_number(a, &n, "dead_wire_fraction", c->dead_wires);
    sim_attr_number(a, &n, "pixel_cm", c->pixel_cm);
    sim_attr_number(a, &n, "label_threshold", c->label_threshold);
    sim_attr_number(a, &n, "radiation_length_cm", LAR_X0_CM);
    sim_attr_number(a, &n, "mip_dEdx_MeV_per_cm", LAR_MIP_DEDX);
    sim_attr_number(a, &n, "michel_probability", MICHEL_PROBABILITY);
    sim_attr_text(a, &n, "axes", "charge[event][wire][time]; beam along +wire");
    sim_attr_text(a, &n, "charge_unit", "MIP: charge of a minimum-ionising particle crossing one pixel along the wire axis");
    sim_attr_text(a, &n, "pixel_labels", "0 empty, 1 track (mu, p, pi+-), 2 shower (e, gamma)");
    sim_attr_text(a, &n, "event_labels", "0 nu_mu CC, 1 nu_e CC, 2 NC (pi0)");
    sim_attr_text(a, &n, "energy_unit", "GeV (neutrino energy)");
    sim_attr_text(a, &n, "dead_wires", "dead wires read 0 charge; their pixel labels keep the truth");
    return n;
}

/* ---- kinematics ---- */

typedef struct {
    enum { PRIMARY_TRACK, PRIMARY_ELECTRON, PRIMARY_PHOTON } kind;
    lartpc_species species;
    double x[3], d[3];
    double energy; /* kinetic [MeV] */
} primary;

typedef struct {
    primary p[MAX_PRIMARIES];
    int n;
} primary_list;

static void add(primary_list *L, int kind, lartpc_species species, const double x[3], const double d[3], double T) {
    if (L->n == MAX_PRIMARIES) return;
    primary *p = &L->p[L->n++];
    p->kind = kind;
    p->species = species;
    memcpy(p->x, x, sizeof p->x);
    memcpy(p->d, d, sizeof p->d);
    p->energy = T;
}

/* Unit vector at polar angle acos(cos_theta) around axis, azimuth phi. */
static void around(const double axis[3], double cos_theta, double phi, double out[3]) {
    double u[3], v[3];
    lartpc_basis(axis, u, v);
    double s = sqrt(fmax(0.0, 1.0 - cos_theta * cos_theta)), cp = cos(phi), sp = sin(phi);
    for (int i = 0; i < 3; i++) out[i] = cos_theta * axis[i] + s * (cp * u[i] + sp * v[i]);
}

static const double beam[3] = {1, 0, 0};

/* Hadrons sharing kinetic energy W [MeV]: forward-biased protons and charged pions. */
static void hadrons(primary_list *L, sim_rng *r, const double x[3], double W) {
    int n_pion = W > 250 ? (int)fmin(2, sim_poisson(r, W / 800.0)) : 0;
    int n_proton = 1 + (int)fmin(3, sim_poisson(r, 0.3 + W / 1000.0));
    double visible = W * (0.3 + 0.5 * sim_uniform(r)); /* the rest: neutrons, binding */
    while (n_pion > 0 && visible < n_pion * (MASS_PION + 20.0)) n_pion--;
    visible -= n_pion * MASS_PION;
    double weight[6], sum = 0;
    int n = n_proton + n_pion;
    for (int i = 0; i < n; i++) sum += weight[i] = sim_exponential(r, 1.0); /* flat Dirichlet shares */
    for (int i = 0; i < n; i++) {
        double T = visible * weight[i] / sum, d[3];
        around(beam, 2.0 * sqrt(sim_uniform(r)) - 1.0, 2.0 * M_PI * sim_uniform(r), d);
        int is_pion = i >= n_proton;
        if (T >= (is_pion ? PION_MIN_T : PROTON_MIN_T))
            add(L, PRIMARY_TRACK, is_pion ? LARTPC_PION : LARTPC_PROTON, x, d, T);
    }
}

/* Inelasticity y ~ Beta(1, 2) (mean 1/3), capped so the lepton carries `lepton_min` [MeV]. */
static double inelasticity(sim_rng *r, double E, double lepton_min) {
    double y = 1.0 - sqrt(sim_uniform_pos(r)), ymax = 1.0 - lepton_min / E;
    return y < ymax ? y : ymax;
}

/* CC lepton of mass m: energy (1 - y) E; angle from Q^2 = 2 M_p nu x_Bj, x_Bj ~ U(0.1, 1). */
static double cc_lepton(primary_list *L, sim_rng *r, const double x[3], double E, double m, int kind) {
    double y = inelasticity(r, E, m + 10.0), El = (1.0 - y) * E, nu = E - El;
    double pl = sqrt(El * El - m * m), Q2 = 2.0 * MASS_PROTON * nu * (0.1 + 0.9 * sim_uniform(r));
    double c = (2.0 * E * El - m * m - Q2) / (2.0 * E * pl), d[3];
    around(beam, fmax(-1.0, fmin(1.0, c)), 2.0 * M_PI * sim_uniform(r), d);
    add(L, kind, LARTPC_MUON, x, d, El - m);
    return nu;
}

/* pi0 of total energy Epi along d -> two photons (isotropic decay, boosted). */
static void pi0_decay(primary_list *L, sim_rng *r, const double x[3], const double d[3], double Epi) {
    double gamma = Epi / MASS_PI0, beta = sqrt(fmax(0.0, 1.0 - 1.0 / (gamma * gamma)));
    double cs = 2.0 * sim_uniform(r) - 1.0, sn = sqrt(1.0 - cs * cs), phi = 2.0 * M_PI * sim_uniform(r);
    for (int k = 0; k < 2; k++) {
        double c = k ? -cs : cs; /* back to back in the rest frame */
        double par = gamma * (c + beta), perp = sn, E = 0.5 * Epi * (1.0 + beta * c), dg[3];
        around(d, par / sqrt(par * par + perp * perp), phi + k * M_PI, dg);
        add(L, PRIMARY_PHOTON, LARTPC_MUON, x, dg, E);
    }
}

static void neutral_current(primary_list *L, sim_rng *r, const double x[3], double E) {
    double nu = inelasticity(r, E, 0.0) * E;
    if (nu < MASS_PI0 + 20.0) nu = MASS_PI0 + 20.0; /* energy-min >= 0.2 GeV keeps this <= E */
    double Epi = MASS_PI0 + (0.3 + 0.5 * sim_uniform(r)) * (nu - MASS_PI0), d[3];
    around(beam, 2.0 * sqrt(sim_uniform(r)) - 1.0, 2.0 * M_PI * sim_uniform(r), d);
    pi0_decay(L, r, x, d, Epi);
    hadrons(L, r, x, nu - Epi);
}

/* ---- detector ---- */

/* n standard normal draws (n even) for the noise: Marsaglia's polar method in float on
 * 24-bit uniforms, two attempts per Philox block of the stream (the pixel noise is most of
 * an event's random numbers). */
static void noise_normals(sim_rng *r, float *out, int n) {
    uint32_t w[4];
    for (int k = 0; k < n;) {
        cascade_philox(r->seed, r->purpose, r->event, r->draw++, w);
        for (int j = 0; j < 4 && k < n; j += 2) {
            float u = 2.0f * cascade_u01f(w[j]) - 1.0f, v = 2.0f * cascade_u01f(w[j + 1]) - 1.0f;
            float s = u * u + v * v;
            if (s >= 1.0f || s == 0.0f) continue;
            float f = sqrtf(-2.0f * logf(s) / s);
            out[k++] = u * f;
            out[k++] = v * f;
        }
    }
}

/* Noise-free charge -> labels; + noise correlated along each wire (Gaussian knots every
 * WIRE_NOISE_KNOTS samples, linearly interpolated) + Gaussian pixel noise; dead wires read 0. */
static void readout(const lartpc_cfg *c, const lartpc_image *im, sim_rng *r, float *charge, uint8_t *label) {
    enum { KNOTS = LARTPC_SIZE / WIRE_NOISE_KNOTS + 1, DRAWS = LARTPC_SIZE + KNOTS + 1 };
    float g[DRAWS];
    for (int w = 0; w < LARTPC_SIZE; w++) {
        const float *tr = im->track + w * LARTPC_SIZE, *sh = im->shower + w * LARTPC_SIZE;
        float *q = charge + w * LARTPC_SIZE;
        uint8_t *lab = label + w * LARTPC_SIZE;
        for (int t = 0; t < LARTPC_SIZE; t++) {
            float total = tr[t] + sh[t];
            lab[t] = total > 0 && total >= c->label_threshold ? (tr[t] >= sh[t] ? LARTPC_TRACK : LARTPC_SHOWER)
                                                               : LARTPC_EMPTY;
            q[t] = total;
        }
        if (sim_uniform(r) < c->dead_wires) {
            memset(q, 0, LARTPC_SIZE * sizeof *q);
            continue;
        }
        noise_normals(r, g, DRAWS & ~1);
        const float *knot = g + LARTPC_SIZE, wire = (float)c->wire_noise, pixel = (float)c->noise;
        for (int t = 0; t < LARTPC_SIZE; t++) {
            int k = t / WIRE_NOISE_KNOTS;
            float f = (float)(t % WIRE_NOISE_KNOTS) * (1.0f / WIRE_NOISE_KNOTS);
            q[t] += wire * ((1.0f - f) * knot[k] + f * knot[k + 1]) + pixel * g[t];
        }
    }
}

/* ---- events ---- */

void lartpc_event(const void *cfg, uint64_t seed, int64_t index, void *const *rows, lartpc_truth *truth) {
    const lartpc_cfg *c = cfg;
    sim_rng ev, kin, noise;
    sim_rng_init(&ev, seed, LARTPC_KIND_ID, index);
    sim_rng_sub(&kin, &ev, 0);
    double u = sim_uniform(&kin);
    int cls = u < c->fraction[0] ? LARTPC_NUMU_CC : u < c->fraction[0] + c->fraction[1] ? LARTPC_NUE_CC : LARTPC_NC;
    if (c->fraction[cls] == 0) cls = c->fraction[2] > 0 ? LARTPC_NC : c->fraction[1] > 0 ? LARTPC_NUE_CC : LARTPC_NUMU_CC;
    double E_GeV = c->energy_min + (c->energy_max - c->energy_min) * sim_uniform(&kin), E = 1000.0 * E_GeV;
    /* vertex in the upstream part of the image, away from the edges (pixel units) */
    double vw = LARTPC_SIZE * (0.15 + 0.40 * sim_uniform(&kin)), vt = LARTPC_SIZE * (0.2 + 0.6 * sim_uniform(&kin));
    double vertex[3] = {vw * c->pixel_cm, vt * c->pixel_cm, 0.0};

    primary_list L = {.n = 0};
    if (cls == LARTPC_NC)
        neutral_current(&L, &kin, vertex, E);
    else {
        int electron = cls == LARTPC_NUE_CC;
        double nu = cc_lepton(&L, &kin, vertex, E, electron ? MASS_ELECTRON : MASS_MUON,
                              electron ? PRIMARY_ELECTRON : PRIMARY_TRACK);
        hadrons(&L, &kin, vertex, nu);
    }

    lartpc_image im;
    lartpc_image_init(&im, c->pixel_cm);
    for (int i = 0; i < L.n; i++) {
        primary *p = &L.p[i];
        sim_rng pr;
        sim_rng_sub(&pr, &ev, 2 + (uint64_t)i);
        if (p->kind == PRIMARY_TRACK) {
            int stopped = lartpc_track(&im, &pr, p->species, p->x, p->d, p->energy);
            if (p->species == LARTPC_MUON && stopped && sim_uniform(&pr) < MICHEL_PROBABILITY) {
                double d[3];
                around(beam, 2.0 * sim_uniform(&pr) - 1.0, 2.0 * M_PI * sim_uniform(&pr), d);
                lartpc_em(&im, &pr, p->x, d, lartpc_michel_energy(&pr), 0);
            }
        } else {
            lartpc_em(&im, &pr, p->x, p->d, p->energy, p->kind == PRIMARY_PHOTON);
        }
    }
    sim_rng_sub(&noise, &ev, 1);
    readout(c, &im, &noise, rows[0], rows[1]);
    *(int32_t *)rows[2] = cls;
    *(float *)rows[3] = (float)E_GeV;
    if (truth) {
        truth->vertex_w = vw;
        truth->vertex_t = vt;
        truth->n_primaries = L.n;
    }
}

static void generate(const void *cfg, uint64_t seed, int64_t index, void *const *rows) {
    lartpc_event(cfg, seed, index, rows, NULL);
}

const sim_kind sim_kind_lartpc = {
    .kind = "lartpc",
    .id = LARTPC_KIND_ID,
    .help = "  --fractions a,b,c     class fractions nu_mu CC, nu_e CC, NC (normalised) [1,1,1]\n"
            "  --energy-min GeV      lowest neutrino energy (>= 0.2) [0.2]\n"
            "  --energy-max GeV      highest neutrino energy (flat in between) [3]\n"
            "  --noise Q             Gaussian pixel noise sigma, MIP units [0.05]\n"
            "  --wire-noise Q        sigma of the noise correlated along each wire [0.03]\n"
            "  --dead-wires F        probability that a wire is dead (reads 0) [0.03]\n"
            "  --pixel-cm L          pixel size (wire pitch = drift bin) in cm [1]\n"
            "  --label-threshold Q   noise-free charge for a labelled pixel, MIP units [0.1]\n",
    .cfg_size = sizeof(lartpc_cfg),
    .configure = configure,
    .fields = fields,
    .attrs = attrs,
    .generate = generate,
};
