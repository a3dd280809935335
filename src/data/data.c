/* In-memory data sets read through src/io (see data.h). */
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade/h5io.h"

static volatile sig_atomic_t *stop_flag; /* cascade_data_set_stop_flag */

void cascade_data_set_stop_flag(volatile sig_atomic_t *flag) { stop_flag = flag; }

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
        /* all rows in the file: never-written data would train as zeros */
        CASCADE_TRY(cascade_h5_check_stored(f, x->name));
    }
    return CASCADE_OK;
}

cascade_status cascade_data_count(const cascade_job *job, const char *path, int want_targets,
                                  MPI_Comm comm, int64_t *n) {
    cascade_h5file *f;
    cascade_h5_info in[CASCADE_MAX_NAMES], tg[CASCADE_MAX_NAMES];
    CASCADE_TRY(cascade_h5_open_data(path, comm, &f));
    cascade_status st = info_all(job, f, want_targets, in, tg);
    if (!st) *n = in[0].shape.d[0];
    cascade_h5_close(f);
    return st;
}

/* Per-sample shape of a data set (drops axis 0). */
static cascade_shape sample_shape(const cascade_h5_info *x) {
    return cascade_shape_make(x->shape.ndim - 1, x->shape.d + 1);
}

/* layout = features: how many features an input with per-sample shape si adds to an x of
 * nd axes (its last axis, or 1 when it has one axis fewer). */
static int64_t feature_width(const cascade_shape *si, int nd) {
    return si->ndim == nd && si->ndim ? si->d[si->ndim - 1] : 1;
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
        for (int i = 0; i <= job->n_inputs; i++) d->stat_start[i] = i;
        return CASCADE_OK;
    }
    /* features: concatenate the last axis. The input with the most axes gives the positions
     * (all axes but the last); an input with one axis fewer and those positions, e.g. time
     * (9,9) next to traces (9,9,80), or (N,) next to (N,F), is one feature per position. */
    const cascade_h5_info *ref = &in[0];
    for (int i = 1; i < job->n_inputs; i++)
        if (in[i].shape.ndim > ref->shape.ndim) ref = &in[i];
    cascade_shape sr = sample_shape(ref);
    int nd = sr.ndim ? sr.ndim : 1;
    d->x_shape = sr.ndim ? sr : cascade_shape_make(1, (int64_t[]){1});
    d->x_shape.d[nd - 1] = 0;
    d->n_stats = 0;
    for (int i = 0; i < job->n_inputs; i++) {
        cascade_shape si = sample_shape(&in[i]);
        int same = si.ndim == nd || si.ndim == nd - 1;
        for (int k = 0; same && k < nd - 1; k++) same = si.d[k] == d->x_shape.d[k];
        if (!same)
            return cascade_fail(CASCADE_EDATA,
                                "%s: inputs '%s' %s and '%s' %s cannot be concatenated on the last axis "
                                "(layout = features: the same leading axes, or one axis fewer for one "
                                "feature per position)",
                                file, ref->name, cascade_shape_str(&ref->shape, a, sizeof a), in[i].name,
                                cascade_shape_str(&in[i].shape, b, sizeof b));
        int64_t width = feature_width(&si, nd);
        d->stat_start[i] = d->n_stats;
        d->n_stats += width;
        d->stat_start[i + 1] = d->n_stats;
        d->x_shape.d[nd - 1] += width;
    }
    return CASCADE_OK;
}

/* The collective read (its failure agreed by src/io), then the local finiteness check into
 * *bad: a rank that finds a bad row in its rows still takes part in the reads that follow. */
static cascade_status read_set(cascade_h5file *f, const char *name, const int64_t *rows, int64_t n, int64_t first,
                               int64_t numel, float *buf, cascade_status *bad) {
    cascade_status st = rows ? cascade_h5_read_rows_at(f, name, rows, n, buf)
                             : cascade_h5_read_rows(f, name, first, n, buf);
    if (st) return st;
    if (!*bad) *bad = cascade_h5_check_finite(cascade_h5_filename(f), name, buf, n, numel, first, rows);
    return CASCADE_OK;
}

/* log_inputs: x -> log10(1 + x); a negative value is a data error naming its row. */
cascade_status cascade_source_log_input(const cascade_job *job, int input, const cascade_source *src, const int64_t *rows,
                                       int64_t first, int64_t n, int64_t numel, float *v) {
    int wanted = 0;
    for (int k = 0; k < job->n_log_inputs; k++) wanted |= strcmp(job->log_inputs[k], job->inputs[input]) == 0;
    if (!wanted) return CASCADE_OK;
    for (int64_t i = 0; i < n * numel; i++) {
        if (v[i] < 0)
            return cascade_fail(CASCADE_EDATA, "%s: data set '%s' row %lld holds %g < 0; log_inputs needs values >= 0",
                                src->shape.file, job->inputs[input],
                                (long long)(rows ? rows[i / numel] : first + i / numel), (double)v[i]);
        v[i] = (float)log10(1.0 + (double)v[i]);
    }
    return CASCADE_OK;
}

/* x_shape, statistics, per-input shapes and sizes of src->shape from the inputs' infos. */
static cascade_status describe_inputs(const cascade_job *job, cascade_source *src) {
    cascade_dataset *d = &src->shape;
    CASCADE_TRY(stacked_shape(job, d->file, src->in, d));
    d->n_inputs = job->n_inputs;
    for (int i = 0; i < job->n_inputs; i++) {
        d->in_shape[i] = sample_shape(&src->in[i]);
        d->in_numel[i] = cascade_shape_numel(&d->in_shape[i]);
        if (d->in_numel[i] > src->max_numel) src->max_numel = d->in_numel[i];
    }
    return CASCADE_OK;
}

cascade_status cascade_source_layout(const cascade_job *job, const char *label, const cascade_shape *in_shapes,
                                     cascade_source *src) {
    memset(src, 0, sizeof *src);
    snprintf(src->shape.file, sizeof src->shape.file, "%s", label);
    for (int i = 0; i < job->n_inputs; i++) { /* as a file's (N, ...) with N = 1 */
        const cascade_shape *si = &in_shapes[i];
        if (si->ndim < 0 || si->ndim + 1 > CASCADE_MAX_DIMS)
            return cascade_fail(CASCADE_EDATA, "%s: input '%s' has %d axes per sample", label, job->inputs[i], si->ndim);
        snprintf(src->in[i].name, sizeof src->in[i].name, "%s", job->inputs[i]);
        src->in[i].shape.ndim = si->ndim + 1;
        src->in[i].shape.d[0] = 1;
        int64_t numel = 1;
        for (int k = 0; k < si->ndim; k++) {
            if (si->d[k] < 1 || si->d[k] > ((int64_t)1 << 30) / numel) /* (the checkpoint's word: bounded) */
                return cascade_fail(CASCADE_EDATA, "%s: input '%s' has axis %d of length %lld (at most 2^30 values a "
                                    "sample)", label, job->inputs[i], k, (long long)si->d[k]);
            numel *= si->d[k];
            src->in[i].shape.d[k + 1] = si->d[k];
        }
        src->in[i].type_class = CASCADE_H5_FLOAT, src->in[i].type_bytes = 4;
    }
    src->total = 1;
    return describe_inputs(job, src);
}

cascade_status cascade_source_open(const cascade_job *job, const char *path, int want_targets, MPI_Comm comm,
                                   cascade_source *src) {
    memset(src, 0, sizeof *src);
    cascade_dataset *d = &src->shape;
    snprintf(d->file, sizeof d->file, "%s", path);
    CASCADE_TRY(cascade_h5_open_data(path, comm, &src->f));
    /* an autoencoder's targets are its inputs: no target data sets to read */
    src->want_targets = want_targets && job->kind != JOB_AUTOENCODER; /* (gan conditions come as targets) */
    cascade_status st = info_all(job, src->f, src->want_targets, src->in, src->tg);
    if (!st) st = describe_inputs(job, src);
    if (st) {
        cascade_source_close(src);
        return st;
    }
    src->total = src->in[0].shape.d[0];
    if (job->kind == JOB_AUTOENCODER) d->y_shape = d->x_shape;
    if (src->want_targets) {
        /* targets: one data set keeps its per-sample shape ((1) for scalars); several are
         * flattened and concatenated */
        int64_t ys = 0;
        for (int i = 0; i < job->n_targets; i++) {
            cascade_shape si = sample_shape(&src->tg[i]);
            int64_t numel = cascade_shape_numel(&si);
            ys += numel;
            if (numel > src->max_numel) src->max_numel = numel;
        }
        cascade_shape s0 = sample_shape(&src->tg[0]);
        d->y_shape = job->n_targets == 1 && s0.ndim > 0 ? s0 : cascade_shape_make(1, (int64_t[]){ys});
    }
    return CASCADE_OK;
}

void cascade_source_close(cascade_source *src) {
    cascade_h5_close(src->f);
    src->f = NULL;
}

void cascade_source_stack_input(const cascade_job *job, const cascade_source *src, int i, int64_t n, const float *v,
                                float *x, int64_t *off) {
    const cascade_dataset *d = &src->shape;
    int64_t xs = cascade_shape_numel(&d->x_shape), numel = d->in_numel[i];
    if (job->layout == LAYOUT_CHANNELS) {
        for (int64_t s = 0; s < n; s++) memcpy(x + s * xs + i * numel, v + s * numel, (size_t)numel * sizeof(float));
        return;
    }
    cascade_shape si = sample_shape(&src->in[i]);
    int64_t width = feature_width(&si, d->x_shape.ndim), total_w = d->x_shape.d[d->x_shape.ndim - 1];
    int64_t lead = numel / width;
    for (int64_t s = 0; s < n; s++)
        for (int64_t r = 0; r < lead; r++)
            memcpy(x + s * xs + r * total_w + *off, v + s * numel + r * width, (size_t)width * sizeof(float));
    *off += width;
}

cascade_status cascade_source_read(const cascade_job *job, cascade_source *src, const int64_t *rows, int64_t first,
                                   int64_t n, float *x, float *y, float *tmp) {
    const cascade_dataset *d = &src->shape;
    int64_t off = 0; /* feature offset (features layout) */
    cascade_status bad = CASCADE_OK; /* a local data error: reported after the last collective read */
    for (int i = 0; i < job->n_inputs; i++) {
        int64_t numel = d->in_numel[i];
        CASCADE_TRY(read_set(src->f, job->inputs[i], rows, n, first, numel, tmp, &bad));
        if (!bad) bad = cascade_source_log_input(job, i, src, rows, first, n, numel, tmp);
        cascade_source_stack_input(job, src, i, n, tmp, x, &off);
    }
    if (!src->want_targets || !y) return bad;
    int64_t ys = cascade_shape_numel(&d->y_shape);
    off = 0;
    for (int i = 0; i < job->n_targets; i++) {
        cascade_shape si = sample_shape(&src->tg[i]);
        int64_t numel = cascade_shape_numel(&si);
        CASCADE_TRY(read_set(src->f, job->targets[i], rows, n, first, numel, tmp, &bad));
        for (int64_t s = 0; s < n; s++) memcpy(y + s * ys + off, tmp + s * numel, (size_t)numel * sizeof(float));
        off += numel;
    }
    return bad;
}

/* Rows per collective read of a load: the read buffer stays small (4 MiB) next to the data. */
#define LOAD_CHUNK_BYTES ((int64_t)4 << 20)

/* Rows [lo, hi) of the load into x/y (the whole set's buffers), in chunks: as many collective
 * reads on every rank of comm (the most any rank needs), each agreed, so that a bad row seen
 * by one rank stops all at the same read. */
static cascade_status read_block(const cascade_job *job, cascade_source *src, const int64_t *rows, int64_t lo,
                                 int64_t hi, MPI_Comm comm, cascade_dataset *d) {
    int64_t xs = cascade_shape_numel(&d->x_shape), ys = d->y ? cascade_shape_numel(&d->y_shape) : 0;
    int64_t chunk = LOAD_CHUNK_BYTES / (src->max_numel * (int64_t)sizeof(float));
    if (chunk < 1) chunk = 1;
    double mine = (double)(hi - lo), most = 0, mean = 0;
    float *tmp = cascade_alloc((size_t)(chunk * src->max_numel) * sizeof(float), "data set buffer");
    cascade_status st = cascade_par_agree(comm, tmp ? CASCADE_OK : CASCADE_EINTERNAL, NULL, NULL, "allocating the data");
    if (!st) st = cascade_par_max_mean(comm, &mine, 1, &most, &mean);
    for (int64_t r = lo; !st && r < lo + (int64_t)most; r += chunk) {
        int64_t m = r < hi ? (hi - r < chunk ? hi - r : chunk) : 0;
        int64_t at = m ? r : hi; /* past this rank's block: empty reads */
        st = cascade_source_read(job, src, rows ? rows + at : NULL, at, m, d->x + at * xs, d->y ? d->y + at * ys : NULL,
                                 tmp);
        int stop = stop_flag ? (int)*stop_flag : 0; /* a signal on any rank stops all at the same read */
        st = cascade_par_agree(comm, st, &stop, NULL, "reading the data");
        if (!st && stop && r + chunk < lo + (int64_t)most) {
            cascade_log("\nstopped by a signal while loading %s (%lld of %lld rows read): nothing written\n", d->file,
                        (long long)(r + chunk - lo), (long long)(hi - lo));
            st = cascade_fail(CASCADE_ESTOPPED, "%s: stopped by a signal while loading", d->file);
        }
    }
    cascade_free(tmp);
    return st;
}

/* The preload must fit this machine's memory: a data set that declares more samples than
 * that (2^40 rows) is refused with its name and shape, not left to fail as "out of memory"
 * (or to swap). Local: every rank gets the same answer from the same shapes. */
static cascade_status check_memory(const cascade_source *src, int64_t n, int64_t per_sample) {
    double bytes = (double)n * (double)per_sample * sizeof(float);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double mem = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    if (mem == 0 || bytes <= mem) return CASCADE_OK;
    char a[128];
    return cascade_fail(CASCADE_EDATA, "%s: loading %lld samples of data set '%s' %s (and the job's other inputs "
                        "and targets) needs %.3g GiB, more than this machine's memory (%.3g GiB)", src->shape.file,
                        (long long)n, src->in[0].name, cascade_shape_str(&src->in[0].shape, a, sizeof a),
                        bytes / 1073741824.0, mem / 1073741824.0);
}

cascade_status cascade_data_load_from(const cascade_job *job, cascade_source *src, const int64_t *rows, int64_t n_rows,
                                      MPI_Comm comm, const cascade_topo *node, cascade_dataset *d) {
    *d = src->shape;
    memset(&d->mem, 0, sizeof d->mem);
    d->x = d->y = NULL;
    d->n = rows ? n_rows : src->total;
    if (d->n == 0)
        return cascade_fail(CASCADE_EDATA, "%s: no samples in '%s'", d->file, src->in[0].name);
    int64_t xs = cascade_shape_numel(&d->x_shape), ys = src->want_targets ? cascade_shape_numel(&d->y_shape) : 0;
    CASCADE_TRY(check_memory(src, d->n, xs + ys));
    int64_t lo = 0, hi = 0;
    /* x (n, x_shape) then y (n, y_shape) in one block: the node's one copy when shared */
    cascade_status st = cascade_shmem_alloc(node, (size_t)(d->n * (xs + ys)) * sizeof(float), &d->mem);
    if (!st) {
        d->x = d->mem.base;
        d->y = ys ? d->x + d->n * xs : NULL;
        cascade_shmem_rows(&d->mem, d->n, &lo, &hi); /* shared: this rank's block of the rows */
    }
    /* every rank enters the collective reads (the ranks of a shared node read different rows) */
    st = cascade_par_agree(comm, st, NULL, NULL, "allocating the data");
    if (!st) st = read_block(job, src, rows, lo, hi, comm, d);
    if (!st) st = cascade_shmem_sync(&d->mem);
    if (st && d->mem.base) cascade_data_free(d);
    return st;
}

cascade_status cascade_data_load(const cascade_job *job, const char *path, int want_targets,
                                 const int64_t *rows, int64_t n_rows, MPI_Comm comm,
                                 cascade_dataset *d) {
    cascade_source src;
    memset(d, 0, sizeof *d);
    CASCADE_TRY(cascade_source_open(job, path, want_targets, comm, &src));
    cascade_status st = cascade_data_load_from(job, &src, rows, n_rows, comm, NULL, d);
    cascade_source_close(&src);
    return st;
}

void cascade_data_free(cascade_dataset *d) {
    if (d->mem.base) {
        cascade_shmem_free(&d->mem); /* x and y live in it */
    } else {
        cascade_free(d->x);
        cascade_free(d->y);
    }
    d->x = d->y = NULL;
}

/* Rows [lo, hi) of d as a data set (a view: not owned, not shared). */
static cascade_dataset rows_view(const cascade_dataset *d, int64_t lo, int64_t hi) {
    cascade_dataset v = *d;
    memset(&v.mem, 0, sizeof v.mem);
    v.n = hi - lo;
    v.x = d->x ? d->x + lo * cascade_shape_numel(&d->x_shape) : NULL;
    v.y = d->y ? d->y + lo * cascade_shape_numel(&d->y_shape) : NULL;
    return v;
}

cascade_status cascade_data_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d) {
    int64_t lo, hi;
    cascade_shmem_rows(&d->mem, d->n, &lo, &hi);
    CASCADE_TRY(cascade_shmem_sync(&d->mem));
    cascade_dataset v = rows_view(d, lo, hi);
    cascade_norm_apply(job, s, &v);
    return cascade_shmem_sync(&d->mem);
}

cascade_status cascade_data_tnorm_apply(const cascade_norm_stats *s, cascade_dataset *d) {
    int64_t lo, hi;
    cascade_shmem_rows(&d->mem, d->n, &lo, &hi);
    CASCADE_TRY(cascade_shmem_sync(&d->mem));
    cascade_dataset v = rows_view(d, lo, hi);
    cascade_tnorm_apply(s, v.y, v.n, 0);
    return cascade_shmem_sync(&d->mem);
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

cascade_status cascade_data_split_n(const cascade_job *job, int64_t n, int64_t **rows, int64_t *n_train,
                                    int64_t *n_valid) {
    int64_t nv = (int64_t)floor((double)n * job->valid_fraction);
    if (nv < 1 || nv >= n)
        return cascade_fail(CASCADE_EUSAGE, "valid_fraction = %g of %lld samples in %s leaves an empty split",
                            job->valid_fraction, (long long)n, job->train);
    int64_t *perm = n < ((int64_t)1 << 60) ? malloc((size_t)n * sizeof(int64_t)) : NULL;
    if (!perm)
        return cascade_fail(CASCADE_EINTERNAL, "%s: out of memory for the valid_fraction split of %lld samples",
                            job->train, (long long)n);
    cascade_permutation((uint64_t)job->seed, CASCADE_RNG_SPLIT, 0, n, perm);
    qsort(perm, (size_t)(n - nv), sizeof(int64_t), cmp_i64);
    qsort(perm + (n - nv), (size_t)nv, sizeof(int64_t), cmp_i64);
    *rows = perm;
    *n_train = n - nv;
    *n_valid = nv;
    return CASCADE_OK;
}

cascade_status cascade_data_split(const cascade_job *job, MPI_Comm comm, int64_t **rows, int64_t *n_train,
                                  int64_t *n_valid) {
    int64_t n;
    CASCADE_TRY(cascade_data_count(job, job->train, 1, comm, &n));
    return cascade_data_split_n(job, n, rows, n_train, n_valid);
}

