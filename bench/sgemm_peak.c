/* OpenBLAS sgemm GFLOP/s at the current thread count (OPENBLAS_NUM_THREADS/OMP_NUM_THREADS),
 * the peak that bench/vs_torch.sh compares cascade's training throughput with. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void) {
    const int n = 1024, reps = 10;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) return 1;
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.2f, c[i] = 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t0 = now();
    for (int r = 0; r < reps; r++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double dt = now() - t0;
    printf("{\"core\":\"%s\",\"sgemm_gflops\":%.2f}\n", openblas_get_corename(), 2.0 * n * n * (double)n * reps / dt / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
