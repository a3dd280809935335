#define _GNU_SOURCE /* qsort_r */
/* Streaming input: when the training set exceeds memory_budget_mb, each step every rank
 * reads just the samples of its own micro-batches with one collective read per data set
 * (rows sorted for HDF5, then put back in micro-batch order). The global Philox permutation
 * still decides which sample goes to which step, so results do not depend on the mode or
 * the rank count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/session.h"

cascade_status cascade_stream_open(cascade_session *s, int64_t *rows, int64_t n_rows) {
    cascade_job *job = s->job;
    CASCADE_TRY(cascade_source_open(job, job->train, 1, s->comm, &s->src));
    s->streaming = 1;
    s->train_rows = rows;
    s->train = s->src.shape; /* shapes; x and y stay NULL */
    s->train.n = rows ? n_rows : s->src.total;
    int64_t nmb = job->batch / job->micro_batch;
    int64_t most = (nmb + s->size - 1) / s->size * job->micro_batch; /* samples per rank and step */
    int64_t xs = cascade_shape_numel(&s->train.x_shape), ys = cascade_shape_numel(&s->train.y_shape);
    s->fetch_rows = malloc((size_t)most * sizeof(int64_t));
    s->fetch_order = malloc((size_t)(2 * most) * sizeof(int64_t)); /* order, then the sorted rows */
    s->xloc = cascade_alloc((size_t)(most * xs) * sizeof(float), "streamed inputs");
    s->yloc = cascade_alloc((size_t)(most * ys) * sizeof(float), "streamed targets");
    s->xsorted = cascade_alloc((size_t)(most * xs) * sizeof(float), "streamed inputs");
    s->ysorted = cascade_alloc((size_t)(most * ys) * sizeof(float), "streamed targets");
    s->fetch_tmp = cascade_alloc((size_t)(most * s->src.max_numel) * sizeof(float), "read buffer");
    if (!s->fetch_rows || !s->fetch_order || !s->xloc || !s->yloc || !s->xsorted || !s->ysorted || !s->fetch_tmp)
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for streaming buffers");
    return CASCADE_OK;
}

void cascade_stream_close(cascade_session *s) {
    if (!s->streaming) return;
    cascade_source_close(&s->src);
    free(s->train_rows);
    free(s->fetch_rows);
    free(s->fetch_order);
    cascade_free(s->xloc);
    cascade_free(s->yloc);
    cascade_free(s->xsorted);
    cascade_free(s->ysorted);
    cascade_free(s->fetch_tmp);
    s->streaming = 0;
}

/* A dataset view of n samples in x (for the normalisation and label helpers). */
static cascade_dataset view(const cascade_session *s, float *x, float *y, int64_t n) {
    cascade_dataset d = s->train;
    d.x = x;
    d.y = y;
    d.n = n;
    return d;
}

/* Mean and standard deviation per channel/feature over the training rows, read in blocks:
 * sums in double in a fixed order (every rank computes the same). */
cascade_status cascade_stream_norm(cascade_session *s) {
    cascade_job *job = s->job;
    int64_t block = 1024, n = s->train.n, xs = cascade_shape_numel(&s->train.x_shape);
    int64_t k = s->train.n_stats;
    double *sum = calloc((size_t)k, sizeof(double)), *sq = calloc((size_t)k, sizeof(double));
    double *cnt = calloc((size_t)k, sizeof(double));
    float *x = cascade_alloc((size_t)(block * xs) * sizeof(float), "normalisation pass");
    float *tmp = cascade_alloc((size_t)(block * s->src.max_numel) * sizeof(float), "normalisation pass");
    cascade_status st = CASCADE_OK;
    if (!sum || !sq || !cnt || !x || !tmp) st = cascade_fail(CASCADE_EINTERNAL, "out of memory");
    for (int pass = 0; pass < 2 && !st; pass++) { /* mean, then squared deviations */
        for (int64_t b = 0; b < n && !st; b += block) {
            int64_t m = n - b < block ? n - b : block;
            st = cascade_source_read(job, &s->src, s->train_rows ? s->train_rows + b : NULL, b, m, x, NULL, tmp);
            if (st) break;
            cascade_dataset d = view(s, x, NULL, m);
            /* per-block sums through the same per-channel walk as the in-memory path */
            for (int64_t j = 0; j < k; j++) {
                double bs = 0, bc = 0;
                cascade_norm_sums(job, &d, j, pass ? sum[j] / cnt[j] : 0, pass, &bs, &bc);
                if (pass == 0) sum[j] += bs, cnt[j] += bc;
                else sq[j] += bs;
            }
        }
    }
    if (!st) st = cascade_norm_init(&s->norm, k);
    if (!st) {
        for (int64_t j = 0; j < k; j++) {
            double mean = sum[j] / cnt[j], sd = sqrt(sq[j] / cnt[j]);
            s->norm.mean[j] = (float)mean;
            s->norm.std[j] = (float)(sd > 1e-12 ? sd : 1.0);
        }
    }
    free(sum), free(sq), free(cnt);
    cascade_free(x);
    cascade_free(tmp);
    return st;
}

static int by_row(const void *a, const void *b, void *rows) {
    int64_t x = ((const int64_t *)rows)[*(const int64_t *)a], y = ((const int64_t *)rows)[*(const int64_t *)b];
    return (x > y) - (x < y);
}

cascade_status cascade_stream_fetch(cascade_session *s, int64_t first, int64_t last) {
    cascade_job *job = s->job;
    int64_t mb = job->micro_batch, n = (last - first) * mb;
    int64_t xs = cascade_shape_numel(&s->train.x_shape), ys = cascade_shape_numel(&s->train.y_shape);
    for (int64_t q = 0; q < n; q++) {
        int64_t sample = s->perm[s->prog.cursor + first * mb + q];
        s->fetch_order[q] = q;
        s->fetch_rows[q] = s->train_rows ? s->train_rows[sample] : sample;
    }
    qsort_r(s->fetch_order, (size_t)n, sizeof(int64_t), by_row, s->fetch_rows);
    /* rows in increasing order for HDF5 (the permutation has no repeats) */
    int64_t *sorted = s->fetch_order + n;
    for (int64_t j = 0; j < n; j++) sorted[j] = s->fetch_rows[s->fetch_order[j]];
    CASCADE_TRY(cascade_source_read(job, &s->src, sorted, 0, n, s->xsorted, s->ysorted, s->fetch_tmp));
    for (int64_t j = 0; j < n; j++) {
        int64_t q = s->fetch_order[j];
        memcpy(s->xloc + q * xs, s->xsorted + j * xs, (size_t)xs * sizeof(float));
        memcpy(s->yloc + q * ys, s->ysorted + j * ys, (size_t)ys * sizeof(float));
    }
    cascade_dataset d = view(s, s->xloc, s->yloc, n);
    if (job->normalize == NORM_STANDARD) cascade_norm_apply(job, &s->norm, &d);
    if (job->normalize_targets == NORM_STANDARD) cascade_tnorm_apply(&s->tnorm, s->yloc, n, 0);
    return cascade_model_check_labels(job, &d, s->classes);
}

/* Target standardisation over the training rows, read in blocks (fixed order). */
cascade_status cascade_stream_tnorm(cascade_session *s) {
    cascade_job *job = s->job;
    int64_t block = 1024, n = s->train.n, xs = cascade_shape_numel(&s->train.x_shape);
    int64_t ys = cascade_shape_numel(&s->train.y_shape);
    double *sum = calloc((size_t)ys, sizeof(double)), *sq = calloc((size_t)ys, sizeof(double));
    float *x = cascade_alloc((size_t)(block * xs) * sizeof(float), "normalisation pass");
    float *y = cascade_alloc((size_t)(block * ys) * sizeof(float), "normalisation pass");
    float *tmp = cascade_alloc((size_t)(block * s->src.max_numel) * sizeof(float), "normalisation pass");
    cascade_status st = sum && sq && x && y && tmp ? cascade_norm_init(&s->tnorm, ys)
                                                   : cascade_fail(CASCADE_EINTERNAL, "out of memory");
    for (int pass = 0; pass < 2 && !st; pass++) {
        for (int64_t b = 0; b < n && !st; b += block) {
            int64_t m = n - b < block ? n - b : block;
            st = cascade_source_read(job, &s->src, s->train_rows ? s->train_rows + b : NULL, b, m, x, y, tmp);
            for (int64_t i = 0; !st && i < m; i++)
                for (int64_t j = 0; j < ys; j++) {
                    double v = y[i * ys + j];
                    if (pass == 0) sum[j] += v;
                    else sq[j] += (v - sum[j] / (double)n) * (v - sum[j] / (double)n);
                }
        }
    }
    for (int64_t j = 0; !st && j < ys; j++) {
        double sd = sqrt(sq[j] / (double)n);
        s->tnorm.mean[j] = (float)(sum[j] / (double)n);
        s->tnorm.std[j] = (float)(sd > 1e-12 ? sd : 1.0);
    }
    free(sum), free(sq);
    cascade_free(x), cascade_free(y), cascade_free(tmp);
    return st;
}
