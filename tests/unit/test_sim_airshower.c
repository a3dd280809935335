/* Air-shower simulator physics: schema and zeros, total signal ~ energy, Xmax mean and
 * elongation rate for p and Fe, zenith pdf ~ sin cos (KS), a plane fit to the trigger times
 * recovers the axis, `--domain data` is muon-richer and noisier than `sim`, traces sum to the
 * signal and leave the summary unchanged, option errors. Events come from generate() itself. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/airshower.h"

#define NS AIRSHOWER_STATIONS

typedef struct {
    int n, traces;
    airshower_cfg cfg;
    float *time, *signal, *trace, *lge, *xmax, *axis, *core, *mass;
} sample;

/* options as "key", "value" pairs (value NULL for a flag), terminated by a NULL key */
static cascade_status configure(airshower_cfg *cfg, const char *const *kv) {
    const sim_kind *k = sim_find("airshower");
    sim_options o = {0};
    for (int i = 0; kv && kv[i]; i += 2, o.n++) {
        o.opt[o.n].key = kv[i];
        o.opt[o.n].value = kv[i + 1];
    }
    return k->configure(cfg, &o);
}

static sample simulate(const char *const *kv, int n, uint64_t seed) {
    const sim_kind *k = sim_find("airshower");
    sample s = {.n = n};
    CU_ASSERT_FATAL(k != NULL);
    CU_ASSERT_FATAL(configure(&s.cfg, kv) == CASCADE_OK);
    s.traces = s.cfg.traces;
    s.time = calloc((size_t)n * NS, sizeof(float));
    s.signal = calloc((size_t)n * NS, sizeof(float));
    s.trace = s.traces ? calloc((size_t)n * NS * AIRSHOWER_BINS, sizeof(float)) : NULL;
    s.lge = calloc((size_t)n, sizeof(float));
    s.xmax = calloc((size_t)n, sizeof(float));
    s.axis = calloc((size_t)n * 3, sizeof(float));
    s.core = calloc((size_t)n * 2, sizeof(float));
    s.mass = calloc((size_t)n, sizeof(float));
    CU_ASSERT_FATAL(s.time && s.signal && s.lge && s.xmax && s.axis && s.core && s.mass && (!s.traces || s.trace));
    for (int e = 0; e < n; e++) {
        void *rows[8];
        int f = 0;
        rows[f++] = s.time + (size_t)e * NS;
        rows[f++] = s.signal + (size_t)e * NS;
        if (s.traces) rows[f++] = s.trace + (size_t)e * NS * AIRSHOWER_BINS;
        rows[f++] = s.lge + e;
        rows[f++] = s.xmax + e;
        rows[f++] = s.axis + 3 * e;
        rows[f++] = s.core + 2 * e;
        rows[f++] = s.mass + e;
        k->generate(&s.cfg, seed, e, rows);
    }
    return s;
}

static void release(sample *s) {
    free(s->time), free(s->signal), free(s->trace), free(s->lge), free(s->xmax), free(s->axis), free(s->core),
        free(s->mass);
}

static double zenith_of(const sample *s, int e) { return acos(s->axis[3 * e + 2]); }

/* least-squares line y = a + b x; returns b, intercept in *a */
static double fit_line(const double *x, const double *y, int n, double *a) {
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) mx += x[i] / n, my += y[i] / n;
    for (int i = 0; i < n; i++) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
    double b = sxy / sxx;
    if (a) *a = my - b * mx;
    return b;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void test_schema_and_zeros(void) {
    const sim_kind *k = sim_find("airshower");
    sample s = simulate(NULL, 2000, 11);
    sim_field f[SIM_MAX_FIELDS];
    CU_ASSERT_EQUAL(k->fields(&s.cfg, f), 7);
    CU_ASSERT_STRING_EQUAL(f[0].name, "time");
    CU_ASSERT_STRING_EQUAL(f[1].name, "signal");
    CU_ASSERT(f[1].ndim == 2 && f[1].dims[0] == 9 && f[1].dims[1] == 9);
    CU_ASSERT(strcmp(f[4].name, "axis") == 0 && f[4].ndim == 1 && f[4].dims[0] == 3);
    sim_attr a[SIM_MAX_ATTRS];
    int na = k->attrs(&s.cfg, a), seen = 0;
    CU_ASSERT(na <= SIM_MAX_ATTRS);
    for (int i = 0; i < na; i++) {
        if (strcmp(a[i].name, "domain") == 0) seen += a[i].is_string && strcmp(a[i].text, "sim") == 0;
        if (strcmp(a[i].name, "spacing_m") == 0) seen += !a[i].is_string && a[i].number == 1500.0;
    }
    CU_ASSERT_EQUAL(seen, 2);
    int bad_zero = 0, bad_axis = 0, bad_core = 0, bad_label = 0, below = 0;
    long triggered = 0;
    for (int e = 0; e < s.n; e++) {
        const float *ax = s.axis + 3 * e, *c = s.core + 2 * e;
        double norm = sqrt((double)ax[0] * ax[0] + (double)ax[1] * ax[1] + (double)ax[2] * ax[2]);
        bad_axis += fabs(norm - 1) > 1e-6 || ax[2] <= 0;
        /* inside the central hexagon: |core . n| <= spacing/2 for the three neighbour directions */
        for (int j = 0; j < 3; j++) {
            double phi = j * M_PI / 3;
            bad_core += fabs(c[0] * cos(phi) + c[1] * sin(phi)) > 750.0 + 1e-3;
        }
        bad_label += s.lge[e] < 18.5f || s.lge[e] > 20.0f || s.xmax[e] < 300 || s.xmax[e] > 1400;
        bad_label += s.mass[e] != 1 && s.mass[e] != 4 && s.mass[e] != 14 && s.mass[e] != 56;
        for (int i = 0; i < NS; i++) {
            float t = s.time[e * NS + i], v = s.signal[e * NS + i];
            if (v == 0) bad_zero += t != 0;
            if (v != 0) triggered++, bad_zero += t == 0, below += v < 3.0f;
        }
    }
    CU_ASSERT_EQUAL(bad_zero, 0);
    CU_ASSERT_EQUAL(bad_axis, 0);
    CU_ASSERT_EQUAL(bad_core, 0);
    CU_ASSERT_EQUAL(bad_label, 0);
    CU_ASSERT_EQUAL(below, 0);
    CU_ASSERT(triggered > 5L * s.n && triggered < 60L * s.n); /* a footprint, not the whole array */
    /* the labels are the event stream's draws; an event regenerates identically */
    airshower_event ev;
    sim_rng r;
    sim_rng_init(&r, 11, AIRSHOWER_KIND_ID, 7);
    airshower_draw_event(&s.cfg, &r, &ev);
    CU_ASSERT_EQUAL((float)ev.xmax, s.xmax[7]);
    CU_ASSERT_EQUAL((float)ev.core[1], s.core[15]);
    sample again = simulate(NULL, 8, 11);
    CU_ASSERT(memcmp(again.signal, s.signal, sizeof(float) * 8 * NS) == 0);
    CU_ASSERT(memcmp(again.time, s.time, sizeof(float) * 8 * NS) == 0);
    release(&again);
    release(&s);
}

/* Total signal ~ E: slope of log10(sum of signals) against lgE close to 1 (the EM part
 * grows slightly faster as Xmax deepens with energy; datasets/README.md (airshower)). */
static void test_signal_tracks_energy(void) {
    sample s = simulate(NULL, 8000, 12);
    double *x = calloc((size_t)s.n, sizeof(double)), *y = calloc((size_t)s.n, sizeof(double));
    for (int e = 0; e < s.n; e++) {
        double total = 0;
        for (int i = 0; i < NS; i++) total += s.signal[e * NS + i];
        x[e] = s.lge[e];
        y[e] = log10(total);
    }
    double slope = fit_line(x, y, s.n, NULL);
    printf("\n  log10(total signal) vs lgE slope %.3f\n", slope);
    CU_ASSERT(slope > 0.95 && slope < 1.15);
    free(x), free(y);
    release(&s);
}

/* Xmax: mean at 10^19 eV and elongation rate by least squares; the spread about the line. */
static void xmax_fit(const char *mix, uint64_t seed, double *mean19, double *rate, double *rms) {
    const char *kv[] = {"mass-mix", mix, NULL};
    sample s = simulate(kv, 20000, seed);
    double *x = calloc((size_t)s.n, sizeof(double)), *y = calloc((size_t)s.n, sizeof(double)), ss = 0;
    for (int e = 0; e < s.n; e++) x[e] = s.lge[e] - 19.0, y[e] = s.xmax[e];
    *rate = fit_line(x, y, s.n, mean19);
    for (int e = 0; e < s.n; e++) ss += pow(y[e] - *mean19 - *rate * x[e], 2);
    *rms = sqrt(ss / s.n);
    free(x), free(y);
    release(&s);
}

static void test_xmax(void) {
    double p_mean, p_rate, p_rms, fe_mean, fe_rate, fe_rms;
    xmax_fit("1,0,0,0", 13, &p_mean, &p_rate, &p_rms);
    xmax_fit("0,0,0,1", 14, &fe_mean, &fe_rate, &fe_rms);
    printf("\n  p: <Xmax>(19) %.1f, ER %.1f, rms %.1f; Fe: %.1f, %.1f, %.1f\n", p_mean, p_rate, p_rms, fe_mean, fe_rate,
           fe_rms);
    /* statistical errors (20000 showers): mean ~0.5, ER ~1 (p) / ~0.3 (Fe) g/cm^2 */
    CU_ASSERT(p_mean > 745 && p_mean < 755);
    CU_ASSERT(p_rate > 51 && p_rate < 60);
    CU_ASSERT(fe_rate > 53 && fe_rate < 61);
    CU_ASSERT(p_mean - fe_mean > 85 && p_mean - fe_mean < 110);
    CU_ASSERT(p_rms > 50 && p_rms < 70);
    CU_ASSERT(fe_rms > 12 && fe_rms < 0.4 * p_rms);
}

/* Kolmogorov-Smirnov distance of the zenith angles to the CDF sin^2 / sin^2(max). */
static double ks_sqrt_n(const sample *s, double max_deg, int isotropic) {
    double *z = malloc(sizeof(double) * s->n), d = 0, smax = sin(max_deg * M_PI / 180);
    for (int e = 0; e < s->n; e++) z[e] = zenith_of(s, e);
    qsort(z, (size_t)s->n, sizeof *z, cmp_double);
    for (int e = 0; e < s->n; e++) {
        double cdf = isotropic ? (1 - cos(z[e])) / (1 - cos(max_deg * M_PI / 180)) : pow(sin(z[e]) / smax, 2);
        double lo = fabs(cdf - (double)e / s->n), hi = fabs(cdf - (double)(e + 1) / s->n);
        d = fmax(d, fmax(lo, hi));
    }
    free(z);
    return d * sqrt((double)s->n);
}

static void test_zenith(void) {
    sample s = simulate(NULL, 20000, 15);
    double ks = ks_sqrt_n(&s, 60, 0), ks_iso = ks_sqrt_n(&s, 60, 1), zmax = 0;
    for (int e = 0; e < s.n; e++) zmax = fmax(zmax, zenith_of(&s, e));
    printf("\n  KS sqrt(n) D: sin.cos %.2f, (isotropic alternative %.1f)\n", ks, ks_iso);
    CU_ASSERT(ks < 1.63);     /* 1% critical value */
    CU_ASSERT(ks_iso > 5.0);  /* the test can tell a wrong distribution */
    CU_ASSERT(zmax <= 60.0 * M_PI / 180 + 1e-6);
    release(&s);
    const char *kv[] = {"zenith-max", "30", NULL};
    sample t = simulate(kv, 5000, 16);
    CU_ASSERT(ks_sqrt_n(&t, 30, 0) < 1.63);
    release(&t);
}

/* Plane t = t0 - (x u + y v) / c through the triggered stations (3x3 normal equations). */
static double plane_fit_error_deg(const sample *s, int e) {
    double m[3][3] = {{0}}, b[3] = {0};
    for (int i = 0; i < NS; i++) {
        if (s->signal[e * NS + i] == 0) continue;
        double x, y;
        airshower_station_xy(i / 9, i % 9, &x, &y);
        double row[3] = {1, -x / AIRSHOWER_C_M_PER_NS, -y / AIRSHOWER_C_M_PER_NS};
        for (int j = 0; j < 3; j++) {
            b[j] += row[j] * s->time[e * NS + i];
            for (int k = 0; k < 3; k++) m[j][k] += row[j] * row[k];
        }
    }
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    double sol[3];
    for (int c = 0; c < 3; c++) { /* Cramer */
        double a[3][3];
        memcpy(a, m, sizeof a);
        for (int j = 0; j < 3; j++) a[j][c] = b[j];
        sol[c] = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                  a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])) /
                 det;
    }
    double u = sol[1], v = sol[2], w2 = 1 - u * u - v * v, w = w2 > 0 ? sqrt(w2) : 0;
    double norm = sqrt(u * u + v * v + w * w);
    const float *ax = s->axis + 3 * e;
    double cosang = (u * ax[0] + v * ax[1] + w * ax[2]) / norm;
    return acos(fmin(1.0, cosang)) * 180 / M_PI;
}

static void test_plane_fit(void) {
    sample s = simulate(NULL, 3000, 17);
    double *err = malloc(sizeof(double) * s.n);
    for (int e = 0; e < s.n; e++) err[e] = plane_fit_error_deg(&s, e);
    double med = median(err, s.n), p90 = err[(int)(0.9 * s.n)];
    printf("\n  plane fit: median %.2f deg, 90%% %.2f deg\n", med, p90);
    CU_ASSERT(med < 2.5);
    CU_ASSERT(p90 < 6.0);
    free(err);
    release(&s);
}

/* Local lateral slope d log S / d log r of the triggered stations between 700 and 3000 m. */
static double ldf_slope(const sample *s, int e) {
    double x[NS], y[NS];
    int n = 0;
    airshower_event ev = {0};
    for (int i = 0; i < 3; i++) ev.axis[i] = s->axis[3 * e + i];
    ev.core[0] = s->core[2 * e], ev.core[1] = s->core[2 * e + 1];
    ev.front_radius_m = 1;
    for (int i = 0; i < NS; i++) {
        if (s->signal[e * NS + i] == 0) continue;
        double px, py;
        airshower_station st;
        airshower_station_xy(i / 9, i % 9, &px, &py);
        airshower_station_expect(&ev, px, py, &st);
        if (st.r_axis < 700 || st.r_axis > 3000) continue;
        x[n] = log10(st.r_axis), y[n] = log10(s->signal[e * NS + i]), n++;
    }
    return n >= 3 ? fit_line(x, y, n, NULL) : NAN;
}

/* The same showers (identical labels) in both domains. */
static void test_domains(void) {
    const char *kv_sim[] = {"traces", NULL, NULL}, *kv_data[] = {"traces", NULL, "domain", "data", NULL};
    sample s = simulate(kv_sim, 3000, 18), d = simulate(kv_data, 3000, 18);
    CU_ASSERT(memcmp(s.xmax, d.xmax, sizeof(float) * s.n) == 0);
    /* (1) lateral shape: near-vertical showers (EM not yet absorbed) are flatter in data */
    double *ls = malloc(sizeof(double) * s.n), *ld = malloc(sizeof(double) * s.n);
    int nv = 0;
    for (int e = 0; e < s.n; e++) {
        if (zenith_of(&s, e) > 35 * M_PI / 180) continue;
        double a = ldf_slope(&s, e), b = ldf_slope(&d, e);
        if (isnan(a) || isnan(b)) continue;
        ls[nv] = a, ld[nv] = b, nv++;
    }
    double slope_sim = median(ls, nv), slope_data = median(ld, nv);
    /* (2) signal rise (near-vertical showers): share of the trace in its first 100 ns (muons
     *     arrive earlier and narrower than the EM particles)
     * (3) inclined showers (EM absorbed), stations 1000-2000 m from the axis: larger signal
     *     in data (the muon excess)
     * (4) fluctuations about the model mean for stations expecting 200-2000 VEM (detector noise) */
    double early[2] = {0}, dev2[2] = {0};
    long n_early[2] = {0}, n_dev[2] = {0};
    double *far[2] = {calloc((size_t)s.n * NS, sizeof(double)), calloc((size_t)s.n * NS, sizeof(double))};
    int n_far = 0;
    for (int e = 0; e < s.n; e++) {
        sim_rng r;
        airshower_event ev[2];
        for (int dom = 0; dom < 2; dom++) {
            sim_rng_init(&r, 18, AIRSHOWER_KIND_ID, e);
            airshower_draw_event(dom ? &d.cfg : &s.cfg, &r, &ev[dom]);
        }
        double zen = zenith_of(&s, e);
        for (int i = 0; i < NS; i++) {
            double px, py, v[2] = {s.signal[e * NS + i], d.signal[e * NS + i]};
            airshower_station st[2];
            airshower_station_xy(i / 9, i % 9, &px, &py);
            for (int dom = 0; dom < 2; dom++) {
                const sample *x = dom ? &d : &s;
                airshower_station_expect(&ev[dom], px, py, &st[dom]);
                if (v[dom] == 0) continue;
                if (zen < 35 * M_PI / 180 && v[dom] > 20 && v[dom] < 2000) {
                    const float *t = x->trace + ((size_t)e * NS + i) * AIRSHOWER_BINS;
                    early[dom] += (t[0] + t[1] + t[2] + t[3]) / v[dom], n_early[dom]++;
                }
                double expected = st[dom].mu + st[dom].em;
                if (expected > 200 && expected < 2000) dev2[dom] += pow(v[dom] / expected - 1, 2), n_dev[dom]++;
            }
            if (zen > 45 * M_PI / 180 && st[0].r_axis > 1000 && st[0].r_axis < 2000 && v[0] > 0 && v[1] > 0)
                far[0][n_far] = v[0], far[1][n_far] = v[1], n_far++;
        }
    }
    double early_sim = early[0] / n_early[0], early_data = early[1] / n_early[1];
    double rel_sim = sqrt(dev2[0] / n_dev[0]), rel_data = sqrt(dev2[1] / n_dev[1]);
    double far_ratio = median(far[1], n_far) / median(far[0], n_far);
    printf("\n  LDF slope (zenith < 35 deg) sim %.2f data %.2f; first-100-ns share sim %.3f data %.3f;\n"
           "  inclined 1-2 km median signal data/sim %.2f; relative fluctuation at 200-2000 VEM sim %.3f data %.3f\n",
           slope_sim, slope_data, early_sim, early_data, far_ratio, rel_sim, rel_data);
    CU_ASSERT(slope_data - slope_sim > 0.15);
    CU_ASSERT(early_data > early_sim + 0.03);
    CU_ASSERT(far_ratio > 1.5);
    CU_ASSERT(rel_data > 1.5 * rel_sim);
    free(far[0]), free(far[1]);
    /* muonic share at the reference depth: ~30% (sim) and ~70% (data) for protons, more for Fe */
    CU_ASSERT_DOUBLE_EQUAL(airshower_muon_fraction(&s.cfg, 1), 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(airshower_muon_fraction(&d.cfg, 1), 0.7, 1e-12);
    CU_ASSERT(airshower_muon_fraction(&s.cfg, 56) > 0.4 && airshower_muon_fraction(&d.cfg, 56) < 0.9);
    free(ls), free(ld);
    release(&s);
    release(&d);
}

static void test_traces(void) {
    const char *kv[] = {"traces", NULL, NULL};
    sample t = simulate(kv, 1000, 19), s = simulate(NULL, 1000, 19);
    /* the summary does not depend on --traces */
    CU_ASSERT(memcmp(t.signal, s.signal, sizeof(float) * NS * s.n) == 0);
    CU_ASSERT(memcmp(t.time, s.time, sizeof(float) * NS * s.n) == 0);
    CU_ASSERT(memcmp(t.xmax, s.xmax, sizeof(float) * s.n) == 0);
    int bad_sum = 0, bad_zero = 0, bad_start = 0, negative = 0;
    for (int e = 0; e < t.n; e++)
        for (int i = 0; i < NS; i++) {
            const float *tr = t.trace + ((size_t)e * NS + i) * AIRSHOWER_BINS;
            double sum = 0, v = t.signal[e * NS + i];
            for (int k = 0; k < AIRSHOWER_BINS; k++) sum += tr[k], negative += tr[k] < 0;
            if (v == 0) bad_zero += sum != 0;
            else bad_sum += fabs(sum - v) > 1e-5 * v, bad_start += !(tr[0] > 0);
        }
    CU_ASSERT_EQUAL(bad_sum, 0);
    CU_ASSERT_EQUAL(bad_zero, 0);
    CU_ASSERT_EQUAL(bad_start, 0); /* the trace starts at the arrival time */
    CU_ASSERT_EQUAL(negative, 0);
    release(&t);
    release(&s);
}

static void test_normal_quantile(void) {
    double ps[] = {1e-12, 1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-9};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        CU_ASSERT_DOUBLE_EQUAL(airshower_normal_cdf(airshower_normal_quantile(ps[i])) / ps[i], 1.0, 1e-7);
}

static void expect_usage(const char *const *kv, const char *needle) {
    airshower_cfg cfg;
    cascade_clear_error();
    CU_ASSERT_EQUAL(configure(&cfg, kv), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle));
}

static void test_options(void) {
    const char *a[] = {"domain", "real", NULL}, *b[] = {"mass-mix", "1,2", NULL}, *c[] = {"zenith-max", "95", NULL};
    const char *d[] = {"lge-min", "19.5", "lge-max", "19", NULL}, *e[] = {"traces", "3", NULL};
    const char *f[] = {"mass-mix", "0,0,0,0", NULL}, *g[] = {"mass-mix", NULL, NULL};
    expect_usage(a, "--domain real");
    expect_usage(b, "--mass-mix");
    expect_usage(c, "--zenith-max");
    expect_usage(d, "--lge-max");
    expect_usage(e, "--traces");
    expect_usage(f, "--mass-mix");
    expect_usage(g, "--mass-mix");
    const char *ok[] = {"mass-mix", "0,1,0,0", NULL};
    sample s = simulate(ok, 200, 20);
    int not_he = 0;
    for (int i = 0; i < s.n; i++) not_he += s.mass[i] != 4;
    CU_ASSERT_EQUAL(not_he, 0);
    release(&s);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("sim_airshower", NULL, NULL);
    CU_add_test(s, "schema, zeros, labels", test_schema_and_zeros);
    CU_add_test(s, "total signal tracks energy", test_signal_tracks_energy);
    CU_add_test(s, "xmax mean and elongation rate", test_xmax);
    CU_add_test(s, "zenith pdf sin cos", test_zenith);
    CU_add_test(s, "plane fit recovers axis", test_plane_fit);
    CU_add_test(s, "domain data vs sim", test_domains);
    CU_add_test(s, "traces", test_traces);
    CU_add_test(s, "normal quantile", test_normal_quantile);
    CU_add_test(s, "options", test_options);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
