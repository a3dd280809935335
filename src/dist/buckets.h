/* Bucketed, non-blocking gradient allreduce (fast mode). A flat gradient buffer is cut into
 * buckets of consecutive ranges; a bucket's MPI_Iallreduce starts as soon as the backward pass
 * has produced its final gradients (the caller reports progress), and pending requests are
 * progressed with MPI_Test so communication overlaps the rest of backward. Knows nothing of
 * layers: a bucket is a range [lo, hi) plus the progress mark at which it is ready. */
#ifndef CASCADE_DIST_BUCKETS_H
#define CASCADE_DIST_BUCKETS_H

#include <mpi.h>

#include "cascade/core.h"

typedef struct {
    int64_t lo, hi;  /* float range in the gradient buffer */
    int ready_mark;  /* ready once progress has reached a mark <= this */
    int started;
    MPI_Request req;
} cascade_bucket;

typedef struct {
    int n;
    cascade_bucket *b;
    float *grads;
    MPI_Comm comm;
    double wait_s; /* time spent waiting for requests in finish(), summed over steps */
    int64_t steps;
} cascade_buckets;

cascade_status cascade_buckets_init(cascade_buckets *bk, int n, const int64_t *lo, const int64_t *hi,
                                    const int *ready_mark, float *grads, MPI_Comm comm);
void cascade_buckets_free(cascade_buckets *bk);
/* Before the backward pass whose gradients are to be reduced. */
void cascade_buckets_reset(cascade_buckets *bk);
/* Backward has finished everything down to `mark`: start ready buckets, progress others. */
void cascade_buckets_progress(cascade_buckets *bk, int mark);
/* Starts what is left and waits for all; the buffer then holds the sums over ranks. */
cascade_status cascade_buckets_finish(cascade_buckets *bk);

#endif
