/* LArTPC simulator physics: charge scale and Bragg peaks of single tracks, photon gaps and
 * shower energy scale, labelled pixels well above the noise, class signatures (nu_mu CC
 * tracks, nu_e CC showers from the vertex, NC showers detached from it), track length and
 * shower charge growing with energy, class fractions and energies as requested, noise
 * correlated along wires only, dead wires reading zero, option errors naming the option. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/lartpc.h"

#define N_EVENTS 10000
#define S LARTPC_SIZE

static const sim_kind *kind;

/* Configures from "key", "value" pairs (value NULL for a bare flag); returns the status. */
static cascade_status configure(void *cfg, int n, const char *const *kv) {
    sim_options o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < n; i++) {
        o.opt[i].key = kv[2 * i];
        o.opt[i].value = kv[2 * i + 1];
    }
    o.n = n;
    return kind->configure(cfg, &o);
}

typedef struct {
    float charge[LARTPC_PIXELS];
    uint8_t label[LARTPC_PIXELS];
    int32_t cls;
    float energy;
    lartpc_truth truth;
} event;

static void make(const void *cfg, uint64_t seed, int64_t index, event *e) {
    void *rows[4] = {e->charge, e->label, &e->cls, &e->energy};
    lartpc_event(cfg, seed, index, rows, &e->truth);
}

static double pearson(const double *x, const double *y, int n) {
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= n, my /= n;
    for (int i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
        sxy += (x[i] - mx) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[n / 2] : NAN;
}

/* |k - n p| within 5 binomial standard deviations. */
static int binomial_ok(long k, long n, double p) { return fabs(k - n * p) <= 5.0 * sqrt(n * p * (1 - p)) + 1e-9; }

static void test_options(void) {
    char cfg[256];
    CU_ASSERT_FATAL(kind->cfg_size <= sizeof cfg);
    CU_ASSERT_EQUAL(configure(cfg, 0, NULL), CASCADE_OK);
    sim_field f[SIM_MAX_FIELDS];
    CU_ASSERT_EQUAL_FATAL(kind->fields(cfg, f), 4);
    CU_ASSERT_STRING_EQUAL(f[0].name, "charge");
    CU_ASSERT(f[0].type == CASCADE_H5_F32 && f[0].ndim == 2 && f[0].dims[0] == S && f[0].dims[1] == S);
    CU_ASSERT_STRING_EQUAL(f[1].name, "pixel_label");
    CU_ASSERT(f[1].type == CASCADE_H5_U8 && f[1].ndim == 2);
    CU_ASSERT(strcmp(f[2].name, "event_label") == 0 && f[2].type == CASCADE_H5_I32 && f[2].ndim == 0);
    CU_ASSERT(strcmp(f[3].name, "energy") == 0 && f[3].type == CASCADE_H5_F32 && f[3].ndim == 0);
    sim_attr a[SIM_MAX_ATTRS];
    int na = kind->attrs(cfg, a), seen = 0;
    CU_ASSERT(na <= SIM_MAX_ATTRS);
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].name, "fraction_nc") == 0 || strcmp(a[i].name, "pixel_cm") == 0 ||
            strcmp(a[i].name, "dead_wire_fraction") == 0)
            seen++;
    CU_ASSERT_EQUAL(seen, 3);

    struct {
        const char *kv[4];
        int n;
        const char *needle;
    } bad[] = {
        {{"fractions", "1,2"}, 1, "--fractions"},
        {{"fractions", "1,-1,1"}, 1, "--fractions"},
        {{"fractions", "0,0,0"}, 1, "sum to zero"},
        {{"fractions", "a,b,c"}, 1, "--fractions"},
        {{"fractions", "1,1,1,"}, 1, "--fractions"},
        {{"fractions", NULL}, 1, "--fractions"},
        {{"energy-min", "1", "energy-max", "0.5"}, 2, "--energy-max"},
        {{"energy-min", "0.1"}, 1, "--energy-min"},
        {{"noise", "x"}, 1, "--noise"},
        {{"dead-wires", "2"}, 1, "--dead-wires"},
        {{"pixel-cm", "0"}, 1, "--pixel-cm"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(configure(cfg, bad[i].n, bad[i].kv), CASCADE_EUSAGE);
        CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), bad[i].needle));
    }
}

static void test_reproducible(void) {
    char cfg[256];
    CU_ASSERT_EQUAL_FATAL(configure(cfg, 0, NULL), CASCADE_OK);
    static event a, b;
    make(cfg, 7, 123, &a);
    make(cfg, 7, 123, &b);
    CU_ASSERT(memcmp(a.charge, b.charge, sizeof a.charge) == 0 && memcmp(a.label, b.label, sizeof a.label) == 0);
    CU_ASSERT(a.cls == b.cls && a.energy == b.energy);
    make(cfg, 7, 124, &b);
    CU_ASSERT(memcmp(a.charge, b.charge, sizeof a.charge) != 0);
    make(cfg, 8, 123, &b);
    CU_ASSERT(memcmp(a.charge, b.charge, sizeof a.charge) != 0);
}

/* Charge per wire (summed over time) of a noise-free image. */
static void wire_profile(const float *layer, double *profile) {
    for (int w = 0; w < S; w++) {
        profile[w] = 0;
        for (int t = 0; t < S; t++) profile[w] += layer[w * S + t];
    }
}

static void test_tracks(void) {
    static lartpc_image im;
    sim_rng root, r;
    sim_rng_init(&root, 5, LARTPC_KIND_ID, 0);
    double profile[S];
    /* a 2 GeV muon along the wire axis: one MIP per pixel by construction of the unit */
    double sum = 0;
    int n_wires = 0;
    for (int k = 0; k < 50; k++) {
        sim_rng_sub(&r, &root, (uint64_t)k);
        lartpc_image_init(&im, 1.0);
        double x[3] = {2.0, 32.0, 0}, d[3] = {1, 0, 0};
        CU_ASSERT_EQUAL(lartpc_track(&im, &r, LARTPC_MUON, x, d, 2000.0), 0); /* leaves the image */
        wire_profile(im.track, profile);
        for (int w = 4; w < 60; w++, n_wires++) sum += profile[w];
    }
    CU_ASSERT_DOUBLE_EQUAL(sum / n_wires, 1.0, 0.03);

    /* 150 MeV protons: range 16.7 cm from dE/dx = 17 MeV/cm (r/cm)^-0.42; the charge per
     * pixel rises towards the stop (Bragg peak, x2 at 1 cm pixels after recombination) */
    double expected = pow(0.58 * 150.0 / 17.0, 1.0 / 0.58), stop_sum = 0, first = 0, peak = 0;
    int stopped = 0, peak_at_end = 0;
    for (int k = 0; k < 300; k++) {
        sim_rng_sub(&r, &root, 100 + (uint64_t)k);
        lartpc_image_init(&im, 1.0);
        double x[3] = {2.0, 32.5, 0}, d[3] = {1, 0, 0};
        if (!lartpc_track(&im, &r, LARTPC_PROTON, x, d, 150.0)) continue; /* hadronic interaction */
        stopped++;
        stop_sum += x[0] - 2.0;
        wire_profile(im.track, profile);
        int end = (int)x[0], top = 0;
        for (int w = 1; w < S; w++)
            if (profile[w] > profile[top]) top = w;
        peak_at_end += top == end || top == end - 1;
        first += (profile[2] + profile[3] + profile[4]) / 3.0;
        peak += profile[top];
    }
    /* interaction probability over 16.7 cm: 1 - exp(-16.7 / 85.7) = 0.18 */
    CU_ASSERT(binomial_ok(300 - stopped, 300, 1.0 - exp(-expected / LAR_LAMBDA_INT)));
    CU_ASSERT_DOUBLE_EQUAL(stop_sum / stopped, expected, 0.05 * expected);
    CU_ASSERT(peak_at_end > 0.95 * stopped);
    CU_ASSERT(peak > 1.7 * first);
    CU_ASSERT(first / stopped > 1.8); /* the start is ionising 2x minimum already (5.2 MeV/cm) */
}

/* Photons convert after a gap of mean 9/7 X0; electron showers deposit charge proportional
 * to their energy when contained, and reach their maximum later at higher energy. */
static void test_showers(void) {
    static lartpc_image im;
    sim_rng root, r;
    sim_rng_init(&root, 6, LARTPC_KIND_ID, 0);
    double profile[S], gap_sum = 0;
    int n_gap = 0;
    for (int k = 0; k < 400; k++) {
        sim_rng_sub(&r, &root, (uint64_t)k);
        lartpc_image_init(&im, 2.0); /* 128 cm: conversions beyond are 0.1% */
        double x[3] = {4.0, 64.0, 0}, d[3] = {1, 0, 0};
        lartpc_em(&im, &r, x, d, 500.0, 1);
        wire_profile(im.shower, profile);
        for (int w = 0; w < S; w++)
            if (profile[w] > 0) {
                gap_sum += w * 2.0 + 1.0 - 4.0; /* pixel centre - start, cm */
                n_gap++;
                break;
            }
    }
    double lambda = 9.0 / 7.0 * LAR_X0_CM; /* 18 cm; sigma of the mean 0.9 cm, pixel 2 cm */
    CU_ASSERT(n_gap > 390);
    CU_ASSERT_DOUBLE_EQUAL(gap_sum / n_gap, lambda, 3.0);

    double total[2] = {0, 0}, depth[2] = {0, 0}, energies[2] = {300.0, 1500.0};
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 200; k++) {
            sim_rng_sub(&r, &root, 1000 + 1000 * (uint64_t)e + (uint64_t)k);
            lartpc_image_init(&im, 5.0); /* 320 cm: contained */
            double x[3] = {10.0, 160.0, 0}, d[3] = {1, 0, 0};
            lartpc_em(&im, &r, x, d, energies[e], 0);
            wire_profile(im.shower, profile);
            double q = 0, qw = 0;
            for (int w = 0; w < S; w++) q += profile[w], qw += profile[w] * (w + 0.5) * 5.0;
            total[e] += q / 200;
            depth[e] += (qw / q - 10.0) / 200;
        }
    /* MIP units x pixel x dE/dx = deposited energy at MIP recombination */
    double deposited_fraction = total[1] * 5.0 * LAR_MIP_DEDX / energies[1];
    CU_ASSERT(deposited_fraction > 0.85 && deposited_fraction < 1.02);
    CU_ASSERT_DOUBLE_EQUAL(total[1] / total[0], energies[1] / energies[0], 0.1 * energies[1] / energies[0]);
    /* longitudinal centroid: ~ X0 (ln(E / E_c) + 1.2); ln 5 X0 = 22 cm deeper */
    CU_ASSERT(depth[1] - depth[0] > 12.0 && depth[1] - depth[0] < 35.0);
    printf("\n  photon gap %.1f cm; 1.5 GeV e: %.3f of E deposited; centroid 0.3 / 1.5 GeV %.1f / %.1f cm\n",
           gap_sum / n_gap, deposited_fraction, depth[0], depth[1]);
}

/* Events with the default configuration: classes, energies, labels, noise, signatures. */
static void test_events(void) {
    char cfg[256];
    CU_ASSERT_EQUAL_FATAL(configure(cfg, 0, NULL), CASCADE_OK);
    static event e;
    static double energy[3][N_EVENTS], extent[N_EVENTS], gap[3][N_EVENTS], shower_q[N_EVENTS];
    long count[3] = {0, 0, 0}, pixels[3][3] = {{0}}, n_gap[3] = {0, 0, 0}, bad_class = 0, bad_energy = 0;
    double labelled_q = 0, n_labelled = 0, empty_q = 0, empty_q2 = 0, n_empty = 0;
    double c_time = 0, c_wire = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        make(cfg, 11, i, &e);
        if (e.cls < 0 || e.cls > 2) {
            bad_class++;
            continue;
        }
        int c = e.cls;
        if (!(e.energy >= 0.2f && e.energy <= 3.0f)) bad_energy++;
        energy[c][count[c]] = e.energy;
        double far = 0, near = INFINITY, qs = 0;
        for (int w = 0; w < S; w++) {
            int dead = 1;
            for (int t = 0; t < S; t++) dead &= e.charge[w * S + t] == 0.0f;
            for (int t = 0; t < S; t++) {
                int p = w * S + t, lab = e.label[p];
                double dist = hypot(w + 0.5 - e.truth.vertex_w, t + 0.5 - e.truth.vertex_t);
                pixels[c][lab]++;
                if (lab == LARTPC_TRACK && dist > far) far = dist;
                if (lab == LARTPC_SHOWER && dist < near) near = dist;
                if (dead) continue;
                if (lab == LARTPC_SHOWER) qs += e.charge[p];
                if (lab) {
                    labelled_q += e.charge[p];
                    n_labelled++;
                } else {
                    empty_q += e.charge[p];
                    empty_q2 += (double)e.charge[p] * e.charge[p];
                    n_empty++;
                    /* neighbours along time (same wire) and across wires, both empty */
                    if (t + 1 < S && !e.label[p + 1]) c_time += (double)e.charge[p] * e.charge[p + 1];
                    if (w + 1 < S && !e.label[p + S] && e.charge[p + S] != 0.0f)
                        c_wire += (double)e.charge[p] * e.charge[p + S];
                }
            }
        }
        if (c == LARTPC_NUMU_CC) extent[count[c]] = far;
        if (c == LARTPC_NUE_CC) shower_q[count[c]] = qs;
        if (isfinite(near)) gap[c][n_gap[c]++] = near;
        count[c]++;
    }
    CU_ASSERT_EQUAL(bad_class, 0);
    CU_ASSERT_EQUAL(bad_energy, 0);
    for (int c = 0; c < 3; c++) CU_ASSERT(binomial_ok(count[c], N_EVENTS, 1.0 / 3.0));
    double mean_e = 0;
    for (int c = 0; c < 3; c++)
        for (long i = 0; i < count[c]; i++) mean_e += energy[c][i] / N_EVENTS;
    CU_ASSERT_DOUBLE_EQUAL(mean_e, 1.6, 5.0 * 2.8 / sqrt(12.0 * N_EVENTS));

    /* noise: sigma_pixel^2 + sigma_wire^2 x 0.672 (linear interpolation between knots) */
    double sigma = sqrt(0.05 * 0.05 + 0.672 * 0.03 * 0.03);
    double mean_empty = empty_q / n_empty, sd_empty = sqrt(empty_q2 / n_empty - mean_empty * mean_empty);
    CU_ASSERT(fabs(mean_empty) < 0.01);
    CU_ASSERT_DOUBLE_EQUAL(sd_empty, sigma, 0.1 * sigma);
    CU_ASSERT(labelled_q / n_labelled > 10.0 * sigma);
    double rho_time = c_time / n_empty / (sd_empty * sd_empty), rho_wire = c_wire / n_empty / (sd_empty * sd_empty);
    CU_ASSERT(rho_time > 0.1 && rho_time < 0.3); /* expected 0.19 */
    CU_ASSERT(fabs(rho_wire) < 0.03);

    /* nu_mu CC are tracks, nu_e CC and NC showers */
    double track_share[3];
    for (int c = 0; c < 3; c++)
        track_share[c] = (double)pixels[c][LARTPC_TRACK] / (pixels[c][LARTPC_TRACK] + pixels[c][LARTPC_SHOWER]);
    CU_ASSERT(track_share[LARTPC_NUMU_CC] > 0.9);
    CU_ASSERT(track_share[LARTPC_NUE_CC] < 0.3);
    CU_ASSERT(track_share[LARTPC_NC] < 0.3);
    CU_ASSERT(pixels[LARTPC_NUMU_CC][LARTPC_TRACK] > 5 * pixels[LARTPC_NUE_CC][LARTPC_TRACK] / 2);

    /* nu_e CC showers start at the vertex; NC photon showers after a conversion gap */
    CU_ASSERT(n_gap[LARTPC_NUE_CC] > 0.95 * count[LARTPC_NUE_CC]);
    CU_ASSERT(n_gap[LARTPC_NC] > 0.8 * count[LARTPC_NC]);
    double gap_nue = median(gap[LARTPC_NUE_CC], (int)n_gap[LARTPC_NUE_CC]);
    double gap_nc = median(gap[LARTPC_NC], (int)n_gap[LARTPC_NC]);
    CU_ASSERT(gap_nue < 1.5);
    CU_ASSERT(gap_nc > 3.0 && gap_nc > 2.5 * gap_nue);

    /* the longest track (from the vertex) grows with energy in nu_mu CC; so does the nu_e
     * shower charge (null hypothesis: r ~ N(0, 1/sqrt(1000))) */
    double r_track = pearson(energy[LARTPC_NUMU_CC], extent, (int)count[LARTPC_NUMU_CC]);
    double r_shower = pearson(energy[LARTPC_NUE_CC], shower_q, (int)count[LARTPC_NUE_CC]);
    CU_ASSERT(r_track > 0.2);
    CU_ASSERT(r_shower > 0.3);
    printf("\n  %ld/%ld/%ld events; noise sd %.4f (expected %.4f), labelled charge %.2f, rho time %.3f wire %.3f\n"
           "  track share %.3f %.3f %.3f; median shower gap nu_e %.2f NC %.2f px; r(E, track) %.3f r(E, shower) %.3f\n",
           count[0], count[1], count[2], sd_empty, sigma, labelled_q / n_labelled, rho_time, rho_wire, track_share[0],
           track_share[1], track_share[2], gap_nue, gap_nc, r_track, r_shower);
}

static void test_fractions_energy(void) {
    char cfg[256];
    const char *kv[] = {"fractions", "0.6,0.3,0.1", "energy-min", "1", "energy-max", "2"};
    CU_ASSERT_EQUAL_FATAL(configure(cfg, 3, kv), CASCADE_OK);
    static event e;
    long count[3] = {0, 0, 0}, outside = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        make(cfg, 12, i, &e);
        if (e.cls >= 0 && e.cls < 3) count[e.cls]++;
        if (!(e.energy >= 1.0f && e.energy <= 2.0f)) outside++;
    }
    CU_ASSERT(binomial_ok(count[0], N_EVENTS, 0.6));
    CU_ASSERT(binomial_ok(count[1], N_EVENTS, 0.3));
    CU_ASSERT(binomial_ok(count[2], N_EVENTS, 0.1));
    CU_ASSERT_EQUAL(outside, 0);
    const char *only[] = {"fractions", "0,2,0"};
    CU_ASSERT_EQUAL_FATAL(configure(cfg, 1, only), CASCADE_OK);
    long nue = 0;
    for (int i = 0; i < 200; i++) {
        make(cfg, 12, i, &e);
        nue += e.cls == LARTPC_NUE_CC;
    }
    CU_ASSERT_EQUAL(nue, 200);
}

/* Dead wires read exactly zero (their labels keep the truth); live wires never do. */
static void test_dead_wires(void) {
    char cfg[256];
    const char *kv[] = {"dead-wires", "0.1"};
    static event e;
    for (int pass = 0; pass < 2; pass++) {
        CU_ASSERT_EQUAL_FATAL(configure(cfg, pass == 0 ? 1 : 0, kv), CASCADE_OK);
        long dead = 0, partial_zero = 0, labelled_dead = 0, n = 400;
        for (int i = 0; i < n; i++) {
            make(cfg, 13, i, &e);
            for (int w = 0; w < S; w++) {
                int zeros = 0, labels = 0;
                for (int t = 0; t < S; t++) {
                    zeros += e.charge[w * S + t] == 0.0f;
                    labels += e.label[w * S + t] != 0;
                }
                dead += zeros == S;
                partial_zero += zeros > 0 && zeros < S;
                if (zeros == S && labels) labelled_dead++;
            }
        }
        double p = pass == 0 ? 0.1 : 0.03;
        CU_ASSERT(binomial_ok(dead, n * S, p));
        CU_ASSERT_EQUAL(partial_zero, 0);
        CU_ASSERT(labelled_dead > 0);
    }
    const char *none[] = {"dead-wires", "0"};
    CU_ASSERT_EQUAL_FATAL(configure(cfg, 1, none), CASCADE_OK);
    long dead = 0;
    for (int i = 0; i < 100; i++) {
        make(cfg, 13, i, &e);
        for (int w = 0; w < S; w++) dead += e.charge[w * S] == 0.0f && e.charge[w * S + 1] == 0.0f;
    }
    CU_ASSERT_EQUAL(dead, 0);
}

int main(void) {
    kind = sim_find("lartpc");
    if (!kind) {
        fprintf(stderr, "lartpc is not registered in sims.def\n");
        return 1;
    }
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("sim_lartpc", NULL, NULL);
    CU_add_test(s, "options", test_options);
    CU_add_test(s, "reproducible", test_reproducible);
    CU_add_test(s, "tracks", test_tracks);
    CU_add_test(s, "showers", test_showers);
    CU_add_test(s, "events", test_events);
    CU_add_test(s, "fractions_energy", test_fractions_energy);
    CU_add_test(s, "dead_wires", test_dead_wires);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
