/* Exact kNN graphs of point sets (knn.c), shared by edgeconv. Compiled in both precisions. */
#ifndef CASCADE_NN_OPS_KNN_H
#define CASCADE_NN_OPS_KNN_H

#include "nn/op.h"

#define KNN_MAX_K 1024   /* the selection buffer lives on the stack */
#define KNN_ROW_BLOCK 64 /* rows of the distance matrix computed at once (cache-sized) */

/* The k nearest neighbours of every point of one sample (the point itself excluded; equal
 * distances: the smaller index first): coords P rows of gstride with G values from the row
 * start; nbr (P, k) indices as reals, ascending distance; scratch P + KNN_ROW_BLOCK * P. */
void OPSYM(edgeconv_knn)(const real *coords, int gstride, int P, int G, int k, real *nbr, real *scratch);

#endif
