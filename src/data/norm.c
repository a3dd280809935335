/* Normalisation statistics: per channel/feature mean and std of the inputs, per column of
 * the targets (see data.h), and applying them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "parallel/parallel.h"

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

void cascade_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d) {
    for (int64_t k = 0; k < d->n_stats && k < s->n; k++) {
        double m = s->mean[k], inv = 1.0 / s->std[k];
        FOR_STAT_ELEMENTS(d, k, { *v = (float)((*v - m) * inv); });
    }
}

void cascade_tnorm_apply(const cascade_norm_stats *s, float *y, int64_t n, int inverse) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s->n; j++) {
            float *v = &y[i * s->n + j];
            *v = inverse ? (float)(*v * s->std[j] + s->mean[j]) : (float)((*v - s->mean[j]) / s->std[j]);
        }
}

/* ---- exact, rank-invariant accumulation (data.h) ---- */

#define NB CASCADE_NORM_BINS
#define LIMBS 12 /* 32-bit limbs of a pass-0 sum in units of 2^-149: bits 0 .. 253 + 64 */

cascade_status cascade_norm_acc_init(cascade_norm_acc *a, int64_t n) {
    memset(a, 0, sizeof *a);
    size_t m = (size_t)(n ? n : 1);
    a->n = n;
    a->bins = calloc(m * NB, sizeof(int64_t));
    a->ext = malloc(6 * m * sizeof(double));
    a->mean = calloc(m, sizeof(double));
    a->scale = calloc(m, sizeof(double));
    a->sq = calloc(2 * m, sizeof(uint64_t));
    a->digits = calloc(3 * m, sizeof(int64_t));
    if (!a->bins || !a->ext || !a->mean || !a->scale || !a->sq || !a->digits) {
        cascade_norm_acc_free(a);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for %lld normalisation statistics", (long long)n);
    }
    for (int64_t k = 0; k < 2 * n; k++) a->ext[k] = -INFINITY; /* max of v, max of -v */
    return CASCADE_OK;
}

void cascade_norm_acc_free(cascade_norm_acc *a) {
    free(a->bins), free(a->ext), free(a->mean), free(a->scale), free(a->sq), free(a->digits);
    memset(a, 0, sizeof *a);
}

/* Pass 0, one value: its signed 24-bit significand into the bin of its exponent (exact in
 * int64 for 2^39 terms), NaN/Inf counted; the extremes for pass 1's scale. */
static inline void add_value(int64_t *b, double *hi, double *neg_lo, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint32_t e = (u >> 23) & 0xff;
    int64_t m = (int64_t)(u & 0x7fffff) | (e ? 0x800000 : 0);
    if (e == 0xff) {
        b[255]++;
    } else {
        b[e] += u >> 31 ? -m : m;
        if (v > *hi) *hi = v;
        if (-v > *neg_lo) *neg_lo = -v;
    }
    b[256]++;
}

/* Pass 1, one value: (v - mean)^2 x scale (< 2^62) truncated to an integer, into 128 bits. */
static inline void add_square(uint64_t *sq, double mean, double scale, float v) {
    double d = (double)v - mean;
    uint64_t q = (uint64_t)(d * d * scale);
    sq[0] += q;
    sq[1] += sq[0] < q;
}

void cascade_norm_acc_x(cascade_norm_acc *a, const cascade_job *job, const cascade_dataset *d) {
    /* statistics are independent: one thread per statistic keeps every sum's order fixed */
#pragma omp parallel for schedule(dynamic, 1) if (a->n > 1 && d->n > 64)
    for (int64_t k = 0; k < a->n; k++) {
        if (a->pass == 0) {
            int64_t *b = a->bins + k * NB;
            double hi = a->ext[k], neg_lo = a->ext[a->n + k];
            FOR_STAT_ELEMENTS(d, k, add_value(b, &hi, &neg_lo, *v));
            a->ext[k] = hi, a->ext[a->n + k] = neg_lo;
        } else {
            uint64_t sq[2] = {a->sq[2 * k], a->sq[2 * k + 1]};
            double mean = a->mean[k], scale = a->scale[k];
            FOR_STAT_ELEMENTS(d, k, add_square(sq, mean, scale, *v));
            a->sq[2 * k] = sq[0], a->sq[2 * k + 1] = sq[1];
        }
    }
}

void cascade_norm_acc_y(cascade_norm_acc *a, const cascade_dataset *d) {
    int64_t ys = a->n;
#pragma omp parallel for schedule(dynamic, 1) if (a->n > 1 && d->n > 64)
    for (int64_t j = 0; j < ys; j++) {
        if (a->pass == 0) {
            double hi = a->ext[j], neg_lo = a->ext[a->n + j];
            for (int64_t i = 0; i < d->n; i++) add_value(a->bins + j * NB, &hi, &neg_lo, d->y[i * ys + j]);
            a->ext[j] = hi, a->ext[a->n + j] = neg_lo;
        } else {
            for (int64_t i = 0; i < d->n; i++) add_square(a->sq + 2 * j, a->mean[j], a->scale[j], d->y[i * ys + j]);
        }
    }
}

/* Sum of limbs[j] 2^(32 j + low) from the top down with an error-free (TwoSum) compensation:
 * after carrying, the limbs are a function of the exact value alone, so is the result. */
static double limbs_value(int64_t *limb, int n, int low) {
    for (int j = 0; j < n - 1; j++) {
        int64_t c = limb[j] >> 32; /* arithmetic shift: floor */
        limb[j] -= c * (int64_t)(1LL << 32);
        limb[j + 1] += c;
    }
    double s = 0, comp = 0;
    for (int j = n - 1; j >= 0; j--) {
        double p = ldexp((double)limb[j], 32 * j + low), t = s + p, bp = t - s;
        comp += (s - (t - bp)) + (p - bp);
        s = t;
    }
    return s + comp;
}

/* The exact pass-0 sum: bin e holds significands of weight 2^(max(e, 1) - 150). */
static double bins_value(const int64_t *b) {
    int64_t limb[LIMBS] = {0};
    for (int e = 0; e < 255; e++) {
        if (!b[e]) continue;
        int pos = (e ? e : 1) - 1, k = pos / 32;
        __int128 v = (__int128)b[e] * ((__int128)1 << (pos % 32)); /* |v| < 2^95 */
        for (int j = 0; j < 3; j++, v >>= 32) limb[k + j] += (int64_t)(v & 0xffffffff);
        limb[k + 3] += (int64_t)v;
    }
    return limbs_value(limb, LIMBS, -149);
}

static cascade_status combine_pass0(cascade_norm_acc *a, MPI_Comm comm, const char *what) {
    int64_t n = a->n;
    CASCADE_TRY(cascade_par_sum_int64(comm, a->bins, n * NB));
    CASCADE_TRY(cascade_par_max_mean(comm, a->ext, (int)(2 * n), a->ext + 2 * n, a->ext + 4 * n));
    for (int64_t k = 0; k < n; k++) {
        const int64_t *b = a->bins + k * NB;
        if (b[255])
            return cascade_fail(CASCADE_EDATA, "%s: statistic %lld has %lld NaN/Inf values", what, (long long)k,
                                (long long)b[255]);
        double mean = b[256] ? bins_value(b) / (double)b[256] : 0;
        double hi = a->ext[2 * n + k], lo = -a->ext[3 * n + k], dev = fmax(hi - mean, mean - lo);
        int e = 0;
        if (dev > 0) frexp(dev, &e); /* every |v - mean| < 2^e */
        a->mean[k] = mean;
        a->scale[k] = ldexp(1.0, 62 - 2 * e > 1000 ? 1000 : 62 - 2 * e);
    }
    a->pass = 1;
    return CASCADE_OK;
}

cascade_status cascade_norm_acc_combine(cascade_norm_acc *a, MPI_Comm comm, const char *what,
                                        cascade_norm_stats *s) {
    if (a->pass == 0) return combine_pass0(a, comm, what);
    int64_t n = a->n, mask = (1LL << 48) - 1;
    for (int64_t k = 0; k < n; k++) { /* 128 bits as 48-bit digits: the sum over ranks stays exact */
        uint64_t lo = a->sq[2 * k], hi = a->sq[2 * k + 1];
        a->digits[3 * k] = (int64_t)(lo & (uint64_t)mask);
        a->digits[3 * k + 1] = (int64_t)(((lo >> 48) | (hi << 16)) & (uint64_t)mask);
        a->digits[3 * k + 2] = (int64_t)(hi >> 32);
    }
    CASCADE_TRY(cascade_par_sum_int64(comm, a->digits, 3 * n));
    CASCADE_TRY(cascade_norm_init(s, n));
    for (int64_t k = 0; k < n; k++) {
        int64_t limb[6] = {0}; /* 48-bit digits (< 2^63 summed) to 32-bit limbs */
        for (int j = 0; j < 3; j++) {
            int pos = 48 * j;
            __int128 v = (__int128)a->digits[3 * k + j] << (pos % 32);
            for (int i = 0; i < 2; i++, v >>= 32) limb[pos / 32 + i] += (int64_t)(v & 0xffffffff);
            limb[pos / 32 + 2] += (int64_t)v;
        }
        int64_t count = a->bins[k * NB + 256];
        double sum = limbs_value(limb, 6, 0) / a->scale[k], sd = count ? sqrt(sum / (double)count) : 0;
        /* rounded to float as stored in checkpoints, so a resumed run normalises identically */
        s->mean[k] = (float)a->mean[k];
        s->std[k] = (float)(sd > 1e-12 ? sd : 1.0); /* constant channel: only shift it */
    }
    return CASCADE_OK;
}

/* Both passes over this rank's block of the samples of d (x: inputs; else targets). */
static cascade_status compute(const cascade_job *job, const cascade_dataset *d, MPI_Comm comm, int x,
                              cascade_norm_stats *s) {
    int64_t lo, hi, xs = cascade_shape_numel(&d->x_shape), ys = cascade_shape_numel(&d->y_shape);
    cascade_par_block(d->n, cascade_par_rank(comm), cascade_par_size(comm), &lo, &hi);
    cascade_dataset mine = *d;
    mine.n = hi - lo;
    if (mine.x) mine.x += lo * xs;
    if (mine.y) mine.y += lo * ys;
    cascade_norm_acc a;
    CASCADE_TRY(cascade_norm_acc_init(&a, x ? d->n_stats : ys));
    cascade_status st = CASCADE_OK;
    for (int pass = 0; pass < 2 && !st; pass++) {
        if (x) cascade_norm_acc_x(&a, job, &mine);
        else cascade_norm_acc_y(&a, &mine);
        st = cascade_norm_acc_combine(&a, comm, d->file, s);
    }
    cascade_norm_acc_free(&a);
    return st;
}

cascade_status cascade_norm_compute(const cascade_job *job, const cascade_dataset *d, MPI_Comm comm,
                                    cascade_norm_stats *s) {
    return compute(job, d, comm, 1, s);
}

cascade_status cascade_tnorm_compute(const cascade_dataset *d, MPI_Comm comm, cascade_norm_stats *s) {
    return compute(NULL, d, comm, 0, s);
}
