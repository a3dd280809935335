/* Streaming input: when the training set exceeds memory_budget_mb, each step every rank
 * reads just the samples of its own micro-batches (rows sorted, then put back in micro-batch
 * order): directly with pread(), the next step's in the background, or with one collective
 * HDF5 read per data set (stream.h). The global Philox permutation
 * (the caller's) still decides which sample goes to which step, so results do not depend on
 * the mode or the rank count. */
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "data/stream.h"
#include "io/rawrows.h"
#include "parallel/parallel.h"

/* ---- direct reads and prefetch (stream.h) ---- */

/* Whether reads can bypass HDF5: every data set read has a raw layout on this rank, the bytes
 * lie within the file; not when CASCADE_PREFETCH=0 (the reference path of the tests). */
static cascade_status direct_layout(cascade_stream *s, const cascade_job *job, int64_t most, int *ok) {
    const char *env = getenv("CASCADE_PREFETCH");
    *ok = !(env && (strcmp(env, "0") == 0 || strcmp(env, "off") == 0));
    int n_sets = job->n_inputs + (s->src.want_targets ? job->n_targets : 0);
    struct stat sb;
    if (stat(s->shape.file, &sb) != 0) *ok = 0;
    int64_t total = 0;
    for (int k = 0; k < n_sets; k++) { /* all of them on every rank: H5Dopen may be collective */
        const char *name = k < job->n_inputs ? job->inputs[k] : job->targets[k - job->n_inputs];
        cascade_h5_raw r;
        CASCADE_TRY(cascade_h5_raw_rows(s->src.f, name, &r));
        *ok = *ok && r.ok && r.offset + s->src.total * r.row_bytes <= (int64_t)sb.st_size;
        s->set_names[k] = name;
        s->pf.offset[k] = r.offset;
        s->pf.row_bytes[k] = r.row_bytes;
        total += r.row_bytes / 4;
    }
    s->pf.n_sets = n_sets;
    if (!*ok) return CASCADE_OK;
    s->raw = cascade_alloc((size_t)(most * total) * sizeof(float), "prefetch buffer");
    s->pre_rows = malloc((size_t)most * sizeof(int64_t));
    s->pre_order = malloc((size_t)(2 * most) * sizeof(int64_t));
    s->next_perm = malloc((size_t)s->shape.n * sizeof(int64_t));
    if (!s->raw || !s->pre_rows || !s->pre_order || !s->next_perm)
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for the prefetch buffers");
    float *at = s->raw;
    for (int k = 0; k < n_sets; k++) {
        s->pf.seg[k] = at;
        at += most * (s->pf.row_bytes[k] / 4);
    }
    return CASCADE_OK;
}

/* Direct reads (and the prefetch thread) on every rank or on none: a rank reading through
 * HDF5 would wait in collective reads the others never join. */
static cascade_status open_direct(cascade_stream *s, const cascade_job *job, int64_t most) {
    int ok = 0;
    cascade_status st = direct_layout(s, job, most, &ok);
    int not_all = !ok;
    CASCADE_TRY(cascade_par_agree(s->comm, st, &not_all, NULL, "looking up the training data sets' layout"));
    if (not_all) return CASCADE_OK;
    st = cascade_prefetch_open(&s->pf, s->shape.file, 1);
    CASCADE_TRY(cascade_par_agree(s->comm, st, NULL, NULL, "starting the prefetch thread"));
    s->direct = s->prefetching = 1;
    return CASCADE_OK;
}

cascade_status cascade_stream_open(cascade_stream *s, const cascade_job *job, int64_t *rows, int64_t n_rows,
                                   int64_t max_samples, MPI_Comm comm) {
    memset(s, 0, sizeof *s);
    s->pf.fd = -1;
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
    cascade_status st = CASCADE_OK;
    if (!s->fetch_rows || !s->fetch_order || !s->x || !s->y || !s->xsorted || !s->ysorted || !s->tmp)
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory for streaming buffers");
    if (!st) st = open_direct(s, job, most);
    return st;
}

void cascade_stream_close(cascade_stream *s) {
    cascade_prefetch_close(&s->pf); /* waits for a running read */
    free(s->raw), free(s->pre_rows), free(s->pre_order), free(s->next_perm);
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
    s->pf.fd = -1;
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

/* Heap sort of order[0..n) by rows[order[i]] (distinct keys: one result whatever the sort);
 * in place, where qsort may allocate. */
static void sift(int64_t *order, const int64_t *rows, int64_t i, int64_t n) {
    for (int64_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && rows[order[c + 1]] > rows[order[c]]) c++;
        if (rows[order[i]] >= rows[order[c]]) return;
        int64_t t = order[i];
        order[i] = order[c], order[c] = t;
    }
}

/* File rows of samples[0..n) (rows), their order by row and the rows sorted (order + n). */
static void sort_rows(const cascade_stream *s, const int64_t *samples, int64_t n, int64_t *rows, int64_t *order) {
    for (int64_t q = 0; q < n; q++) {
        order[q] = q;
        rows[q] = s->rows ? s->rows[samples[q]] : samples[q];
    }
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift(order, rows, i, n);
    for (int64_t end = n - 1; end > 0; end--) {
        int64_t t = order[0];
        order[0] = order[end], order[end] = t;
        sift(order, rows, 0, end);
    }
    for (int64_t j = 0; j < n; j++) order[n + j] = rows[order[j]]; /* no repeats in a permutation */
}

/* The direct read's rows (raw, by data set, `sorted` order) into xsorted/ysorted: what
 * cascade_source_read makes of the same floats (finiteness, log_inputs, stacking). */
static cascade_status stack_raw(cascade_stream *s, const cascade_job *job, const int64_t *sorted, int64_t n) {
    const cascade_dataset *d = &s->shape;
    const char *file = d->file;
    int64_t off = 0;
    for (int i = 0; i < job->n_inputs; i++) {
        int64_t numel = d->in_numel[i];
        float *v = s->pf.seg[i];
        CASCADE_TRY(cascade_h5_check_finite(file, job->inputs[i], v, n, numel, 0, sorted));
        CASCADE_TRY(cascade_source_log_input(job, i, &s->src, sorted, 0, n, numel, v));
        cascade_source_stack_input(job, &s->src, i, n, v, s->xsorted, &off);
    }
    int64_t ys = cascade_shape_numel(&d->y_shape);
    off = 0;
    for (int k = job->n_inputs; k < s->pf.n_sets; k++) { /* the targets, flattened, concatenated */
        int64_t numel = s->pf.row_bytes[k] / 4;
        CASCADE_TRY(cascade_h5_check_finite(file, s->set_names[k], s->pf.seg[k], n, numel, 0, sorted));
        for (int64_t q = 0; q < n; q++)
            memcpy(s->ysorted + q * ys + off, s->pf.seg[k] + q * numel, (size_t)numel * sizeof(float));
        off += numel;
    }
    return CASCADE_OK;
}

/* The step's rows into xsorted/ysorted: the background read when it was of these rows, else
 * a read now (direct: pread, no collective; else one collective HDF5 read per data set). */
static cascade_status read_sorted(cascade_stream *s, const cascade_job *job, int64_t n) {
    const int64_t *sorted = s->fetch_order + n;
    if (!s->direct) return cascade_source_read(job, &s->src, sorted, 0, n, s->xsorted, s->ysorted, s->tmp);
    int hit = 0;
    if (s->pending) {
        cascade_prefetch_wait(&s->pf);
        s->pending = 0;
        hit = s->pre_n == n && memcmp(s->pre_rows, s->fetch_rows, (size_t)n * sizeof(int64_t)) == 0;
    }
    if (!hit) cascade_prefetch_read(&s->pf, sorted, n);
    CASCADE_TRY(cascade_prefetch_status(&s->pf, s->shape.file, s->set_names));
    return stack_raw(s, job, sorted, n);
}

cascade_status cascade_stream_fetch(cascade_stream *s, const cascade_job *job, const int64_t *samples, int64_t n,
                                    const cascade_norm_stats *norm, const cascade_norm_stats *tnorm) {
    int64_t xs = cascade_shape_numel(&s->shape.x_shape), ys = cascade_shape_numel(&s->shape.y_shape);
    sort_rows(s, samples, n, s->fetch_rows, s->fetch_order);
    CASCADE_TRY(read_sorted(s, job, n));
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

void cascade_stream_prefetch(cascade_stream *s, const int64_t *samples, int64_t n) {
    if (!s->prefetching) return;
    cascade_prefetch_wait(&s->pf); /* an unused one (not expected) */
    sort_rows(s, samples, n, s->pre_rows, s->pre_order);
    s->pre_n = n;
    cascade_prefetch_start(&s->pf, s->pre_order + n, n);
    s->pending = 1;
}
