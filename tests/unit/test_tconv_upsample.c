/* conv1d_transpose/conv2d_transpose and upsample: output shapes, parameters (torch's layout
 * [in, out, k...] and fan_in = out * prod(k)), shape errors, key validation, results bitwise
 * identical for 1 and 2 threads, and backward accumulating. Numerical agreement with PyTorch
 * is tests/torch/ref_tconv.py and ref_upsample.py. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "layercheck.h"

static void test_tconv_shapes(void) {
    /* (L - 1) stride - 2 padding + kernel + output_padding */
    th_expect_out("conv2d_transpose", "filters=8\nkernel=3", th_shp(3, 2, 9, 9, 0), "(8,11,11)");
    th_expect_out("conv2d_transpose", "filters=4\nkernel=4\nstride=2\npadding=1", th_shp(3, 2, 9, 9, 0), "(4,18,18)");
    th_expect_out("conv2d_transpose", "filters=4\nkernel=3\nstride=2\npadding=1\noutput_padding=1",
                  th_shp(3, 2, 4, 5, 0), "(4,8,10)");
    th_expect_out("conv2d_transpose", "filters=2\nkernel=2,3\nstride=1,2\npadding=0,1\noutput_padding=0,1",
                  th_shp(3, 3, 5, 3, 0), "(2,6,6)");
    th_expect_out("conv2d_transpose", "filters=3\nkernel=5\npadding=4", th_shp(3, 2, 5, 5, 0), "(3,1,1)");
    th_expect_out("conv1d_transpose", "filters=5\nkernel=3\nstride=3\noutput_padding=2", th_shp(2, 3, 6, 0, 0),
                  "(5,20)");
    th_expect_out("conv1d_transpose", "filters=1\nkernel=1", th_shp(2, 1, 7, 0, 0), "(1,7)");

    /* parameters: weight [in, out, k...]; torch's fan_in = weight.size(1) * prod(k) */
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, "conv2d_transpose", "filters=6\nkernel=3,5", th_shp(3, 4, 9, 9, 0)));
    CU_ASSERT_EQUAL_FATAL(L.n_params, 2);
    CU_ASSERT_STRING_EQUAL(L.params[0].name, "weight");
    th_expect_shape(&L.params[0].shape, "(4,6,3,5)", "weight");
    CU_ASSERT_STRING_EQUAL(L.params[1].name, "bias");
    th_expect_shape(&L.params[1].shape, "(6)", "bias");
    for (int p = 0; p < 2; p++) {
        CU_ASSERT_EQUAL(L.params[p].init, CASCADE_INIT_UNIFORM);
        CU_ASSERT(fabs(L.params[p].init_bound - 1 / sqrt(90.0)) < 1e-12);
        CU_ASSERT_EQUAL(L.params[p].trainable, 1);
    }
    CU_ASSERT_EQUAL(L.saved_per_sample + L.saved_fixed, 0);
    cascade_layer_release(&L);
    CU_ASSERT_FATAL(th_setup(&L, "conv1d_transpose", "filters=3\nkernel=2\nbias=false", th_shp(2, 5, 7, 0, 0)));
    CU_ASSERT_EQUAL(L.n_params, 1);
    th_expect_shape(&L.params[0].shape, "(5,3,2)", "conv1d_transpose weight");
    CU_ASSERT(fabs(L.params[0].init_bound - 1 / sqrt(6.0)) < 1e-12);
    cascade_layer_release(&L);
}

static void test_tconv_errors(void) {
    cascade_shape in = th_shp(3, 4, 9, 9, 0);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3", th_shp(2, 3, 9, 0, 0), "(3,9)",
                    "(channels, height, width)", NULL);
    th_expect_error("conv1d_transpose", "filters=4\nkernel=3", in, "(4,9,9)", "(channels, length)", NULL);
    /* output size (1 - 1) * 1 - 2 * 1 + 1 + 0 = -1 */
    th_expect_error("conv2d_transpose", "filters=4\nkernel=1\npadding=1", th_shp(3, 1, 1, 5, 0), "= -1",
                    "spatial axis 0", "(1,1,5)");
    th_expect_error("conv1d_transpose", "filters=4\nkernel=2\npadding=1", th_shp(2, 1, 1, 0, 0), "= 0", "(1,1)", NULL);
    /* keys */
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\nstride=2\noutput_padding=2", in, "<test>:",
                    "output_padding = 2", "smaller than stride 2");
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\noutput_padding=1", in, "output_padding = 1",
                    "smaller than stride 1", NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\nstride=2,1\noutput_padding=1", in,
                    "output_padding = 1", "spatial axis 1", NULL);
    th_expect_error("conv1d_transpose", "filters=4\nkernel=3\noutput_padding=-1", th_shp(2, 4, 9, 0, 0),
                    "output_padding = -1", NULL, NULL);
    th_expect_error("conv2d_transpose", "kernel=3", in, "needs `filters`", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4", in, "needs `kernel`", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=0\nkernel=3", in, "filters = 0", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3,3,3", in, "kernel = 3,3,3", "one per spatial axis", NULL);
    th_expect_error("conv1d_transpose", "filters=4\nkernel=3,3", th_shp(2, 4, 9, 0, 0), "kernel = 3,3", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\nstride=0", in, "stride = 0", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\npadding=-1", in, "padding = -1", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\npadding=same", in, "padding = same", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\nbias=maybe", in, "bias = maybe", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\ndilation=2", in, "unknown key 'dilation'", NULL, NULL);
    th_expect_error("conv2d_transpose", "filters=4\nkernel=3\ngroups=2", in, "unknown key 'groups'", NULL, NULL);
}

static void test_upsample_shapes(void) {
    th_expect_out("upsample", "", th_shp(2, 3, 7, 0, 0), "(3,14)");
    th_expect_out("upsample", "scale=3\nmode=bilinear", th_shp(3, 2, 4, 5, 0), "(2,12,15)");
    th_expect_out("upsample", "scale=2,1", th_shp(3, 2, 4, 5, 0), "(2,8,5)");
    th_expect_out("upsample", "scale=1", th_shp(3, 2, 4, 5, 0), "(2,4,5)");
    th_expect_out("upsample", "scale=3,1,2\nmode=bilinear", th_shp(4, 1, 2, 3, 3), "(1,6,3,6)");
    th_expect_out("upsample", "mode=nearest", th_shp(4, 1, 2, 3, 3), "(1,4,6,6)");
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, "upsample", "", th_shp(3, 2, 4, 5, 0)));
    CU_ASSERT_EQUAL(L.n_params, 0);
    CU_ASSERT_EQUAL(L.saved_per_sample + L.saved_fixed + L.work_per_sample + L.work_fixed, 0);
    cascade_layer_release(&L);
}

static void test_upsample_errors(void) {
    cascade_shape in = th_shp(3, 2, 4, 5, 0);
    th_expect_error("upsample", "scale=1.5", in, "<test>:", "scale = 1.5", NULL);
    th_expect_error("upsample", "scale=0", in, "scale = 0", NULL, NULL);
    th_expect_error("upsample", "scale=-2", in, "scale = -2", NULL, NULL);
    th_expect_error("upsample", "scale=2,2,2,2", in, "scale = 2,2,2,2", NULL, NULL);
    th_expect_error("upsample", "mode=area", in, "mode = area", NULL, NULL);
    th_expect_error("upsample", "mode=linear", in, "mode = linear", NULL, NULL);
    th_expect_error("upsample", "size=4", in, "unknown key 'size'", NULL, NULL);
    th_expect_error("upsample", "scale=2,2,2", in, "`scale` has 3 values", "(2,4,5)", "2 spatial axes");
    th_expect_error("upsample", "scale=2,2", th_shp(2, 3, 7, 0, 0), "`scale` has 2 values", "(3,7)", NULL);
    th_expect_error("upsample", "", th_shp(1, 7, 0, 0, 0), "(7)", "(C, L)", NULL);
    th_expect_error("upsample", "", (cascade_shape){5, {1, 4, 4, 4, 4}}, "(1,4,4,4,4)", NULL, NULL);
    th_expect_error("upsample", "scale=65536", th_shp(3, 1, 300, 300, 0), "(1,300,300)", "2^31", NULL);
}

enum { MAXP = 2 };
typedef struct {
    int n_params;
    int64_t count[2 + MAXP]; /* out, din, dparam... */
    float *buf[2 + MAXP];
} result;

/* Forward and backward of the float op on n samples, set up with `setup_threads` OpenMP
 * threads and run with `threads`; backward runs `passes` times (gradients accumulate). */
static result run(const char *type, const char *spec, cascade_shape in, int n, int setup_threads, int threads,
                  int passes) {
    cascade_layer L;
    result r = {0};
    int keep = omp_get_max_threads();
    omp_set_num_threads(setup_threads);
    CU_ASSERT_FATAL(th_setup(&L, type, spec, in));
    omp_set_num_threads(threads);
    r.n_params = L.n_params;
    r.count[0] = n * cascade_shape_numel(&L.out_shape);
    r.count[1] = n * cascade_shape_numel(&in);
    float *param[MAXP] = {0};
    for (int p = 0; p < L.n_params; p++) {
        r.count[2 + p] = cascade_shape_numel(&L.params[p].shape);
        param[p] = cascade_alloc((size_t)r.count[2 + p] * sizeof(float), "param");
        CU_ASSERT_FATAL(param[p] != NULL);
        th_fill(param[p], r.count[2 + p], 2 + p);
    }
    for (int k = 0; k < 2 + L.n_params; k++) {
        r.buf[k] = cascade_alloc((size_t)r.count[k] * sizeof(float), "result");
        CU_ASSERT_FATAL(r.buf[k] != NULL);
    }
    int64_t nwork = L.work_per_sample * n + L.work_fixed;
    float *x = cascade_alloc((size_t)r.count[1] * sizeof(float), "x");
    float *dout = cascade_alloc((size_t)r.count[0] * sizeof(float), "dout");
    float *work = cascade_alloc((size_t)(nwork + 1) * sizeof(float), "work");
    CU_ASSERT_FATAL(x && dout && work);
    th_fill(x, r.count[1], 1);
    th_fill(dout, r.count[0], 9);
    cascade_fwd fw = {.n = n, .training = 1, .in = {x}, .out = r.buf[0], .param = {param[0], param[1]},
                      .work = work};
    L.op->forward(&L, &fw);
    cascade_bwd bw = {.n = n, .training = 1, .in = {x}, .out = r.buf[0], .dout = dout, .din = {r.buf[1]},
                      .param = {param[0], param[1]}, .dparam = {r.buf[2], r.buf[3]}, .work = work};
    for (int p = 0; p < passes; p++) L.op->backward(&L, &bw);
    CU_ASSERT_EQUAL(omp_get_max_threads(), threads); /* the op restores the caller's setting */
    omp_set_num_threads(keep);
    for (int p = 0; p < L.n_params; p++) cascade_free(param[p]);
    cascade_free(x);
    cascade_free(dout);
    cascade_free(work);
    cascade_layer_release(&L);
    return r;
}

static void result_free(result *r) {
    for (int k = 0; k < 2 + r->n_params; k++) cascade_free(r->buf[k]);
}

static const char *const result_names[] = {"out", "din", "dweight", "dbias"};

static void expect_bitwise(const result *a, const result *b, const char *what) {
    for (int k = 0; k < 2 + a->n_params; k++) {
        int64_t first = 0, n = a->count[k];
        while (first < n && memcmp(&a->buf[k][first], &b->buf[k][first], sizeof(float)) == 0) first++;
        if (first < n)
            printf("\n%s: %s differs between thread counts, first at %lld of %lld: %.9g vs %.9g\n", what,
                   result_names[k], (long long)first, (long long)n, a->buf[k][first], b->buf[k][first]);
        CU_ASSERT(first == n);
    }
}

/* gradients of `twice` (two backward passes) == 2 * those of `once`, within float rounding */
static void expect_doubled(const result *twice, const result *once, const char *what) {
    for (int k = 1; k < 2 + once->n_params; k++) {
        double err = 0, scale = 1e-30;
        for (int64_t i = 0; i < once->count[k]; i++) {
            err = fmax(err, fabs(twice->buf[k][i] - 2.0 * once->buf[k][i]));
            scale = fmax(scale, fabs(2.0 * once->buf[k][i]));
        }
        if (!(err / scale < 1e-6))
            printf("\n%s: second backward of %s off by %.2e from twice the first\n", what, result_names[k],
                   err / scale);
        CU_ASSERT(err / scale < 1e-6);
        CU_ASSERT(scale > 1e-3); /* the gradient is not all zeros */
    }
}

/* Same n and shapes -> same bits, whatever the thread count; backward accumulates. */
static void test_threads_accumulate(void) {
    const struct {
        const char *type, *spec;
        cascade_shape in;
        int n;
    } cases[] = {
        {"conv2d_transpose", "filters=8\nkernel=4\nstride=2\npadding=1", th_shp(3, 16, 9, 9, 0), 64},
        {"conv2d_transpose", "filters=3\nkernel=3\nstride=3\noutput_padding=1", th_shp(3, 2, 5, 4, 0), 7},
        {"conv2d_transpose", "filters=4\nkernel=3\npadding=1\nbias=false", th_shp(3, 4, 6, 6, 0), 1},
        {"conv2d_transpose", "filters=4\nkernel=3\nstride=2\npadding=1", th_shp(3, 4, 40, 40, 0), 3},
        {"conv1d_transpose", "filters=4\nkernel=5\nstride=2\npadding=2\noutput_padding=1", th_shp(2, 3, 50, 0, 0), 9},
        {"upsample", "mode=bilinear", th_shp(3, 4, 40, 40, 0), 3},
        {"upsample", "scale=3,1,2\nmode=bilinear", th_shp(4, 2, 5, 4, 3), 5},
        {"upsample", "scale=3", th_shp(3, 4, 9, 9, 0), 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].type, *s = cases[i].spec;
        cascade_shape in = cases[i].in;
        int n = cases[i].n;
        result one = run(t, s, in, n, 1, 1, 1), two = run(t, s, in, n, 2, 2, 1);
        result more = run(t, s, in, n, 1, 2, 1); /* more threads at run time than at setup */
        result twice = run(t, s, in, n, 2, 2, 2);
        expect_bitwise(&one, &two, s);
        expect_bitwise(&one, &more, s);
        expect_doubled(&twice, &one, s);
        result_free(&one);
        result_free(&two);
        result_free(&more);
        result_free(&twice);
    }
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("tconv_upsample", NULL, NULL);
    CU_add_test(s, "transposed conv: output shapes, parameters", test_tconv_shapes);
    CU_add_test(s, "transposed conv: shape errors, key validation", test_tconv_errors);
    CU_add_test(s, "upsample: output shapes", test_upsample_shapes);
    CU_add_test(s, "upsample: shape errors, key validation", test_upsample_errors);
    CU_add_test(s, "thread-count independence, accumulation", test_threads_accumulate);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
