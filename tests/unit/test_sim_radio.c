/* Radio simulator physics: zero-mean noise with the configured RMS, Gaussian and coloured
 * (Galactic ν^-2.5 + thermal); noisy = clean + noise with the noise independent of the
 * pulse; pulse power inside 30-80 MHz and away from the trace edges; pulse amplitude ∝
 * energy; SNR (Hilbert envelope / noise RMS) spread from < 1 to > 10; has_signal fraction;
 * noise-only events; option errors. Spectra and envelopes are recomputed here with a plain
 * O(N²) DFT, independent of the simulator's FFT. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simtest.h"

#define NS 512 /* samples per trace, 1 ns */

typedef struct {
    int64_t n;
    float *noisy, *clean, *energy, *snr;
    int32_t *has_signal;
} radio_set;

static const sim_kind *kind(void) {
    const sim_kind *k = sim_find("radio");
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

/* Events [first, first+n) with the options kv and seed. */
static radio_set simulate(const char *const *kv, uint64_t seed, int64_t first, int64_t n) {
    radio_set s = {.n = n};
    void *cfg = calloc(1, kind()->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    CU_ASSERT_FATAL(configure(cfg, kv) == CASCADE_OK);
    s.noisy = malloc(sizeof(float) * NS * n);
    s.clean = malloc(sizeof(float) * NS * n);
    s.energy = malloc(sizeof(float) * n);
    s.snr = malloc(sizeof(float) * n);
    s.has_signal = malloc(sizeof(int32_t) * n);
    CU_ASSERT_FATAL(s.noisy && s.clean && s.energy && s.snr && s.has_signal);
    for (int64_t e = 0; e < n; e++) {
        void *rows[] = {s.noisy + NS * e, s.clean + NS * e, s.energy + e, s.snr + e, s.has_signal + e};
        kind()->generate(cfg, seed, first + e, rows);
    }
    free(cfg);
    return s;
}

static void release(radio_set *s) {
    free(s->noisy);
    free(s->clean);
    free(s->energy);
    free(s->snr);
    free(s->has_signal);
}

/* Plain DFT of a real trace: X_k = Σ x_n e^{-2πikn/N} for k = 0..N/2. */
static void dft(const float *x, double *xr, double *xi) {
    static double cs[NS], sn[NS];
    if (cs[0] == 0)
        for (int j = 0; j < NS; j++) cs[j] = cos(2 * M_PI * j / NS), sn[j] = sin(2 * M_PI * j / NS);
    for (int k = 0; k <= NS / 2; k++) {
        double r = 0, i = 0;
        for (int t = 0; t < NS; t++) {
            int j = (k * t) % NS;
            r += x[t] * cs[j];
            i -= x[t] * sn[j];
        }
        xr[k] = r;
        xi[k] = i;
    }
}

static double bin_mhz(int k) { return 1000.0 * k / NS; }

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_fields_and_attrs(void) {
    void *cfg = calloc(1, kind()->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    CU_ASSERT_FATAL(configure(cfg, NULL) == CASCADE_OK);
    sim_field f[SIM_MAX_FIELDS];
    CU_ASSERT_EQUAL_FATAL(kind()->fields(cfg, f), 5);
    const char *names[] = {"noisy", "clean", "energy", "snr", "has_signal"};
    for (int i = 0; i < 5; i++) CU_ASSERT_STRING_EQUAL(f[i].name, names[i]);
    CU_ASSERT(f[0].ndim == 1 && f[0].dims[0] == NS && f[1].ndim == 1 && f[1].dims[0] == NS);
    CU_ASSERT(f[2].ndim == 0 && f[3].ndim == 0 && f[4].ndim == 0);
    CU_ASSERT(f[0].type == CASCADE_H5_F32 && f[4].type == CASCADE_H5_I32);
    sim_attr a[SIM_MAX_ATTRS];
    int na = kind()->attrs(cfg, a), found = 0;
    for (int i = 0; i < na; i++) {
        if (strcmp(a[i].name, "noise_rms_uV") == 0) found += a[i].number == 10.0;
        if (strcmp(a[i].name, "energy_unit") == 0) found += strcmp(a[i].text, "EeV") == 0;
        if (strcmp(a[i].name, "signal_fraction") == 0) found += a[i].number == 1.0;
    }
    CU_ASSERT_EQUAL(found, 3);
    free(cfg);
}

/* Noise-only traces: clean 0, zero mean, the set RMS, Gaussian, Galactic + thermal colour. */
static void test_noise(void) {
    const double sigma = 3.5;
    const char *kv[] = {"signal-fraction", "0", "noise", "3.5", NULL};
    const int64_t n = 4000;
    radio_set s = simulate(kv, 11, 0, n);
    int bad = 0;
    double ms_sum = 0, ms_sq = 0, m4 = 0, m2 = 0, worst_trace_mean = 0;
    double column[4] = {0}; /* ensemble means at fixed samples */
    const int columns[4] = {0, 100, 300, 511};
    for (int64_t e = 0; e < n; e++) {
        bad += s.has_signal[e] != 0 || s.energy[e] != 0 || s.snr[e] != 0;
        double mean = 0, ms = 0;
        for (int t = 0; t < NS; t++) {
            double x = s.noisy[e * NS + t];
            bad += s.clean[e * NS + t] != 0.0f;
            mean += x;
            ms += x * x;
            m2 += x * x;
            m4 += x * x * x * x;
        }
        for (int c = 0; c < 4; c++) column[c] += s.noisy[e * NS + columns[c]] / (double)n;
        mean /= NS;
        ms /= NS;
        if (fabs(mean) > worst_trace_mean) worst_trace_mean = fabs(mean);
        ms_sum += ms;
        ms_sq += ms * ms;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* no DC bin: every trace has zero mean up to float rounding */
    CU_ASSERT(worst_trace_mean < 1e-5 * sigma);
    for (int c = 0; c < 4; c++) CU_ASSERT(fabs(column[c]) < 5 * sigma / sqrt((double)n));
    /* mean square per trace: its average is σ² within 5 standard errors */
    double ms_mean = ms_sum / n, ms_se = sqrt((ms_sq / n - ms_mean * ms_mean) / n);
    printf("\n  noise: RMS %.4f (set %.4f, se of ms %.4f), worst trace mean %.2g\n", sqrt(ms_mean), sigma, ms_se,
           worst_trace_mean);
    CU_ASSERT(fabs(ms_mean - sigma * sigma) < 5 * ms_se);
    CU_ASSERT(ms_se < 0.02 * sigma * sigma);
    double kurtosis = m4 / (double)(n * NS) / pow(m2 / (double)(n * NS), 2);
    printf("  noise kurtosis %.4f (Gaussian 3)\n", kurtosis);
    CU_ASSERT(fabs(kurtosis - 3.0) < 0.1);

    /* coloured: the mean power per bin in the flat part of the response (35-75 MHz) follows
     * (f/50)^-2.5 + 0.1; each bin's average over n traces has relative error 1/sqrt(n) */
    double power[NS / 2 + 1] = {0}, xr[NS / 2 + 1], xi[NS / 2 + 1];
    for (int64_t e = 0; e < n; e++) {
        dft(s.noisy + e * NS, xr, xi);
        for (int k = 0; k <= NS / 2; k++) power[k] += (xr[k] * xr[k] + xi[k] * xi[k]) / n;
    }
    double out_of_band = 0, total = 0, ratio_sum = 0;
    int flat = 0;
    for (int k = 0; k <= NS / 2; k++) {
        total += power[k];
        if (bin_mhz(k) <= 30 || bin_mhz(k) >= 80) out_of_band += power[k];
        if (bin_mhz(k) >= 35 && bin_mhz(k) <= 75) ratio_sum += power[k] / (pow(bin_mhz(k) / 50, -2.5) + 0.1), flat++;
    }
    CU_ASSERT(out_of_band < 1e-9 * total);
    double scale = ratio_sum / flat, worst = 0;
    for (int k = 0; k <= NS / 2; k++)
        if (bin_mhz(k) >= 35 && bin_mhz(k) <= 75) {
            double dev = fabs(power[k] / (pow(bin_mhz(k) / 50, -2.5) + 0.1) / scale - 1);
            if (dev > worst) worst = dev;
        }
    printf("  noise spectrum: %d bins in 35-75 MHz, worst deviation from the model %.3f (tolerance %.3f)\n", flat,
           worst, 5 / sqrt((double)n));
    CU_ASSERT(worst < 5 / sqrt((double)n));
    /* and it is coloured: bin 19 (37 MHz) carries 4.4 times the power of bin 37 (72 MHz) */
    CU_ASSERT(power[19] > 3.5 * power[37]);
    release(&s);
}

/* The same events with and without a pulse: noisy - clean is the same noise. */
static void test_noise_independent_of_pulse(void) {
    const char *with[] = {"signal-fraction", "1", NULL}, *without[] = {"signal-fraction", "0", NULL};
    const int64_t n = 1000;
    radio_set a = simulate(with, 5, 123, n), b = simulate(without, 5, 123, n);
    int bad = 0, pulses = 0;
    for (int64_t i = 0; i < n * NS; i++) {
        double tol = 2e-7 * (fabs(a.noisy[i]) + fabs(a.clean[i]) + fabs(b.noisy[i])) + 1e-30;
        bad += fabs(((double)a.noisy[i] - a.clean[i]) - b.noisy[i]) > tol;
    }
    for (int64_t e = 0; e < n; e++) pulses += a.has_signal[e] == 1 && a.snr[e] > 0 && a.energy[e] > 0;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(pulses, n);
    release(&a);
    release(&b);
}

/* Pulse spectrum inside 30-80 MHz; envelope peak in [128, 384] ns with the pulse energy
 * around it; snr = envelope peak / noise RMS. */
static void test_pulse_band_time_snr(void) {
    const int64_t n = 1500;
    radio_set s = simulate(NULL, 21, 0, n);
    double xr[NS / 2 + 1], xi[NS / 2 + 1], worst_band = 1, worst_time = 1, worst_snr = 0;
    int outside_window = 0;
    for (int64_t e = 0; e < n; e++) {
        const float *c = s.clean + e * NS;
        dft(c, xr, xi);
        double in = 0, all = 0;
        for (int k = 0; k <= NS / 2; k++) {
            double p = xr[k] * xr[k] + xi[k] * xi[k];
            all += p;
            if (bin_mhz(k) >= 30 && bin_mhz(k) <= 80) in += p;
        }
        if (in / all < worst_band) worst_band = in / all;
        /* Hilbert envelope |z_t|, z_t = (2/N) Σ_{0<k<N/2} X_k e^{2πikt/N}, bins with power only */
        double peak = 0;
        int peak_at = 0;
        for (int t = 0; t < NS; t++) {
            double zr = 0, zi = 0;
            for (int k = 1; k < NS / 2; k++) {
                if (xr[k] * xr[k] + xi[k] * xi[k] < 1e-12 * all) continue;
                double ph = 2 * M_PI * k * t / NS;
                zr += xr[k] * cos(ph) - xi[k] * sin(ph);
                zi += xr[k] * sin(ph) + xi[k] * cos(ph);
            }
            double env = 2.0 / NS * sqrt(zr * zr + zi * zi);
            if (env > peak) peak = env, peak_at = t;
        }
        /* arrival away from the edges, pulse energy concentrated around it */
        outside_window += peak_at < 128 || peak_at > 384;
        double near = 0, total = 0;
        for (int t = 0; t < NS; t++) {
            total += (double)c[t] * c[t];
            if (abs(t - peak_at) <= 64) near += (double)c[t] * c[t];
        }
        if (near / total < worst_time) worst_time = near / total;
        double rel = fabs(peak / 10.0 - s.snr[e]) / s.snr[e];
        if (rel > worst_snr) worst_snr = rel;
    }
    printf("\n  pulse: min power fraction in 30-80 MHz %.6f, min energy within 64 ns of the envelope peak %.4f, "
           "snr vs envelope rel. error %.2g\n",
           worst_band, worst_time, worst_snr);
    CU_ASSERT(worst_band > 0.99);
    CU_ASSERT(worst_time > 0.97);
    CU_ASSERT_EQUAL(outside_window, 0);
    CU_ASSERT(worst_snr < 1e-4);
    release(&s);
}

/* Amplitude ∝ energy: log-log slope 1 over many events (geometry averages out); energies
 * log-uniform in [emin, emax]; SNR spread from < 1 to > 10; the pulse ignores --noise. */
static void test_amplitude_energy_snr(void) {
    const int64_t n = 20000;
    const char *kv[] = {"emin", "0.1", "emax", "10", NULL};
    radio_set s = simulate(kv, 77, 0, n);
    double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0, u_sum = 0;
    int outside = 0;
    for (int64_t e = 0; e < n; e++) {
        double amp = 0;
        for (int t = 0; t < NS; t++) amp = fmax(amp, fabs(s.clean[e * NS + t]));
        double x = log(s.energy[e]), y = log(amp);
        outside += s.energy[e] < 0.1f * (1 - 1e-6f) || s.energy[e] > 10.0f * (1 + 1e-6f);
        u_sum += (log10(s.energy[e]) + 1) / 2;
        sx += x, sy += y, sxx += x * x, sxy += x * y, syy += y * y;
    }
    double vxx = sxx / n - sx / n * sx / n, vxy = sxy / n - sx / n * sy / n, vyy = syy / n - sy / n * sy / n;
    double slope = vxy / vxx, resid = vyy - slope * vxy, se = sqrt(resid / vxx / (n - 2));
    printf("\n  log amplitude vs log energy: slope %.4f ± %.4f\n", slope, se);
    CU_ASSERT(fabs(slope - 1) < 5 * se);
    CU_ASSERT(se < 0.02);
    CU_ASSERT_EQUAL(outside, 0);
    CU_ASSERT(fabs(u_sum / n - 0.5) < 5 * sqrt(1.0 / 12 / n)); /* uniform in log E */

    float *sorted = malloc(sizeof(float) * n);
    CU_ASSERT_FATAL(sorted != NULL);
    memcpy(sorted, s.snr, sizeof(float) * n);
    qsort(sorted, n, sizeof(float), compare_float);
    double q10 = sorted[n / 10], q50 = sorted[n / 2], q90 = sorted[9 * n / 10];
    printf("  snr quantiles: 10%% %.2f, 50%% %.2f, 90%% %.2f (max %.0f)\n", q10, q50, q90, sorted[n - 1]);
    CU_ASSERT(q10 < 1.0);
    CU_ASSERT(q90 > 10.0);
    CU_ASSERT(q50 > 1.0 && q50 < 10.0);
    free(sorted);

    /* five times the noise: identical pulses, SNR five times lower */
    const char *loud[] = {"emin", "0.1", "emax", "10", "noise", "50", NULL};
    radio_set l = simulate(loud, 77, 0, 200);
    int bad = 0;
    for (int64_t i = 0; i < 200 * NS; i++) bad += l.clean[i] != s.clean[i];
    for (int64_t e = 0; e < 200; e++) bad += fabs(l.snr[e] * 5 - s.snr[e]) > 1e-5 * s.snr[e];
    CU_ASSERT_EQUAL(bad, 0);
    release(&l);
    release(&s);
}

/* --signal-fraction F: has_signal ~ Binomial(n, F); noise-only events hold clean 0. */
static void test_signal_fraction(void) {
    const int64_t n = 10000;
    const double F = 0.3;
    const char *kv[] = {"signal-fraction", "0.3", NULL};
    radio_set s = simulate(kv, 3, 0, n);
    int64_t with = 0, bad = 0;
    for (int64_t e = 0; e < n; e++) {
        int h = s.has_signal[e];
        bad += h != 0 && h != 1;
        with += h;
        double peak = 0;
        for (int t = 0; t < NS; t++) peak = fmax(peak, fabs(s.clean[e * NS + t]));
        if (h)
            bad += !(peak > 0 && s.energy[e] > 0 && s.snr[e] > 0);
        else
            bad += !(peak == 0 && s.energy[e] == 0 && s.snr[e] == 0);
    }
    printf("\n  has_signal: %lld of %lld (expected %.0f ± %.0f)\n", (long long)with, (long long)n, n * F,
           sqrt(n * F * (1 - F)));
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(fabs(with - n * F) < 5 * sqrt(n * F * (1 - F)));
    release(&s);
}

/* Same (seed, index) gives the same event, in any order; another seed another event. */
static void test_reproducible(void) {
    radio_set a = simulate(NULL, 9, 40, 3), b = simulate(NULL, 9, 41, 1), c = simulate(NULL, 10, 41, 1);
    CU_ASSERT(memcmp(a.noisy + NS, b.noisy, sizeof(float) * NS) == 0);
    CU_ASSERT(memcmp(a.clean + NS, b.clean, sizeof(float) * NS) == 0);
    CU_ASSERT(a.energy[1] == b.energy[0] && a.snr[1] == b.snr[0]);
    CU_ASSERT(memcmp(c.noisy, b.noisy, sizeof(float) * NS) != 0);
    release(&a);
    release(&b);
    release(&c);
}

static void expect_usage_error(const char *const *kv, const char *needle) {
    void *cfg = calloc(1, kind()->cfg_size);
    CU_ASSERT_FATAL(cfg != NULL);
    cascade_clear_error();
    CU_ASSERT_EQUAL(configure(cfg, kv), CASCADE_EUSAGE);
    if (!strstr(cascade_errmsg(), needle)) printf("\n  message '%s' lacks '%s'\n", cascade_errmsg(), needle);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle));
    free(cfg);
}

static void test_option_errors(void) {
    expect_usage_error((const char *[]){"signal-fraction", "1.5", NULL}, "--signal-fraction");
    expect_usage_error((const char *[]){"signal-fraction", "half", NULL}, "--signal-fraction");
    expect_usage_error((const char *[]){"noise", "0", NULL}, "--noise");
    expect_usage_error((const char *[]){"noise", "-3", NULL}, "--noise");
    expect_usage_error((const char *[]){"emin", "5", "emax", "1", NULL}, "--emin");
    expect_usage_error((const char *[]){"emax", "0", NULL}, "--emax");
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("sim_radio", NULL, NULL);
    CU_add_test(s, "fields and attributes", test_fields_and_attrs);
    CU_add_test(s, "noise: zero mean, RMS, Gaussian, coloured", test_noise);
    CU_add_test(s, "noise independent of the pulse", test_noise_independent_of_pulse);
    CU_add_test(s, "pulse in band, away from edges, snr", test_pulse_band_time_snr);
    CU_add_test(s, "amplitude proportional to energy, snr spread", test_amplitude_energy_snr);
    CU_add_test(s, "signal fraction", test_signal_fraction);
    CU_add_test(s, "reproducible", test_reproducible);
    CU_add_test(s, "option errors", test_option_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
