/* In-memory data sets read through src/io (see data.h). */
#include "train/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/h5io.h"

static cascade_status info_all(const cascade_job *job, cascade_h5file *f, int want_targets,
                               cascade_h5_info *in, cascade_h5_info *tg) {
    for (int i = 0; i < job->n_inputs; i++) CASCADE_TRY(cascade_h5_info_of(f, job->inputs[i], &in[i]));
    if (want_targets)
        for (int i = 0; i < job->n_targets; i++) CASCADE_TRY(cascade_h5_info_of(f, job->targets[i], &tg[i]));
    int64_t n = in[0].shape.ndim ? in[0].shape.d[0] : -1;
    char a[128], b[128];
    for (int i = 0; i < job->n_inputs + (want_targets ? job->n_targets : 0); i++) {
        const cascade_h5_info *x = i < job->n_inputs ? &in[i] : &tg[i - job->n_inputs];
        if (x->shape.ndim < 1)
            return cascade_fail(CASCADE_EDATA, "%s: data set '%s' is a scalar; expected (N, ...) samples",
                                cascade_h5_filename(f), x->name);
        if (x->shape.d[0] != n)
            return cascade_fail(CASCADE_EDATA, "%s: data set '%s' has %lld samples %s but '%s' has %lld %s",
                                cascade_h5_filename(f), x->name, (long long)x->shape.d[0],
                                cascade_shape_str(&x->shape, a, sizeof a), in[0].name, (long long)n,
                                cascade_shape_str(&in[0].shape, b, sizeof b));
    }
    return CASCADE_OK;
}

cascade_status cascade_data_count(const cascade_job *job, const char *path, int want_targets,
                                  MPI_Comm comm, int64_t *n) {
    cascade_h5file *f;
    cascade_h5_info in[CASCADE_MAX_NAMES], tg[CASCADE_MAX_NAMES];
    CASCADE_TRY(cascade_h5_open(path, comm, &f));
    cascade_status st = info_all(job, f, want_targets, in, tg);
    if (!st) *n = in[0].shape.d[0];
    cascade_h5_close(f);
    return st;
}

/* Per-sample shape of a data set (drops axis 0). */
static cascade_shape sample_shape(const cascade_h5_info *x) {
    return cascade_shape_make(x->shape.ndim - 1, x->shape.d + 1);
}

static cascade_status stacked_shape(const cascade_job *job, const char *file, const cascade_h5_info *in,
                                    cascade_dataset *d) {
    char a[128], b[128];
    cascade_shape s0 = sample_shape(&in[0]);
    if (job->layout == LAYOUT_CHANNELS) {
        for (int i = 1; i < job->n_inputs; i++) {
            cascade_shape si = sample_shape(&in[i]);
            if (!cascade_shape_equal(&si, &s0))
                return cascade_fail(CASCADE_EDATA,
                                    "%s: inputs '%s' %s and '%s' %s cannot be stacked as channels "
                                    "(per-sample shapes differ; layout = features concatenates the last axis)",
                                    file, in[0].name, cascade_shape_str(&in[0].shape, a, sizeof a), in[i].name,
                                    cascade_shape_str(&in[i].shape, b, sizeof b));
        }
        if (s0.ndim + 1 > CASCADE_MAX_DIMS)
            return cascade_fail(CASCADE_EDATA, "%s: input '%s' %s has too many axes", file, in[0].name,
                                cascade_shape_str(&in[0].shape, a, sizeof a));
        d->x_shape.ndim = s0.ndim + 1;
        d->x_shape.d[0] = job->n_inputs;
        for (int k = 0; k < s0.ndim; k++) d->x_shape.d[k + 1] = s0.d[k];
        d->n_stats = job->n_inputs;
        for (int i = 0; i < job->n_inputs; i++) d->stat_owner[i] = i;
        return CASCADE_OK;
    }
    /* features: (N,) counts as one feature; otherwise concatenate the last axis */
    int nd = s0.ndim ? s0.ndim : 1;
    d->x_shape = s0.ndim ? s0 : cascade_shape_make(1, (int64_t[]){1});
    d->x_shape.d[nd - 1] = 0;
    d->n_stats = 0;
    for (int i = 0; i < job->n_inputs; i++) {
        cascade_shape si = sample_shape(&in[i]);
        if (si.ndim == 0) si = cascade_shape_make(1, (int64_t[]){1});
        int same = si.ndim == nd;
        for (int k = 0; same && k < nd - 1; k++) same = si.d[k] == d->x_shape.d[k];
        if (!same)
            return cascade_fail(CASCADE_EDATA,
                                "%s: inputs '%s' %s and '%s' %s cannot be concatenated on the last axis",
                                file, in[0].name, cascade_shape_str(&in[0].shape, a, sizeof a), in[i].name,
                                cascade_shape_str(&in[i].shape, b, sizeof b));
        for (int64_t f = 0; f < si.d[nd - 1]; f++) {
            if (d->n_stats >= 256)
                return cascade_fail(CASCADE_EDATA, "%s: more than 256 input features", file);
            d->stat_owner[d->n_stats++] = i;
        }
        d->x_shape.d[nd - 1] += si.d[nd - 1];
    }
    return CASCADE_OK;
}

static cascade_status read_set(cascade_h5file *f, const char *name, const int64_t *rows, int64_t n,
                               int64_t first, int64_t numel, float *buf) {
    cascade_status st = rows ? cascade_h5_read_rows_at(f, name, rows, n, buf)
                             : cascade_h5_read_rows(f, name, first, n, buf);
    if (st) return st;
    return cascade_h5_check_finite(cascade_h5_filename(f), name, buf, n, numel, first, rows);
}

cascade_status cascade_data_load(const cascade_job *job, const char *path, int want_targets,
                                 const int64_t *rows, int64_t n_rows, MPI_Comm comm,
                                 cascade_dataset *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->file, sizeof d->file, "%s", path);
    cascade_h5file *f;
    cascade_h5_info in[CASCADE_MAX_NAMES], tg[CASCADE_MAX_NAMES];
    float *tmp = NULL;
    CASCADE_TRY(cascade_h5_open(path, comm, &f));
    cascade_status st = info_all(job, f, want_targets, in, tg);
    if (!st) st = stacked_shape(job, path, in, d);
    if (st) goto done;
    int64_t total = in[0].shape.d[0];
    d->n = rows ? n_rows : total;
    if (d->n == 0) {
        st = cascade_fail(CASCADE_EDATA, "%s: no samples in '%s'", path, in[0].name);
        goto done;
    }
    d->n_inputs = job->n_inputs;
    int64_t xs = cascade_shape_numel(&d->x_shape);
    d->x = cascade_alloc((size_t)(d->n * xs) * sizeof(float), "input data");
    if (!d->x) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    /* read each input whole, then interleave into x */
    int64_t off = 0; /* channel offset (channels) or feature offset (features) */
    for (int i = 0; i < job->n_inputs && !st; i++) {
        cascade_shape si = sample_shape(&in[i]);
        int64_t numel = cascade_shape_numel(&si);
        d->in_numel[i] = numel;
        cascade_free(tmp);
        tmp = cascade_alloc((size_t)(d->n * numel) * sizeof(float), "input data set");
        if (!tmp) {
            st = CASCADE_EINTERNAL;
            break;
        }
        st = read_set(f, job->inputs[i], rows, d->n, 0, numel, tmp);
        if (st) break;
        if (job->layout == LAYOUT_CHANNELS) {
            for (int64_t s = 0; s < d->n; s++)
                memcpy(d->x + s * xs + i * numel, tmp + s * numel, (size_t)numel * sizeof(float));
        } else {
            int64_t width = si.ndim ? si.d[si.ndim - 1] : 1, total_w = d->x_shape.d[d->x_shape.ndim - 1];
            int64_t lead = numel / width;
            for (int64_t s = 0; s < d->n; s++)
                for (int64_t r = 0; r < lead; r++)
                    memcpy(d->x + s * xs + r * total_w + off, tmp + s * numel + r * width,
                           (size_t)width * sizeof(float));
            off += width;
        }
    }
    if (st || !want_targets) goto done;
    /* targets: one data set keeps its per-sample shape ((1) for scalars); several are
     * flattened and concatenated */
    int64_t ys = 0;
    for (int i = 0; i < job->n_targets; i++) {
        cascade_shape si = sample_shape(&tg[i]);
        ys += cascade_shape_numel(&si);
    }
    cascade_shape s0 = sample_shape(&tg[0]);
    if (job->n_targets == 1 && s0.ndim > 0)
        d->y_shape = s0;
    else
        d->y_shape = cascade_shape_make(1, (int64_t[]){ys});
    d->y = cascade_alloc((size_t)(d->n * ys) * sizeof(float), "target data");
    if (!d->y) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    off = 0;
    for (int i = 0; i < job->n_targets && !st; i++) {
        cascade_shape si = sample_shape(&tg[i]);
        int64_t numel = cascade_shape_numel(&si);
        cascade_free(tmp);
        tmp = cascade_alloc((size_t)(d->n * numel) * sizeof(float), "target data set");
        if (!tmp) {
            st = CASCADE_EINTERNAL;
            break;
        }
        st = read_set(f, job->targets[i], rows, d->n, 0, numel, tmp);
        for (int64_t s = 0; s < d->n && !st; s++)
            memcpy(d->y + s * ys + off, tmp + s * numel, (size_t)numel * sizeof(float));
        off += numel;
    }
done:
    cascade_free(tmp);
    cascade_h5_close(f);
    if (st) cascade_data_free(d);
    return st;
}

void cascade_data_free(cascade_dataset *d) {
    cascade_free(d->x);
    cascade_free(d->y);
    d->x = d->y = NULL;
}

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

cascade_status cascade_norm_compute(const cascade_job *job, const cascade_dataset *d,
                                    cascade_norm_stats *s) {
    s->n = d->n_stats;
    for (int k = 0; k < d->n_stats; k++) {
        double sum = 0, sq = 0;
        int64_t cnt = 0;
        FOR_STAT_ELEMENTS(d, k, { sum += *v; cnt++; });
        double mean = sum / (double)cnt;
        FOR_STAT_ELEMENTS(d, k, { sq += (*v - mean) * (*v - mean); });
        double sd = sqrt(sq / (double)cnt);
        /* rounded to float as stored in checkpoints, so a resumed run normalises identically */
        s->mean[k] = (float)mean;
        s->std[k] = (float)(sd > 1e-12 ? sd : 1.0); /* constant channel: only shift it */
    }
    return CASCADE_OK;
}

void cascade_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d) {
    for (int k = 0; k < d->n_stats && k < s->n; k++) {
        double m = s->mean[k], inv = 1.0 / s->std[k];
        FOR_STAT_ELEMENTS(d, k, { *v = (float)((*v - m) * inv); });
    }
}

void cascade_data_gather(const cascade_dataset *d, const int64_t *idx, int m, float *x, float *y) {
    int64_t xs = cascade_shape_numel(&d->x_shape), ys = d->y ? cascade_shape_numel(&d->y_shape) : 0;
    for (int i = 0; i < m; i++) {
        memcpy(x + (int64_t)i * xs, d->x + idx[i] * xs, (size_t)xs * sizeof(float));
        if (y && d->y) memcpy(y + (int64_t)i * ys, d->y + idx[i] * ys, (size_t)ys * sizeof(float));
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

cascade_status cascade_data_split(const cascade_job *job, MPI_Comm comm, int64_t **rows, int64_t *n_train,
                                  int64_t *n_valid) {
    int64_t n;
    CASCADE_TRY(cascade_data_count(job, job->train, 1, comm, &n));
    int64_t nv = (int64_t)floor((double)n * job->valid_fraction);
    if (nv < 1 || nv >= n)
        return cascade_fail(CASCADE_EUSAGE, "valid_fraction = %g of %lld samples in %s leaves an empty split",
                            job->valid_fraction, (long long)n, job->train);
    int64_t *perm = malloc((size_t)n * sizeof(int64_t));
    if (!perm) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    cascade_permutation((uint64_t)job->seed, CASCADE_RNG_SPLIT, 0, n, perm);
    qsort(perm, (size_t)(n - nv), sizeof(int64_t), cmp_i64);
    qsort(perm + (n - nv), (size_t)nv, sizeof(int64_t), cmp_i64);
    *rows = perm;
    *n_train = n - nv;
    *n_valid = nv;
    return CASCADE_OK;
}
