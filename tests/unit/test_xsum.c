/* Exact order-independent sums: any grouping of the terms (as different rank counts make)
 * gives bitwise the same result — the digit sums equal to the exact sum rounded, the
 * fixed-point sums to their definition (xsum_ref.h) — and non-finite terms are counted. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/core.h"
#include "cascade/xsum.h"
#include "xsum_ref.h"

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

/* ---- fixed-point sums: bitwise the first-principles reference (xsum_ref.h), exactly the
 * digit sums of the rounded terms, the same for any grouping (ranks) and thread count ---- */

#define FN 70000 /* elements: enough for the threaded loops */
#define FK 5     /* terms (micro-batches) per element */

/* Edge cases at the first elements: known results (FK terms each, then the expected float). */
static const float edge[][FK + 1] = {
    {1.0f, -1.0f, 0x1p-40f, 0, 0, 0x1p-40f},              /* cancellation, the remainder kept (u = 2^-45) */
    {1.0f, -1.0f, 0x1p-47f, 0x1p-47f, 0, 0},              /* terms of u / 4 vanish */
    {1.0f, 0x1.8p-45f, 0x1.4p-44f, -1.0f, 0, 0x1p-43f},   /* ties to even: 1.5 u -> 2 u, 2.5 u -> 2 u */
    {1e30f, 1e-30f, -1e30f, 3e-38f, 0, 0},                /* huge dynamic range: the small ones vanish */
    {3e38f, 3e38f, 0, 0, 0, INFINITY},                    /* beyond FLT_MAX: Inf, counted */
    {-3e38f, 3e38f, 0x1p100f, 0, 0, 0x1p100f},            /* near the top of the range */
    {1e-45f, 1e-45f, 2e-45f, 0, -1e-45f, 3e-45f},         /* subnormal terms and result, exact */
    {0x1.000006p-110f, -0x1p-110f, 0, 0, 0, 0x1.8p-132f}, /* normal terms, subnormal result */
    {-0.0f, -0.0f, 0, 0, 0, 0},
    {16777215.0f, 1e-7f, -16777215.0f, 1e-7f, -2e-7f, -0x1p-22f}, /* per term to u = 2^-22: 1e-7 -> 0, -2e-7 -> -u */
};
#define N_EDGE ((int)(sizeof edge / sizeof *edge))

/* Term j of element i: the edge cases, NaN and Inf at two elements, else random magnitudes
 * (terms of similar size as gradients are, and every third element spread over 2^40). */
static float fixed_term(int i, int j) {
    if (i < N_EDGE) return edge[i][j];
    if (i == N_EDGE) return j == 1 ? NAN : 1.0f;
    if (i == N_EDGE + 1) return j == 2 ? -INFINITY : 1.0f;
    uint32_t r[4];
    cascade_philox(13, 5, (uint64_t)j, (uint64_t)i, r);
    int spread = i % 3 == 0 ? 40 : 6;
    double mag = ldexp(1.0, (int)(r[1] % (unsigned)spread) - 20 - (int)(r[0] % 90));
    return (float)((cascade_u01d(r[2], r[3]) - 0.5) * mag);
}

/* The exact sum of the rounded terms (digits) minus units 2^x is zero. */
static int same_as_digit_sum(const float *t, int64_t stride, int k, __int128 units, int x) {
    int64_t acc[D] = {0};
    for (int j = 0; j < k; j++) {
        double rounded = ldexp((double)xsum_ref_units(t[j * stride], x), x); /* exact: <= 47 bits */
        CU_ASSERT_EQUAL(cascade_xsum_add_doubles(acc, &rounded, 1), 0);
    }
    int64_t hi = (int64_t)(units >> 32), lo = (int64_t)(units & 0xffffffff);
    double minus[2] = {-ldexp((double)hi, x + 32), -ldexp((double)lo, x)};
    for (int h = 0; h < 2; h++) cascade_xsum_add_doubles(acc, &minus[h], 1); /* (one element: n = 1) */
    double rest;
    cascade_xsum_to_doubles(acc, &rest, 1);
    return rest == 0;
}

/* The k terms dealt to `groups` groups of consecutive terms (like ranks): each group's
 * largest exponents, agreed by max; each group's fixed-point sums; the groups' sums added
 * in the conversion. */
static int64_t grouped_fixed(const float *t, int64_t stride, int k, int groups, uint8_t *emax, int64_t *acc,
                             float *out) {
    int64_t bad = 0;
    for (int g = 0; g < groups; g++) {
        int j0 = k * g / groups, j1 = k * (g + 1) / groups;
        bad += cascade_xsum_max_exponents(emax, g > 0, t + j0 * stride, stride, j1 - j0, 0, FN);
    }
    for (int g = 0; g < groups; g++) {
        int j0 = k * g / groups, j1 = k * (g + 1) / groups;
        cascade_xsum_fold_fixed(acc + g * FN, emax, t + j0 * stride, stride, j1 - j0, 0, FN);
    }
    return bad + cascade_xsum_fixed_to_floats(acc, acc + FN, groups - 1, FN, emax, out, FN);
}

static int count_same(const float *a, const float *b) {
    int same = 0;
    for (int i = 0; i < FN; i++) same += memcmp(&a[i], &b[i], sizeof(float)) == 0;
    return same;
}

static void test_fixed_sums(void) {
    int64_t stride = FN + 3;
    float *t = calloc((size_t)(FK * stride), sizeof(float)), *one = calloc(FN, sizeof(float));
    float *ref = calloc(FN, sizeof(float)), *grp = calloc(FN, sizeof(float));
    int64_t *acc = calloc((size_t)(FK * FN), sizeof(int64_t));
    uint8_t *emax = calloc(FN, 1);
    CU_ASSERT_FATAL(t && one && ref && grp && acc && emax);
    for (int j = 0; j < FK; j++)
        for (int i = 0; i < FN; i++) t[j * stride + i] = fixed_term(i, j);
    for (int k = 1; k <= FK; k++) {
        int64_t bad_ref = 0, exact_checked = 0, exact_ok = 0;
        for (int i = 0; i < FN; i++) {
            __int128 units;
            int x;
            ref[i] = xsum_ref_fixed(t + i, stride, k, &units, &x);
            int finite = 1, in_digits = x >= -CASCADE_XSUM_LOW;
            for (int j = 0; j < k; j++) finite &= isfinite(t[j * stride + i]) != 0;
            for (int j = 0; j < k; j++) in_digits &= fabsf(t[j * stride + i]) < 0x1p62f;
            for (int j = 0; j < k; j++) bad_ref += !isfinite(t[j * stride + i]);
            bad_ref += !isfinite(ref[i]); /* an overflowing sum, or NaN for a non-finite term */
            if (finite && in_digits) { /* within the digits' range */
                exact_checked++;
                exact_ok += same_as_digit_sum(t + i, stride, k, units, x);
            }
        }
        CU_ASSERT_EQUAL(exact_ok, exact_checked);
        CU_ASSERT(exact_checked > FN / 2);
        /* one rank, fused */
        CU_ASSERT_EQUAL(cascade_xsum_fold_fixed_to_floats(t, stride, k, 0, FN, one), bad_ref);
        CU_ASSERT_EQUAL(count_same(one, ref), FN);
        if (k == FK)
            for (int i = 0; i < N_EDGE; i++) {
                CU_ASSERT(memcmp(&ref[i], &edge[i][FK], sizeof(float)) == 0); /* the definition */
                CU_ASSERT(memcmp(&one[i], &edge[i][FK], sizeof(float)) == 0);
            }
        /* any grouping, one thread or several */
        for (int groups = 1; groups <= k; groups++)
            for (int threads = 1; threads <= 2; threads++) {
                omp_set_num_threads(threads);
                memset(grp, 0, FN * sizeof(float));
                CU_ASSERT_EQUAL(grouped_fixed(t, stride, k, groups, emax, acc, grp), bad_ref);
                CU_ASSERT_EQUAL(count_same(grp, ref), FN);
            }
    }
    free(t), free(one), free(ref), free(grp), free(acc), free(emax);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("xsum", NULL, NULL);
    CU_add_test(s, "order independent", test_order_independent);
    CU_add_test(s, "cancellation and non-finite", test_cancellation_and_bad);
    CU_add_test(s, "fixed-point sums = reference and digit sums, bitwise, any grouping", test_fixed_sums);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
