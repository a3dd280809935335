/* conv1d/conv2d/conv3d: shape inference, parameters and work sizes, shape errors and key
 * validation; backward accumulating; results bitwise identical for 1 and 2 threads in both
 * compute regimes (batched small images, per-sample large images). Numerical agreement with
 * PyTorch is tests/torch/ref_conv.py. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "layercheck.h"

static void test_shapes(void) {
    th_expect_out("conv2d", "filters=8\nkernel=3", th_shp(3, 2, 9, 9, 0), "(8,7,7)");
    th_expect_out("conv2d", "filters=8\nkernel=3\npadding=same", th_shp(3, 2, 9, 9, 0), "(8,9,9)");
    th_expect_out("conv2d", "filters=8\nkernel=4\npadding=SAME", th_shp(3, 2, 9, 8, 0), "(8,9,8)");
    th_expect_out("conv2d", "filters=4\nkernel=3,5\nstride=2\npadding=1,2", th_shp(3, 2, 9, 9, 0), "(4,5,5)");
    th_expect_out("conv2d", "filters=4\nkernel=3\nstride=3\npadding=1", th_shp(3, 2, 8, 7, 0), "(4,3,3)");
    th_expect_out("conv2d", "filters=4\nkernel=3\ndilation=2,1", th_shp(3, 2, 9, 8, 0), "(4,5,6)");
    th_expect_out("conv2d", "filters=4\nkernel=3\npadding=valid", th_shp(3, 2, 3, 3, 0), "(4,1,1)");
    th_expect_out("conv1d", "filters=5\nkernel=3\nstride=2\npadding=1", th_shp(2, 3, 11, 0, 0), "(5,6)");
    th_expect_out("conv1d", "filters=2\nkernel=3\ndilation=2\npadding=same", th_shp(2, 3, 9, 0, 0), "(2,9)");
    th_expect_out("conv3d", "filters=3\nkernel=3,2,3\nstride=2,1,2\ndilation=1,2,1", th_shp(4, 4, 6, 5, 7),
                  "(3,2,3,3)");

    /* parameters: torch layout [out, in/groups, k...], bound 1/sqrt(fan_in) for both */
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, "conv2d", "filters=6\nkernel=3,5\ngroups=2", th_shp(3, 4, 9, 9, 0)));
    CU_ASSERT_EQUAL_FATAL(L.n_params, 2);
    CU_ASSERT_STRING_EQUAL(L.params[0].name, "weight");
    th_expect_shape(&L.params[0].shape, "(6,2,3,5)", "weight");
    CU_ASSERT_STRING_EQUAL(L.params[1].name, "bias");
    th_expect_shape(&L.params[1].shape, "(6)", "bias");
    for (int p = 0; p < 2; p++) {
        CU_ASSERT_EQUAL(L.params[p].init, CASCADE_INIT_UNIFORM);
        CU_ASSERT(fabs(L.params[p].init_bound - 1 / sqrt(30.0)) < 1e-12);
        CU_ASSERT_EQUAL(L.params[p].trainable, 1);
    }
    /* batched regime: nothing saved; scratch for at least one sample's col + tmp */
    CU_ASSERT_EQUAL(L.saved_per_sample + L.saved_fixed, 0);
    CU_ASSERT(L.work_fixed >= (4 * 15 + 6) * 35);
    cascade_layer_release(&L);

    CU_ASSERT_FATAL(th_setup(&L, "conv1d", "filters=3\nkernel=2\nbias=false", th_shp(2, 1, 7, 0, 0)));
    CU_ASSERT_EQUAL(L.n_params, 1);
    th_expect_shape(&L.params[0].shape, "(3,1,2)", "conv1d weight");
    cascade_layer_release(&L);

    /* large images, one thread: blocks of one sample, scratch for one sample's columns (none
     * for 1x1) and a weight gradient per sample plus 1 + MIN_BLOCKS (4) */
    int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    CU_ASSERT_FATAL(th_setup(&L, "conv2d", "filters=8\nkernel=5\npadding=2", th_shp(3, 16, 64, 64, 0)));
    CU_ASSERT_EQUAL(L.work_per_sample, 8 * 16 * 25);
    CU_ASSERT_EQUAL(L.work_fixed, 16 * 25 * 64 * 64 + 5 * 8 * 16 * 25);
    cascade_layer_release(&L);
    CU_ASSERT_FATAL(th_setup(&L, "conv2d", "filters=8\nkernel=1", th_shp(3, 16, 64, 64, 0)));
    CU_ASSERT_EQUAL(L.work_per_sample, 8 * 16);
    CU_ASSERT_EQUAL(L.work_fixed, 5 * 8 * 16);
    cascade_layer_release(&L);
    omp_set_num_threads(keep);
}

static void test_shape_errors(void) {
    th_expect_error("conv2d", "filters=4\nkernel=3\ngroups=2", th_shp(3, 3, 9, 9, 0), "input channels 3",
                    "(3,9,9)", "groups = 2");
    th_expect_error("conv2d", "filters=4\nkernel=3", th_shp(2, 3, 9, 0, 0), "(3,9)", "(channels, height, width)",
                    NULL);
    th_expect_error("conv1d", "filters=4\nkernel=3", th_shp(3, 3, 9, 9, 0), "(3,9,9)", "(channels, length)", NULL);
    th_expect_error("conv3d", "filters=4\nkernel=3", th_shp(3, 3, 9, 9, 0), "(3,9,9)", "depth, height, width", NULL);
    th_expect_error("conv2d", "filters=4\nkernel=5", th_shp(3, 1, 3, 3, 0), "kernel 5", "padded input 3", "(1,3,3)");
    th_expect_error("conv2d", "filters=4\nkernel=3\ndilation=3\npadding=0,1", th_shp(3, 1, 6, 6, 0),
                    "spans 7", "padded input 6", "axis 0");
    th_expect_error("conv2d", "filters=4\nkernel=1,5\npadding=0,1", th_shp(3, 1, 6, 2, 0), "padded input 4",
                    "axis 1", "(1,6,2)");
    /* the graph prefixes the layer name and the input shape */
    th_expect_error("conv2d", "filters=4\nkernel=5", th_shp(3, 1, 3, 3, 0), "test.conv2d", "input shape (1,3,3)",
                    NULL);
}

static void test_keys(void) {
    cascade_shape in = th_shp(3, 4, 9, 9, 0);
    th_expect_error("conv2d", "filters=5\nkernel=3\ngroups=2", in, "<test>:", "groups = 2",
                    "filters = 5 is not divisible");
    th_expect_error("conv2d", "filters=4\nkernel=3\nstride=2\npadding=same", in, "padding = same",
                    "needs stride 1", "stride is 2");
    th_expect_error("conv1d", "filters=4\nkernel=3\nstride=2\npadding=same", th_shp(2, 4, 9, 0, 0),
                    "padding = same", "stride", NULL);
    th_expect_error("conv2d", "kernel=3", in, "needs `filters`", NULL, NULL);
    th_expect_error("conv2d", "filters=4", in, "needs `kernel`", NULL, NULL);
    th_expect_error("conv2d", "filters=0\nkernel=3", in, "filters = 0", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=0", in, "kernel = 0", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3,3,3", in, "kernel = 3,3,3", "one per spatial axis", NULL);
    th_expect_error("conv1d", "filters=4\nkernel=3,3", th_shp(2, 4, 9, 0, 0), "kernel = 3,3", "list of 1", NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\nstride=0", in, "stride = 0", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\ndilation=1,0", in, "dilation = 1,0", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\npadding=-1", in, "padding = -1", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\npadding=full", in, "padding = full", "valid, same", NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\npadding=1,2,3", in, "padding = 1,2,3", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\ngroups=0", in, "groups = 0", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\nbias=maybe", in, "bias = maybe", NULL, NULL);
    th_expect_error("conv2d", "filters=4\nkernel=3\nsize=2", in, "unknown key 'size'", NULL, NULL);
}

typedef struct {
    float *out, *din, *dw, *db;
} conv_result;

/* Forward and backward of the float op on n samples, set up with `setup_threads` OpenMP
 * threads (the layer sizes its scratch for them) and run with `threads`; backward runs
 * `passes` times into the same gradients (they accumulate). */
static conv_result run(const char *spec, cascade_shape in, int n, int setup_threads, int threads, int passes) {
    cascade_layer L;
    conv_result r = {0};
    int keep = omp_get_max_threads();
    omp_set_num_threads(setup_threads);
    CU_ASSERT_FATAL(th_setup(&L, "conv2d", spec, in));
    omp_set_num_threads(threads);
    int64_t nin = n * cascade_shape_numel(&in), nout = n * cascade_shape_numel(&L.out_shape);
    int64_t nw = cascade_shape_numel(&L.params[0].shape), nb = cascade_shape_numel(&L.params[1].shape);
    int64_t nwork = L.work_per_sample * n + L.work_fixed;
    float *x = cascade_alloc((size_t)nin * sizeof(float), "x");
    float *w = cascade_alloc((size_t)nw * sizeof(float), "w");
    float *b = cascade_alloc((size_t)nb * sizeof(float), "b");
    float *dout = cascade_alloc((size_t)nout * sizeof(float), "dout");
    float *work = cascade_alloc((size_t)(nwork + 1) * sizeof(float), "work");
    r.out = cascade_alloc((size_t)nout * sizeof(float), "out");
    r.din = cascade_alloc((size_t)nin * sizeof(float), "din");
    r.dw = cascade_alloc((size_t)nw * sizeof(float), "dw");
    r.db = cascade_alloc((size_t)nb * sizeof(float), "db");
    CU_ASSERT_FATAL(x && w && b && dout && work && r.out && r.din && r.dw && r.db);
    th_fill(x, nin, 1);
    th_fill(w, nw, 2);
    th_fill(b, nb, 3);
    th_fill(dout, nout, 4);
    cascade_fwd fw = {.n = n, .training = 1, .in = {x}, .out = r.out, .param = {w, b}, .work = work};
    L.op->forward(&L, &fw);
    cascade_bwd bw = {.n = n, .training = 1, .in = {x}, .out = r.out, .dout = dout, .din = {r.din},
                      .param = {w, b}, .dparam = {r.dw, r.db}, .work = work};
    for (int p = 0; p < passes; p++) L.op->backward(&L, &bw);
    CU_ASSERT_EQUAL(omp_get_max_threads(), threads); /* the op restores the caller's setting */
    omp_set_num_threads(keep);
    cascade_free(x);
    cascade_free(w);
    cascade_free(b);
    cascade_free(dout);
    cascade_free(work);
    cascade_layer_release(&L);
    return r;
}

static void result_free(conv_result *r) {
    cascade_free(r->out);
    cascade_free(r->din);
    cascade_free(r->dw);
    cascade_free(r->db);
}

static void expect_bitwise(const float *a, const float *b, int64_t n, const char *what) {
    int64_t first = 0;
    while (first < n && memcmp(&a[first], &b[first], sizeof(float)) == 0) first++;
    if (first < n)
        printf("\n%s differs between thread counts, first at %lld of %lld: %.9g vs %.9g\n", what,
               (long long)first, (long long)n, a[first], b[first]);
    CU_ASSERT(first == n);
}

/* twice == 2 * once, normwise within float rounding */
static int doubled(const float *twice, const float *once, int64_t n) {
    double err = 0, scale = 1e-30;
    for (int64_t k = 0; k < n; k++) {
        err = fmax(err, fabs(twice[k] - 2.0 * once[k]));
        scale = fmax(scale, fabs(2.0 * once[k]));
    }
    if (!(err / scale < 1e-6)) printf("\nsecond backward: relative error %.2e from twice the first\n", err / scale);
    return err / scale < 1e-6;
}

/* Same n and shapes -> same bits, whatever the thread count: 9x9 in blocks of 8 (Winograd) and
 * of 1-2 samples (im2col), a lone sample (one thread), large images sample by sample (grouped
 * im2col, 1x1 using the input directly, Winograd). */
static void test_thread_independence(void) {
    const struct {
        const char *spec;
        cascade_shape in;
        int n;
    } cases[] = {
        {"filters=32\nkernel=3\npadding=same", th_shp(3, 32, 9, 9, 0), 128},
        {"filters=32\nkernel=3\npadding=same", th_shp(3, 2, 9, 9, 0), 7},
        {"filters=16\nkernel=3\npadding=same", th_shp(3, 16, 9, 9, 0), 1},
        {"filters=8\nkernel=3\npadding=1\ngroups=2", th_shp(3, 16, 40, 40, 0), 3},
        {"filters=8\nkernel=1", th_shp(3, 16, 64, 64, 0), 3},
        {"filters=4\nkernel=3\npadding=same", th_shp(3, 8, 40, 40, 0), 3}, /* Winograd, one sample per block */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cascade_shape in = cases[i].in;
        int n = cases[i].n;
        cascade_layer L;
        CU_ASSERT_FATAL(th_setup(&L, "conv2d", cases[i].spec, in));
        int64_t nin = n * cascade_shape_numel(&in), nout = n * cascade_shape_numel(&L.out_shape);
        int64_t nw = cascade_shape_numel(&L.params[0].shape), nb = L.out_shape.d[0];
        cascade_layer_release(&L);
        conv_result one = run(cases[i].spec, in, n, 1, 1, 1), two = run(cases[i].spec, in, n, 2, 2, 1);
        /* more threads at run time than at setup: fewer work on blocks, same bits */
        conv_result more = run(cases[i].spec, in, n, 1, 2, 1);
        const conv_result *other[2] = {&two, &more};
        for (int k = 0; k < 2; k++) {
            expect_bitwise(one.out, other[k]->out, nout, k ? "out (run with more threads)" : "out");
            expect_bitwise(one.din, other[k]->din, nin, k ? "din (run with more threads)" : "din");
            expect_bitwise(one.dw, other[k]->dw, nw, k ? "dweight (run with more threads)" : "dweight");
            expect_bitwise(one.db, other[k]->db, nb, k ? "dbias (run with more threads)" : "dbias");
        }
        /* gradients accumulate: a second backward doubles them */
        conv_result twice = run(cases[i].spec, in, n, 2, 2, 2);
        CU_ASSERT(doubled(twice.dw, one.dw, nw));
        CU_ASSERT(doubled(twice.din, one.din, nin));
        CU_ASSERT(doubled(twice.db, one.db, nb));
        result_free(&one);
        result_free(&two);
        result_free(&more);
        result_free(&twice);
    }
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("conv", NULL, NULL);
    CU_add_test(s, "output shapes, parameters, work sizes", test_shapes);
    CU_add_test(s, "shape errors", test_shape_errors);
    CU_add_test(s, "key validation", test_keys);
    CU_add_test(s, "thread-count independence, accumulation", test_thread_independence);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
