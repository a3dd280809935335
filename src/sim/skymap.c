/* UHECR sky maps (`skymap`): 500 cosmic rays per map, each a unit vector (equatorial
 * coordinates: z toward the celestial north pole, x toward right ascension 0) and log10 E/eV.
 * label 0: isotropic arrival directions; label 1: a fraction of the cosmic rays comes from a
 * few point sources, smeared by a von Mises-Fisher deflection of width ∝ 1/E. Optionally the
 * sky is seen through the exposure of a ground array (Sommers 2001, Auger's site).
 * Parametrisations and their sources: datasets/README.md (skymap). */
#include <math.h>
#include <string.h>

#include "sim/sim.h"

#define SKYMAP_ID 4
#define SKYMAP_RAYS 500
#define SKYMAP_MAX_SOURCES 100
#define DEFLECTION_REF_EEV 40.0 /* --deflection is the width at this energy */
#define EXPOSURE_BINS 512       /* sin(dec) bins of the exposure envelope */
#define BIN_SAMPLES 16          /* exposure evaluations per bin for its bounds */
#define SOURCE_TRIES 100000     /* rejection cap for a source ray in an almost blind region */

enum { POSITIONS_RANDOM, POSITIONS_FIXED };
enum { WEIGHTS_EQUAL, WEIGHTS_RANDOM };
enum { EXPOSURE_NONE, EXPOSURE_AUGER };
static const char *const position_names[] = {"random", "fixed", NULL};
static const char *const weight_names[] = {"equal", "random", NULL};
static const char *const exposure_names[] = {"none", "auger", NULL};

typedef struct {
    double source_fraction, label_fraction;
    long sources;
    int positions, weights, exposure;
    double latitude_deg, zenith_max_deg;
    double emin_eev, emax_eev, spectral_index, deflection_deg;
    /* derived in configure() */
    double sin_lat, cos_lat, cos_zenith_max, exposure_max;
    /* exposure bounds per sin(dec) bin (lower, upper) and the cumulative upper bounds, the
     * envelope sky directions are proposed from */
    double bin_lower[EXPOSURE_BINS], bin_upper[EXPOSURE_BINS], bin_cumulative[EXPOSURE_BINS];
    double inv_slope;     /* 1 / (spectral_index - 1): E = Emin x^(-inv_slope) */
    double energy_span;   /* 1 - (Emin/Emax)^(spectral_index - 1) */
    double log10_emin_ev;
    double kappa_ref;     /* vMF concentration at 40 EeV: 1 / sigma_rad^2 */
} skymap_cfg;

/* Relative exposure of a ground array at latitude a0 that sees zenith angles <= theta_m, for a
 * source at declination dec (Sommers, Astropart. Phys. 14 (2001) 271, eq. 1-2):
 *   omega = cos a0 cos dec sin am + am sin a0 sin dec,
 *   am = 0 (xi > 1), pi (xi < -1), arccos xi otherwise; xi = (cos theta_m - sin a0 sin dec) / (cos a0 cos dec). */
static double sommers_exposure(const skymap_cfg *c, double sin_dec) {
    double cos_dec = sqrt(fmax(0.0, 1.0 - sin_dec * sin_dec));
    double num = c->cos_zenith_max - c->sin_lat * sin_dec, den = c->cos_lat * cos_dec;
    double omega;
    if (num >= den) /* xi >= 1: never above the zenith cut */
        return 0.0;
    if (num <= -den) { /* xi <= -1: always visible */
        omega = M_PI * c->sin_lat * sin_dec;
    } else {
        double xi = num / den;
        omega = den * sqrt(1.0 - xi * xi) + acos(xi) * c->sin_lat * sin_dec;
    }
    return omega > 0 ? omega : 0.0;
}

static int exposure_bin(double sin_dec) {
    int b = (int)((sin_dec + 1.0) * (EXPOSURE_BINS / 2.0));
    return b < 0 ? 0 : b >= EXPOSURE_BINS ? EXPOSURE_BINS - 1 : b;
}

/* a < omega(sin_dec), with the bin's bounds deciding most draws without evaluating omega */
static int below_exposure(const skymap_cfg *c, double sin_dec, double a) {
    int b = exposure_bin(sin_dec);
    if (a < c->bin_lower[b]) return 1;
    if (a >= c->bin_upper[b]) return 0;
    return a < sommers_exposure(c, sin_dec);
}

/* Accepts a direction with probability omega(dec) / omega_max (always without exposure). */
static int seen(const skymap_cfg *c, sim_rng *r, const double v[3]) {
    return c->exposure == EXPOSURE_NONE || below_exposure(c, v[2], sim_uniform(r) * c->exposure_max);
}

/* Isotropic times the exposure. sin(dec) by rejection from the piecewise-constant envelope of
 * the bins' upper bounds (one uniform picks the bin and, rescaled, the point inside it; about
 * 99% accepted), then a uniform right ascension: the exposure does not depend on it. */
static void sky_direction(const skymap_cfg *c, sim_rng *r, double v[3]) {
    double z;
    if (c->exposure == EXPOSURE_NONE) {
        z = 2.0 * sim_uniform(r) - 1.0;
    } else {
        for (;;) {
            double u = sim_uniform(r);
            int lo = 0, hi = EXPOSURE_BINS - 1; /* first bin with u < cumulative */
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (u < c->bin_cumulative[mid]) hi = mid;
                else lo = mid + 1;
            }
            double below = lo ? c->bin_cumulative[lo - 1] : 0.0;
            double inside = fmin(1.0, (u - below) / (c->bin_cumulative[lo] - below));
            z = -1.0 + (lo + inside) * (2.0 / EXPOSURE_BINS);
            if (below_exposure(c, z, sim_uniform(r) * c->bin_upper[lo])) break;
        }
    }
    double phi = 2.0 * M_PI * sim_uniform(r), s = sqrt(fmax(0.0, 1.0 - z * z));
    v[0] = s * cos(phi);
    v[1] = s * sin(phi);
    v[2] = z;
}

/* A source direction mu with two unit vectors e1, e2 completing an orthonormal basis. */
typedef struct {
    double mu[3], e1[3], e2[3];
} source_frame;

static void make_frame(source_frame *s) {
    const double *m = s->mu;
    /* cross with the coordinate axis least aligned with mu */
    int k = fabs(m[0]) <= fabs(m[1]) ? (fabs(m[0]) <= fabs(m[2]) ? 0 : 2) : (fabs(m[1]) <= fabs(m[2]) ? 1 : 2);
    double a[3] = {0, 0, 0};
    a[k] = 1.0;
    double e1[3] = {a[1] * m[2] - a[2] * m[1], a[2] * m[0] - a[0] * m[2], a[0] * m[1] - a[1] * m[0]};
    double n = sqrt(e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]);
    for (int i = 0; i < 3; i++) s->e1[i] = e1[i] / n;
    s->e2[0] = m[1] * s->e1[2] - m[2] * s->e1[1];
    s->e2[1] = m[2] * s->e1[0] - m[0] * s->e1[2];
    s->e2[2] = m[0] * s->e1[1] - m[1] * s->e1[0];
}

/* von Mises-Fisher direction around the source with concentration kappa (Wood 1994 for S^2):
 * w = cos(angle) = 1 + log(u + (1-u) e^(-2 kappa)) / kappa, azimuth uniform. Written with
 * t = 1 - w = -log1p((1-u) expm1(-2 kappa)) / kappa, exact for small and large kappa. */
static void von_mises_fisher(sim_rng *r, const source_frame *s, double kappa, double v[3]) {
    double u = sim_uniform_pos(r);
    double t = -log1p((1.0 - u) * expm1(-2.0 * kappa)) / kappa;
    double phi = 2.0 * M_PI * sim_uniform(r);
    double w = 1.0 - t, sin_angle = sqrt(fmax(0.0, t * (2.0 - t)));
    double cp = sin_angle * cos(phi), sp = sin_angle * sin(phi);
    for (int i = 0; i < 3; i++) v[i] = w * s->mu[i] + cp * s->e1[i] + sp * s->e2[i];
}

/* The map's sources: directions (seen by the detector) and cumulative shares of the source
 * rays. Fixed positions come from a per-seed stream (event counter 2^64-1, never an event). */
static void draw_sources(const skymap_cfg *c, uint64_t seed, sim_rng *map_rng, source_frame *src, double *cumulative) {
    sim_rng fixed_rng, *r = map_rng;
    if (c->positions == POSITIONS_FIXED) {
        sim_rng_init(&fixed_rng, seed, SKYMAP_ID, -1);
        r = &fixed_rng;
    }
    double total = 0;
    for (long j = 0; j < c->sources; j++) {
        sky_direction(c, r, src[j].mu);
        make_frame(&src[j]);
        /* random shares: flat Dirichlet (normalised unit exponentials) */
        total += c->weights == WEIGHTS_RANDOM ? sim_exponential(r, 1.0) : 1.0;
        cumulative[j] = total;
    }
    for (long j = 0; j < c->sources; j++) cumulative[j] /= total;
    cumulative[c->sources - 1] = 1.0;
}

/* rows: events (500,4) f32, label () i32, from_source (500) u8, sources (K,3) f32. */
static void generate(const void *cfgv, uint64_t seed, int64_t index, void *const *rows) {
    const skymap_cfg *c = cfgv;
    float *events = rows[0], *source_rows = rows[3];
    int32_t *label = rows[1];
    uint8_t *from_source = rows[2];
    sim_rng event_rng, map_rng;
    sim_rng_init(&event_rng, seed, SKYMAP_ID, index);
    sim_rng_sub(&map_rng, &event_rng, 0); /* the map: label and sources; ray i: sub-stream i+1 */
    int with_sources = sim_uniform(&map_rng) < c->label_fraction;
    *label = with_sources;
    source_frame src[SKYMAP_MAX_SOURCES];
    double cumulative[SKYMAP_MAX_SOURCES];
    memset(source_rows, 0, (size_t)c->sources * 3 * sizeof(float));
    if (with_sources) {
        draw_sources(c, seed, &map_rng, src, cumulative);
        for (long j = 0; j < c->sources; j++)
            for (int i = 0; i < 3; i++) source_rows[3 * j + i] = (float)src[j].mu[i];
    }
    for (int i = 0; i < SKYMAP_RAYS; i++) {
        sim_rng r;
        sim_rng_sub(&r, &event_rng, (uint64_t)i + 1);
        /* truncated power law dN/dE ∝ E^-gamma on [Emin, Emax]: inverse CDF, x in (Emin/Emax)^(gamma-1)..1 */
        double log_x = log(1.0 - sim_uniform(&r) * c->energy_span);
        double log10_e = c->log10_emin_ev - log_x * c->inv_slope / M_LN10;
        int from = with_sources && sim_uniform(&r) < c->source_fraction;
        double v[3];
        if (from) {
            long j = 0;
            double pick = sim_uniform(&r);
            while (j < c->sources - 1 && pick >= cumulative[j]) j++;
            if (c->deflection_deg <= 0) {
                memcpy(v, src[j].mu, sizeof v);
            } else {
                double e_over_ref = c->emin_eev / DEFLECTION_REF_EEV * exp(-log_x * c->inv_slope);
                double kappa = c->kappa_ref * e_over_ref * e_over_ref; /* sigma ∝ 1/E */
                for (int tries = 0;; tries++) {
                    von_mises_fisher(&r, &src[j], kappa, v);
                    if (tries == SOURCE_TRIES || seen(c, &r, v)) break;
                }
            }
        } else {
            sky_direction(c, &r, v);
        }
        float *row = events + 4 * i;
        for (int k = 0; k < 3; k++) row[k] = (float)v[k];
        row[3] = (float)log10_e;
        from_source[i] = (uint8_t)from;
    }
}

static cascade_status configure(void *cfgv, sim_options *o) {
    skymap_cfg *c = cfgv;
    memset(c, 0, sizeof *c);
    CASCADE_TRY(sim_opt_double(o, "source-fraction", 0.1, 0.0, 1.0, &c->source_fraction));
    CASCADE_TRY(sim_opt_int(o, "sources", 3, 1, SKYMAP_MAX_SOURCES, &c->sources));
    CASCADE_TRY(sim_opt_double(o, "label-fraction", 0.5, 0.0, 1.0, &c->label_fraction));
    CASCADE_TRY(sim_opt_enum(o, "source-positions", position_names, POSITIONS_RANDOM, &c->positions));
    CASCADE_TRY(sim_opt_enum(o, "source-weights", weight_names, WEIGHTS_EQUAL, &c->weights));
    CASCADE_TRY(sim_opt_enum(o, "exposure", exposure_names, EXPOSURE_NONE, &c->exposure));
    CASCADE_TRY(sim_opt_double(o, "latitude", -35.2, -90.0, 90.0, &c->latitude_deg));
    CASCADE_TRY(sim_opt_double(o, "zenith-max", 60.0, 10.0, 90.0, &c->zenith_max_deg));
    CASCADE_TRY(sim_opt_double(o, "emin", 40.0, 1.0, 1e4, &c->emin_eev));
    CASCADE_TRY(sim_opt_double(o, "emax", 1000.0, 1.0, 1e5, &c->emax_eev));
    CASCADE_TRY(sim_opt_double(o, "spectral-index", 5.2, 1.1, 20.0, &c->spectral_index));
    CASCADE_TRY(sim_opt_double(o, "deflection", 10.0, 0.0, 180.0, &c->deflection_deg));
    if (c->emax_eev <= c->emin_eev)
        return cascade_fail(CASCADE_EUSAGE, "--emax %g: must be above --emin %g (EeV)", c->emax_eev, c->emin_eev);
    c->sin_lat = sin(c->latitude_deg * M_PI / 180.0);
    c->cos_lat = cos(c->latitude_deg * M_PI / 180.0);
    c->cos_zenith_max = cos(c->zenith_max_deg * M_PI / 180.0);
    c->inv_slope = 1.0 / (c->spectral_index - 1.0);
    c->energy_span = -expm1((c->spectral_index - 1.0) * log(c->emin_eev / c->emax_eev));
    c->log10_emin_ev = log10(c->emin_eev) + 18.0;
    double sigma_rad = c->deflection_deg * M_PI / 180.0;
    c->kappa_ref = sigma_rad > 0 ? 1.0 / (sigma_rad * sigma_rad) : 0.0;
    /* Exposure bounds per sin(dec) bin from BIN_SAMPLES + 1 evaluations, widened by twice the
     * largest change between neighbouring samples (omega is continuous, with bounded slope away
     * from a bin holding a kink, which the widening covers). */
    double best = 0, total = 0;
    for (int b = 0; b < EXPOSURE_BINS; b++) {
        double lower = INFINITY, upper = 0, change = 0, previous = 0;
        for (int k = 0; k <= BIN_SAMPLES; k++) {
            double w = sommers_exposure(c, -1.0 + (b + (double)k / BIN_SAMPLES) * (2.0 / EXPOSURE_BINS));
            lower = fmin(lower, w), upper = fmax(upper, w);
            if (k) change = fmax(change, fabs(w - previous));
            previous = w;
        }
        c->bin_lower[b] = upper > 0 ? fmax(0.0, lower - 2 * change) : 0.0;
        c->bin_upper[b] = upper > 0 ? upper + 2 * change : 0.0;
        best = fmax(best, c->bin_upper[b]);
        total += c->bin_upper[b];
        c->bin_cumulative[b] = total;
    }
    for (int b = 0; b < EXPOSURE_BINS && total > 0; b++) c->bin_cumulative[b] /= total;
    c->bin_cumulative[EXPOSURE_BINS - 1] = 1.0;
    c->exposure_max = best;
    if (c->exposure == EXPOSURE_AUGER && !(best > 0))
        return cascade_fail(CASCADE_EUSAGE, "--exposure auger: no sky visible at --latitude %g with --zenith-max %g",
                            c->latitude_deg, c->zenith_max_deg);
    return CASCADE_OK;
}

static int fields(const void *cfgv, sim_field *f) {
    const skymap_cfg *c = cfgv;
    f[0] = (sim_field){.name = "events", .type = CASCADE_H5_F32, .ndim = 2, .dims = {SKYMAP_RAYS, 4}};
    f[1] = (sim_field){.name = "label", .type = CASCADE_H5_I32, .ndim = 0};
    f[2] = (sim_field){.name = "from_source", .type = CASCADE_H5_U8, .ndim = 1, .dims = {SKYMAP_RAYS}};
    f[3] = (sim_field){.name = "sources", .type = CASCADE_H5_F32, .ndim = 2, .dims = {c->sources, 3}};
    return 4;
}

static int add_number(sim_attr *a, int n, const char *name, double value) {
    a[n] = (sim_attr){.number = value};
    strncpy(a[n].name, name, sizeof a[n].name - 1);
    return n + 1;
}

static int add_text(sim_attr *a, int n, const char *name, const char *text) {
    a[n] = (sim_attr){.is_string = 1};
    strncpy(a[n].name, name, sizeof a[n].name - 1);
    strncpy(a[n].text, text, sizeof a[n].text - 1);
    return n + 1;
}

static int attrs(const void *cfgv, sim_attr *a) {
    const skymap_cfg *c = cfgv;
    int n = 0;
    n = add_number(a, n, "rays_per_map", SKYMAP_RAYS);
    n = add_number(a, n, "source_fraction", c->source_fraction);
    n = add_number(a, n, "sources", (double)c->sources);
    n = add_number(a, n, "label_fraction", c->label_fraction);
    n = add_text(a, n, "source_positions", position_names[c->positions]);
    n = add_text(a, n, "source_weights", weight_names[c->weights]);
    n = add_text(a, n, "exposure", exposure_names[c->exposure]);
    n = add_number(a, n, "latitude_deg", c->latitude_deg);
    n = add_number(a, n, "zenith_max_deg", c->zenith_max_deg);
    n = add_number(a, n, "emin_eev", c->emin_eev);
    n = add_number(a, n, "emax_eev", c->emax_eev);
    n = add_number(a, n, "spectral_index", c->spectral_index);
    n = add_number(a, n, "deflection_deg", c->deflection_deg);
    n = add_number(a, n, "deflection_ref_eev", DEFLECTION_REF_EEV);
    n = add_text(a, n, "coordinates", "equatorial unit vectors: z to the north celestial pole, x to right ascension 0");
    n = add_text(a, n, "events_columns", "x, y, z, log10(E/eV)");
    n = add_text(a, n, "spectrum", "dN/dE ~ E^-spectral_index on [emin_eev, emax_eev]");
    n = add_text(a, n, "deflection", "von Mises-Fisher, kappa = 1/sigma^2, sigma = deflection_deg * deflection_ref_eev / E");
    return n;
}

const sim_kind sim_kind_skymap = {
    .kind = "skymap",
    .id = SKYMAP_ID,
    .help = "  --source-fraction F        cosmic rays from the sources in a label-1 map, each with probability F [0.1]\n"
            "  --sources K                point sources per label-1 map, 1..100 [3]\n"
            "  --label-fraction P         probability that a map has sources (label 1) [0.5]\n"
            "  --source-positions random|fixed  new directions per map, or the same per seed [random]\n"
            "  --source-weights equal|random    shares of the source rays: equal or flat Dirichlet [equal]\n"
            "  --exposure none|auger      isotropic sky, or seen with a ground array's exposure (Sommers 2001) [none]\n"
            "  --latitude DEG             detector latitude for --exposure auger [-35.2]\n"
            "  --zenith-max DEG           largest zenith angle for --exposure auger, 10..90 [60]\n"
            "  --emin EEV                 lowest energy in EeV [40]\n"
            "  --emax EEV                 highest energy in EeV [1000]\n"
            "  --spectral-index G         dN/dE ∝ E^-G (integral flux ∝ E^-(G-1)) [5.2]\n"
            "  --deflection DEG           vMF width sigma at 40 EeV, ∝ 1/E; 0 = no deflection [10]\n",
    .cfg_size = sizeof(skymap_cfg),
    .configure = configure,
    .fields = fields,
    .attrs = attrs,
    .generate = generate,
};
