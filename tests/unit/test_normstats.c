/* Normalisation statistics (src/data/norm.c): exact sums, so the result does not depend on the
 * order of the samples (hence not on how they are dealt to ranks, nor on the thread count);
 * values far beyond what a double sum or the 2^64 range of cascade/xsum.h can hold; constant
 * channels; the features layout and target columns; against a long double reference. Runs
 * alone or under mpirun (each rank computes over its block and the ranks' sums combine). */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "tio.h"

#define N 1001
#define C 3
#define E 10

static cascade_job job; /* layout only */

/* channel 0: 1e6 + noise; 1: wide magnitudes (subnormal to 1e30, both signs); 2: constant */
static void fill(float *x, float *y) {
    for (int64_t i = 0; i < N; i++) {
        for (int e = 0; e < E; e++) {
            uint32_t r[4];
            cascade_philox(7, 1, (uint64_t)i, (uint64_t)e, r);
            float u = cascade_u01f(r[0]) - 0.5f, v = cascade_u01f(r[1]);
            x[(i * C + 0) * E + e] = 1e6f + 1e3f * u;
            x[(i * C + 1) * E + e] = (u < 0 ? -1 : 1) * ldexpf(1.0f + v, (int)(r[2] % 240) - 140);
            x[(i * C + 2) * E + e] = 0.1f;
        }
        y[2 * i] = (float)(i % 17) * 1e5f, y[2 * i + 1] = (float)i * 1e-3f;
    }
}

static cascade_dataset make(float *x, float *y) {
    cascade_dataset d = {0};
    snprintf(d.file, sizeof d.file, "test.h5");
    d.n = N, d.x = x, d.y = y, d.n_stats = C;
    d.x_shape = cascade_shape_make(2, (int64_t[]){C, E});
    d.y_shape = cascade_shape_make(1, (int64_t[]){2});
    return d;
}

static void expect_same(const cascade_norm_stats *a, const cascade_norm_stats *b) {
    CU_ASSERT_EQUAL_FATAL(a->n, b->n);
    CU_ASSERT(memcmp(a->mean, b->mean, (size_t)a->n * sizeof(double)) == 0);
    CU_ASSERT(memcmp(a->std, b->std, (size_t)a->n * sizeof(double)) == 0);
}

/* The samples in reverse and in a Philox-shuffled order, 1 and 2 threads: the same bits. */
static void test_order_independent(void) {
    float *x = malloc(N * C * E * sizeof(float)), *y = malloc(2 * N * sizeof(float));
    float *px = malloc(N * C * E * sizeof(float)), *py = malloc(2 * N * sizeof(float));
    int64_t perm[N];
    fill(x, y);
    cascade_dataset d = make(x, y), p = make(px, py);
    cascade_norm_stats s = {0}, t = {0}, s2 = {0}, t2 = {0};
    CU_ASSERT_EQUAL_FATAL(cascade_norm_compute(&job, &d, MPI_COMM_WORLD, &s), CASCADE_OK);
    CU_ASSERT_EQUAL_FATAL(cascade_tnorm_compute(&d, MPI_COMM_WORLD, &t), CASCADE_OK);
    for (int way = 0; way < 2; way++) {
        if (way == 0)
            for (int64_t i = 0; i < N; i++) perm[i] = N - 1 - i;
        else
            cascade_permutation(3, 4, 5, N, perm);
        for (int64_t i = 0; i < N; i++) {
            memcpy(px + i * C * E, x + perm[i] * C * E, C * E * sizeof(float));
            memcpy(py + 2 * i, y + 2 * perm[i], 2 * sizeof(float));
        }
        omp_set_num_threads(way + 1);
        CU_ASSERT_EQUAL_FATAL(cascade_norm_compute(&job, &p, MPI_COMM_WORLD, &s2), CASCADE_OK);
        CU_ASSERT_EQUAL_FATAL(cascade_tnorm_compute(&p, MPI_COMM_WORLD, &t2), CASCADE_OK);
        expect_same(&s, &s2);
        expect_same(&t, &t2);
    }
    omp_set_num_threads(1);
    /* against long double sums (not exact, but far closer than float's rounding) */
    for (int k = 0; k < C; k++) {
        long double sum = 0, sq = 0;
        for (int64_t i = 0; i < N; i++)
            for (int e = 0; e < E; e++) sum += x[(i * C + k) * E + e];
        long double mean = sum / (N * E);
        for (int64_t i = 0; i < N; i++)
            for (int e = 0; e < E; e++) sq += (x[(i * C + k) * E + e] - mean) * (x[(i * C + k) * E + e] - mean);
        double sd = (double)sqrtl(sq / (N * E));
        CU_ASSERT(s.mean[k] == (float)mean);
        CU_ASSERT(s.std[k] == (float)(sd > 1e-12 ? sd : 1.0));
        if (s.mean[k] != (float)mean || s.std[k] != (float)(sd > 1e-12 ? sd : 1.0))
            printf("\n  channel %d: mean %.9g std %.9g, reference %.9g %.9g\n", k, s.mean[k], s.std[k],
                   (double)(float)mean, sd);
    }
    CU_ASSERT(isfinite(s.std[1]) && s.std[1] > 1e28); /* beyond 2^64: still summed exactly */
    CU_ASSERT(s.mean[2] == 0.1f && s.std[2] == 1.0); /* constant channel: only shifted */
    cascade_norm_free(&s), cascade_norm_free(&t), cascade_norm_free(&s2), cascade_norm_free(&t2);
    free(x), free(y), free(px), free(py);
}

/* layout = features: one statistic per last-axis feature (a strided column). */
static void test_features(void) {
    float x[N * 4];
    for (int64_t i = 0; i < N * 4; i++) x[i] = (float)((i % 4) * 100 + (i / 4) % 7);
    cascade_dataset d = {0};
    d.n = N, d.x = x, d.n_stats = 2;
    d.x_shape = cascade_shape_make(2, (int64_t[]){2, 2});
    cascade_job fj = job;
    fj.layout = LAYOUT_FEATURES;
    cascade_norm_stats s = {0};
    CU_ASSERT_EQUAL_FATAL(cascade_norm_compute(&fj, &d, MPI_COMM_WORLD, &s), CASCADE_OK);
    /* feature 0 holds i%4 in {0, 2}: values 0 + m and 200 + m; feature 1: 100 + m, 300 + m */
    double m = 0;
    for (int64_t i = 0; i < N; i++) m += (double)(i % 7);
    m /= N;
    CU_ASSERT_DOUBLE_EQUAL(s.mean[0], 100 + m, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(s.mean[1], 200 + m, 1e-4);
    cascade_norm_free(&s);
}

int main(int argc, char **argv) {
    tio_init(&argc, &argv, "normstats");
    job.layout = LAYOUT_CHANNELS;
    CU_pSuite s = CU_add_suite("normstats", NULL, NULL);
    CU_add_test(s, "exact: any sample order, 1 or 2 threads, = long double reference", test_order_independent);
    CU_add_test(s, "features layout", test_features);
    return tio_run();
}
