/* Calorimeter simulator physics (events drawn through the kind table, as the driver does):
 * energies non-negative and finite, every cell written; EM response linear in the incident
 * energy with a stochastic resolution a/√E; EM showers develop front to back (layer-0
 * fraction falls as a power of E, energy-weighted layer index grows ~ ln E); γ start later
 * than e+; π+ deeper, broader in layer 1, far more fluctuating, with invisible energy and
 * punch-through at the documented interaction length; mix labels; option errors. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simtest.h"

#define L0 (3 * 96)
#define L1 (12 * 12)
#define L2 (12 * 6)

static const sim_kind *kind(void) {
    const sim_kind *k = sim_find("calorimeter");
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    return k;
}

/* Configures from "key", "value" pairs (NULL-terminated); every option must be used. */
static cascade_status configure(void *cfg, const char *const *kv) {
    int all_used;
    cascade_status st = simtest_configure(kind(), cfg, kv, &all_used);
    if (!st) CU_ASSERT(all_used);
    return st;
}

/* Per-event summaries of a run. */
typedef struct {
    int n;
    double *e_in;      /* GeV */
    double *layer[3];  /* MeV */
    double *total;     /* MeV */
    double *width1;    /* energy-weighted RMS of x in layer 1 [mm] (0 if empty) */
    double *depth;     /* energy-weighted layer index (0, 1, 2) */
    int *pid;          /* particle_id (mix), else -1 */
    int bad_cells;     /* negative, NaN or Inf cells/overflow */
    double overflow[3];/* sums */
} calo_run;

static double *zeros(int n) {
    double *p = calloc((size_t)n, sizeof(double));
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

/* n events [first, first+n) for the options kv and seed. Rows are prefilled with NaN, so a
 * cell the simulator forgets to write shows up as bad. */
static calo_run simulate(const char *const *kv, uint64_t seed, int64_t first, int n) {
    calo_run s = {.n = n};
    void *cfg = calloc(1, kind()->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    CU_ASSERT_FATAL(configure(cfg, kv) == CASCADE_OK);
    sim_field f[SIM_MAX_FIELDS];
    int nf = kind()->fields(cfg, f);
    s.e_in = zeros(n);
    s.total = zeros(n);
    s.width1 = zeros(n);
    s.depth = zeros(n);
    for (int l = 0; l < 3; l++) s.layer[l] = zeros(n);
    s.pid = malloc(sizeof(int) * (size_t)n);
    CU_ASSERT_FATAL(s.pid != NULL);
    float l0[L0], l1[L1], l2[L2], energy, overflow[3];
    int32_t pid;
    void *rows[] = {l0, l1, l2, &energy, overflow, &pid};
    const float *cells[3] = {l0, l1, l2};
    const int sizes[3] = {L0, L1, L2};
    for (int e = 0; e < n; e++) {
        for (int i = 0; i < L0; i++) l0[i] = NAN;
        for (int i = 0; i < L1; i++) l1[i] = NAN;
        for (int i = 0; i < L2; i++) l2[i] = NAN;
        overflow[0] = overflow[1] = overflow[2] = energy = NAN;
        pid = -1;
        kind()->generate(cfg, seed, first + e, rows);
        s.e_in[e] = energy;
        s.pid[e] = nf == 6 ? pid : -1;
        for (int l = 0; l < 3; l++) {
            for (int i = 0; i < sizes[l]; i++) {
                if (!isfinite(cells[l][i]) || cells[l][i] < 0) s.bad_cells++;
                else s.layer[l][e] += cells[l][i];
            }
            if (!isfinite(overflow[l]) || overflow[l] < 0) s.bad_cells++;
            else s.overflow[l] += overflow[l];
            s.total[e] += s.layer[l][e];
        }
        double sx = 0, sxx = 0;
        for (int r = 0; r < 12; r++)
            for (int c = 0; c < 12; c++) {
                double x = (c - 5.5) * 40.0, w = isfinite(l1[r * 12 + c]) ? l1[r * 12 + c] : 0;
                sx += w * x;
                sxx += w * x * x;
            }
        if (s.layer[1][e] > 0) {
            double m = sx / s.layer[1][e];
            s.width1[e] = sqrt(fmax(sxx / s.layer[1][e] - m * m, 0));
        }
        s.depth[e] = s.total[e] > 0 ? (s.layer[1][e] + 2 * s.layer[2][e]) / s.total[e] : 0;
    }
    free(cfg);
    return s;
}

static void release(calo_run *s) {
    free(s->e_in);
    free(s->total);
    free(s->width1);
    free(s->depth);
    free(s->pid);
    for (int l = 0; l < 3; l++) free(s->layer[l]);
}

/* Mean and standard error of x[i] (optionally divided by y[i]) over events with mask[i]. */
typedef struct {
    double mean, sd, se;
    int n;
} stat;

static stat stats(const double *x, const double *div, const int *mask, int n) {
    double s = 0, ss = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        double v = div ? x[i] / div[i] : x[i];
        s += v;
        ss += v * v;
        k++;
    }
    stat r = {0, 0, 0, k};
    if (k < 2) return r;
    r.mean = s / k;
    r.sd = sqrt(fmax(ss / k - r.mean * r.mean, 0) * k / (k - 1));
    r.se = r.sd / sqrt(k);
    return r;
}

/* Weighted least squares y = a + b x (weights w, NULL: all 1); returns the largest |residual|
 * and the (weighted) R². */
static void fit_weighted(const double *x, const double *y, const double *w, int n, double *a, double *b,
                         double *max_res, double *r2) {
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi, sx += wi * x[i], sy += wi * y[i], sxx += wi * x[i] * x[i], sxy += wi * x[i] * y[i];
    }
    *b = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
    *a = (sy - *b * sx) / sw;
    double ss_res = 0, ss_tot = 0, my = sy / sw;
    *max_res = 0;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, res = y[i] - (*a + *b * x[i]);
        ss_res += wi * res * res;
        ss_tot += wi * (y[i] - my) * (y[i] - my);
        if (fabs(res) > *max_res) *max_res = fabs(res);
    }
    *r2 = 1.0 - ss_res / ss_tot;
}

static void fit_line(const double *x, const double *y, int n, double *a, double *b, double *max_res, double *r2) {
    fit_weighted(x, y, NULL, n, a, b, max_res, r2);
}

/* Fixed-energy run of `particle` at e_gev. */
static calo_run at_energy(const char *particle, double e_gev, int n, uint64_t seed) {
    char e[32];
    snprintf(e, sizeof e, "%g", e_gev);
    const char *kv[] = {"particle", particle, "emin", e, "emax", e, NULL};
    return simulate(kv, seed, 0, n);
}

#define N_E 6
static const double ENERGIES[N_E] = {2, 5, 10, 20, 50, 100};
#define N_EM 1500

static void test_values_valid_and_mix(void) {
    const char *kv[] = {"particle", "mix", "emin", "1", "emax", "100", NULL};
    calo_run s = simulate(kv, 7, 0, 3000);
    CU_ASSERT_EQUAL(s.bad_cells, 0);
    int count[3] = {0, 0, 0}, outside = 0;
    for (int i = 0; i < s.n; i++) {
        if (s.pid[i] >= 0 && s.pid[i] < 3) count[s.pid[i]]++;
        if (!(s.e_in[i] >= 1.0 && s.e_in[i] <= 100.0)) outside++;
    }
    CU_ASSERT_EQUAL(outside, 0);
    /* each particle 1/3 of the events: binomial sd = sqrt(3000 * 2/9) = 25.8; allow 5 sd */
    for (int k = 0; k < 3; k++) CU_ASSERT(fabs(count[k] - 1000.0) < 5 * 25.8);
    CU_ASSERT_EQUAL(count[0] + count[1] + count[2], s.n);
    /* uniform energies: mean 50.5, sd 99/√12 = 28.6, se 0.52 */
    stat e = stats(s.e_in, NULL, NULL, s.n);
    CU_ASSERT(fabs(e.mean - 50.5) < 5 * 0.52);
    CU_ASSERT(fabs(e.sd - 28.58) < 1.5);
    for (int l = 0; l < 3; l++) CU_ASSERT(s.overflow[l] > 0); /* the 1/r⁴ tails reach past 240 mm */
    release(&s);

    /* the same event twice is identical; another event differs */
    calo_run a = simulate(kv, 7, 123, 1), b = simulate(kv, 7, 123, 1), c = simulate(kv, 8, 123, 1);
    CU_ASSERT_EQUAL(a.total[0], b.total[0]);
    CU_ASSERT_EQUAL(a.width1[0], b.width1[0]);
    CU_ASSERT_NOT_EQUAL(a.total[0], c.total[0]);
    release(&a);
    release(&b);
    release(&c);
}

/* e+: <E_dep> = slope E + intercept with small residuals; σ/E = a/√E ⊕ b. */
static void test_em_linearity_and_resolution(void) {
    double mean[N_E], rel_sd[N_E], x_inv[N_E], y_var[N_E];
    for (int k = 0; k < N_E; k++) {
        calo_run s = at_energy("e+", ENERGIES[k], N_EM, 11 + k);
        CU_ASSERT_EQUAL(s.bad_cells, 0);
        stat t = stats(s.total, NULL, NULL, s.n);
        mean[k] = t.mean / 1e3; /* GeV */
        rel_sd[k] = t.sd / t.mean;
        x_inv[k] = 1.0 / ENERGIES[k];
        y_var[k] = rel_sd[k] * rel_sd[k];
        release(&s);
    }
    /* fit in relative terms (weights 1/E²): the points span 2-100 GeV */
    double a, b, max_res, r2, w[N_E];
    for (int k = 0; k < N_E; k++) w[k] = 1.0 / (ENERGIES[k] * ENERGIES[k]);
    fit_weighted(ENERGIES, mean, w, N_E, &a, &b, &max_res, &r2);
    printf("\n  e+ response: E_dep = %.4f E %+.3f GeV, R² %.6f; E_dep/E:", b, a, r2);
    for (int k = 0; k < N_E; k++) printf(" %.4f", mean[k] / ENERGIES[k]);
    printf("\n");
    CU_ASSERT(b > 0.95 && b < 1.0); /* EM scale, a few % back leakage at most */
    CU_ASSERT(fabs(a) < 0.2);       /* GeV */
    for (int k = 0; k < N_E; k++) { /* linearity: each point within 2% of the line (leakage grows ~ln E) */
        double res = mean[k] - (a + b * ENERGIES[k]);
        CU_ASSERT(fabs(res) / ENERGIES[k] < 0.02);
        CU_ASSERT(mean[k] / ENERGIES[k] > 0.95 && mean[k] / ENERGIES[k] < 1.0);
    }
    /* resolution improves: step by step while the sampling term dominates (≤ 20 GeV; above,
     * the leakage constant term flattens it within the statistical error), overall 2 → 100 */
    for (int k = 1; k < N_E && ENERGIES[k] <= 20; k++) CU_ASSERT(rel_sd[k] < rel_sd[k - 1]);
    CU_ASSERT(rel_sd[N_E - 1] < 0.35 * rel_sd[0]);
    /* (σ/E)² = a² / E + c²: the documented sampling term 10 %, a small constant term */
    double c2, a2;
    fit_line(x_inv, y_var, N_E, &c2, &a2, &max_res, &r2);
    double stoch = sqrt(fmax(a2, 0)), constant = sqrt(fmax(c2, 0));
    printf("  e+ resolution: sigma/E = %.3f/sqrt(E) (+) %.4f, R² %.4f\n", stoch, constant, r2);
    CU_ASSERT(stoch > 0.085 && stoch < 0.12);
    CU_ASSERT(constant < 0.02);
    CU_ASSERT(r2 > 0.98);
    for (int k = 0; k < N_E; k++) /* every point on the curve within 10% (sd of an sd: 1.8%) */
        CU_ASSERT(fabs(sqrt(c2 + a2 / ENERGIES[k]) / rel_sd[k] - 1.0) < 0.10);
}

/* e+: layer-0 fraction falls with E (a power law), shower depth grows ~ ln E; γ start later. */
static void test_em_longitudinal(void) {
    double lnE[N_E], ln_f0[N_E], depth[N_E], f0_e[N_E];
    for (int k = 0; k < N_E; k++) {
        calo_run s = at_energy("e+", ENERGIES[k], N_EM, 31 + k);
        stat f0 = stats(s.layer[0], s.total, NULL, s.n), d = stats(s.depth, NULL, NULL, s.n);
        lnE[k] = log(ENERGIES[k]);
        ln_f0[k] = log(f0.mean);
        f0_e[k] = f0.mean;
        depth[k] = d.mean;
        printf("%s  e+ %5.0f GeV: layer fractions %.4f %.4f %.4f, depth index %.4f ± %.4f", k ? "" : "\n",
               ENERGIES[k], f0.mean, stats(s.layer[1], s.total, NULL, s.n).mean,
               stats(s.layer[2], s.total, NULL, s.n).mean, d.mean, d.se);
        if (k > 0) { /* front to back: the differences are many standard errors */
            CU_ASSERT(f0_e[k] < f0_e[k - 1]);
            CU_ASSERT(depth[k] - depth[k - 1] > 3 * d.se);
        }
        printf("\n");
        release(&s);
    }
    double a, b, max_res, r2;
    fit_line(lnE, depth, N_E, &a, &b, &max_res, &r2);
    printf("  depth index = %.3f + %.4f ln E, R² %.3f\n", a, b, r2);
    CU_ASSERT(b > 0.02 && b < 0.1);
    CU_ASSERT(r2 > 0.85);
    fit_line(lnE, ln_f0, N_E, &a, &b, &max_res, &r2);
    printf("  layer-0 fraction ∝ E^%.3f, max log residual %.3f\n", b, max_res);
    CU_ASSERT(b < -0.4 && b > -0.8);
    CU_ASSERT(max_res < 0.2);

    /* γ convert after ~9/7 X0: less energy in layer 0, more often almost none */
    const double eg[2] = {10, 50};
    for (int k = 0; k < 2; k++) {
        calo_run e = at_energy("e+", eg[k], 3000, 51 + k), g = at_energy("gamma", eg[k], 3000, 61 + k);
        CU_ASSERT_EQUAL(g.bad_cells, 0);
        stat fe = stats(e.layer[0], e.total, NULL, e.n), fg = stats(g.layer[0], g.total, NULL, g.n);
        int late_e = 0, late_g = 0;
        for (int i = 0; i < e.n; i++) late_e += e.layer[0][i] < 0.002 * e.total[i];
        for (int i = 0; i < g.n; i++) late_g += g.layer[0][i] < 0.002 * g.total[i];
        printf("  %2.0f GeV layer-0 fraction e+ %.4f ± %.4f, gamma %.4f ± %.4f; nearly empty layer 0: %d vs %d\n",
               eg[k], fe.mean, fe.se, fg.mean, fg.se, late_e, late_g);
        CU_ASSERT(fe.mean - fg.mean > 5 * sqrt(fe.se * fe.se + fg.se * fg.se));
        CU_ASSERT(late_g > 2 * late_e + 20);
        /* same calorimeter response for both */
        stat te = stats(e.total, NULL, NULL, e.n), tg = stats(g.total, NULL, NULL, g.n);
        CU_ASSERT(fabs(te.mean - tg.mean) / (eg[k] * 1e3) < 0.01);
        release(&e);
        release(&g);
    }
}

/* π+ against e+ at the same energies. */
static void test_pion_showers(void) {
    const double ep[2] = {20, 50};
    for (int k = 0; k < 2; k++) {
        double e_mev = ep[k] * 1e3;
        calo_run e = at_energy("e+", ep[k], 3000, 71 + k), p = at_energy("pi+", ep[k], 3000, 81 + k);
        CU_ASSERT_EQUAL(p.bad_cells, 0);
        stat te = stats(e.total, NULL, NULL, e.n), tp = stats(p.total, NULL, NULL, p.n);
        printf("%s  %2.0f GeV total: e+ %.0f ± %.0f MeV, pi+ %.0f ± %.0f MeV\n", k ? "" : "\n", ep[k], te.mean,
               te.sd, tp.mean, tp.sd);
        /* invisible energy (h/e < 1) and leakage: far below the EM response */
        CU_ASSERT(tp.mean < 0.6 * te.mean);
        /* larger fluctuations: relative spread many times that of e+ */
        CU_ASSERT(tp.sd / tp.mean > 4 * te.sd / te.mean);
        /* deeper */
        stat de = stats(e.depth, NULL, NULL, e.n), dp = stats(p.depth, NULL, NULL, p.n);
        printf("  depth index e+ %.4f ± %.4f, pi+ %.4f ± %.4f\n", de.mean, de.se, dp.mean, dp.se);
        CU_ASSERT(dp.mean - de.mean > 5 * sqrt(de.se * de.se + dp.se * dp.se));
        /* broader in layer 1, for events that shower there (≥ 5% of E in layer 1) */
        int *me = malloc(sizeof(int) * (size_t)e.n), *mp = malloc(sizeof(int) * (size_t)p.n);
        CU_ASSERT_FATAL(me && mp);
        for (int i = 0; i < e.n; i++) me[i] = e.layer[1][i] > 0.05 * e_mev;
        for (int i = 0; i < p.n; i++) mp[i] = p.layer[1][i] > 0.05 * e_mev;
        stat we = stats(e.width1, NULL, me, e.n), wp = stats(p.width1, NULL, mp, p.n);
        printf("  layer-1 width e+ %.1f ± %.1f mm (%d ev), pi+ %.1f ± %.1f mm (%d ev)\n", we.mean, we.se, we.n,
               wp.mean, wp.se, wp.n);
        CU_ASSERT(wp.n > 500);
        CU_ASSERT(wp.mean - we.mean > 5.0 && wp.mean - we.mean > 5 * sqrt(we.se * we.se + wp.se * wp.se));
        /* punch-through: no interaction in 21 X0 with λ_π = 28 X0 → p = e^(-0.75) = 0.47; those
         * leave a MIP (~265 MeV); binomial sd 0.009, the model's few low showers add a little */
        int mip = 0, late = 0;
        for (int i = 0; i < p.n; i++) {
            mip += p.total[i] < 600.0;
            late += p.layer[0][i] < 100.0 && p.total[i] > 0.1 * e_mev; /* MIP in layer 0, shower later */
        }
        double f_mip = (double)mip / p.n;
        printf("  pi+ with < 600 MeV: %.3f (expected >= %.3f); showers starting after layer 0: %d\n", f_mip,
               exp(-21.0 / 28.0), late);
        CU_ASSERT(f_mip > exp(-0.75) - 0.03 && f_mip < exp(-0.75) + 0.06);
        CU_ASSERT(late > 0.2 * p.n);
        /* more energy outside the cells (broad tails) */
        CU_ASSERT(p.overflow[1] / p.n / tp.mean > e.overflow[1] / e.n / te.mean);
        free(me);
        free(mp);
        release(&e);
        release(&p);
    }
}

static void test_options_and_fields(void) {
    void *cfg = calloc(1, kind()->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    const char *bad_particle[] = {"particle", "proton", NULL};
    CU_ASSERT_EQUAL(configure(cfg, bad_particle), CASCADE_EUSAGE);
    CU_ASSERT(strstr(cascade_errmsg(), "--particle") && strstr(cascade_errmsg(), "pi+"));
    const char *reversed[] = {"emin", "50", "emax", "10", NULL};
    CU_ASSERT_EQUAL(configure(cfg, reversed), CASCADE_EUSAGE);
    CU_ASSERT(strstr(cascade_errmsg(), "--emin") != NULL);
    const char *not_number[] = {"emax", "lots", NULL};
    CU_ASSERT_EQUAL(configure(cfg, not_number), CASCADE_EUSAGE);
    CU_ASSERT(strstr(cascade_errmsg(), "--emax") != NULL);
    const char *too_low[] = {"emin", "0.001", NULL};
    CU_ASSERT_EQUAL(configure(cfg, too_low), CASCADE_EUSAGE);

    sim_field f[SIM_MAX_FIELDS];
    sim_attr a[SIM_MAX_ATTRS];
    const char *plain[] = {"particle", "gamma", NULL};
    CU_ASSERT_EQUAL_FATAL(configure(cfg, plain), CASCADE_OK);
    int nf = kind()->fields(cfg, f);
    CU_ASSERT_EQUAL(nf, 5);
    const char *names[] = {"layer_0", "layer_1", "layer_2", "energy", "overflow"};
    const int64_t d0[] = {3, 12, 12, 1, 3}, d1[] = {96, 12, 6, 0, 0};
    for (int i = 0; i < 5 && i < nf; i++) {
        CU_ASSERT_STRING_EQUAL(f[i].name, names[i]);
        CU_ASSERT_EQUAL(f[i].type, CASCADE_H5_F32);
        CU_ASSERT_EQUAL(f[i].dims[0], d0[i]);
        if (i < 3) CU_ASSERT_EQUAL(f[i].dims[1], d1[i]);
        CU_ASSERT_EQUAL(f[i].ndim, i < 3 ? 2 : 1);
    }
    int na = kind()->attrs(cfg, a), found = 0;
    CU_ASSERT(na <= SIM_MAX_ATTRS);
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].name, "particle") == 0) found = a[i].is_string && strcmp(a[i].text, "gamma") == 0;
    CU_ASSERT(found);
    const char *mix[] = {"particle", "mix", NULL};
    CU_ASSERT_EQUAL_FATAL(configure(cfg, mix), CASCADE_OK);
    nf = kind()->fields(cfg, f);
    CU_ASSERT_EQUAL(nf, 6);
    CU_ASSERT_STRING_EQUAL(f[5].name, "particle_id");
    CU_ASSERT_EQUAL(f[5].type, CASCADE_H5_I32);
    CU_ASSERT_EQUAL(f[5].ndim, 0);
    free(cfg);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("sim_calorimeter", NULL, NULL);
    CU_add_test(s, "options, fields and attributes", test_options_and_fields);
    CU_add_test(s, "values valid, mix labels, determinism", test_values_valid_and_mix);
    CU_add_test(s, "EM response linear, resolution a/sqrt(E)", test_em_linearity_and_resolution);
    CU_add_test(s, "EM front to back, deeper with E; gamma later", test_em_longitudinal);
    CU_add_test(s, "pi+ deeper, broader, fluctuating, punch-through", test_pion_showers);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
