/* Bucketed non-blocking gradient allreduce (see buckets.h). */
#include "dist/buckets.h"

#include <stdlib.h>
#include <string.h>

cascade_status cascade_buckets_init(cascade_buckets *bk, int n, const int64_t *lo, const int64_t *hi,
                                    const int *ready_mark, float *grads, MPI_Comm comm) {
    memset(bk, 0, sizeof *bk);
    bk->b = calloc((size_t)(n ? n : 1), sizeof *bk->b);
    if (!bk->b) return cascade_fail(CASCADE_EINTERNAL, "out of memory for %d gradient buckets", n);
    for (int i = 0; i < n; i++) {
        if (hi[i] - lo[i] > 0x7fffffff) {
            free(bk->b);
            return cascade_fail(CASCADE_EINTERNAL, "gradient bucket of %lld floats is too large for MPI",
                                (long long)(hi[i] - lo[i]));
        }
        bk->b[i].lo = lo[i];
        bk->b[i].hi = hi[i];
        bk->b[i].ready_mark = ready_mark[i];
        bk->b[i].req = MPI_REQUEST_NULL;
    }
    bk->n = n;
    bk->grads = grads;
    bk->comm = comm;
    return CASCADE_OK;
}

void cascade_buckets_free(cascade_buckets *bk) {
    free(bk->b);
    memset(bk, 0, sizeof *bk);
}

void cascade_buckets_reset(cascade_buckets *bk) {
    for (int i = 0; i < bk->n; i++) bk->b[i].started = 0, bk->b[i].req = MPI_REQUEST_NULL;
}

static void start(cascade_buckets *bk, cascade_bucket *b) {
    MPI_Iallreduce(MPI_IN_PLACE, bk->grads + b->lo, (int)(b->hi - b->lo), MPI_FLOAT, MPI_SUM, bk->comm, &b->req);
    b->started = 1;
}

void cascade_buckets_progress(cascade_buckets *bk, int mark) {
    for (int i = 0; i < bk->n; i++) {
        cascade_bucket *b = &bk->b[i];
        if (!b->started && mark <= b->ready_mark) start(bk, b);
        if (b->started && b->req != MPI_REQUEST_NULL) {
            int done = 0;
            MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        }
    }
}

cascade_status cascade_buckets_finish(cascade_buckets *bk) {
    for (int i = 0; i < bk->n; i++)
        if (!bk->b[i].started) start(bk, &bk->b[i]);
    double t = cascade_now();
    int rc = MPI_SUCCESS;
    for (int i = 0; i < bk->n && rc == MPI_SUCCESS; i++) rc = MPI_Wait(&bk->b[i].req, MPI_STATUS_IGNORE);
    bk->wait_s += cascade_now() - t;
    bk->steps++;
    return rc == MPI_SUCCESS ? CASCADE_OK : cascade_fail(CASCADE_EINTERNAL, "gradient allreduce failed");
}
