/* Does OpenBLAS sgemm give the same bits for any thread count? For m, n, k over the sizes the
 * ops use (1..1000 x 1..1296 x 1..20000) and every transpose, C = A B + C at 1 thread is
 * compared bitwise with 2, 3 and 4 threads (OpenMP build: the thread count is the caller's
 * omp_get_max_threads()), and, at 1 thread, with the same product computed as row or column
 * panels (does a call on part of C give the whole call's bits?). OpenBLAS 0.3.21 here: 748 of
 * 1944 shapes differ between thread counts; panel results differ from the whole call for many
 * shapes too. Hence src/nn/ops/gemm.c. Usage: build/bench/gemm_threads [-v] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *openblas_get_corename(void);

static float draw(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void gemm(int ta, int tb, int m, int n, int k, const float *a, const float *b, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                ta ? m : k, b, tb ? k : n, 1.0f, c, ldc);
}

int main(int argc, char **argv) {
    int verbose = argc > 1 && !strcmp(argv[1], "-v");
    const int ms[] = {1, 3, 16, 32, 64, 100, 257, 1000}, ns[] = {1, 2, 9, 16, 64, 81, 300, 1296},
              ks[] = {1, 8, 27, 144, 576, 1000, 5000, 20000};
    int shapes = 0, by_threads = 0, by_panels = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++)
                    for (int l = 0; l < 8; l++) {
                        int m = ms[i], n = ns[j], k = ks[l];
                        if ((double)m * n * k > 3e8) continue;
                        unsigned s = 1;
                        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
                        float *c1 = malloc(sizeof(float) * m * n), *c = malloc(sizeof(float) * m * n);
                        for (long e = 0; e < (long)m * k; e++) a[e] = draw(&s);
                        for (long e = 0; e < (long)k * n; e++) b[e] = draw(&s);
                        for (long e = 0; e < (long)m * n; e++) c1[e] = 0.5f;
                        omp_set_num_threads(1);
                        gemm(ta, tb, m, n, k, a, b, c1, n);
                        int differs = 0;
                        for (int t = 2; t <= 4; t++) {
                            for (long e = 0; e < (long)m * n; e++) c[e] = 0.5f;
                            omp_set_num_threads(t);
                            gemm(ta, tb, m, n, k, a, b, c, n);
                            differs |= memcmp(c, c1, sizeof(float) * m * n) != 0;
                        }
                        omp_set_num_threads(1); /* column panels of 16 */
                        for (long e = 0; e < (long)m * n; e++) c[e] = 0.5f;
                        for (int c0 = 0; c0 < n; c0 += 16)
                            gemm(ta, tb, m, n - c0 < 16 ? n - c0 : 16, k, a, tb ? b + (long)c0 * k : b + c0, c + c0, n);
                        int panel_differs = memcmp(c, c1, sizeof(float) * m * n) != 0;
                        if (verbose && differs) printf("threads differ: ta=%d tb=%d m=%d n=%d k=%d\n", ta, tb, m, n, k);
                        shapes++, by_threads += differs, by_panels += panel_differs;
                        free(a), free(b), free(c1), free(c);
                    }
    printf("%s: %d of %d shapes differ between 1 and 2-4 threads; %d differ when computed as panels\n",
           openblas_get_corename(), by_threads, shapes, by_panels);
    return 0;
}
