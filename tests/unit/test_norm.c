/* batchnorm and softmax beyond the PyTorch reference cases (ref_norm.py, ref_softmax.py):
 * key validation and impossible shapes (errors naming the key or the shapes), parameter
 * descriptions, the batch-1 (C) input torch rejects (handled as variance 0), and results
 * independent of the OpenMP thread count. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

/* Sets up `type` with spec on one per-sample input shape; returns the status. */
static cascade_status setup(cascade_layer *L, const char *type, const char *spec, int ndim,
                            const int64_t *dims) {
    cascade_shape s = cascade_shape_make(ndim, dims);
    return th_layer(L, type, spec, 1, &s);
}

/* Expects setup to fail with CASCADE_EUSAGE and a message containing each needle. */
static void expect_error(const char *type, const char *spec, int ndim, const int64_t *dims,
                         const char *needle1, const char *needle2) {
    cascade_layer L;
    cascade_status st = setup(&L, type, spec, ndim, dims);
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle1));
    if (needle2) CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle2));
    if (st == CASCADE_OK || !strstr(cascade_errmsg(), needle1))
        printf("\n  %s [%s]: unexpected: %s\n", type, spec, cascade_errmsg());
    cascade_layer_release(&L);
}

static void fill(float *x, int64_t n, uint64_t seed, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t r[4];
        cascade_philox(seed, 99, 0, (uint64_t)i, r);
        x[i] = lo + (hi - lo) * cascade_u01f(r[0]);
    }
}

static void test_bn_keys(void) {
    int64_t d[] = {3, 4};
    expect_error("batchnorm", "momentum=-0.1", 2, d, "momentum", "<test>:");
    expect_error("batchnorm", "momentum=1.5", 2, d, "momentum", NULL);
    expect_error("batchnorm", "eps=0", 2, d, "eps", "positive");
    expect_error("batchnorm", "eps=-1e-5", 2, d, "eps", NULL);
    expect_error("batchnorm", "eps=small", 2, d, "eps", NULL);
    expect_error("batchnorm", "units=3", 2, d, "units", NULL);
}

static void test_bn_shapes(void) {
    int64_t d[] = {2, 3, 4, 5, 6};
    expect_error("batchnorm", "", 5, d, "(2,3,4,5,6)", "batchnorm");
    expect_error("batchnorm", "", 0, d, "batchnorm", "axes");
}

static void test_bn_params(void) {
    cascade_layer L;
    int64_t d[] = {6, 5, 4};
    CU_ASSERT_EQUAL_FATAL(setup(&L, "batchnorm", "momentum=0.2\neps=1e-3", 3, d), CASCADE_OK);
    CU_ASSERT_EQUAL(L.out_shape.ndim, 3);
    CU_ASSERT_EQUAL(L.out_shape.d[0], 6);
    CU_ASSERT_EQUAL_FATAL(L.n_params, 4);
    const char *names[] = {"weight", "bias", "running_mean", "running_var"};
    int trainable[] = {1, 1, 0, 0};
    int init[] = {CASCADE_INIT_ONES, CASCADE_INIT_ZEROS, CASCADE_INIT_ZEROS, CASCADE_INIT_ONES};
    for (int p = 0; p < 4; p++) {
        CU_ASSERT_STRING_EQUAL(L.params[p].name, names[p]);
        CU_ASSERT_EQUAL(L.params[p].trainable, trainable[p]);
        CU_ASSERT_EQUAL(L.params[p].init, init[p]);
        CU_ASSERT_EQUAL(L.params[p].shape.ndim, 1);
        CU_ASSERT_EQUAL(L.params[p].shape.d[0], 6);
    }
    cascade_layer_release(&L);
}

/* Buffers for one batchnorm call on n samples of shape dims. */
typedef struct {
    cascade_layer L;
    int64_t numel;
    float *x, *y, *g, *dx, *param[4], *dparam[2], *saved;
} bn_run;

static int bn_open(bn_run *r, int n, int ndim, const int64_t *dims) {
    memset(r, 0, sizeof *r);
    if (setup(&r->L, "batchnorm", "momentum=0.25", ndim, dims) != CASCADE_OK) return 0;
    int64_t ch = dims[0];
    r->numel = n * cascade_shape_numel(&r->L.in_shape[0]);
    r->x = calloc((size_t)r->numel, sizeof(float));
    r->y = calloc((size_t)r->numel, sizeof(float));
    r->g = calloc((size_t)r->numel, sizeof(float));
    r->dx = calloc((size_t)r->numel, sizeof(float));
    r->saved = calloc((size_t)r->L.saved_fixed + 1, sizeof(float));
    for (int p = 0; p < 4; p++) r->param[p] = calloc((size_t)ch, sizeof(float));
    for (int p = 0; p < 2; p++) r->dparam[p] = calloc((size_t)ch, sizeof(float));
    fill(r->x, r->numel, 1, -2, 3);
    fill(r->g, r->numel, 2, -1, 1);
    fill(r->param[0], ch, 3, 0.5f, 1.5f);
    fill(r->param[1], ch, 4, -1, 1);
    fill(r->param[2], ch, 5, -1, 1);
    fill(r->param[3], ch, 6, 0.5f, 2);
    return 1;
}

static void bn_close(bn_run *r) {
    free(r->x), free(r->y), free(r->g), free(r->dx), free(r->saved);
    for (int p = 0; p < 4; p++) free(r->param[p]);
    for (int p = 0; p < 2; p++) free(r->dparam[p]);
    cascade_layer_release(&r->L);
}

static void bn_call(bn_run *r, int n, int training) {
    cascade_fwd fw = {.n = n, .training = training, .update_stats = training, .out = r->y, .saved = r->saved};
    fw.in[0] = r->x;
    for (int p = 0; p < 4; p++) fw.param[p] = r->param[p];
    r->L.op->forward(&r->L, &fw);
    cascade_bwd bw = {.n = n, .training = training, .out = r->y, .dout = r->g, .saved = r->saved};
    bw.in[0] = r->x;
    bw.din[0] = r->dx;
    for (int p = 0; p < 4; p++) bw.param[p] = r->param[p];
    for (int p = 0; p < 2; p++) bw.dparam[p] = r->dparam[p];
    r->L.op->backward(&r->L, &bw);
}

/* Training on (C) with n = 1: torch raises; we normalise with variance 0 (output = bias),
 * the input gradient is 0 (the output does not depend on x) and running_var decays. */
static void test_bn_single_value(void) {
    bn_run r;
    int64_t d[] = {4};
    CU_ASSERT_FATAL(bn_open(&r, 1, 1, d));
    float old_mean[4], old_var[4];
    memcpy(old_mean, r.param[2], sizeof old_mean);
    memcpy(old_var, r.param[3], sizeof old_var);
    bn_call(&r, 1, 1);
    for (int ch = 0; ch < 4; ch++) {
        CU_ASSERT_DOUBLE_EQUAL(r.y[ch], r.param[1][ch], 1e-6);
        CU_ASSERT(isfinite(r.dx[ch]) && fabsf(r.dx[ch]) < 1e-6f);
        CU_ASSERT_DOUBLE_EQUAL(r.dparam[1][ch], r.g[ch], 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(r.param[2][ch], 0.75 * old_mean[ch] + 0.25 * r.x[ch], 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(r.param[3][ch], 0.75 * old_var[ch], 1e-6);
    }
    bn_close(&r);
}

/* Same results bitwise with 1 and 2 threads (large enough to run the parallel loops). */
static void test_bn_threads(void) {
    int64_t d[] = {16, 32, 32};
    int n = 8;
    bn_run r[2];
    for (int t = 0; t < 2; t++) {
        CU_ASSERT_FATAL(bn_open(&r[t], n, 3, d));
        omp_set_num_threads(t + 1);
        bn_call(&r[t], n, 1);
    }
    omp_set_num_threads(1);
    CU_ASSERT(memcmp(r[0].y, r[1].y, (size_t)r[0].numel * sizeof(float)) == 0);
    CU_ASSERT(memcmp(r[0].dx, r[1].dx, (size_t)r[0].numel * sizeof(float)) == 0);
    for (int p = 0; p < 4; p++) CU_ASSERT(memcmp(r[0].param[p], r[1].param[p], 16 * sizeof(float)) == 0);
    for (int p = 0; p < 2; p++) CU_ASSERT(memcmp(r[0].dparam[p], r[1].dparam[p], 16 * sizeof(float)) == 0);
    for (int t = 0; t < 2; t++) bn_close(&r[t]);
}

static void test_softmax_axis(void) {
    int64_t d[] = {3, 4};
    expect_error("softmax", "axis=0", 2, d, "axis", "batch");
    expect_error("softmax", "axis=one", 2, d, "axis", NULL);
    expect_error("softmax", "axis=3", 2, d, "(3,4)", "axis 3");
    expect_error("softmax", "axis=-3", 2, d, "(3,4)", "axis -3");
    cascade_layer L;
    CU_ASSERT_EQUAL(setup(&L, "softmax", "axis=-2", 2, d), CASCADE_OK);
    cascade_layer_release(&L);
}

/* As `activation = softmax` the graph sets the op up without a section: axis 1. */
static void test_softmax_activation(void) {
    cascade_layer L = {0};
    snprintf(L.full, sizeof L.full, "test.act");
    cascade_shape s = cascade_shape_make(2, (int64_t[]){3, 2});
    CU_ASSERT_EQUAL_FATAL(cascade_layer_setup(&L, cascade_op_find("softmax"), NULL, 1, &s), CASCADE_OK);
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    cascade_fwd fw = {.n = 1, .out = y};
    fw.in[0] = x;
    L.op->forward(&L, &fw);
    /* over the 3 channels of each of the 2 columns */
    for (int j = 0; j < 2; j++) CU_ASSERT_DOUBLE_EQUAL(y[j] + y[2 + j] + y[4 + j], 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(y[4] / y[0], exp(4.0), 1e-3);
    cascade_layer_release(&L);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("norm", NULL, NULL);
    CU_add_test(s, "batchnorm keys", test_bn_keys);
    CU_add_test(s, "batchnorm shapes", test_bn_shapes);
    CU_add_test(s, "batchnorm params", test_bn_params);
    CU_add_test(s, "batchnorm one value per channel", test_bn_single_value);
    CU_add_test(s, "batchnorm thread count independent", test_bn_threads);
    CU_add_test(s, "softmax axis", test_softmax_axis);
    CU_add_test(s, "softmax as activation", test_softmax_activation);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
