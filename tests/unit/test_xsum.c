/* Exact order-independent sums: any grouping of the terms (as different rank counts make)
 * gives bitwise the same result, equal to the exact sum rounded; non-finite terms counted. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/core.h"
#include "cascade/xsum.h"

#define N 1000
#define D CASCADE_XSUM_DIGITS

static float terms[N];

static void fill(void) {
    for (int i = 0; i < N; i++) {
        uint32_t r[4];
        cascade_philox(7, 99, 0, (uint64_t)i, r);
        double mag = ldexp(1.0, (int)(r[1] % 60) - 40);            /* 2^-40 .. 2^19 */
        terms[i] = (float)((cascade_u01d(r[2], r[3]) - 0.5) * mag);
    }
    terms[10] = 1e-39f; /* subnormal */
    terms[11] = -3.0e7f;
    terms[12] = 3.0e7f;
}

/* Sums the terms in `groups` contiguous groups (each its own accumulator, like ranks), then
 * adds the accumulators as MPI_SUM would. */
static float grouped(int groups, int reverse) {
    int64_t total[D] = {0};
    for (int g = 0; g < groups; g++) {
        int64_t acc[D] = {0};
        int lo = N * g / groups, hi = N * (g + 1) / groups;
        for (int i = lo; i < hi; i++) {
            int j = reverse ? hi - 1 - (i - lo) : i;
            CU_ASSERT_EQUAL(cascade_xsum_add_floats(acc, &terms[j], 1), 0);
        }
        for (int k = 0; k < D; k++) total[k] += acc[k];
    }
    float out;
    cascade_xsum_to_floats(total, &out, 1);
    return out;
}

static void test_order_independent(void) {
    fill();
    float ref = grouped(1, 0);
    for (int g = 1; g <= 7; g++) {
        float a = grouped(g, 0), b = grouped(g, 1);
        CU_ASSERT(memcmp(&a, &ref, sizeof a) == 0);
        CU_ASSERT(memcmp(&b, &ref, sizeof b) == 0);
    }
    /* equals the exact sum (long double is exact enough here to 1 ulp of float) */
    long double exact = 0;
    for (int i = 0; i < N; i++) exact += terms[i];
    CU_ASSERT(fabsl((long double)ref - exact) <= fabsl(exact) * 1.2e-7L);
    /* plain float summation in different orders does differ: the test can tell */
    float f1 = 0, f2 = 0;
    for (int i = 0; i < N; i++) f1 += terms[i];
    for (int i = N - 1; i >= 0; i--) f2 += terms[i];
    CU_ASSERT(f1 != f2 || f1 != ref);
}

static void test_cancellation_and_bad(void) {
    int64_t acc[D] = {0};
    float v[4] = {1e18f, 1.0f, -1e18f, 0.25f};
    CU_ASSERT_EQUAL(cascade_xsum_add_floats(acc, v, 1), 0);
    memset(acc, 0, sizeof acc);
    for (int i = 0; i < 4; i++) cascade_xsum_add_floats(acc, &v[i], 1);
    double out;
    cascade_xsum_to_doubles(acc, &out, 1);
    CU_ASSERT_EQUAL(out, 1.25); /* exact despite the cancellation */
    float bad[3] = {NAN, INFINITY, 1e30f};
    memset(acc, 0, sizeof acc);
    CU_ASSERT_EQUAL(cascade_xsum_add_floats(acc, &bad[0], 1) + cascade_xsum_add_floats(acc, &bad[1], 1) +
                        cascade_xsum_add_floats(acc, &bad[2], 1),
                    3);
    double neg[2] = {-2.5, 1.0};
    memset(acc, 0, sizeof acc);
    cascade_xsum_add_doubles(acc, &neg[0], 1);
    cascade_xsum_add_doubles(acc, &neg[1], 1);
    cascade_xsum_to_doubles(acc, &out, 1);
    CU_ASSERT_EQUAL(out, -1.5);
}

/* ---- fast paths: bitwise the reference (cascade_xsum_add_floats + cascade_xsum_to_floats) ---- */

#define FN 70000 /* elements: enough for the threaded loops */
#define FK 5     /* terms (micro-batches) per element */

/* Term j of element i: random magnitudes over the whole range, and edge cases at fixed i. */
static float fast_term(int i, int j) {
    static const float edge[][FK] = {
        {1.0f, -1.0f, 0x1p-126f, 0, 0},                       /* cancellation, tiny remainder */
        {0x1p-128f, 0x1p-129f, -1e-45f, 0x1p-128f, 1e-39f},   /* subnormal terms (partly truncated) and result */
        {1.8e19f, 1.8e19f, -1.0f, 1.8e19f, 0.5f},             /* near 2^64, sum beyond it */
        {-1.8e19f, 1.8e19f, 0x1p-110f, -0x1p-120f, 0},        /* cancellation down to truncated bits */
        {0x1p-105f, 0x1p-106f, -0x1p-104f, 3e-33f, 0},        /* around the fast path's threshold */
        {0x1p64f, 1.0f, 0, 0, 0},                             /* out of range */
        {NAN, 1.0f, 0, 0, 0},
        {1.0f, INFINITY, 0, 0, 0},
        {16777215.0f, 1e-7f, -16777215.0f, 1e-7f, -2e-7f},    /* wide exponent range: integer path */
        {-0.0f, -0.0f, 0, 0, 0},
    };
    if (i < (int)(sizeof edge / sizeof *edge)) return edge[i][j];
    uint32_t r[4];
    cascade_philox(13, 5, (uint64_t)j, (uint64_t)i, r);
    int spread = i % 3 == 0 ? 40 : 6; /* most elements: terms of similar size, as gradients are */
    double mag = ldexp(1.0, (int)(r[1] % (unsigned)spread) - 20 - (int)(r[0] % 90));
    return (float)((cascade_u01d(r[2], r[3]) - 0.5) * mag);
}

static void test_fast_paths(void) {
    int64_t stride = FN + 3;
    float *t = calloc((size_t)(FK * stride), sizeof(float)), *fast = calloc(FN, sizeof(float));
    float *ref = calloc(FN, sizeof(float)), *via = calloc(FN, sizeof(float));
    int64_t *acc = calloc((size_t)(D * FN), sizeof(int64_t)), *dig = calloc((size_t)(D * FN), sizeof(int64_t));
    CU_ASSERT_FATAL(t && fast && ref && via && acc && dig);
    for (int j = 0; j < FK; j++)
        for (int i = 0; i < FN; i++) t[j * stride + i] = fast_term(i, j);
    for (int k = 1; k <= FK; k++) {
        memset(acc, 0, (size_t)(D * FN) * sizeof(int64_t));
        int64_t bad_ref = 0;
        for (int j = 0; j < k; j++) bad_ref += cascade_xsum_add_floats(acc, t + j * stride, FN);
        cascade_xsum_to_floats(acc, ref, FN);
        CU_ASSERT_EQUAL(cascade_xsum_fold_to_floats(NULL, t, stride, k, 0, FN, fast), bad_ref);
        CU_ASSERT_EQUAL(cascade_xsum_fold_to_digits(dig, 0, t, stride, k, 0, FN), bad_ref);
        cascade_xsum_digits_to_floats(dig, via, FN);
        int same = 0, same_via = 0;
        for (int i = 0; i < FN; i++) {
            same += memcmp(&fast[i], &ref[i], sizeof(float)) == 0;
            same_via += memcmp(&via[i], &ref[i], sizeof(float)) == 0;
        }
        CU_ASSERT_EQUAL(same, FN);
        CU_ASSERT_EQUAL(same_via, FN);
        if (k == FK) CU_ASSERT(ref[1] == 0x1p-127f); /* a subnormal result */
        /* folding onto digits already holding sums (a later fold, or other ranks' digits) */
        CU_ASSERT_EQUAL(cascade_xsum_fold_to_digits(dig, 1, t, stride, k, 0, FN), bad_ref);
        CU_ASSERT_EQUAL(cascade_xsum_fold_to_floats(dig, t, stride, k, 0, FN, fast), bad_ref);
        for (int j = 0; j < k; j++) cascade_xsum_add_floats(acc, t + j * stride, FN), cascade_xsum_add_floats(acc, t + j * stride, FN);
        cascade_xsum_to_floats(acc, ref, FN);
        same = 0;
        for (int i = 0; i < FN; i++) same += memcmp(&fast[i], &ref[i], sizeof(float)) == 0;
        CU_ASSERT_EQUAL(same, FN);
    }
    free(t), free(fast), free(ref), free(via), free(acc), free(dig);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("xsum", NULL, NULL);
    CU_add_test(s, "order independent", test_order_independent);
    CU_add_test(s, "cancellation and non-finite", test_cancellation_and_bad);
    CU_add_test(s, "fast fold and conversion = reference, bitwise", test_fast_paths);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
