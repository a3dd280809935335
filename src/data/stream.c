#define _GNU_SOURCE /* qsort_r */
/* Streaming input: when the training set exceeds memory_budget_mb, each step every rank
 * reads just the samples of its own micro-batches with one collective read per data set
 * (rows sorted for HDF5, then put back in micro-batch order). The global Philox permutation
 * (the caller's) still decides which sample goes to which step, so results do not depend on
 * the mode or the rank count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/stream.h"
#include "parallel/parallel.h"

cascade_status cascade_stream_open(cascade_stream *s, const cascade_job *job, int64_t *rows, int64_t n_rows,
                                   int64_t max_samples, MPI_Comm comm) {
    memset(s, 0, sizeof *s);
    s->rows = rows;
    s->comm = comm;
    CASCADE_TRY(cascade_source_open(job, job->train, 1, comm, &s->src));
    s->shape = s->src.shape; /* shapes; x and y stay NULL */
    s->shape.n = rows ? n_rows : s->src.total;
    int64_t most = max_samples, xs = cascade_shape_numel(&s->shape.x_shape), ys = cascade_shape_numel(&s->shape.y_shape);
    s->fetch_rows = malloc((size_t)most * sizeof(int64_t));
    s->fetch_order = malloc((size_t)(2 * most) * sizeof(int64_t)); /* order, then the sorted rows */
    s->x = cascade_alloc((size_t)(most * xs) * sizeof(float), "streamed inputs");
    s->y = cascade_alloc((size_t)(most * ys) * sizeof(float), "streamed targets");
    s->xsorted = cascade_alloc((size_t)(most * xs) * sizeof(float), "streamed inputs");
    s->ysorted = cascade_alloc((size_t)(most * ys) * sizeof(float), "streamed targets");
    s->tmp = cascade_alloc((size_t)(most * s->src.max_numel) * sizeof(float), "read buffer");
    if (!s->fetch_rows || !s->fetch_order || !s->x || !s->y || !s->xsorted || !s->ysorted || !s->tmp)
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for streaming buffers");
    return CASCADE_OK;
}

void cascade_stream_close(cascade_stream *s) {
    cascade_source_close(&s->src);
    free(s->rows);
    free(s->fetch_rows);
    free(s->fetch_order);
    cascade_free(s->x);
    cascade_free(s->y);
    cascade_free(s->xsorted);
    cascade_free(s->ysorted);
    cascade_free(s->tmp);
    memset(s, 0, sizeof *s);
}

/* A dataset view of n samples in x (for the normalisation and label helpers). */
static cascade_dataset view(const cascade_stream *s, float *x, float *y, int64_t n) {
    cascade_dataset d = s->shape;
    d.x = x;
    d.y = y;
    d.n = n;
    return d;
}

cascade_dataset cascade_stream_view(const cascade_stream *s, int64_t n) { return view(s, s->x, s->y, n); }

/* Statistics over the training rows (inputs, or targets when `targets`): rank r reads block
 * r of them, 1024 rows at a time (the same number of collective reads on every rank, the
 * last ones possibly empty), and adds them to the exact accumulators (data.h); two passes. */
static cascade_status stream_stats(cascade_stream *s, const cascade_job *job, int targets, cascade_norm_stats *out) {
    int64_t block = 1024, n = s->shape.n, xs = cascade_shape_numel(&s->shape.x_shape);
    int64_t ys = cascade_shape_numel(&s->shape.y_shape), lo, hi;
    int size = cascade_par_size(s->comm);
    cascade_par_block(n, cascade_par_rank(s->comm), size, &lo, &hi);
    int64_t rounds = ((n + size - 1) / size + block - 1) / block;
    float *x = cascade_alloc((size_t)(block * xs) * sizeof(float), "normalisation pass");
    float *y = cascade_alloc((size_t)(block * ys) * sizeof(float), "normalisation pass");
    float *tmp = cascade_alloc((size_t)(block * s->src.max_numel) * sizeof(float), "normalisation pass");
    cascade_norm_acc a = {0};
    cascade_status st = x && y && tmp ? cascade_norm_acc_init(&a, targets ? ys : s->shape.n_stats) : CASCADE_EINTERNAL;
    st = cascade_par_agree(s->comm, st, NULL, NULL, "allocating the normalisation pass");
    for (int pass = 0; pass < 2 && !st; pass++) {
        for (int64_t r = 0; r < rounds && !st; r++) {
            int64_t b = lo + r * block < hi ? lo + r * block : hi, m = hi - b < block ? hi - b : block;
            st = cascade_source_read(job, &s->src, s->rows ? s->rows + b : NULL, b, m, x, targets ? y : NULL, tmp);
            /* a data error on one rank stops all before the next collective read */
            st = cascade_par_agree(s->comm, st, NULL, NULL, "reading the normalisation pass");
            cascade_dataset d = view(s, x, y, m);
            if (!st && targets) cascade_norm_acc_y(&a, &d);
            else if (!st) cascade_norm_acc_x(&a, job, &d);
        }
        if (!st) st = cascade_norm_acc_combine(&a, s->comm, s->shape.file, out);
    }
    cascade_norm_acc_free(&a);
    cascade_free(x), cascade_free(y), cascade_free(tmp);
    return st;
}

cascade_status cascade_stream_norm(cascade_stream *s, const cascade_job *job, cascade_norm_stats *norm) {
    return stream_stats(s, job, 0, norm);
}

cascade_status cascade_stream_tnorm(cascade_stream *s, const cascade_job *job, cascade_norm_stats *tnorm) {
    return stream_stats(s, job, 1, tnorm);
}

static int by_row(const void *a, const void *b, void *rows) {
    int64_t x = ((const int64_t *)rows)[*(const int64_t *)a], y = ((const int64_t *)rows)[*(const int64_t *)b];
    return (x > y) - (x < y);
}

cascade_status cascade_stream_fetch(cascade_stream *s, const cascade_job *job, const int64_t *samples, int64_t n,
                                    const cascade_norm_stats *norm, const cascade_norm_stats *tnorm) {
    int64_t xs = cascade_shape_numel(&s->shape.x_shape), ys = cascade_shape_numel(&s->shape.y_shape);
    for (int64_t q = 0; q < n; q++) {
        s->fetch_order[q] = q;
        s->fetch_rows[q] = s->rows ? s->rows[samples[q]] : samples[q];
    }
    qsort_r(s->fetch_order, (size_t)n, sizeof(int64_t), by_row, s->fetch_rows);
    /* rows in increasing order for HDF5 (the permutation has no repeats) */
    int64_t *sorted = s->fetch_order + n;
    for (int64_t j = 0; j < n; j++) sorted[j] = s->fetch_rows[s->fetch_order[j]];
    CASCADE_TRY(cascade_source_read(job, &s->src, sorted, 0, n, s->xsorted, s->ysorted, s->tmp));
    for (int64_t j = 0; j < n; j++) {
        int64_t q = s->fetch_order[j];
        memcpy(s->x + q * xs, s->xsorted + j * xs, (size_t)xs * sizeof(float));
        memcpy(s->y + q * ys, s->ysorted + j * ys, (size_t)ys * sizeof(float));
    }
    cascade_dataset d = view(s, s->x, s->y, n);
    if (job->normalize == NORM_STANDARD) cascade_norm_apply(job, norm, &d);
    if (job->normalize_targets == NORM_STANDARD) cascade_tnorm_apply(tnorm, s->y, n, 0);
    return CASCADE_OK;
}
