/* separable2d: shape inference, parameters (names, CONTRACT layouts, torch init bounds) and
 * scratch, shape errors and key validation; backward accumulating and honouring NULL
 * gradients. Numerical agreement with PyTorch: tests/torch/ref_separable.py. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

static cascade_shape shp(int ndim, int64_t a, int64_t b, int64_t c) {
    int64_t dims[3] = {a, b, c};
    return cascade_shape_make(ndim, dims);
}

static void expect_shape(const cascade_shape *got, const char *want) {
    char buf[96];
    cascade_shape_str(got, buf, sizeof buf);
    if (strcmp(buf, want) != 0) printf("\nshape %s, want %s\n", buf, want);
    CU_ASSERT_STRING_EQUAL(buf, want);
}

static void expect_out(const char *spec, cascade_shape in, const char *want) {
    cascade_layer L;
    cascade_status st = th_layer(&L, "separable2d", spec, 1, &in);
    if (st != CASCADE_OK) printf("\n[%s]: %s\n", spec, cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    expect_shape(&L.out_shape, want);
    cascade_layer_release(&L);
}

/* Expects CASCADE_EUSAGE with a message containing every non-NULL needle. */
static void expect_error(const char *spec, cascade_shape in, const char *n1, const char *n2) {
    cascade_layer L;
    cascade_clear_error();
    cascade_status st = th_layer(&L, "separable2d", spec, 1, &in);
    const char *msg = cascade_errmsg();
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    const char *needles[] = {n1, n2};
    for (int i = 0; i < 2; i++) {
        if (!needles[i]) continue;
        int found = msg && strstr(msg, needles[i]) != NULL;
        if (!found) printf("\n[%s]: message '%s' lacks '%s'\n", spec, msg ? msg : "", needles[i]);
        CU_ASSERT(found);
    }
    cascade_layer_release(&L);
}

static void test_shapes(void) {
    expect_out("filters=8\nkernel=3", shp(3, 2, 9, 9), "(8,7,7)");
    expect_out("filters=8\nkernel=3\npadding=same", shp(3, 2, 9, 9), "(8,9,9)");
    expect_out("filters=4\nkernel=3,5\nstride=2\npadding=1,2", shp(3, 2, 9, 9), "(4,5,5)");
    expect_out("filters=4\nkernel=2\ndepth_multiplier=3\nstride=1,2", shp(3, 3, 7, 5), "(4,6,2)");

    cascade_layer L;
    cascade_shape in = shp(3, 3, 9, 9);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "separable2d", "filters=5\nkernel=3,5\ndepth_multiplier=2\npadding=same",
                                   1, &in), CASCADE_OK);
    CU_ASSERT_EQUAL_FATAL(L.n_params, 3);
    CU_ASSERT_STRING_EQUAL(L.params[0].name, "depthwise_weight");
    expect_shape(&L.params[0].shape, "(6,1,3,5)");
    CU_ASSERT_STRING_EQUAL(L.params[1].name, "pointwise_weight");
    expect_shape(&L.params[1].shape, "(5,6,1,1)");
    CU_ASSERT_STRING_EQUAL(L.params[2].name, "bias");
    expect_shape(&L.params[2].shape, "(5)");
    /* torch Conv2d: 1/sqrt(fan_in), depthwise fan_in = kh*kw, pointwise (and bias) C*m */
    CU_ASSERT(fabs(L.params[0].init_bound - 1 / sqrt(15.0)) < 1e-12);
    CU_ASSERT(fabs(L.params[1].init_bound - 1 / sqrt(6.0)) < 1e-12);
    CU_ASSERT(fabs(L.params[2].init_bound - 1 / sqrt(6.0)) < 1e-12);
    CU_ASSERT_EQUAL(L.saved_per_sample, 6 * 9 * 9); /* the depthwise output */
    cascade_layer_release(&L);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "separable2d", "filters=5\nkernel=3\nbias=false", 1, &in), CASCADE_OK);
    CU_ASSERT_EQUAL(L.n_params, 2);
    cascade_layer_release(&L);
}

static void test_errors(void) {
    cascade_shape in = shp(3, 2, 9, 9);
    expect_error("filters=4\nkernel=3", shp(2, 2, 9, 0), "(2,9)", "separable2d");
    expect_error("filters=4\nkernel=11", in, "kernel 11", "(2,9,9)");
    expect_error("kernel=3", in, "<test>", "needs `filters`");
    expect_error("filters=4", in, "needs `kernel`", NULL);
    expect_error("filters=4\nkernel=3\ndepth_multiplier=0", in, "depth_multiplier = 0", NULL);
    expect_error("filters=4\nkernel=3\nstride=2\npadding=same", in, "padding = same", "stride");
    expect_error("filters=4\nkernel=3\npadding=full", in, "padding = full", "valid, same");
    expect_error("filters=4\nkernel=3,3,3", in, "kernel = 3,3,3", NULL);
    expect_error("filters=4\nkernel=3\ngroups=2", in, "unknown key 'groups'", NULL);
    expect_error("filters=4\nkernel=3\ndilation=2", in, "unknown key 'dilation'", NULL);
}

/* Backward accumulates into din and the parameter gradients and skips NULL ones: gradients
 * with every target present, twice, equal twice those of one call; with din and the
 * depthwise gradient NULL the pointwise gradients stay the same. */
static void test_backward(void) {
    cascade_layer L;
    cascade_shape in = shp(3, 2, 5, 4);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "separable2d", "filters=3\nkernel=3\ndepth_multiplier=2\npadding=same",
                                   1, &in), CASCADE_OK);
    enum { N = 3 };
    int64_t nx = N * 2 * 5 * 4, ny = N * 3 * 5 * 4, np[3];
    float *x = calloc(nx, sizeof(float)), *y = calloc(ny, sizeof(float)), *dy = calloc(ny, sizeof(float));
    float *saved = calloc(L.saved_per_sample * N + L.saved_fixed, sizeof(float));
    float *work = calloc(L.work_per_sample * N + L.work_fixed, sizeof(float));
    float *param[3], *g1[3], *g2[3], *dx1 = calloc(nx, sizeof(float)), *dx2 = calloc(nx, sizeof(float));
    for (int p = 0; p < 3; p++) {
        np[p] = cascade_shape_numel(&L.params[p].shape);
        param[p] = malloc(np[p] * sizeof(float));
        g1[p] = calloc(np[p], sizeof(float));
        g2[p] = calloc(np[p], sizeof(float));
        for (int64_t i = 0; i < np[p]; i++) param[p][i] = (float)sin(1.0 + i + 10 * p);
    }
    for (int64_t i = 0; i < nx; i++) x[i] = (float)cos(0.3 * i);
    for (int64_t i = 0; i < ny; i++) dy[i] = (float)sin(0.7 * i);
    cascade_fwd fw = {.n = N, .training = 1, .in = {x}, .out = y, .param = {param[0], param[1], param[2]},
                      .saved = saved, .work = work};
    L.op->forward(&L, &fw);
    cascade_bwd bw = {.n = N, .training = 1, .in = {x}, .out = y, .dout = dy, .din = {dx1},
                      .param = {param[0], param[1], param[2]}, .dparam = {g1[0], g1[1], g1[2]},
                      .saved = saved, .work = work};
    L.op->backward(&L, &bw);
    bw.din[0] = dx2;
    bw.dparam[0] = g2[0], bw.dparam[1] = g2[1], bw.dparam[2] = g2[2];
    L.op->backward(&L, &bw);
    L.op->backward(&L, &bw);
    for (int64_t i = 0; i < nx; i++) CU_ASSERT(fabsf(dx2[i] - 2 * dx1[i]) <= 1e-5f * (1 + fabsf(dx1[i])));
    for (int p = 0; p < 3; p++)
        for (int64_t i = 0; i < np[p]; i++) CU_ASSERT(fabsf(g2[p][i] - 2 * g1[p][i]) <= 1e-5f * (1 + fabsf(g1[p][i])));
    /* only the pointwise gradients */
    for (int p = 1; p < 3; p++) memset(g2[p], 0, np[p] * sizeof(float));
    bw.din[0] = NULL;
    bw.dparam[0] = NULL;
    L.op->backward(&L, &bw);
    for (int p = 1; p < 3; p++)
        for (int64_t i = 0; i < np[p]; i++) CU_ASSERT_EQUAL(g2[p][i], g1[p][i]);
    for (int p = 0; p < 3; p++) free(param[p]), free(g1[p]), free(g2[p]);
    free(x), free(y), free(dy), free(saved), free(work), free(dx1), free(dx2);
    cascade_layer_release(&L);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("separable2d", NULL, NULL);
    CU_add_test(s, "shapes and parameters", test_shapes);
    CU_add_test(s, "shape and key errors", test_errors);
    CU_add_test(s, "backward accumulates, NULL gradients", test_backward);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
