/* The inference API (cascade/model.h): the model `cascade predict` runs (trained.c), opened
 * without its data and without MPI (files on MPI_COMM_NULL: POSIX I/O), fed from memory. */
#include "cascade/model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/trained.h"

struct cascade_model {
    char path[CASCADE_PATH_MAX]; /* the checkpoint file */
    cascade_job job;
    cascade_source layout; /* no file: the inputs' shapes and how they stack into x */
    cascade_net net;
    cascade_norm_stats norm, tnorm;
    int64_t classes, out_numel, x_numel;
    int chunk;        /* micro_batch: the batches predict runs */
    float *xb, *tmp;  /* (chunk, x_shape), (chunk, largest input) */
};

/* HDF5 (Debian's parallel build) is not thread-safe: one open at a time. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* The per-sample input shapes as stored in the data file (the job's inputs in order) that the
 * checkpoint records (/data attribute input_shapes, written by cascade_model_write). */
static cascade_status recorded_shapes(cascade_h5file *f, const cascade_job *job, cascade_shape *shapes) {
    int64_t v[CASCADE_MAX_NAMES * (CASCADE_MAX_DIMS + 1)], n, k = 0;
    CASCADE_TRY(cascade_h5_attr_ints(f, "/data", "input_shapes", v, (int64_t)(sizeof v / sizeof v[0]), &n));
    for (int i = 0; i < job->n_inputs; i++) {
        int64_t nd = k < n ? v[k++] : -1;
        if (nd < 0 || nd > CASCADE_MAX_DIMS - 1 || k + nd > n)
            return cascade_fail(CASCADE_EDATA, "%s: /data attribute input_shapes does not describe the job's %d inputs "
                                "(%lld values)", cascade_h5_filename(f), job->n_inputs, (long long)n);
        shapes[i] = cascade_shape_make((int)nd, v + k);
        k += nd;
    }
    return CASCADE_OK;
}

/* The inputs' per-sample shapes: recorded in the checkpoint, or (checkpoints written before
 * that) read from the run's data file the job names. */
static cascade_status input_shapes(cascade_h5file *f, const cascade_job *job, cascade_shape *shapes) {
    if (cascade_h5_attr_exists(f, "/data", "input_shapes")) return recorded_shapes(f, job, shapes);
    const char *data = job->valid[0] ? job->valid : job->train;
    cascade_source src;
    cascade_status st = cascade_source_open(job, data, 0, MPI_COMM_NULL, &src);
    if (st) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cascade_errmsg()); /* (cascade_fail rewrites the message) */
        return cascade_fail(st, "%s records no input shapes (written before they were) and the run's data file "
                            "cannot tell them: %s", cascade_h5_filename(f), why);
    }
    for (int i = 0; i < job->n_inputs; i++) shapes[i] = src.shape.in_shape[i];
    cascade_source_close(&src);
    return CASCADE_OK;
}

static cascade_status open_locked(const char *run_or_checkpoint, cascade_model *m) {
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    cascade_status st = cascade_trained_job(run_or_checkpoint, MPI_COMM_NULL, &f, &meta, &m->job);
    if (!st) snprintf(m->path, sizeof m->path, "%s", cascade_h5_filename(f));
    cascade_shape shapes[CASCADE_MAX_NAMES];
    if (!st) st = input_shapes(f, &m->job, shapes);
    if (!st) st = cascade_source_layout(&m->job, m->path, shapes, &m->layout);
    /* what a bad input value is blamed on (cascade_source_log_input) */
    if (!st) snprintf(m->layout.shape.file, sizeof m->layout.shape.file, "cascade_model_predict");
    if (!st)
        st = cascade_trained_net(f, &m->job, &m->layout.shape, &m->net, &m->norm, &m->tnorm, &m->classes,
                                 &m->out_numel);
    cascade_ckpt_meta_free(&meta);
    cascade_h5_close(f);
    return st;
}

cascade_status cascade_model_open(const char *run_or_checkpoint, cascade_model **out) {
    if (!out) return cascade_fail(CASCADE_EUSAGE, "cascade_model_open: the model pointer is NULL");
    *out = NULL;
    if (!run_or_checkpoint || !*run_or_checkpoint)
        return cascade_fail(CASCADE_EUSAGE, "cascade_model_open: no run directory or checkpoint given");
    cascade_model *m = calloc(1, sizeof *m);
    if (!m) return cascade_fail(CASCADE_EINTERNAL, "cascade_model_open: out of memory");
    pthread_mutex_lock(&open_lock);
    cascade_status st = open_locked(run_or_checkpoint, m);
    pthread_mutex_unlock(&open_lock);
    if (!st) {
        m->chunk = (int)m->job.micro_batch;
        m->x_numel = cascade_shape_numel(&m->layout.shape.x_shape);
        m->xb = cascade_alloc((size_t)(m->chunk * m->x_numel) * sizeof(float), "input batch");
        m->tmp = cascade_alloc((size_t)(m->chunk * m->layout.max_numel) * sizeof(float), "input rows");
        if (!m->xb || !m->tmp) st = CASCADE_EINTERNAL;
    }
    if (st) {
        cascade_model_close(m);
        return st;
    }
    *out = m;
    return CASCADE_OK;
}

int cascade_model_input_count(const cascade_model *m) { return m ? m->job.n_inputs : 0; }

const char *cascade_model_input_name(const cascade_model *m, int i) {
    return m && i >= 0 && i < m->job.n_inputs ? m->job.inputs[i] : NULL;
}

cascade_shape cascade_model_input_shape(const cascade_model *m, int i) {
    cascade_shape none = {0};
    return m && i >= 0 && i < m->job.n_inputs ? m->layout.shape.in_shape[i] : none;
}

cascade_shape cascade_model_output_shape(const cascade_model *m) {
    cascade_shape none = {0};
    return m ? *cascade_net_out_shape(&m->net) : none;
}

/* Samples [first, first + k) of the caller's inputs into m->xb as predict's loader leaves them
 * (data.c): finiteness checked, log_inputs, stacked, normalised. */
static cascade_status stage(cascade_model *m, const float *const *inputs, int64_t first, int k) {
    const cascade_job *job = &m->job;
    int64_t off = 0;
    for (int i = 0; i < job->n_inputs; i++) {
        int64_t numel = m->layout.shape.in_numel[i];
        memcpy(m->tmp, inputs[i] + first * numel, (size_t)(k * numel) * sizeof(float));
        CASCADE_TRY(cascade_h5_check_finite("cascade_model_predict", job->inputs[i], m->tmp, k, numel, first, NULL));
        CASCADE_TRY(cascade_source_log_input(job, i, &m->layout, NULL, first, k, numel, m->tmp));
        cascade_source_stack_input(job, &m->layout, i, k, m->tmp, m->xb, &off);
    }
    if (job->normalize == NORM_STANDARD) {
        cascade_dataset v = m->layout.shape;
        v.n = k, v.x = m->xb, v.y = NULL;
        cascade_norm_apply(job, &m->norm, &v);
    }
    return CASCADE_OK;
}

cascade_status cascade_model_predict(cascade_model *m, int64_t n, const float *const *inputs, float *output) {
    if (!m) return cascade_fail(CASCADE_EUSAGE, "cascade_model_predict: the model is NULL");
    if (n < 0) return cascade_fail(CASCADE_EUSAGE, "%s: cascade_model_predict: n = %lld < 0", m->path, (long long)n);
    if (n == 0) return CASCADE_OK;
    if (!inputs || !output)
        return cascade_fail(CASCADE_EUSAGE, "%s: cascade_model_predict: %s is NULL", m->path, inputs ? "output" : "inputs");
    for (int i = 0; i < m->job.n_inputs; i++)
        if (!inputs[i])
            return cascade_fail(CASCADE_EUSAGE, "%s: cascade_model_predict: inputs[%d] ('%s') is NULL", m->path, i,
                                m->job.inputs[i]);
    for (int64_t first = 0; first < n; first += m->chunk) {
        int k = (int)(n - first < m->chunk ? n - first : m->chunk);
        CASCADE_TRY(stage(m, inputs, first, k));
        float *out = output + first * m->out_numel;
        cascade_model_forward(&m->net, m->xb, k, -1, out);
        if (m->job.normalize_targets == NORM_STANDARD) cascade_tnorm_apply(&m->tnorm, out, k, 1); /* physical units */
    }
    return CASCADE_OK;
}

void cascade_model_close(cascade_model *m) {
    if (!m) return;
    cascade_free(m->xb);
    cascade_free(m->tmp);
    cascade_net_free(&m->net);
    cascade_norm_free(&m->norm);
    cascade_norm_free(&m->tnorm);
    if (m->job.text) cascade_job_free(&m->job);
    free(m);
}
