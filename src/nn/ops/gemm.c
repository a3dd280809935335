/* The `real`-typed GEMM of ops: C = alpha op(A) op(B) + beta C (row-major, as cblas), with
 * the same bits for any OpenMP thread count.
 *
 * Why not one cblas call: OpenBLAS 0.3.21 (OpenMP build) gives different sgemm bits for
 * different thread counts. bench/gemm_threads.c (m 1..1000, n 1..1296, k 1..20000, every
 * transpose) found 748 of 1944 shapes differing between 1 thread and 2, 3 or 4, among them
 * small ones (m = 1, n = 64, k = 5000; m = 16, n = 1296, k = 27): its threaded drivers do not
 * just split C. A single-threaded call gives the same bits every time and for any alignment
 * of the operands, but a call on part of C does not always give the bits of the whole call
 * (edge kernels), so the split of C must not depend on the thread count either.
 *
 * op_gemm cuts C into panels of rows (or columns, whichever axis is longer) whose number
 * depends on m, n and k only; each panel is one single-threaded BLAS call, and the panels run
 * on whatever threads there are (one after another inside an enclosing parallel region).
 * op_gemm_serial is one whole single-threaded call, for callers that already run fixed blocks
 * on the threads (conv's blocks of samples, edgeconv's blocks of edges). */
#include <cblas.h>
#include <omp.h>

#include "nn/op.h"

/* Every panel packs the operand that all panels share again (op(B) for panels of rows, op(A)
 * for columns), at about 16 multiply-adds' time per element: a panel gets at least PANEL_MIN
 * rows (columns), which keeps that within ~3 % of its work, and PANEL_WORK multiply-adds
 * (0.1-0.2 ms on a core); at most MAX_PANELS, enough for 64 threads. */
enum { PANEL_MIN = 512, MAX_PANELS = 64 };
#define PANEL_WORK (1 << 22)

static void blas_call(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                      const real *b, int ldb, real beta, real *c, int ldc) {
#ifdef CASCADE_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* Panels of the split axis (extent e): a power of two, from the shape only. */
static int panel_count(int m, int n, int k) {
    int64_t e = m > n ? m : n, by_work = (int64_t)m * n * k / PANEL_WORK, most = e / PANEL_MIN;
    if (most > by_work) most = by_work;
    if (most > MAX_PANELS) most = MAX_PANELS;
    int p = 1;
    while (2 * p <= most) p *= 2;
    return p;
}

/* OpenBLAS runs single-threaded inside an active parallel region or when the calling task's
 * omp_get_max_threads() is 1. Elsewhere a region of one thread gives a task whose thread
 * count may be set to 1 (that changes only the task's own copy). */
void OPSYM(op_gemm_serial)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                           const real *b, int ldb, real beta, real *c, int ldc) {
    if (omp_in_parallel() || omp_get_max_threads() == 1) {
        blas_call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel num_threads(1)
    {
        omp_set_num_threads(1);
        blas_call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

void OPSYM(op_gemm)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda,
                    const real *b, int ldb, real beta, real *c, int ldc) {
    int panels = panel_count(m, n, k), by_rows = m >= n, extent = by_rows ? m : n;
    int width = (extent + panels - 1) / panels;
    width = (width + 15) / 16 * 16; /* whole register tiles except in the last panel */
    panels = (extent + width - 1) / width;
    if (panels == 1) {
        OPSYM(op_gemm_serial)(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int team = omp_in_parallel() ? 1 : omp_get_max_threads() < panels ? omp_get_max_threads() : panels;
#pragma omp parallel num_threads(team)
    {
        omp_set_num_threads(1);
#pragma omp for schedule(dynamic, 1)
        for (int p = 0; p < panels; p++) {
            int lo = p * width, len = extent - lo < width ? extent - lo : width;
            if (by_rows) /* rows lo.. of C and op(A) */
                blas_call(trans_a, trans_b, len, n, k, alpha, trans_a ? a + lo : a + (int64_t)lo * lda, lda, b, ldb,
                          beta, c + (int64_t)lo * ldc, ldc);
            else /* columns lo.. of C and op(B) */
                blas_call(trans_a, trans_b, m, len, k, alpha, a, lda, trans_b ? b + (int64_t)lo * ldb : b + lo, ldb,
                          beta, c + lo, ldc);
        }
    }
}
