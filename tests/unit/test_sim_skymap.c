/* Physics of the `skymap` simulator, drawn through generate() directly: unit vectors, the
 * power-law spectrum above emin, isotropy of label-0 maps (dipole, quadrupole, KS), clustering
 * of label-1 maps (pairs within 10 degrees), the von Mises-Fisher deflection ∝ 1/E (exact
 * Exp(1) law of kappa (1 - cos angle), also at kappa ~ 1), the Sommers exposure (declination
 * histogram against an independent integration), label and source fractions, source options
 * and option errors. Tolerances are 5 standard errors unless stated; seeds are fixed. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define RAYS 500
#define DEG (M_PI / 180.0)

typedef struct {
    int64_t n;
    int k; /* sources per map */
    float *events;
    int32_t *label;
    uint8_t *from;
    float *sources;
} maps;

static const sim_kind *kind(void) {
    const sim_kind *k = sim_find("skymap");
    CU_ASSERT_FATAL(k != NULL);
    return k;
}

/* Parses "key=value key=value" (or bare "key") into options and configures; returns the status. */
static cascade_status configure_text(const char *text, void *cfg) {
    static char buf[1024];
    sim_options o = {0};
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (eq) *eq = 0;
        o.opt[o.n].key = tok;
        o.opt[o.n].value = eq ? eq + 1 : NULL;
        o.n++;
    }
    cascade_status st = kind()->configure(cfg, &o);
    for (int i = 0; i < o.n && !st; i++) CU_ASSERT(o.opt[i].used); /* every option is the kind's */
    return st;
}

static void maps_free(maps *m) {
    free(m->events);
    free(m->label);
    free(m->from);
    free(m->sources);
    memset(m, 0, sizeof *m);
}

/* n maps with seed and options; asserts the configuration is accepted. */
static maps simulate(const char *options, int64_t n, uint64_t seed) {
    const sim_kind *k = kind();
    maps m = {.n = n};
    void *cfg = calloc(1, k->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    cascade_status st = configure_text(options, cfg);
    if (st) fprintf(stderr, "configure '%s': %s\n", options, cascade_errmsg());
    CU_ASSERT_FATAL(st == CASCADE_OK);
    sim_field f[SIM_MAX_FIELDS];
    CU_ASSERT_FATAL(k->fields(cfg, f) == 4);
    m.k = (int)f[3].dims[0];
    m.events = malloc((size_t)n * RAYS * 4 * sizeof(float));
    m.label = malloc((size_t)n * sizeof(int32_t));
    m.from = malloc((size_t)n * RAYS);
    m.sources = malloc((size_t)n * (size_t)m.k * 3 * sizeof(float));
    CU_ASSERT_FATAL(m.events && m.label && m.from && m.sources);
    for (int64_t i = 0; i < n; i++) {
        void *rows[4] = {m.events + i * RAYS * 4, m.label + i, m.from + i * RAYS, m.sources + i * m.k * 3};
        k->generate(cfg, seed, i, rows);
    }
    free(cfg);
    return m;
}

static const float *ray(const maps *m, int64_t map, int i) { return m->events + (map * RAYS + i) * 4; }
static double dot3f(const float *a, const float *b) {
    return (double)a[0] * b[0] + (double)a[1] * b[1] + (double)a[2] * b[2];
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
/* Kolmogorov-Smirnov distance of a sample against a CDF (sorts x). */
static double ks_distance(double *x, int64_t n, double (*cdf)(double)) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    double d = 0;
    for (int64_t i = 0; i < n; i++) {
        double f = cdf(x[i]);
        d = fmax(d, fmax(fabs(f - (double)i / n), fabs((double)(i + 1) / n - f)));
    }
    return d;
}
/* sqrt(n) D above 2.0 happens with probability 6e-4 for a correct distribution */
#define KS_LIMIT 2.0
static double cdf_uniform_pm1(double z) { return (z + 1) / 2; }
static double cdf_uniform_2pi(double phi) { return (phi + M_PI) / (2 * M_PI); }
static double cdf_exp1(double y) { return -expm1(-y); }

static void test_schema_and_determinism(void) {
    const sim_kind *k = kind();
    CU_ASSERT_EQUAL(k->id, 4);
    void *cfg = calloc(1, k->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    CU_ASSERT_EQUAL_FATAL(configure_text("sources=5", cfg), CASCADE_OK);
    sim_field f[SIM_MAX_FIELDS];
    CU_ASSERT_EQUAL_FATAL(k->fields(cfg, f), 4);
    CU_ASSERT_STRING_EQUAL(f[0].name, "events");
    CU_ASSERT(f[0].type == CASCADE_H5_F32 && f[0].ndim == 2 && f[0].dims[0] == 500 && f[0].dims[1] == 4);
    CU_ASSERT_STRING_EQUAL(f[1].name, "label");
    CU_ASSERT(f[1].type == CASCADE_H5_I32 && f[1].ndim == 0);
    CU_ASSERT_STRING_EQUAL(f[2].name, "from_source");
    CU_ASSERT(f[2].type == CASCADE_H5_U8 && f[2].ndim == 1 && f[2].dims[0] == 500);
    CU_ASSERT_STRING_EQUAL(f[3].name, "sources");
    CU_ASSERT(f[3].type == CASCADE_H5_F32 && f[3].ndim == 2 && f[3].dims[0] == 5 && f[3].dims[1] == 3);
    sim_attr a[SIM_MAX_ATTRS];
    int na = k->attrs(cfg, a);
    const char *want[] = {"source_fraction", "sources", "label_fraction", "exposure", "zenith_max_deg", "latitude_deg",
                          "emin_eev", "emax_eev", "spectral_index", "deflection_deg", "source_positions", "source_weights"};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        int found = 0;
        for (int i = 0; i < na; i++) found |= strcmp(a[i].name, want[w]) == 0;
        if (!found) fprintf(stderr, "attribute %s missing\n", want[w]);
        CU_ASSERT(found);
    }
    free(cfg);
    /* same (seed, index) -> same map; another seed or index -> another map */
    maps m1 = simulate("", 3, 11), m2 = simulate("", 3, 11), m3 = simulate("", 3, 12);
    CU_ASSERT(memcmp(m1.events, m2.events, 3 * RAYS * 4 * sizeof(float)) == 0);
    CU_ASSERT(memcmp(m1.from, m2.from, 3 * RAYS) == 0);
    CU_ASSERT(memcmp(m1.events, m3.events, RAYS * 4 * sizeof(float)) != 0);
    CU_ASSERT(memcmp(m1.events, m1.events + RAYS * 4, RAYS * 4 * sizeof(float)) != 0);
    maps_free(&m1);
    maps_free(&m2);
    maps_free(&m3);
}

/* Maximum-likelihood spectral index of a pure power law above emin: 1 + n / sum ln(E/Emin). */
static double index_mle(const maps *m, double emin_eev, int64_t *count) {
    double sum = 0, lo = log10(emin_eev) + 18;
    int64_t n = m->n * RAYS;
    for (int64_t i = 0; i < n; i++) sum += (m->events[4 * i + 3] - lo) * M_LN10;
    *count = n;
    return 1.0 + (double)n / sum;
}

static void test_unit_vectors_and_spectrum(void) {
    maps m = simulate("", 400, 1);
    int64_t n = m.n * RAYS;
    double worst_norm = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        const float *v = m.events + 4 * i;
        worst_norm = fmax(worst_norm, fabs(sqrt(dot3f(v, v)) - 1.0));
        lo = fmin(lo, v[3]);
        hi = fmax(hi, v[3]);
    }
    CU_ASSERT(worst_norm < 1e-6);
    CU_ASSERT(lo >= log10(40e18) - 2e-6); /* float rounding of 19.60 */
    CU_ASSERT(hi <= log10(1000e18) + 2e-6);
    int64_t count;
    double gamma = index_mle(&m, 40, &count), se = (gamma - 1) / sqrt((double)count);
    printf("\n  spectral index (MLE) %.4f +- %.4f (want 5.2)\n", gamma, se);
    CU_ASSERT(fabs(gamma - 5.2) < 5 * se);
    /* least-squares fit of log10(counts) in log10 E bins of 0.05: slope -(gamma - 1) */
    double h[40] = {0};
    for (int64_t i = 0; i < n; i++) {
        int b = (int)((m.events[4 * i + 3] - (log10(40e18) - 1e-5)) / 0.05);
        if (b >= 0 && b < 40) h[b]++;
    }
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int b = 0; b < 40 && h[b] >= 50; b++) { /* weights: Poisson variance of log10 counts */
        double x = (b + 0.5) * 0.05, y = log10(h[b]), w = h[b];
        sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
    }
    /* a bin's log10 count of a power law: slope -(gamma-1) in log10 E (exact for binned counts) */
    double slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx), slope_se = sqrt(sw / (sw * sxx - sx * sx)) / M_LN10;
    printf("  log-E histogram slope %.3f +- %.3f (want -4.2)\n", slope, slope_se);
    CU_ASSERT(fabs(slope + 4.2) < 5 * slope_se);
    maps_free(&m);

    /* another index, and the truncation at emax */
    m = simulate("spectral-index=3 emax=100000", 200, 2);
    gamma = index_mle(&m, 40, &count);
    CU_ASSERT(fabs(gamma - 3.0) < 5 * (gamma - 1) / sqrt((double)count));
    maps_free(&m);
    m = simulate("emin=40 emax=60", 20, 3);
    for (int64_t i = 0; i < m.n * RAYS; i++) CU_ASSERT_FATAL(m.events[4 * i + 3] <= log10(60e18) + 2e-6);
    maps_free(&m);
}

static void test_isotropy(void) {
    maps m = simulate("label-fraction=0", 1000, 4);
    int64_t n = m.n * RAYS;
    double mean[3] = {0}, q[3][3] = {{0}}, rayleigh = 0;
    double *z = malloc((size_t)n * sizeof(double)), *phi = malloc((size_t)n * sizeof(double));
    CU_ASSERT_FATAL(z && phi);
    for (int64_t map = 0; map < m.n; map++) {
        CU_ASSERT_EQUAL(m.label[map], 0);
        double s[3] = {0};
        for (int i = 0; i < RAYS; i++) {
            const float *v = ray(&m, map, i);
            for (int a = 0; a < 3; a++) {
                s[a] += v[a];
                for (int b = 0; b < 3; b++) q[a][b] += (double)v[a] * v[b];
            }
            z[map * RAYS + i] = v[2];
            phi[map * RAYS + i] = atan2(v[1], v[0]);
            CU_ASSERT(m.from[map * RAYS + i] == 0);
        }
        for (int a = 0; a < 3; a++) mean[a] += s[a];
        /* per map: 3 |sum|^2 / n ~ chi^2(3) for an isotropic sky */
        rayleigh += 3.0 * (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]) / RAYS;
    }
    rayleigh /= (double)m.n;
    printf("\n  per-map dipole statistic %.3f (chi2_3 mean 3 +- %.3f)\n", rayleigh, sqrt(6.0 / m.n));
    CU_ASSERT(fabs(rayleigh - 3.0) < 5 * sqrt(6.0 / m.n));
    for (int a = 0; a < 3; a++) {
        CU_ASSERT(fabs(mean[a] / n) < 5 / sqrt(3.0 * n)); /* var(x) = 1/3 */
        for (int b = 0; b < 3; b++) {
            /* quadrupole <v_a v_b> - delta/3: var 4/45 on the diagonal, 1/15 off it */
            double qab = q[a][b] / n - (a == b) / 3.0, se = sqrt((a == b ? 4.0 / 45 : 1.0 / 15) / n);
            CU_ASSERT(fabs(qab) < 5 * se);
        }
    }
    double dz = ks_distance(z, n, cdf_uniform_pm1), dphi = ks_distance(phi, n, cdf_uniform_2pi);
    printf("  KS sqrt(n) D: sin(dec) %.3f, right ascension %.3f\n", dz * sqrt((double)n), dphi * sqrt((double)n));
    CU_ASSERT(dz * sqrt((double)n) < KS_LIMIT);
    CU_ASSERT(dphi * sqrt((double)n) < KS_LIMIT);
    free(z);
    free(phi);
    maps_free(&m);
}

static int64_t pairs_within(const maps *m, int64_t map, double cos_max) {
    int64_t c = 0;
    for (int i = 0; i < RAYS; i++)
        for (int j = i + 1; j < RAYS; j++) c += dot3f(ray(m, map, i), ray(m, map, j)) > cos_max;
    return c;
}

static void test_clustering_and_fractions(void) {
    maps m = simulate("", 600, 5); /* defaults: 10% from 3 sources, sigma 10 deg at 40 EeV */
    double cos10 = cos(10 * DEG), expect = RAYS * (RAYS - 1) / 2.0 * (1 - cos10) / 2;
    double s[2] = {0}, ss[2] = {0}, nl[2] = {0};
    int64_t from_rays = 0;
    for (int64_t map = 0; map < m.n; map++) {
        int l = m.label[map];
        CU_ASSERT_FATAL(l == 0 || l == 1);
        double c = (double)pairs_within(&m, map, cos10);
        s[l] += c, ss[l] += c * c, nl[l]++;
        int from = 0;
        for (int i = 0; i < RAYS; i++) from += m.from[map * RAYS + i];
        if (l == 0) CU_ASSERT_EQUAL(from, 0);
        if (l == 0) /* no sources recorded for isotropic maps */
            for (int j = 0; j < 3 * m.k; j++) CU_ASSERT_EQUAL(m.sources[map * m.k * 3 + j], 0.0f);
        from_rays += l ? from : 0;
    }
    double mean0 = s[0] / nl[0], se0 = sqrt((ss[0] / nl[0] - mean0 * mean0) / nl[0]);
    double mean1 = s[1] / nl[1], se1 = sqrt((ss[1] / nl[1] - mean1 * mean1) / nl[1]);
    printf("\n  pairs within 10 deg: isotropic expectation %.1f, label 0 %.1f +- %.1f, label 1 %.1f +- %.1f\n",
           expect, mean0, se0, mean1, se1);
    CU_ASSERT(fabs(mean0 - expect) < 5 * se0);
    CU_ASSERT(mean1 - expect > 10 * se1 && mean1 > 1.05 * expect);
    /* label fraction 0.5 and source fraction 0.1 (binomial) */
    CU_ASSERT(fabs(nl[1] - 0.5 * m.n) < 5 * sqrt(0.25 * m.n));
    double rays1 = nl[1] * RAYS;
    CU_ASSERT(fabs(from_rays - 0.1 * rays1) < 5 * sqrt(0.09 * rays1));
    maps_free(&m);

    m = simulate("label-fraction=0.3 source-fraction=0.35", 4000, 6);
    int64_t ones = 0, from = 0;
    for (int64_t map = 0; map < m.n; map++) {
        ones += m.label[map];
        for (int i = 0; m.label[map] && i < RAYS; i++) from += m.from[map * RAYS + i];
    }
    CU_ASSERT(fabs(ones - 0.3 * m.n) < 5 * sqrt(0.21 * m.n));
    CU_ASSERT(fabs(from - 0.35 * ones * RAYS) < 5 * sqrt(0.35 * 0.65 * ones * RAYS));
    maps_free(&m);
}

/* All rays from one source: kappa(E) (1 - cos angle) ~ Exp(1) exactly (truncated at 2 kappa),
 * so the width scales as 1/E in every energy bin. */
static void test_deflection(void) {
    maps m = simulate("label-fraction=1 source-fraction=1 sources=1 deflection=10", 200, 7);
    int64_t n = m.n * RAYS;
    double *y = malloc((size_t)n * sizeof(double));
    CU_ASSERT_FATAL(y != NULL);
    double sigma_ref = 10 * DEG, bin_sum[3] = {0}, bin_angle[3] = {0}, bin_n[3] = {0};
    for (int64_t map = 0; map < m.n; map++) {
        const float *src = m.sources + map * 3;
        CU_ASSERT(fabs(dot3f(src, src) - 1) < 1e-6);
        for (int i = 0; i < RAYS; i++) {
            const float *v = ray(&m, map, i);
            CU_ASSERT(m.from[map * RAYS + i] == 1);
            double e_eev = pow(10.0, v[3] - 18), t = fmax(0.0, 1.0 - dot3f(v, src) / sqrt(dot3f(v, v)));
            double kappa = (e_eev / 40) * (e_eev / 40) / (sigma_ref * sigma_ref);
            int b = e_eev < 50 ? 0 : e_eev < 80 ? 1 : 2;
            y[map * RAYS + i] = kappa * t;
            bin_sum[b] += kappa * t, bin_n[b]++;
            bin_angle[b] += acos(fmin(1.0, 1.0 - t));
        }
    }
    printf("\n  mean angle to the source: %.2f deg (E < 50 EeV), %.2f (50-80), %.2f (> 80)\n",
           bin_angle[0] / bin_n[0] / DEG, bin_angle[1] / bin_n[1] / DEG, bin_angle[2] / bin_n[2] / DEG);
    CU_ASSERT(bin_angle[1] / bin_n[1] < 0.85 * bin_angle[0] / bin_n[0]);
    CU_ASSERT(bin_angle[2] / bin_n[2] < 0.7 * bin_angle[1] / bin_n[1]);
    for (int b = 0; b < 3; b++) { /* Exp(1): mean 1, sd 1 */
        printf("  bin %d: <kappa (1 - cos)> = %.4f +- %.4f (n %.0f)\n", b, bin_sum[b] / bin_n[b], 1 / sqrt(bin_n[b]),
               bin_n[b]);
        CU_ASSERT(fabs(bin_sum[b] / bin_n[b] - 1) < 5 / sqrt(bin_n[b]));
    }
    double d = ks_distance(y, n, cdf_exp1);
    printf("  KS sqrt(n) D of kappa (1 - cos) against Exp(1): %.3f\n", d * sqrt((double)n));
    CU_ASSERT(d * sqrt((double)n) < KS_LIMIT);
    free(y);
    maps_free(&m);

    /* kappa ~ 1 (sigma 1 rad, E ~ 40 EeV): vMF mean resultant coth(k) - 1/k along the source,
     * no mean across it (uniform azimuth); var(cos) = 1 - 2A/k - A^2 */
    m = simulate("label-fraction=1 source-fraction=1 sources=1 deflection=57.29577951308232 emax=40.0004", 200, 8);
    n = m.n * RAYS;
    double along = 0, across = 0, a = 1 / tanh(1.0) - 1.0, var = 1 - 2 * a - a * a;
    for (int64_t map = 0; map < m.n; map++) {
        const float *src = m.sources + map * 3;
        for (int i = 0; i < RAYS; i++) {
            const float *v = ray(&m, map, i);
            double c = dot3f(v, src);
            along += c;
            double perp[3] = {v[0] - c * src[0], v[1] - c * src[1], v[2] - c * src[2]};
            across += perp[2] * src[0] - perp[0] * src[2]; /* a fixed direction across the source */
        }
    }
    printf("  kappa 1: <cos> %.4f (want %.4f +- %.4f)\n", along / n, a, sqrt(var / n));
    CU_ASSERT(fabs(along / n - a) < 5 * sqrt(var / n));
    CU_ASSERT(fabs(across / n) < 5 * sqrt(1.0 / n));
    maps_free(&m);

    /* no deflection: every source ray exactly at its source */
    m = simulate("label-fraction=1 source-fraction=1 sources=2 deflection=0", 20, 9);
    for (int64_t map = 0; map < m.n; map++)
        for (int i = 0; i < RAYS; i++) {
            const float *v = ray(&m, map, i), *s0 = m.sources + map * 6, *s1 = s0 + 3;
            CU_ASSERT_FATAL(fmax(dot3f(v, s0), dot3f(v, s1)) > 1 - 1e-6);
        }
    maps_free(&m);
}

/* Sommers (2001) relative exposure, written out here independently of the simulator. */
static double exposure_test(double dec, double lat, double zmax) {
    double xi = (cos(zmax) - sin(lat) * sin(dec)) / (cos(lat) * cos(dec));
    double am = xi > 1 ? 0 : xi < -1 ? M_PI : acos(xi);
    return cos(lat) * cos(dec) * sin(am) + am * sin(lat) * sin(dec);
}

/* chi^2 of the sin(dec) histogram of label-0 maps against the Sommers exposure (and the
 * maximum declination lat + zmax, a uniform right ascension); returns <sin dec>. */
static double check_exposure(const char *options, double lat_deg, double zmax_deg, int64_t n_maps, uint64_t seed) {
    maps m = simulate(options, n_maps, seed);
    int64_t n = m.n * RAYS;
    double lat = lat_deg * DEG, zmax = zmax_deg * DEG, top = sin(fmin(M_PI / 2, lat + zmax)), mean_z = 0;
    enum { BINS = 20 };
    double h[BINS] = {0}, expect[BINS] = {0}, total = 0;
    double *phi = malloc((size_t)n * sizeof(double));
    CU_ASSERT_FATAL(phi != NULL);
    for (int64_t i = 0; i < n; i++) {
        const float *v = m.events + 4 * i;
        CU_ASSERT_FATAL(v[2] <= top + 1e-6); /* nothing north of dec = lat + zmax */
        mean_z += v[2];
        int b = (int)((v[2] + 1) / 2 * BINS);
        h[b < BINS ? b : BINS - 1]++;
        phi[i] = atan2(v[1], v[0]);
    }
    mean_z /= (double)n;
    /* expected counts: integral of omega over sin(dec) in each bin (midpoint rule, 2000 steps a bin) */
    for (int b = 0; b < BINS; b++)
        for (int k = 0; k < 2000; k++) {
            double s = -1 + (b + (k + 0.5) / 2000) * 2.0 / BINS;
            double w = exposure_test(asin(s), lat, zmax);
            expect[b] += w > 0 ? w : 0, total += w > 0 ? w : 0;
        }
    double chi2 = 0;
    int dof = -1;
    for (int b = 0; b < BINS; b++) {
        double e = expect[b] / total * (double)n;
        if (e > 0) chi2 += (h[b] - e) * (h[b] - e) / e, dof++;
        else CU_ASSERT(h[b] == 0);
    }
    double d = ks_distance(phi, n, cdf_uniform_2pi);
    printf("\n  %s: <sin dec> %.3f, chi2 %.1f / %d dof against Sommers, KS RA %.3f", options, mean_z, chi2, dof,
           d * sqrt((double)n));
    CU_ASSERT(chi2 < dof + 5 * sqrt(2.0 * dof));
    CU_ASSERT(d * sqrt((double)n) < KS_LIMIT); /* exposure does not depend on right ascension */
    free(phi);
    maps_free(&m);
    return mean_z;
}

static void test_exposure(void) {
    /* Auger (the southern sky; isotropic would be <sin dec> = 0), the south pole on the zenith
     * cut, a wide zenith range, and a northern site (Telescope Array-like) */
    CU_ASSERT(check_exposure("label-fraction=0 exposure=auger", -35.2, 60, 400, 10) < -0.3);
    check_exposure("label-fraction=0 exposure=auger zenith-max=54.8", -35.2, 54.8, 200, 15);
    check_exposure("label-fraction=0 exposure=auger zenith-max=80", -35.2, 80, 200, 16);
    CU_ASSERT(check_exposure("label-fraction=0 exposure=auger latitude=39.3 zenith-max=55", 39.3, 55, 200, 17) > 0.3);
    printf("\n");
    /* zenith up to 80 deg sees up to dec 44.8 deg; sources and their rays stay in view */
    double lat = -35.2 * DEG, zmax = 60 * DEG, top;
    maps m = simulate("label-fraction=1 source-fraction=0.5 exposure=auger zenith-max=80 deflection=3", 200, 11);
    top = sin(lat + 80 * DEG);
    int64_t beyond_60 = 0;
    for (int64_t i = 0; i < m.n * RAYS; i++) {
        CU_ASSERT_FATAL(m.events[4 * i + 2] <= top + 1e-6);
        beyond_60 += m.events[4 * i + 2] > sin(lat + zmax);
    }
    for (int64_t j = 0; j < m.n * m.k; j++) CU_ASSERT_FATAL(m.sources[3 * j + 2] <= top + 1e-6);
    CU_ASSERT(beyond_60 > 100);
    maps_free(&m);
}

static void test_source_options(void) {
    /* equal shares: no deflection, each ray on one of 4 sources */
    maps m = simulate("label-fraction=1 source-fraction=1 sources=4 deflection=0", 200, 12);
    double share_sum = 0, share_sq = 0, counts[4] = {0};
    for (int64_t map = 0; map < m.n; map++) {
        double c[4] = {0};
        for (int i = 0; i < RAYS; i++)
            for (int j = 0; j < 4; j++)
                if (dot3f(ray(&m, map, i), m.sources + (map * 4 + j) * 3) > 1 - 1e-6) {
                    c[j]++;
                    break;
                }
        for (int j = 0; j < 4; j++) counts[j] += c[j];
        share_sum += c[0] / RAYS, share_sq += (c[0] / RAYS) * (c[0] / RAYS);
    }
    double all = (double)m.n * RAYS;
    for (int j = 0; j < 4; j++) CU_ASSERT(fabs(counts[j] - all / 4) < 5 * sqrt(all * 3 / 16));
    double var_equal = share_sq / m.n - pow(share_sum / m.n, 2);
    CU_ASSERT(var_equal < 2 * 0.1875 / RAYS); /* binomial only */
    maps_free(&m);

    /* random shares: flat Dirichlet, var(share) = (1/4)(3/4)/5 = 0.0375 */
    m = simulate("label-fraction=1 source-fraction=1 sources=4 deflection=0 source-weights=random", 400, 13);
    share_sum = share_sq = 0;
    for (int64_t map = 0; map < m.n; map++) {
        double c0 = 0;
        for (int i = 0; i < RAYS; i++) c0 += dot3f(ray(&m, map, i), m.sources + map * 12) > 1 - 1e-6;
        share_sum += c0 / RAYS, share_sq += (c0 / RAYS) * (c0 / RAYS);
    }
    double mean = share_sum / m.n, var_random = share_sq / m.n - mean * mean;
    printf("\n  share of source 0 with random weights: mean %.3f, variance %.4f (Dirichlet 0.0375)\n", mean, var_random);
    CU_ASSERT(fabs(mean - 0.25) < 5 * sqrt(0.0375 / m.n));
    CU_ASSERT(var_random > 0.025 && var_random < 0.05);
    maps_free(&m);

    /* fixed positions: every label-1 map has the same sources; random: each its own */
    m = simulate("label-fraction=1 sources=3 source-positions=fixed", 10, 14);
    for (int64_t map = 1; map < m.n; map++) CU_ASSERT(memcmp(m.sources, m.sources + map * 9, 9 * sizeof(float)) == 0);
    maps_free(&m);
    m = simulate("label-fraction=1 sources=3", 10, 14);
    for (int64_t map = 1; map < m.n; map++) CU_ASSERT(memcmp(m.sources, m.sources + map * 9, 9 * sizeof(float)) != 0);
    maps_free(&m);
}

static void expect_usage_error(const char *options, const char *mentions) {
    void *cfg = calloc(1, kind()->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    cascade_status st = configure_text(options, cfg);
    free(cfg);
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    if (st != CASCADE_EUSAGE || !strstr(cascade_errmsg(), mentions))
        fprintf(stderr, "'%s': status %d, message '%s' (want '%s')\n", options, st, cascade_errmsg(), mentions);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), mentions));
}

static void test_option_errors(void) {
    expect_usage_error("source-fraction=1.5", "--source-fraction");
    expect_usage_error("sources=0", "--sources");
    expect_usage_error("sources=101", "--sources");
    expect_usage_error("sources=two", "--sources");
    expect_usage_error("label-fraction=-0.1", "--label-fraction");
    expect_usage_error("exposure=south", "none|auger");
    expect_usage_error("source-positions=grid", "--source-positions");
    expect_usage_error("source-weights=zipf", "--source-weights");
    expect_usage_error("emin=40 emax=30", "--emax");
    expect_usage_error("spectral-index=1", "--spectral-index");
    expect_usage_error("deflection=-1", "--deflection");
    expect_usage_error("zenith-max=95", "--zenith-max");
    expect_usage_error("exposure", "--exposure");
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("sim_skymap", NULL, NULL);
    CU_add_test(s, "schema and determinism", test_schema_and_determinism);
    CU_add_test(s, "unit vectors and spectrum", test_unit_vectors_and_spectrum);
    CU_add_test(s, "isotropy of label-0 maps", test_isotropy);
    CU_add_test(s, "clustering and fractions", test_clustering_and_fractions);
    CU_add_test(s, "deflection shrinks with energy", test_deflection);
    CU_add_test(s, "auger exposure", test_exposure);
    CU_add_test(s, "source options", test_source_options);
    CU_add_test(s, "option errors", test_option_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
