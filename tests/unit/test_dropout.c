/* dropout in training mode, which torch cannot reproduce (our mask comes from Philox):
 * dropped fraction within binomial bounds, kept values scaled exactly, eval = identity, the
 * mask of a sample depends on (seed, layer, step, global sample id, element) only, backward
 * = dout * mask / (1 - rate), backward2's tangent u * mask / (1 - rate), and the `rate` key
 * checks. ref_dropout.py covers eval and rate 0 against torch and by finite differences. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

static void expect_rate_error(const char *spec, const char *needle) {
    cascade_layer L;
    cascade_shape s = cascade_shape_make(1, (int64_t[]){8});
    CU_ASSERT_EQUAL(th_layer(&L, "dropout", spec, 1, &s), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), needle));
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "rate"));
    cascade_layer_release(&L);
}

static void test_keys(void) {
    expect_rate_error("rate=1", "below 1");
    expect_rate_error("rate=1.5", "between");
    expect_rate_error("rate=-0.1", "between");
    expect_rate_error("rate=half", "number");
    expect_rate_error("", "needs");
}

/* One call on n samples of `elems` values: x[i] = 1 + (i mod 7) / 8 (never 0), so a zero
 * output means dropped. */
typedef struct {
    cascade_layer L;
    int n;
    int64_t elems;
    float *x, *y;
} drop_run;

static int drop_open(drop_run *r, double rate, int n, int64_t elems) {
    memset(r, 0, sizeof *r);
    char spec[64];
    snprintf(spec, sizeof spec, "rate=%g", rate);
    cascade_shape s = cascade_shape_make(1, &elems);
    if (th_layer(&r->L, "dropout", spec, 1, &s) != CASCADE_OK) return 0;
    r->n = n;
    r->elems = elems;
    r->x = malloc((size_t)(n * elems) * sizeof(float));
    r->y = malloc((size_t)(n * elems) * sizeof(float));
    if (!r->x || !r->y) return 0;
    for (int64_t i = 0; i < n * elems; i++) r->x[i] = 1.0f + (float)(i % 7) / 8;
    return 1;
}

static void drop_forward(drop_run *r, const int64_t *ids, uint64_t step, int training) {
    cascade_fwd fw = {.n = r->n, .training = training, .update_stats = training, .out = r->y,
                      .sample_ids = ids, .step = step};
    fw.in[0] = r->x;
    r->L.op->forward(&r->L, &fw);
}

static void drop_close(drop_run *r) {
    free(r->x);
    free(r->y);
    cascade_layer_release(&r->L);
}

/* Dropped fraction within 5 binomial standard deviations; kept values exactly x * scale. */
static void test_statistics(void) {
    const double rates[] = {0.1, 0.3, 0.5, 0.9};
    for (int k = 0; k < 4; k++) {
        double rate = rates[k];
        drop_run r;
        CU_ASSERT_FATAL(drop_open(&r, rate, 32, 1001)); /* odd size: partial last draw */
        int64_t ids[32];
        for (int i = 0; i < 32; i++) ids[i] = 1000 + 3 * i;
        drop_forward(&r, ids, 5, 1);
        int64_t total = r.n * r.elems, zeros = 0, wrong = 0;
        float scale = (float)(1.0 / (1.0 - rate));
        for (int64_t i = 0; i < total; i++) {
            if (r.y[i] == 0)
                zeros++;
            else if (r.y[i] != r.x[i] * scale)
                wrong++;
        }
        double expect = rate * (double)total, sd = sqrt((double)total * rate * (1 - rate));
        CU_ASSERT(fabs((double)zeros - expect) < 5 * sd);
        CU_ASSERT_EQUAL(wrong, 0);
        if (fabs((double)zeros - expect) >= 5 * sd)
            printf("\n  rate %g: %lld zeros of %lld\n", rate, (long long)zeros, (long long)total);
        drop_close(&r);
    }
}

static void test_eval_identity(void) {
    drop_run r;
    CU_ASSERT_FATAL(drop_open(&r, 0.5, 3, 10));
    drop_forward(&r, NULL, 1, 0);
    CU_ASSERT(memcmp(r.x, r.y, 30 * sizeof(float)) == 0);
    drop_close(&r);
}

/* 1 if sample a of run ra and sample b of run rb have the same keep/drop pattern. */
static int same_mask(const drop_run *ra, int a, const drop_run *rb, int b) {
    for (int64_t e = 0; e < ra->elems; e++)
        if ((ra->y[a * ra->elems + e] == 0) != (rb->y[b * rb->elems + e] == 0)) return 0;
    return 1;
}

/* The mask follows the global sample id, not the position in the (micro-)batch or its size;
 * it changes with the step and with the layer. */
static void test_reproducible(void) {
    drop_run big, small, later, other_layer;
    CU_ASSERT_FATAL(drop_open(&big, 0.5, 4, 37));
    CU_ASSERT_FATAL(drop_open(&small, 0.5, 3, 37));
    CU_ASSERT_FATAL(drop_open(&later, 0.5, 4, 37));
    CU_ASSERT_FATAL(drop_open(&other_layer, 0.5, 4, 37));
    other_layer.L.layer_id = big.L.layer_id + 1;
    int64_t ids_big[4] = {10, 11, 12, 13}, ids_small[3] = {12, 99, 10};
    drop_forward(&big, ids_big, 3, 1);
    drop_forward(&small, ids_small, 3, 1);
    drop_forward(&later, ids_big, 4, 1);
    drop_forward(&other_layer, ids_big, 3, 1);
    CU_ASSERT(same_mask(&big, 0, &small, 2)); /* id 10 */
    CU_ASSERT(same_mask(&big, 2, &small, 0)); /* id 12 */
    CU_ASSERT(!same_mask(&big, 1, &small, 1));
    for (int i = 0; i < 4; i++) {
        CU_ASSERT(!same_mask(&big, i, &later, i));
        CU_ASSERT(!same_mask(&big, i, &other_layer, i));
    }
    drop_close(&big);
    drop_close(&small);
    drop_close(&later);
    drop_close(&other_layer);
}

/* Beyond 2^22 elements per sample the draws must not run into the next sample's. */
static void test_large_sample(void) {
    int64_t big = ((int64_t)1 << 22) + 64;
    drop_run a, b;
    CU_ASSERT_FATAL(drop_open(&a, 0.5, 1, big));
    CU_ASSERT_FATAL(drop_open(&b, 0.5, 1, 64));
    int64_t id0 = 0, id1 = 1;
    drop_forward(&a, &id0, 1, 1);
    drop_forward(&b, &id1, 1, 1);
    int same = 1;
    for (int64_t e = 0; e < 64; e++) same &= (a.y[big - 64 + e] == 0) == (b.y[e] == 0);
    CU_ASSERT(!same);
    drop_close(&a);
    drop_close(&b);
}

/* din += dout * mask / (1 - rate), accumulated onto what din held. */
static void test_backward(void) {
    drop_run r;
    double rate = 0.4;
    CU_ASSERT_FATAL(drop_open(&r, rate, 5, 23));
    int64_t ids[5] = {7, 3, 100, 2, 55}, total = 5 * 23;
    drop_forward(&r, ids, 9, 1);
    float *g = malloc((size_t)total * sizeof(float)), *din = malloc((size_t)total * sizeof(float));
    CU_ASSERT_FATAL(g && din);
    for (int64_t i = 0; i < total; i++) g[i] = (float)(i % 5) - 2.5f, din[i] = 0.25f;
    cascade_bwd bw = {.n = 5, .training = 1, .out = r.y, .dout = g, .sample_ids = ids, .step = 9};
    bw.in[0] = r.x;
    bw.din[0] = din;
    r.L.op->backward(&r.L, &bw);
    float scale = (float)(1.0 / (1.0 - rate));
    int64_t wrong = 0;
    for (int64_t i = 0; i < total; i++) {
        float expect = 0.25f + (r.y[i] != 0 ? g[i] * scale : 0.0f);
        wrong += din[i] != expect;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    free(g);
    free(din);
    drop_close(&r);
}

/* backward2: uout += u * mask / (1 - rate) with the forward's mask (step, sample ids). */
static void test_backward2(void) {
    drop_run r;
    double rate = 0.3;
    CU_ASSERT_FATAL(drop_open(&r, rate, 4, 37));
    int64_t ids[4] = {11, 5, 900, 6}, total = 4 * 37;
    drop_forward(&r, ids, 3, 1);
    float *u = malloc((size_t)total * sizeof(float)), *uout = malloc((size_t)total * sizeof(float));
    CU_ASSERT_FATAL(u && uout);
    for (int64_t i = 0; i < total; i++) u[i] = (float)(i % 9) - 4.25f, uout[i] = -0.5f;
    cascade_bwd2 b2 = {.n = 4, .training = 1, .out = r.y, .uout = uout, .sample_ids = ids, .step = 3};
    b2.in[0] = r.x;
    b2.uin[0] = u;
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.L.op->backward2);
    r.L.op->backward2(&r.L, &b2);
    float scale = (float)(1.0 / (1.0 - rate));
    int64_t wrong = 0, kept = 0;
    for (int64_t i = 0; i < total; i++) {
        float expect = -0.5f + (r.y[i] != 0 ? u[i] * scale : 0.0f);
        wrong += uout[i] != expect;
        kept += r.y[i] != 0;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT(kept > 0 && kept < total);
    free(u);
    free(uout);
    drop_close(&r);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("dropout", NULL, NULL);
    CU_add_test(s, "rate key", test_keys);
    CU_add_test(s, "dropped fraction and scaling", test_statistics);
    CU_add_test(s, "eval is identity", test_eval_identity);
    CU_add_test(s, "mask from global sample id, step, layer", test_reproducible);
    CU_add_test(s, "large samples", test_large_sample);
    CU_add_test(s, "backward", test_backward);
    CU_add_test(s, "backward2", test_backward2);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
