/* lstm beyond the PyTorch reference cases (ref_lstm.py): key validation and impossible
 * input shapes (errors naming the key or the shapes), the parameter descriptions (names for
 * one and several layers, shapes, init bound) and saved/work sizes, finite results with
 * saturated gates, and backward accumulating (+=) into din and dparam. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

static cascade_status setup(cascade_layer *L, const char *spec, int ndim, const int64_t *dims) {
    cascade_shape s = cascade_shape_make(ndim, dims);
    return th_layer(L, "lstm", spec, 1, &s);
}

/* Expects setup to fail with CASCADE_EUSAGE and a message containing each needle. */
static void expect_error(const char *spec, int ndim, const int64_t *dims, const char *needle1,
                         const char *needle2) {
    cascade_layer L;
    cascade_status st = setup(&L, spec, ndim, dims);
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle1));
    if (needle2) CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle2));
    if (st == CASCADE_OK || !strstr(cascade_errmsg(), needle1) ||
        (needle2 && !strstr(cascade_errmsg(), needle2)))
        printf("\n  lstm [%s]: unexpected: %s\n", spec, cascade_errmsg());
    cascade_layer_release(&L);
}

static void test_keys(void) {
    const int64_t d[2] = {5, 3};
    expect_error("", 2, d, "units", "needs");
    expect_error("units=0", 2, d, "units", "<test>:");
    expect_error("units=-4", 2, d, "units", NULL);
    expect_error("units=four", 2, d, "units", NULL);
    expect_error("units=4\nlayers=0", 2, d, "layers", NULL);
    expect_error("units=4\nlayers=5", 2, d, "layers", NULL); /* 4 params per layer, at most CASCADE_MAX_PARAMS */
    expect_error("units=4\nreturn_sequences=maybe", 2, d, "return_sequences", NULL);
    expect_error("units=4\nbidirectional=true", 2, d, "bidirectional", "unknown");
}

static void test_shapes(void) {
    expect_error("units=4", 1, (int64_t[]){5}, "(5)", "(T, F)");
}

static void expect_param(const cascade_param_desc *p, const char *name, int ndim, int64_t d0, int64_t d1) {
    CU_ASSERT_STRING_EQUAL(p->name, name);
    CU_ASSERT_EQUAL(p->shape.ndim, ndim);
    CU_ASSERT_EQUAL(p->shape.d[0], d0);
    if (ndim == 2) CU_ASSERT_EQUAL(p->shape.d[1], d1);
    CU_ASSERT_EQUAL(p->trainable, 1);
    CU_ASSERT_EQUAL(p->init, CASCADE_INIT_UNIFORM);
    CU_ASSERT_DOUBLE_EQUAL(p->init_bound, 0.5, 1e-12); /* 1/sqrt(H), H = 4 */
}

/* The 4 parameters of layer l (H = 4): weight_ih [16, in_f], weight_hh [16, 4], biases [16]. */
static void expect_layer_params(const cascade_layer *L, int l, const char *suffix, int64_t in_f) {
    static const char *const base[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "%s%s", base[k], suffix);
        expect_param(&L->params[4 * l + k], name, k < 2 ? 2 : 1, 16, k == 0 ? in_f : 4);
    }
}

static void test_infer(void) {
    cascade_layer L;
    CU_ASSERT_EQUAL_FATAL(setup(&L, "units=4", 2, (int64_t[]){7, 3}), CASCADE_OK);
    CU_ASSERT_EQUAL(L.out_shape.ndim, 1);
    CU_ASSERT_EQUAL(L.out_shape.d[0], 4);
    CU_ASSERT_EQUAL_FATAL(L.n_params, 4);
    expect_layer_params(&L, 0, "", 3);
    CU_ASSERT_EQUAL(L.saved_per_sample, 7 * 6 * 4);
    cascade_layer_release(&L);

    CU_ASSERT_EQUAL_FATAL(setup(&L, "units=4\nlayers=2\nreturn_sequences=true", 2, (int64_t[]){7, 3}),
                          CASCADE_OK);
    CU_ASSERT_EQUAL(L.out_shape.ndim, 2);
    CU_ASSERT_EQUAL(L.out_shape.d[0], 7);
    CU_ASSERT_EQUAL(L.out_shape.d[1], 4);
    CU_ASSERT_EQUAL_FATAL(L.n_params, 8);
    expect_layer_params(&L, 0, "_l0", 3);
    expect_layer_params(&L, 1, "_l1", 4);
    CU_ASSERT_EQUAL(L.saved_per_sample, 2 * 7 * 6 * 4);
    cascade_layer_release(&L);
}

/* A layer with its buffers for n samples; params filled with values in [-scale, scale]. */
typedef struct {
    cascade_layer L;
    int n;
    int64_t in_n, out_n;
    float *x, *y, *dy, *din, *saved, *work;
    float *param[CASCADE_MAX_PARAMS], *dparam[CASCADE_MAX_PARAMS];
} lstm_run;

static float pattern(int64_t i, float scale) { return scale * (float)((i * 37 % 19) - 9) / 9.0f; }

static int run_open(lstm_run *r, const char *spec, int n, int64_t steps, int64_t features, float scale) {
    memset(r, 0, sizeof *r);
    if (setup(&r->L, spec, 2, (int64_t[]){steps, features}) != CASCADE_OK) return 0;
    r->n = n;
    r->in_n = n * steps * features;
    r->out_n = n * cascade_shape_numel(&r->L.out_shape);
    r->x = calloc((size_t)r->in_n, sizeof(float));
    r->din = calloc((size_t)r->in_n, sizeof(float));
    r->y = calloc((size_t)r->out_n, sizeof(float));
    r->dy = calloc((size_t)r->out_n, sizeof(float));
    r->saved = calloc((size_t)(r->L.saved_per_sample * n + r->L.saved_fixed + 1), sizeof(float));
    r->work = calloc((size_t)(r->L.work_per_sample * n + r->L.work_fixed + 1), sizeof(float));
    if (!r->x || !r->din || !r->y || !r->dy || !r->saved || !r->work) return 0;
    for (int p = 0; p < r->L.n_params; p++) {
        int64_t cnt = cascade_shape_numel(&r->L.params[p].shape);
        r->param[p] = calloc((size_t)cnt, sizeof(float));
        r->dparam[p] = calloc((size_t)cnt, sizeof(float));
        if (!r->param[p] || !r->dparam[p]) return 0;
        for (int64_t i = 0; i < cnt; i++) r->param[p][i] = pattern(i + 5 * p, scale);
    }
    for (int64_t i = 0; i < r->in_n; i++) r->x[i] = pattern(i + 3, scale);
    for (int64_t i = 0; i < r->out_n; i++) r->dy[i] = pattern(i + 1, 1.0f);
    return 1;
}

static void run_forward(lstm_run *r) {
    cascade_fwd fw = {.n = r->n, .training = 1, .out = r->y, .saved = r->saved, .work = r->work};
    fw.in[0] = r->x;
    for (int p = 0; p < r->L.n_params; p++) fw.param[p] = r->param[p];
    r->L.op->forward(&r->L, &fw);
}

static void run_backward(lstm_run *r) {
    cascade_bwd bw = {.n = r->n, .training = 1, .out = r->y, .dout = r->dy, .saved = r->saved,
                      .work = r->work};
    bw.in[0] = r->x;
    bw.din[0] = r->din;
    for (int p = 0; p < r->L.n_params; p++) bw.param[p] = r->param[p], bw.dparam[p] = r->dparam[p];
    r->L.op->backward(&r->L, &bw);
}

static void run_close(lstm_run *r) {
    free(r->x);
    free(r->din);
    free(r->y);
    free(r->dy);
    free(r->saved);
    free(r->work);
    for (int p = 0; p < CASCADE_MAX_PARAMS; p++) free(r->param[p]), free(r->dparam[p]);
    cascade_layer_release(&r->L);
}

static int all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Weights and inputs of magnitude 100: pre-activations in the thousands, gates saturated;
 * outputs stay finite and within (-1, 1), and so do the gradients. */
static void test_saturated(void) {
    lstm_run r;
    CU_ASSERT_FATAL(run_open(&r, "units=3\nlayers=2\nreturn_sequences=true", 2, 6, 4, 100.0f));
    run_forward(&r);
    CU_ASSERT(all_finite(r.y, r.out_n));
    for (int64_t i = 0; i < r.out_n; i++) CU_ASSERT(fabsf(r.y[i]) <= 1.0f);
    run_backward(&r);
    CU_ASSERT(all_finite(r.din, r.in_n));
    for (int p = 0; p < r.L.n_params; p++)
        CU_ASSERT(all_finite(r.dparam[p], cascade_shape_numel(&r.L.params[p].shape)));
    run_close(&r);
}

/* A second backward adds the same gradients again: din and dparam end at twice the first. */
static void test_accumulates(void) {
    const char *specs[] = {"units=5", "units=5\nlayers=2\nreturn_sequences=true"};
    for (int k = 0; k < 2; k++) {
        lstm_run r;
        CU_ASSERT_FATAL(run_open(&r, specs[k], 3, 4, 2, 0.5f));
        run_forward(&r);
        run_backward(&r);
        float *first[CASCADE_MAX_PARAMS + 1] = {0};
        int64_t count[CASCADE_MAX_PARAMS + 1];
        float *now[CASCADE_MAX_PARAMS + 1];
        int m = r.L.n_params + 1;
        for (int p = 0; p < m; p++) {
            now[p] = p < r.L.n_params ? r.dparam[p] : r.din;
            count[p] = p < r.L.n_params ? cascade_shape_numel(&r.L.params[p].shape) : r.in_n;
            first[p] = malloc((size_t)count[p] * sizeof(float));
            CU_ASSERT_FATAL(first[p] != NULL);
            memcpy(first[p], now[p], (size_t)count[p] * sizeof(float));
        }
        run_backward(&r);
        for (int p = 0; p < m; p++) {
            double err = 0, norm = 0;
            for (int64_t i = 0; i < count[p]; i++) {
                err = fmax(err, fabs((double)now[p][i] - 2.0 * first[p][i]));
                norm = fmax(norm, fabs((double)first[p][i]));
            }
            CU_ASSERT(norm > 0); /* a gradient that is all zero would prove nothing */
            CU_ASSERT(err <= 1e-5 * norm);
            free(first[p]);
        }
        run_close(&r);
    }
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("lstm", NULL, NULL);
    CU_add_test(s, "key validation", test_keys);
    CU_add_test(s, "impossible input shapes", test_shapes);
    CU_add_test(s, "output shape, parameters, saved size", test_infer);
    CU_add_test(s, "saturated gates stay finite", test_saturated);
    CU_add_test(s, "backward accumulates", test_accumulates);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
