/* layernorm beyond the PyTorch reference cases (ref_layernorm.py): key validation, impossible
 * shapes, parameter descriptions, a single value per sample, batch independence (a sample's
 * output and input gradient do not depend on the other samples of the call, unlike
 * batchnorm) and results independent of the OpenMP thread count. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "layercheck.h"

/* x = lo + (hi - lo) * u with u deterministic in [0, 1). */
static void fill(float *x, int64_t n, unsigned seed, float lo, float hi) {
    th_fill(x, n, seed);
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * 0.5f * (x[i] + 1);
}

static void test_keys(void) {
    cascade_shape s = th_shp(2, 3, 4, 0, 0);
    th_expect_error("layernorm", "eps=0", s, "eps", "positive", "<test>:");
    th_expect_error("layernorm", "eps=-1e-5", s, "eps", "<test>:", NULL);
    th_expect_error("layernorm", "eps=2", s, "eps", NULL, NULL);
    th_expect_error("layernorm", "eps=small", s, "eps", NULL, NULL);
    th_expect_error("layernorm", "affine=maybe", s, "affine", "<test>:", NULL);
    th_expect_error("layernorm", "momentum=0.1", s, "momentum", NULL, NULL);
}

static void test_shapes(void) {
    th_expect_error("layernorm", "", th_shp(0, 0, 0, 0, 0), "layernorm", "axes", NULL);
}

static void test_params(void) {
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, "layernorm", "eps=1e-3", th_shp(3, 6, 5, 4, 0)));
    CU_ASSERT(cascade_shape_equal(&L.out_shape, &L.in_shape[0]));
    CU_ASSERT_EQUAL(L.saved_per_sample, 4);
    CU_ASSERT_EQUAL(L.stat_count, 0);
    CU_ASSERT_EQUAL_FATAL(L.n_params, 2);
    const char *names[] = {"weight", "bias"};
    int init[] = {CASCADE_INIT_ONES, CASCADE_INIT_ZEROS};
    for (int p = 0; p < 2; p++) {
        CU_ASSERT_STRING_EQUAL(L.params[p].name, names[p]);
        CU_ASSERT_EQUAL(L.params[p].trainable, 1);
        CU_ASSERT_EQUAL(L.params[p].init, init[p]);
        CU_ASSERT(cascade_shape_equal(&L.params[p].shape, &L.in_shape[0])); /* [6,5,4] */
    }
    cascade_layer_release(&L);

    CU_ASSERT_FATAL(th_setup(&L, "layernorm", "affine=false", th_shp(1, 9, 0, 0, 0)));
    CU_ASSERT_EQUAL(L.n_params, 0);
    CU_ASSERT_EQUAL(L.out_shape.ndim, 1);
    CU_ASSERT_EQUAL(L.out_shape.d[0], 9);
    cascade_layer_release(&L);
}

/* Buffers for one layernorm (affine) call on n samples of m values. */
typedef struct {
    cascade_layer L;
    int n;
    int64_t m;
    float *x, *y, *g, *dx, *weight, *bias, *dweight, *dbias, *saved;
} ln_run;

static int ln_open(ln_run *r, int n, cascade_shape shape) {
    memset(r, 0, sizeof *r);
    if (!th_setup(&r->L, "layernorm", "", shape)) return 0;
    r->n = n;
    r->m = cascade_shape_numel(&r->L.in_shape[0]);
    size_t numel = (size_t)(n * r->m), m = (size_t)r->m;
    r->x = calloc(numel, sizeof(float));
    r->y = calloc(numel, sizeof(float));
    r->g = calloc(numel, sizeof(float));
    r->dx = calloc(numel, sizeof(float));
    r->weight = calloc(m, sizeof(float));
    r->bias = calloc(m, sizeof(float));
    r->dweight = calloc(m, sizeof(float));
    r->dbias = calloc(m, sizeof(float));
    r->saved = calloc((size_t)(r->L.saved_per_sample * n + r->L.saved_fixed) + 1, sizeof(float));
    if (!r->x || !r->y || !r->g || !r->dx || !r->weight || !r->bias || !r->dweight || !r->dbias ||
        !r->saved)
        return 0;
    fill(r->x, (int64_t)numel, 1, -2, 3);
    fill(r->g, (int64_t)numel, 2, -1, 1);
    fill(r->weight, r->m, 3, 0.5f, 1.5f);
    fill(r->bias, r->m, 4, -1, 1);
    return 1;
}

static void ln_close(ln_run *r) {
    free(r->x), free(r->y), free(r->g), free(r->dx), free(r->saved);
    free(r->weight), free(r->bias), free(r->dweight), free(r->dbias);
    cascade_layer_release(&r->L);
}

/* Forward and backward on the n samples starting at sample `first`, accumulating gradients. */
static void ln_call(ln_run *r, int first, int n, int training) {
    int64_t off = (int64_t)first * r->m;
    cascade_fwd fw = {.n = n, .training = training, .out = r->y + off, .saved = r->saved};
    fw.in[0] = r->x + off;
    fw.param[0] = r->weight;
    fw.param[1] = r->bias;
    r->L.op->forward(&r->L, &fw);
    cascade_bwd bw = {.n = n, .training = training, .out = r->y + off, .dout = r->g + off,
                      .saved = r->saved};
    bw.in[0] = r->x + off;
    bw.din[0] = r->dx + off;
    bw.param[0] = r->weight;
    bw.param[1] = r->bias;
    bw.dparam[0] = r->dweight;
    bw.dparam[1] = r->dbias;
    r->L.op->backward(&r->L, &bw);
}

static int same(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

/* One value per sample: variance 0, so the output is the bias and the input gradient 0. */
static void test_single_value(void) {
    cascade_shape shape = th_shp(1, 1, 0, 0, 0);
    ln_run r;
    CU_ASSERT_FATAL(ln_open(&r, 3, shape));
    ln_call(&r, 0, 3, 1);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_DOUBLE_EQUAL(r.y[i], r.bias[0], 1e-6);
        CU_ASSERT(isfinite(r.dx[i]) && fabsf(r.dx[i]) < 1e-6f);
    }
    CU_ASSERT_DOUBLE_EQUAL(r.dbias[0], r.g[0] + r.g[1] + r.g[2], 1e-6);
    CU_ASSERT(fabsf(r.dweight[0]) < 1e-6f);
    ln_close(&r);
}

/* The whole batch at once, then each sample alone: outputs and input gradients bitwise equal,
 * parameter gradients equal up to rounding (summed in a different order). */
static void test_batch_independent(void) {
    cascade_shape shape = th_shp(3, 3, 5, 4, 0);
    enum { N = 5 };
    ln_run all, one;
    CU_ASSERT_FATAL(ln_open(&all, N, shape));
    CU_ASSERT_FATAL(ln_open(&one, N, shape));
    ln_call(&all, 0, N, 1);
    for (int i = 0; i < N; i++) ln_call(&one, i, 1, 1);
    CU_ASSERT(same(all.y, one.y, N * all.m));
    CU_ASSERT(same(all.dx, one.dx, N * all.m));
    for (int64_t j = 0; j < all.m; j++) {
        CU_ASSERT_DOUBLE_EQUAL(all.dweight[j], one.dweight[j], 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(all.dbias[j], one.dbias[j], 1e-5);
    }
    ln_close(&all);
    ln_close(&one);
}

/* Changing the other samples (scale and shift) leaves sample 0 bitwise unchanged, in training
 * and eval mode alike. */
static void test_other_samples_irrelevant(void) {
    cascade_shape shape = th_shp(2, 2, 7, 0, 0);
    enum { N = 4 };
    for (int training = 0; training < 2; training++) {
        ln_run a, b;
        CU_ASSERT_FATAL(ln_open(&a, N, shape));
        CU_ASSERT_FATAL(ln_open(&b, N, shape));
        for (int64_t k = b.m; k < N * b.m; k++) b.x[k] = 50 * b.x[k] + 1000;
        ln_call(&a, 0, N, training);
        ln_call(&b, 0, N, training);
        CU_ASSERT(same(a.y, b.y, a.m));
        CU_ASSERT(same(a.dx, b.dx, a.m));
        CU_ASSERT(!same(a.y + a.m, b.y + b.m, a.m)); /* the changed samples do see the change */
        ln_close(&a);
        ln_close(&b);
    }
}

/* Same results bitwise with 1 and 2 threads (large enough to run the parallel loops). */
static void test_threads(void) {
    cascade_shape shape = th_shp(3, 16, 32, 32, 0);
    int n = 8;
    ln_run r[2];
    for (int t = 0; t < 2; t++) {
        CU_ASSERT_FATAL(ln_open(&r[t], n, shape));
        omp_set_num_threads(t + 1);
        ln_call(&r[t], 0, n, 1);
    }
    omp_set_num_threads(1);
    CU_ASSERT(same(r[0].y, r[1].y, n * r[0].m));
    CU_ASSERT(same(r[0].dx, r[1].dx, n * r[0].m));
    CU_ASSERT(same(r[0].dweight, r[1].dweight, r[0].m));
    CU_ASSERT(same(r[0].dbias, r[1].dbias, r[0].m));
    for (int t = 0; t < 2; t++) ln_close(&r[t]);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("layernorm", NULL, NULL);
    CU_add_test(s, "keys", test_keys);
    CU_add_test(s, "shapes", test_shapes);
    CU_add_test(s, "params", test_params);
    CU_add_test(s, "one value per sample", test_single_value);
    CU_add_test(s, "batch independent", test_batch_independent);
    CU_add_test(s, "other samples irrelevant", test_other_samples_irrelevant);
    CU_add_test(s, "thread count independent", test_threads);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
