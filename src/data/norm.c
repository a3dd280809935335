/* Normalisation statistics: per channel/feature mean and std of the inputs, per column of
 * the targets (see data.h), and applying them. */
#include <math.h>
#include <stdlib.h>

#include "data/data.h"

/* Visits every element of statistic k: calls fn(value pointer). Channels: a contiguous block
 * per sample; features: a strided column. */
#define FOR_STAT_ELEMENTS(d, k, body)                                                             \
    do {                                                                                          \
        int64_t xs_ = cascade_shape_numel(&(d)->x_shape);                                         \
        if ((d)->x_shape.ndim && job->layout == LAYOUT_CHANNELS) {                                \
            int64_t blk_ = xs_ / (d)->x_shape.d[0];                                               \
            for (int64_t s_ = 0; s_ < (d)->n; s_++)                                               \
                for (int64_t e_ = 0; e_ < blk_; e_++) {                                           \
                    float *v = (d)->x + s_ * xs_ + (k) * blk_ + e_;                               \
                    body;                                                                         \
                }                                                                                 \
        } else {                                                                                  \
            int64_t w_ = (d)->x_shape.d[(d)->x_shape.ndim - 1];                                   \
            for (int64_t r_ = 0; r_ < (d)->n * (xs_ / w_); r_++) {                                \
                float *v = (d)->x + r_ * w_ + (k);                                                \
                body;                                                                             \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void cascade_norm_sums(const cascade_job *job, const cascade_dataset *d, int64_t k, double mean, int squares,
                       double *sum, double *count) {
    double acc = 0;
    int64_t cnt = 0;
    if (squares)
        FOR_STAT_ELEMENTS(d, k, { acc += (*v - mean) * (*v - mean); cnt++; });
    else
        FOR_STAT_ELEMENTS(d, k, { acc += *v; cnt++; });
    *sum = acc;
    *count = (double)cnt;
}

cascade_status cascade_norm_init(cascade_norm_stats *s, int64_t n) {
    cascade_norm_free(s);
    s->mean = calloc((size_t)(n ? n : 1), sizeof(double));
    s->std = calloc((size_t)(n ? n : 1), sizeof(double));
    if (!s->mean || !s->std) {
        cascade_norm_free(s);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for %lld normalisation statistics", (long long)n);
    }
    s->n = n;
    return CASCADE_OK;
}

void cascade_norm_free(cascade_norm_stats *s) {
    free(s->mean);
    free(s->std);
    s->mean = s->std = NULL;
    s->n = 0;
}

cascade_status cascade_norm_compute(const cascade_job *job, const cascade_dataset *d,
                                    cascade_norm_stats *s) {
    CASCADE_TRY(cascade_norm_init(s, d->n_stats));
    for (int64_t k = 0; k < d->n_stats; k++) {
        double sum, sq, cnt;
        cascade_norm_sums(job, d, k, 0, 0, &sum, &cnt);
        double mean = sum / cnt;
        cascade_norm_sums(job, d, k, mean, 1, &sq, &cnt);
        double sd = sqrt(sq / cnt);
        /* rounded to float as stored in checkpoints, so a resumed run normalises identically */
        s->mean[k] = (float)mean;
        s->std[k] = (float)(sd > 1e-12 ? sd : 1.0); /* constant channel: only shift it */
    }
    return CASCADE_OK;
}

void cascade_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d) {
    for (int64_t k = 0; k < d->n_stats && k < s->n; k++) {
        double m = s->mean[k], inv = 1.0 / s->std[k];
        FOR_STAT_ELEMENTS(d, k, { *v = (float)((*v - m) * inv); });
    }
}

cascade_status cascade_tnorm_compute(const cascade_dataset *d, cascade_norm_stats *s) {
    int64_t ys = cascade_shape_numel(&d->y_shape);
    CASCADE_TRY(cascade_norm_init(s, ys));
    for (int64_t j = 0; j < ys; j++) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < d->n; i++) sum += d->y[i * ys + j];
        double mean = sum / (double)d->n;
        for (int64_t i = 0; i < d->n; i++) sq += (d->y[i * ys + j] - mean) * (d->y[i * ys + j] - mean);
        double sd = sqrt(sq / (double)d->n);
        s->mean[j] = (float)mean;
        s->std[j] = (float)(sd > 1e-12 ? sd : 1.0);
    }
    return CASCADE_OK;
}

void cascade_tnorm_apply(const cascade_norm_stats *s, float *y, int64_t n, int inverse) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s->n; j++) {
            float *v = &y[i * s->n + j];
            *v = inverse ? (float)(*v * s->std[j] + s->mean[j]) : (float)((*v - s->mean[j]) / s->std[j]);
        }
}
