/* Shape inference, shape errors and key validation of the pooling and shape ops (maxpool,
 * avgpool, globalavgpool, globalmaxpool, flatten, reshape, add, concat), and max pooling's
 * tie/NaN/-inf routing, which the finite-difference reference cases cannot cover. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layercheck.h"

static void test_pool_shapes(void) {
    th_expect_out("maxpool", "size=2", th_shp(3, 3, 7, 5, 0), "(3,3,2)");              /* floor */
                  th_expect_out("avgpool", "size=3\nstride=2\npadding=1", th_shp(2, 4, 11, 0, 0), "(4,6)");
    th_expect_out("maxpool", "size=2\nstride=3", th_shp(2, 2, 9, 0, 0), "(2,3)");
    th_expect_out("avgpool", "size=3,2\nstride=2,1\npadding=1,0", th_shp(3, 2, 9, 7, 0), "(2,5,6)");
    th_expect_out("maxpool", "size=2", th_shp(4, 2, 4, 5, 6), "(2,2,2,3)");
    th_expect_out("maxpool", "size=2,3,3\nstride=1,2,3\npadding=1,0,1", th_shp(4, 2, 5, 4, 7), "(2,6,1,3)");
    th_expect_out("globalavgpool", "", th_shp(3, 4, 6, 5, 0), "(4)");
    th_expect_out("globalmaxpool", "", th_shp(2, 5, 9, 0, 0), "(5)");

    /* maxpool keeps one argmax per output element for backward; avgpool keeps nothing */
    cascade_layer L;
    cascade_shape in = th_shp(3, 3, 7, 5, 0);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "maxpool", "size=2", 1, &in), CASCADE_OK);
    CU_ASSERT_EQUAL(L.saved_per_sample, 3 * 3 * 2);
    cascade_layer_release(&L);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "avgpool", "size=2", 1, &in), CASCADE_OK);
    CU_ASSERT_EQUAL(L.saved_per_sample, 0);
    cascade_layer_release(&L);
}

static void test_pool_shape_errors(void) {
    th_expect_error("maxpool", "size=4", th_shp(3, 2, 3, 3, 0), "pool size 4", "(2,3,3)", NULL);
    th_expect_error("avgpool", "size=3,5", th_shp(3, 2, 6, 4, 0), "pool size 5", "(2,6,4)", "axis 2");
    th_expect_error("maxpool", "size=2", th_shp(1, 5, 0, 0, 0), "(5)", "(C, H, W)", NULL);
    th_expect_error("maxpool", "size=2", (cascade_shape){5, {1, 4, 4, 4, 4}}, "(1,4,4,4,4)", "per sample", NULL);
    th_expect_error("maxpool", "size=2,2", th_shp(2, 3, 8, 0, 0), "`size` has 2 values", "(3,8)", NULL);
    th_expect_error("avgpool", "size=2\nstride=1,1,1", th_shp(3, 3, 8, 8, 0), "`stride` has 3 values",
                    "(3,8,8)", NULL);
    th_expect_error("maxpool", "size=2", th_shp(3, 1, 4097, 4097, 0), "(1,4097,4097)", "16785409", NULL);
    th_expect_error("globalavgpool", "", th_shp(1, 7, 0, 0, 0), "(7)", NULL, NULL);
    th_expect_error("globalmaxpool", "", th_shp(1, 7, 0, 0, 0), "(7)", NULL, NULL);
}

static void test_pool_keys(void) {
    cascade_shape in = th_shp(3, 2, 8, 8, 0);
    /* torch: padding at most half the pool size */
    th_expect_error("maxpool", "size=3\npadding=2", in, "<test>:", "padding = 2", "half the pool size 3");
    th_expect_error("avgpool", "size=4,2\npadding=1,2", in, "padding = 1,2", "half the pool size 2", NULL);
    th_expect_error("maxpool", "stride=2", in, "needs `size`", NULL, NULL);
    th_expect_error("maxpool", "size=0", in, "size = 0", NULL, NULL);
    th_expect_error("maxpool", "size=two", in, "size = two", "not an integer", NULL);
    th_expect_error("maxpool", "size=2,2,2,2", in, "size = 2,2,2,2", "at most 3", NULL);
    th_expect_error("avgpool", "size=2\nstride=0", in, "stride = 0", NULL, NULL);
    th_expect_error("avgpool", "size=2\npadding=-1", in, "padding = -1", NULL, NULL);
    th_expect_error("avgpool", "size=2,2\nstride=1,1,1", in, "stride = 1,1,1", "size has 2", NULL);
    th_expect_error("maxpool", "size=2\nkernel=3", in, "unknown key 'kernel'", NULL, NULL);
    th_expect_error("globalmaxpool", "size=2", in, "unknown key 'size'", NULL, NULL);
    th_expect_error("flatten", "axis=1", in, "unknown key 'axis'", NULL, NULL);
}

static void test_shape_ops(void) {
    th_expect_out("flatten", "", th_shp(3, 2, 3, 4, 0), "(24)");
    th_expect_out("flatten", "", th_shp(1, 7, 0, 0, 0), "(7)");
    th_expect_out("reshape", "shape=6,-1", th_shp(2, 4, 6, 0, 0), "(6,4)");
    th_expect_out("reshape", "shape=-1", th_shp(3, 2, 3, 4, 0), "(24)");
    th_expect_out("reshape", "shape=3,2,2", th_shp(1, 12, 0, 0, 0), "(3,2,2)");

    cascade_layer L;
    cascade_shape two[2] = {th_shp(3, 2, 3, 4, 0), th_shp(3, 5, 3, 4, 0)};
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "concat", "", 2, two), CASCADE_OK);
    CU_ASSERT_TRUE(cascade_shape_equal(&L.out_shape, &(cascade_shape){3, {7, 3, 4}}));
    cascade_layer_release(&L);
    cascade_shape last[3] = {th_shp(2, 3, 4, 0, 0), th_shp(2, 3, 1, 0, 0), th_shp(2, 3, 2, 0, 0)};
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "concat", "axis=-1", 3, last), CASCADE_OK);
    CU_ASSERT_TRUE(cascade_shape_equal(&L.out_shape, &(cascade_shape){2, {3, 7}}));
    cascade_layer_release(&L);
    cascade_shape same[3] = {th_shp(2, 3, 4, 0, 0), th_shp(2, 3, 4, 0, 0), th_shp(2, 3, 4, 0, 0)};
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "add", "", 3, same), CASCADE_OK);
    CU_ASSERT_TRUE(cascade_shape_equal(&L.out_shape, &same[0]));
    cascade_layer_release(&L);
}

static void test_shape_op_errors(void) {
    th_expect_error("reshape", "shape=5,-1", th_shp(2, 3, 4, 0, 0), "(3,4)", "(5,-1)", "12 elements");
    th_expect_error("reshape", "shape=5,2", th_shp(2, 3, 4, 0, 0), "(3,4)", "(5,2)", "10 elements");
    th_expect_error("reshape", "shape=-1,-1", th_shp(2, 3, 4, 0, 0), "shape = -1,-1", "one size may be -1", NULL);
    th_expect_error("reshape", "shape=3,0", th_shp(2, 3, 4, 0, 0), "shape = 3,0", "positive", NULL);
    th_expect_error("reshape", "shape=3,-2", th_shp(2, 3, 4, 0, 0), "shape = 3,-2", NULL, NULL);
    th_expect_error("reshape", "", th_shp(2, 3, 4, 0, 0), "needs `shape`", NULL, NULL);
    th_expect_error("reshape", "shape=1,1,1,1,1,12", th_shp(2, 3, 4, 0, 0), "at most 5", NULL, NULL);

    cascade_shape add_in[3] = {th_shp(2, 3, 4, 0, 0), th_shp(2, 3, 4, 0, 0), th_shp(2, 3, 5, 0, 0)};
    th_expect_error_n("add", "", 3, add_in, "identical shape", "input 3 is (3,5)", "input 1 is (3,4)");
    cascade_shape add_rank[2] = {th_shp(2, 3, 4, 0, 0), th_shp(1, 12, 0, 0, 0)};
    th_expect_error_n("add", "", 2, add_rank, "(12)", "(3,4)", NULL);
    th_expect_error_n("add", "", 1, add_in, "2 to 8 inputs", "got 1", NULL);
    cascade_shape nine[9];
    for (int i = 0; i < 9; i++) nine[i] = add_in[0];
    th_expect_error_n("concat", "", 9, nine, "2 to 8 inputs", "got 9", NULL);

    cascade_shape cat_in[2] = {th_shp(3, 2, 3, 4, 0), th_shp(3, 2, 5, 4, 0)};
    th_expect_error_n("concat", "axis=1", 2, cat_in, "other axes to match", "(2,5,4)", "(2,3,4)");
    th_expect_error_n("concat", "axis=3", 2, cat_in, "axis 3", "(2,5,4)", "(2,3,4)");
    cascade_shape cat_rank[2] = {th_shp(3, 2, 3, 4, 0), th_shp(2, 2, 3, 0, 0)};
    th_expect_error_n("concat", "axis=1", 2, cat_rank, "(2,3)", "(2,3,4)", NULL);
    th_expect_error_n("concat", "axis=4", 2, cat_in, "axis 4 is out of range", "(2,3,4)", NULL);
    th_expect_error_n("concat", "axis=-4", 2, cat_in, "axis -4 is the batch axis", "(2,3,4)", NULL);
    th_expect_error_n("concat", "axis=0", 2, cat_in, "axis = 0", "batch axis", NULL);
    th_expect_error_n("concat", "axis=x", 2, cat_in, "axis = x", "not an integer", NULL);
}

/* Runs the float op forward and backward with dout = 1 and returns out and din. */
static void run(const char *type, const char *spec, cascade_shape in_shape, const float *x,
                float *out, float *din) {
    cascade_layer L;
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, type, spec, 1, &in_shape), CASCADE_OK);
    int64_t n_out = cascade_shape_numel(&L.out_shape);
    float saved[64] = {0}, dout[64];
    CU_ASSERT_FATAL(n_out <= 64 && L.saved_per_sample <= 64);
    for (int i = 0; i < 64; i++) dout[i] = 1;
    cascade_fwd fw = {.n = 1, .training = 1, .in = {x}, .out = out, .saved = saved};
    L.op->forward(&L, &fw);
    cascade_bwd bw = {.n = 1, .training = 1, .in = {x}, .out = out, .dout = dout, .din = {din},
                      .saved = saved};
    L.op->backward(&L, &bw);
    cascade_layer_release(&L);
}

static void expect_floats(const float *got, const float *want, int n, const char *what) {
    for (int i = 0; i < n; i++) {
        int same = (isnan(want[i]) && isnan(got[i])) || got[i] == want[i];
        if (!same) printf("\n%s[%d] = %g, want %g\n", what, i, got[i], want[i]);
        CU_ASSERT(same);
    }
}

/* torch routes a max's gradient to the first maximum; a NaN wins (the last one); a window of
 * only -inf reports its first in-range element. */
static void test_max_ties(void) {
    float out[64], din[64] = {0};
    const float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    run("maxpool", "size=2", th_shp(3, 1, 2, 4, 0), ones, out, din);
    expect_floats(din, (const float[]){1, 0, 1, 0, 0, 0, 0, 0}, 8, "2d ties din");

    memset(din, 0, sizeof din);
    run("maxpool", "size=2\nstride=1", th_shp(2, 1, 5, 0, 0), (const float[]){3, 3, 2, 5, 5}, out, din);
    expect_floats(out, (const float[]){3, 3, 5, 5}, 4, "1d overlap out");
    expect_floats(din, (const float[]){1, 1, 0, 2, 0}, 5, "1d overlap din");

    memset(din, 0, sizeof din);
    const float with_nan[6] = {1, 3, 3, NAN, 2, NAN};
    run("maxpool", "size=6", th_shp(2, 1, 6, 0, 0), with_nan, out, din);
    CU_ASSERT(isnan(out[0]));
    expect_floats(din, (const float[]){0, 0, 0, 0, 0, 1}, 6, "NaN din");

    memset(din, 0, sizeof din);
    const float ninf[3] = {-INFINITY, -INFINITY, -INFINITY};
    run("maxpool", "size=3\nstride=1\npadding=1", th_shp(2, 1, 3, 0, 0), ninf, out, din);
    expect_floats(out, ninf, 3, "-inf out");
    expect_floats(din, (const float[]){2, 1, 0}, 3, "-inf din");

    memset(din, 0, sizeof din);
    run("globalmaxpool", "", th_shp(3, 2, 2, 2, 0), (const float[]){4, 1, 4, 4, -1, 2, 7, 7}, out, din);
    expect_floats(out, (const float[]){4, 7}, 2, "global ties out");
    expect_floats(din, (const float[]){1, 0, 0, 0, 0, 0, 1, 0}, 8, "global ties din");
}

/* count_include_pad: padded zeros count in the divisor, as torch's default */
static void test_avg_padding(void) {
    float out[64], din[64] = {0};
    run("avgpool", "size=3\nstride=2\npadding=1", th_shp(2, 1, 4, 0, 0), (const float[]){3, 6, 9, 12},
        out, din);
    expect_floats(out, (const float[]){3, 9}, 2, "avg out");
    expect_floats(din, (const float[]){1.0f / 3, 2.0f / 3, 1.0f / 3, 1.0f / 3}, 4, "avg din");
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("pool_shape", NULL, NULL);
    CU_add_test(s, "pool output shapes", test_pool_shapes);
    CU_add_test(s, "pool shape errors", test_pool_shape_errors);
    CU_add_test(s, "pool key errors", test_pool_keys);
    CU_add_test(s, "flatten/reshape/add/concat shapes", test_shape_ops);
    CU_add_test(s, "flatten/reshape/add/concat errors", test_shape_op_errors);
    CU_add_test(s, "max pooling ties, NaN, -inf", test_max_ties);
    CU_add_test(s, "avgpool count_include_pad", test_avg_padding);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
