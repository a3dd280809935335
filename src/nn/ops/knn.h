/* Exact kNN graphs of point sets (knn.c), shared by edgeconv. Compiled in both precisions. */
#ifndef CASCADE_NN_OPS_KNN_H
#define CASCADE_NN_OPS_KNN_H

#include "nn/op.h"

#define KNN_MAX_K 1024   /* the selection buffer lives on the stack */
#define KNN_ROW_BLOCK 64 /* rows of the distance matrix computed at once (cache-sized) */
#define KNN_DIRECT_G 8   /* up to this many coordinates: distances without GEMM */
#define KNN_SLOTS 8      /* samples whose graphs are built at once, one scratch each */
#define KNN_SCRATCH(P) ((int64_t)(P) + (int64_t)KNN_ROW_BLOCK * (P))

/* The k nearest neighbours of every point of one sample (the point itself excluded; equal
 * distances: the smaller index first): coords P rows of gstride with G values from the row
 * start; nbr (P, k) indices as reals, ascending distance; scratch KNN_SCRATCH(P) reals. */
void OPSYM(edgeconv_knn)(const real *coords, int gstride, int P, int G, int k, real *nbr, real *scratch);

/* The graphs of n samples (sample s at coords + s * sstride, its nbr rows at nbr + s * P * k),
 * up to KNN_SLOTS samples at once on the OpenMP threads; scratch KNN_SLOTS * KNN_SCRATCH(P).
 * Every graph is computed by one thread as above, so the result is the same for any count. */
void OPSYM(edgeconv_knn_batch)(const real *coords, int64_t sstride, int gstride, int n, int P, int G, int k,
                               real *nbr, real *scratch);

#endif
