/* GAN evaluation observables (src/eval/observables.c) on hand-computed cases: separation
 * power (identical 0, disjoint 1, a half-overlap), binning with under/overflow, generic
 * observables, calorimeter centroids/widths/fractions/depth of a known shower, air-shower
 * totals, barycentre and lateral profile. */
#include <CUnit/Basic.h>
#include <math.h>
#include <string.h>

#include "eval/observables.h"

static void test_separation(void) {
    double a[] = {0.25, 0.25, 0.5, 0}, b[] = {0, 0, 0, 1}, c[] = {0.5, 0.5, 0, 0}, d[] = {0.5, 0, 0.5, 0};
    CU_ASSERT_DOUBLE_EQUAL(cascade_separation_power(a, a, 4), 0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(cascade_separation_power(a, b, 4), 1, 1e-15);
    /* 1/2 (0 + 0.25/0.5 + 0.25/0.5 + 0) */
    CU_ASSERT_DOUBLE_EQUAL(cascade_separation_power(c, d, 4), 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(cascade_separation_power(c, d, 4), cascade_separation_power(d, c, 4), 1e-15);
}

static void test_binning(void) {
    double ref[] = {0, 1, 2, 3}, h[4];
    cascade_binning b = cascade_binning_from(ref, 4, 2, OBS_LINEAR);
    CU_ASSERT_DOUBLE_EQUAL(b.lo, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(b.hi, 3, 0);
    CU_ASSERT_EQUAL(b.nbins, 2);
    cascade_hist_fill(&b, ref, 4, h); /* [0, 1.5): 0, 1; [1.5, 3]: 2, 3 */
    CU_ASSERT_DOUBLE_EQUAL(h[0], 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(h[1], 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(h[2], 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(h[3], 0, 0);
    CU_ASSERT_EQUAL(cascade_bin_of(&b, -1), 0);
    CU_ASSERT_EQUAL(cascade_bin_of(&b, 4), 3);
    CU_ASSERT_EQUAL(cascade_bin_of(&b, NAN), 0);
    CU_ASSERT_DOUBLE_EQUAL(cascade_bin_edge(&b, 2), 1.5, 1e-15);
    /* samples: identical -> 0; all generated values beyond the real range -> 1 */
    double gen[] = {10, 11, 12, 13}, hg[4];
    cascade_hist_fill(&b, gen, 4, hg);
    CU_ASSERT_DOUBLE_EQUAL(cascade_separation_power(h, h, 4), 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(cascade_separation_power(h, hg, 4), 1, 1e-15);
    /* integers 0..144 in at most 50 bins: groups of 3 integers, 49 bins from -0.5 */
    double ints[145];
    for (int i = 0; i < 145; i++) ints[i] = i;
    cascade_binning bi = cascade_binning_from(ints, 145, 50, OBS_INTEGER);
    CU_ASSERT_EQUAL(bi.nbins, 49);
    CU_ASSERT_DOUBLE_EQUAL(bi.lo, -0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(bi.hi, 146.5, 0);
    CU_ASSERT_EQUAL(cascade_bin_of(&bi, 2), 1);
    CU_ASSERT_EQUAL(cascade_bin_of(&bi, 3), 2);
    /* log: decades 1, 10, 100 in 2 bins; 0 and negatives underflow */
    double lg[] = {1, 10, 100};
    cascade_binning bl = cascade_binning_from(lg, 3, 2, OBS_LOG);
    CU_ASSERT_DOUBLE_EQUAL(bl.lo, 0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(bl.hi, 2, 1e-15);
    CU_ASSERT_EQUAL(cascade_bin_of(&bl, 0), 0);
    CU_ASSERT_EQUAL(cascade_bin_of(&bl, 5), 1);
    CU_ASSERT_EQUAL(cascade_bin_of(&bl, 50), 2);
    CU_ASSERT_DOUBLE_EQUAL(cascade_bin_edge(&bl, 2), 10, 1e-12);
    /* a constant reference: one bin around it */
    double k[] = {7, 7};
    cascade_binning bk = cascade_binning_from(k, 2, 50, OBS_LINEAR);
    CU_ASSERT_EQUAL(bk.nbins, 1);
    CU_ASSERT_EQUAL(cascade_bin_of(&bk, 7), 1);
    double med[] = {5, 1, 3, 2};
    CU_ASSERT_DOUBLE_EQUAL(cascade_median(med, 4), 2.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(cascade_median(med, 3), 3, 0);
}

static void test_generic(void) {
    float x[] = {0, 1, 2, 3, -1, 0, 0, 1};
    cascade_obs_set s;
    cascade_obs_init(&s, 2);
    CU_ASSERT_EQUAL(cascade_obs_generic(&s, "a", x, 4, 0), CASCADE_OK);
    CU_ASSERT_EQUAL(s.count, 4);
    double *sum = s.o[cascade_obs_find(&s, "a.sum")].v, *nz = s.o[cascade_obs_find(&s, "a.nonzero")].v;
    double *mean = s.o[cascade_obs_find(&s, "a.mean")].v, *sd = s.o[cascade_obs_find(&s, "a.std")].v;
    /* sample 0: hit cells 1, 2, 3: mean 2, std sqrt(2/3) */
    CU_ASSERT_DOUBLE_EQUAL(sum[0], 6, 0);
    CU_ASSERT_DOUBLE_EQUAL(nz[0], 3, 0);
    CU_ASSERT_DOUBLE_EQUAL(mean[0], 2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(sd[0], sqrt(2.0 / 3), 1e-15);
    /* sample 1: hit cells -1 and 1 (|-1| counts): mean 0, std 1 */
    CU_ASSERT_DOUBLE_EQUAL(sum[1], 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(nz[1], 2, 0);
    CU_ASSERT_DOUBLE_EQUAL(mean[1], 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(sd[1], 1, 1e-15);
    cascade_obs_free(&s);
    /* a threshold: only the cells above 1.5 are hit */
    cascade_obs_init(&s, 2);
    CU_ASSERT_EQUAL(cascade_obs_generic(&s, "a", x, 4, 1.5), CASCADE_OK);
    CU_ASSERT_DOUBLE_EQUAL(s.o[cascade_obs_find(&s, "a.nonzero")].v[0], 2, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.o[cascade_obs_find(&s, "a.mean")].v[0], 2.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(s.o[cascade_obs_find(&s, "a.nonzero")].v[1], 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.o[cascade_obs_find(&s, "a.std")].v[1], 0, 0);
    cascade_obs_free(&s);
}

static double val(const cascade_obs_set *s, const char *name) {
    int i = cascade_obs_find(s, name);
    CU_ASSERT_FATAL(i >= 0);
    return s->o[i].v[0];
}

static void test_calorimeter(void) {
    static float l0[3 * 96], l1[12 * 12], l2[12 * 6];
    memset(l0, 0, sizeof l0), memset(l1, 0, sizeof l1), memset(l2, 0, sizeof l2);
    l0[1 * 96 + 0] = 20;   /* strip layer: middle row, first column */
    l1[5 * 12 + 5] = 30;   /* middle layer: two cells in row 5 */
    l1[5 * 12 + 7] = 10;
    l2[11 * 6 + 5] = 40;   /* back layer: corner cell */
    const float *layers[3] = {l0, l1, l2};
    int rows[3] = {3, 12, 12}, cols[3] = {96, 12, 6};
    float einc[] = {0.125f}; /* GeV: 125 MeV incident, 100 MeV deposited */
    cascade_obs_set s;
    cascade_obs_init(&s, 1);
    CU_ASSERT_EQUAL_FATAL(cascade_obs_calorimeter(&s, layers, rows, cols, einc, 0), CASCADE_OK);
    /* layer 1: eta positions c - 5.5 = -0.5 (30 MeV) and 1.5 (10 MeV): centroid 0,
     * width sqrt((30 * 0.25 + 10 * 2.25) / 40) = sqrt(0.75); phi: both at 5 - 5.5 */
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "E_layer_1"), 40, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "eta_layer_1"), 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "width_eta_layer_1"), sqrt(0.75), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "phi_layer_1"), -0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "width_phi_layer_1"), 0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "sparsity_layer_1"), 142.0 / 144, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "eta_layer_0"), -47.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "phi_layer_0"), 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "eta_layer_2"), 2.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "phi_layer_2"), 5.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "E_total"), 100, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "Etot_over_Einc"), 0.8, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "frac_layer_0"), 0.2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "frac_layer_2"), 0.4, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "shower_depth"), 1.2, 1e-12); /* (0*20 + 1*40 + 2*40) / 100 */
    cascade_obs_free(&s);
    /* one layer only: no fractions or depth; a threshold makes small cells count as empty */
    const float *only1[3] = {NULL, l1, NULL};
    cascade_obs_init(&s, 1);
    CU_ASSERT_EQUAL_FATAL(cascade_obs_calorimeter(&s, only1, rows, cols, NULL, 15), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_obs_find(&s, "shower_depth"), -1);
    CU_ASSERT_EQUAL(cascade_obs_find(&s, "Etot_over_Einc"), -1);
    CU_ASSERT_EQUAL(cascade_obs_find(&s, "E_total"), -1);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "sparsity_layer_1"), 143.0 / 144, 1e-12);
    cascade_obs_free(&s);
    const float *none[3] = {NULL, NULL, NULL};
    cascade_obs_init(&s, 1);
    CU_ASSERT_EQUAL(cascade_obs_calorimeter(&s, none, rows, cols, NULL, 0), CASCADE_EDATA);
    cascade_obs_free(&s);
}

static void test_airshower(void) {
    static float sig[81];
    memset(sig, 0, sizeof sig);
    sig[4 * 9 + 4] = 100; /* centre, at (0, 0) */
    sig[4 * 9 + 5] = 100; /* its +x neighbour, at (1500, 0) */
    sig[0] = 2;           /* below the 3 VEM trigger */
    cascade_obs_set s;
    cascade_obs_init(&s, 1);
    CU_ASSERT_EQUAL_FATAL(cascade_obs_airshower(&s, sig, 1500, 3), CASCADE_OK);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "total_signal"), 202, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "n_triggered"), 2, 0);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "max_signal"), 100, 0);
    CU_ASSERT_DOUBLE_EQUAL(val(&s, "barycentre_r"), 750, 1e-9);
    cascade_obs_free(&s);
    double x, y;
    cascade_station_xy(3, 4, 1500, &x, &y); /* odd row: shifted by half a spacing */
    CU_ASSERT_DOUBLE_EQUAL(x, 750, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(y, -1500 * sqrt(3.0) / 2, 1e-9);
    /* barycentre (750, 0): both stations at 750 m; (3,4) and (5,4) at sqrt(0 + 1299^2) */
    double mean[3];
    int64_t count[3];
    cascade_lateral_profile(sig, 1, 1500, 3, 1000, 3, mean, count);
    CU_ASSERT_EQUAL(count[0], 2);
    CU_ASSERT_DOUBLE_EQUAL(mean[0], 100, 1e-9);
    CU_ASSERT(count[1] > 0);
    CU_ASSERT_DOUBLE_EQUAL(mean[1], 0, 0);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("observables", NULL, NULL);
    CU_add_test(s, "separation power", test_separation);
    CU_add_test(s, "binning", test_binning);
    CU_add_test(s, "generic", test_generic);
    CU_add_test(s, "calorimeter", test_calorimeter);
    CU_add_test(s, "airshower", test_airshower);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
