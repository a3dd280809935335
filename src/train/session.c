/* The supervised session: set-up, progress line, validation and its checkpoint contents; the
 * run directory every kind starts from (see session.h). */
#include "train/session.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/metrics.h"
#include "train/model.h"
#include "cascade/xsum.h"
#include "nn/loss.h"


int cascade_session_has_checkpoints(const char *ckdir) {
    char pat[CASCADE_PATH_MAX + 32];
    snprintf(pat, sizeof pat, "%s/LATEST", ckdir);
    if (access(pat, F_OK) == 0) return 1;
    snprintf(pat, sizeof pat, "%s/step-*.h5", ckdir);
    glob_t g;
    int found = glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    return found;
}

/* Training and validation sets: a separate file, or a Philox split of the training file; one
 * copy per node (data.h). The training file is opened once for its length, the split and the
 * rows it holds. */
static cascade_status load_data(cascade_session *s) {
    cascade_job *job = s->base.job;
    MPI_Comm comm = s->base.comm;
    int64_t *rows = NULL, n_train = 0, n_valid = 0;
    cascade_source src;
    CASCADE_TRY(cascade_source_open(job, job->train, 1, comm, &src));
    cascade_status st = CASCADE_OK;
    if (job->valid[0]) {
        cascade_source vsrc;
        st = cascade_source_open(job, job->valid, 1, comm, &vsrc);
        if (!st) {
            st = cascade_data_load_from(job, &vsrc, NULL, 0, comm, &s->base.topo, &s->valid);
            cascade_source_close(&vsrc);
        }
        s->base.has_valid = !st;
    } else if (job->valid_fraction > 0) {
        st = cascade_data_split_n(job, src.total, &rows, &n_train, &n_valid);
        if (!st) st = cascade_data_load_from(job, &src, rows + n_train, n_valid, comm, &s->base.topo, &s->valid);
        s->base.has_valid = !st;
    }
    /* preload the training set when it fits the budget, else stream it */
    int64_t n = rows ? n_train : src.total;
    double bytes = (double)n * (double)(cascade_shape_numel(&src.shape.x_shape) +
                                        cascade_shape_numel(&src.shape.y_shape)) * sizeof(float);
    if (!st && bytes <= job->memory_budget_mb * 1048576.0)
        st = cascade_data_load_from(job, &src, rows, n_train, comm, &s->base.topo, &s->base.train);
    cascade_source_close(&src);
    if (!st && bytes > job->memory_budget_mb * 1048576.0) {
        int64_t nmb = job->batch / job->micro_batch;
        int64_t most = (nmb + s->base.size - 1) / s->base.size * job->micro_batch; /* samples per rank and step */
        s->streaming = 1;
        st = cascade_stream_open(&s->stream, job, rows, n_train, most, comm); /* takes rows */
        s->base.train = s->stream.shape;
        rows = NULL;
    }
    s->split_rows = rows; /* for messages naming file rows; freed after the label checks */
    return st;
}

static cascade_status load_checkpoint(cascade_session *s, const char *from, int full) {
    cascade_h5file *f; /* resuming: `from` was verified by cascade_ckpt_select */
    CASCADE_TRY(full ? cascade_ckpt_open_selected(from, s->base.comm, &f) : cascade_ckpt_open(from, s->base.comm, &f));
    cascade_status st = full ? cascade_model_read_counters(f, &s->base.prog) : CASCADE_OK;
    if (!st) st = cascade_model_read_params(f, &s->net, full);
    if (!st && full)
        st = cascade_model_read_state(f, s->base.job, &s->net, &s->opt, NULL, &s->base.train, &s->base.prog); /* norm: read_data_stats */
    cascade_progress *pr = &s->base.prog; /* the next batch is perm[cursor, cursor + batch) */
    if (!st && full && pr->cursor > s->base.train.n - s->base.job->batch)
        st = cascade_fail(CASCADE_EDATA, "%s: attribute 'cursor' of '/data' is %lld, past the last batch of %ld of the "
                          "%lld training samples", cascade_h5_filename(f), (long long)pr->cursor, s->base.job->batch,
                          (long long)s->base.train.n);
    if (st) cascade_error_context("%s %s: ", full ? "resuming from" : "--init from", from);
    cascade_h5_close(f);
    return st;
}

/* Resuming: the input and target normalisation of the checkpoint (read before the data are
 * normalised; a fresh run computes them from the training set). */
static cascade_status read_data_stats(cascade_session *s, const char *from) {
    cascade_h5file *f;
    CASCADE_TRY(cascade_ckpt_open_selected(from, s->base.comm, &f));
    cascade_status st = CASCADE_OK;
    if (s->base.job->normalize == NORM_STANDARD)
        st = cascade_model_read_state(f, s->base.job, &s->net, NULL, &s->norm, &s->base.train, NULL);
    if (!st && s->base.job->normalize_targets == NORM_STANDARD)
        st = cascade_model_read_tnorm(f, cascade_shape_numel(&s->base.train.y_shape), &s->tnorm);
    cascade_h5_close(f);
    return st;
}

void cascade_train_rundir(const cascade_job *job, const cascade_train_opts *o, char rundir[CASCADE_PATH_MAX]) {
    if (o->out_dir)
        snprintf(rundir, CASCADE_PATH_MAX, "%s", o->out_dir);
    else
        snprintf(rundir, CASCADE_PATH_MAX, "runs/%s", job->name);
}

cascade_status cascade_session_start(const cascade_job *job, const cascade_train_opts *o, int size,
                                     char rundir[CASCADE_PATH_MAX], char ckdir[CASCADE_PATH_MAX + 16],
                                     const char **resume_from) {
    cascade_train_rundir(job, o, rundir);
    snprintf(ckdir, CASCADE_PATH_MAX + 16, "%s/checkpoints", rundir);
    int64_t nmb = job->batch / job->micro_batch;
    if (nmb < size) {
        long mb_max = job->batch / size; /* the largest micro_batch that divides batch and gives each rank one */
        while (mb_max > 1 && job->batch % mb_max) mb_max--;
        return cascade_fail(CASCADE_EUSAGE, "%s: batch / micro_batch = %ld / %ld = %lld micro-batches per step cannot "
                            "be dealt to %d ranks (each rank needs at least one); run on at most %lld ranks, or lower "
                            "[train] micro_batch to at most %ld", job->path, job->batch, job->micro_batch,
                            (long long)nmb, size, (long long)nmb, mb_max);
    }
    /* never overwrite: a run directory with checkpoints needs --resume */
    *resume_from = NULL;
    if (o->resume == 2) *resume_from = o->resume_path;
    if (o->resume == 1 && cascade_session_has_checkpoints(ckdir)) *resume_from = rundir;
    if (o->resume == 0 && cascade_session_has_checkpoints(ckdir))
        return cascade_fail(CASCADE_EUSAGE, "%s already holds checkpoints; continue it with --resume auto or choose "
                            "another --out (nothing was overwritten)", ckdir);
    return CASCADE_OK;
}

cascade_status cascade_session_open_rundir(const cascade_job *job, const char *rundir, FILE **metrics) {
    char path[CASCADE_PATH_MAX + 32];
    *metrics = NULL;
    CASCADE_TRY(cascade_mkdir_p(rundir));
    snprintf(path, sizeof path, "%s/job.ini", rundir);
    CASCADE_TRY(cascade_job_write(job, path));
    snprintf(path, sizeof path, "%s/metrics.jsonl", rundir);
    return cascade_fopen_append(path, metrics); /* never through a symbolic link */
}

/* The step's buffers: a micro-batch of inputs, targets and output gradients, this rank's
 * validation outputs (and in physical units with normalize_targets; 1/P of the set each), the
 * step's doubles, label weights. */
static cascade_status alloc_buffers(cascade_session *s) {
    cascade_job *job = s->base.job;
    int64_t mb = job->micro_batch;
    int64_t ys = cascade_shape_numel(&s->base.train.y_shape), xs = cascade_shape_numel(&s->base.train.x_shape);
    cascade_eval_rows(s->base.has_valid ? s->valid.n : 0, (int)mb, s->base.comm, &s->valid_lo, &s->valid_hi);
    size_t nv = (size_t)(s->valid_hi - s->valid_lo > 0 ? s->valid_hi - s->valid_lo : 1);
    s->idx = malloc((size_t)mb * sizeof(int64_t));
    s->xb = cascade_alloc((size_t)mb * (size_t)xs * sizeof(float), "input batch");
    s->yb = cascade_alloc((size_t)mb * (size_t)ys * sizeof(float), "target batch");
    s->dout = cascade_alloc((size_t)mb * (size_t)s->out_numel * sizeof(float), "output gradient");
    s->preds = cascade_alloc(nv * (size_t)s->out_numel * sizeof(float), "validation outputs");
    if (job->normalize_targets == NORM_STANDARD && s->base.has_valid) {
        s->phys_preds = cascade_alloc(nv * (size_t)s->out_numel * sizeof(float), "validation outputs");
        s->phys_y = cascade_alloc(nv * (size_t)ys * sizeof(float), "validation targets");
        if (!s->phys_preds || !s->phys_y) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    }
    s->facc = cascade_alloc((size_t)(s->net.n_stats + 1) * sizeof(double), "statistics buffer");
    s->label_w = cascade_alloc((size_t)(ys + 1) * sizeof(double), "label weights");
    if (!s->idx || !s->xb || !s->yb || !s->dout || !s->preds || !s->facc || !s->label_w)
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for batch buffers");
    return CASCADE_OK;
}

/* normalize = none: an input whose magnitudes span more than four decades up to >= 1e4 (raw
 * signals of 10^8) reaches the network unscaled and training diverges without a word (issue
 * #21): warned at start-up, per input when the inputs are stacked as channels. */
static void warn_unscaled(const cascade_job *job, const cascade_dataset *d) {
    int64_t numel = cascade_shape_numel(&d->x_shape);
    int per_input = job->layout == LAYOUT_CHANNELS && d->x_shape.ndim > 0 && d->x_shape.d[0] == job->n_inputs;
    int parts = per_input ? job->n_inputs : 1;
    int64_t width = numel / parts;
    for (int c = 0; c < parts; c++) {
        double hi = 0, lo = INFINITY;
        for (int64_t i = 0; i < d->n; i++) {
            const float *v = d->x + i * numel + c * width;
            for (int64_t k = 0; k < width; k++) {
                double a = fabs((double)v[k]);
                if (!(a > 0) || !isfinite(a)) continue;
                if (a > hi) hi = a;
                if (a < lo) lo = a;
            }
        }
        if (hi >= 1e4 && hi >= 1e4 * lo)
            cascade_log("warning: input %s%s%s spans %.3g ... %.3g (%.0f decades) and reaches the network unnormalised "
                        "(normalize = none): training is likely to diverge; set [data] log_inputs and/or normalize = "
                        "standard\n", per_input ? "'" : "", per_input ? job->inputs[c] : "x", per_input ? "'" : "", lo, hi,
                        floor(log10(hi / lo)));
    }
}

cascade_status cascade_session_open(cascade_training *t, cascade_job *job, const cascade_train_opts *o,
                                    MPI_Comm comm) {
    cascade_session *s = (cascade_session *)t;
    s->base.prog.best_valid_loss = INFINITY, s->base.prog.best_valid_step = -1; /* no validation yet */
    const char *resume_from = NULL;
    cascade_status st = cascade_training_open(t, job, o, comm, &resume_from);
    if (st) goto fail;
    if ((st = load_data(s))) goto fail;
    if (s->base.train.n < job->batch) {
        st = cascade_fail(CASCADE_EUSAGE, "%s: batch = %ld is larger than the %lld training samples in %s",
                          job->path, job->batch, (long long)s->base.train.n, job->train);
        goto fail;
    }
    if ((st = cascade_model_build(job, job->nets[0], &s->base.train.x_shape, &s->net))) goto fail;
    if ((st = cascade_model_check_targets(job, &s->net, &s->base.train))) goto fail;
    s->classes = cascade_model_classes(job, &s->net);
    /* labels are named by their row in the file, also when valid_fraction split it */
    int64_t *rows = s->split_rows, n_train = rows ? s->base.train.n : 0;
    if (!s->streaming && (st = cascade_model_check_labels_at(job, &s->base.train, s->classes, rows))) goto fail;
    if (s->base.has_valid && (st = cascade_model_check_labels_at(job, &s->valid, s->classes, rows ? rows + n_train : NULL)))
        goto fail;
    free(s->split_rows);
    s->split_rows = NULL;
    if (job->early_stopping > 0 && !s->base.has_valid) {
        cascade_section *ts = cascade_job_section(job, "train");
        st = cascade_cfg_error(ts, ts ? cascade_section_peek(ts, "early_stopping") : NULL,
                               "early stopping watches the validation loss: give [data] valid or valid_fraction");
        goto fail;
    }
    if (resume_from && (st = read_data_stats(s, resume_from))) goto fail;
    if (job->normalize == NORM_NONE && !s->streaming && s->base.rank == 0 && !resume_from) warn_unscaled(job, &s->base.train);
    if (job->normalize == NORM_STANDARD) {
        if (!resume_from)
            st = s->streaming ? cascade_stream_norm(&s->stream, job, &s->norm) : cascade_norm_compute(job, &s->base.train, s->base.comm, &s->norm);
        if (st) goto fail;
        if (!s->streaming && (st = cascade_data_norm_apply(job, &s->norm, &s->base.train))) goto fail;
        if (s->base.has_valid && (st = cascade_data_norm_apply(job, &s->norm, &s->valid))) goto fail;
    }
    if (job->normalize_targets == NORM_STANDARD) {
        if (!resume_from)
            st = s->streaming ? cascade_stream_tnorm(&s->stream, job, &s->tnorm) : cascade_tnorm_compute(&s->base.train, s->base.comm, &s->tnorm);
        if (st) goto fail;
        if (!s->streaming && (st = cascade_data_tnorm_apply(&s->tnorm, &s->base.train))) goto fail;
        if (s->base.has_valid && (st = cascade_data_tnorm_apply(&s->tnorm, &s->valid))) goto fail;
    }
    int mb = (int)job->micro_batch;
    if ((st = cascade_net_prepare(&s->net, mb, 0))) goto fail;
    /* ZeRO-1 (and deterministic mode): rank r keeps the optimizer state of its block of parameters */
    if ((st = cascade_net_shards(job, &s->net, comm, &s->shards))) goto fail;
    if ((st = cascade_shard_optimizer(&s->opt, job, 0, &s->net, &s->shards))) goto fail;
    s->out_numel = cascade_shape_numel(cascade_net_out_shape(&s->net));
    s->terms_per_sample = cascade_loss_terms(job->loss, 1, s->out_numel, s->classes);
    if (job->n_class_weights && job->n_class_weights != s->classes) {
        cascade_section *ts = cascade_job_section(job, "train");
        st = cascade_cfg_error(ts, ts ? cascade_section_peek(ts, "class_weights") : NULL,
                               "%d class weights for %lld classes (the output of net %s)", job->n_class_weights,
                               (long long)s->classes, s->net.name);
        goto fail;
    }
    if (resume_from) {
        if ((st = load_checkpoint(s, resume_from, 1))) goto fail;
        cascade_log("resuming %s at step %lld (epoch %lld)\n", s->base.rundir, (long long)s->base.prog.step,
                    (long long)s->base.prog.epoch + 1);
    } else if (o->init_path) {
        if ((st = load_checkpoint(s, o->init_path, 0))) goto fail;
    }
    s->grads_own = s->net.grads;
    if ((st = cascade_net_reducer(&s->net, &s->base.topo, job, (int)s->net.n_stats + 1, &s->shards, &s->red))) goto fail;
    s->base.steps_per_epoch = s->base.train.n / job->batch;
    s->base.total_steps = o->steps > 0 ? o->steps : job->steps > 0 ? job->steps : job->epochs * s->base.steps_per_epoch;
    if ((st = cascade_training_buffers(t)) || (st = alloc_buffers(s))) goto fail;
    if (s->base.rank == 0) {
        if ((st = cascade_session_open_rundir(job, s->base.rundir, &s->base.metrics))) goto fail;
        char summary[8192];
        cascade_net_summary(&s->net, summary, sizeof summary);
        if (!o->quiet) cascade_log("%s", summary);
        if (s->streaming)
            cascade_log("streaming the training set from %s (larger than memory_budget_mb = %g; %s)\n", job->train,
                        job->memory_budget_mb, s->stream.prefetching ? "next step prefetched" : "HDF5 reads");
        cascade_log("training %s: %lld samples, %lld steps of batch %ld (%lld per epoch), %d rank(s)%s\n", job->name,
                    (long long)s->base.train.n, (long long)s->base.total_steps, job->batch, (long long)s->base.steps_per_epoch,
                    s->base.size, job->deterministic ? ", deterministic" : "");
        if (!o->quiet)
            cascade_log("optimizer state: %.0f bytes per rank%s\n", cascade_optimizer_bytes(&s->opt),
                        s->shards.sharded ? " (sharded over the ranks)" : "");
        if (!o->quiet && s->base.has_valid) /* each rank holds the outputs of its own rows only */
            cascade_log("validation: %lld samples, outputs %.1f MB on rank 0 (%lld rows) of %.1f MB\n",
                        (long long)s->valid.n, (double)(s->valid_hi - s->valid_lo) * (double)s->out_numel * 4e-6,
                        (long long)(s->valid_hi - s->valid_lo), (double)s->valid.n * (double)s->out_numel * 4e-6);
    }
    return CASCADE_OK;
fail:
    cascade_session_close(t);
    return st;
}

void cascade_session_close(cascade_training *t) {
    cascade_session *s = (cascade_session *)t;
    cascade_data_free(&s->valid);
    free(s->split_rows);
    s->split_rows = NULL;
    if (s->grads_own) s->net.grads = s->grads_own;
    cascade_net_free(&s->net);
    cascade_optimizer_free(&s->opt);
    free(s->idx);
    cascade_free(s->xb);
    cascade_free(s->yb);
    cascade_free(s->dout);
    cascade_free(s->preds);
    cascade_free(s->facc);
    cascade_free(s->label_w);
    cascade_reducer_free(&s->red);
    cascade_shards_free(&s->shards);
    if (s->streaming) cascade_stream_close(&s->stream);
    cascade_norm_free(&s->norm);
    cascade_norm_free(&s->tnorm);
    cascade_free(s->phys_preds);
    cascade_free(s->phys_y);
    s->phys_preds = s->phys_y = NULL;
    cascade_training_close(t);
}

void cascade_json_double(char *buf, size_t n, double v) {
    if (isfinite(v))
        snprintf(buf, n, "%.7g", v);
    else
        snprintf(buf, n, "null");
}

void cascade_session_log(cascade_training *t, double seconds, double elapsed) {
    cascade_session *s = (cascade_session *)t;
    double loss = s->steps_acc ? s->loss_acc / (double)s->steps_acc : NAN, lr = s->lr;
    double rate = (double)(s->steps_acc * t->job->batch) / (seconds > 1e-9 ? seconds : 1e-9);
    int64_t steps = s->steps_acc;
    s->loss_acc = 0;
    s->steps_acc = 0;
    double secs[CASCADE_TIMERS] = {s->base.t_input, s->base.t_compute, s->red.wait_s, s->red.exact_s, s->base.t_optim};
    char timers[1024];
    s->base.t_input = s->base.t_compute = s->base.t_optim = s->red.wait_s = s->red.exact_s = 0;
    if (cascade_timers_json(s->base.comm, secs, timers, sizeof timers)) timers[0] = 0;
    if (s->base.rank != 0) return;
    char l[32];
    cascade_json_double(l, sizeof l, loss);
    fprintf(s->base.metrics,
            "{\"step\":%lld,\"epoch\":%lld,\"split\":\"train\",\"loss\":%s,\"lr\":%.7g,\"samples_per_s\":%.1f,"
            "\"time_s\":%.3f%s}\n",
            (long long)s->base.prog.step, (long long)s->base.prog.epoch, l, lr, rate, elapsed, timers);
    fflush(s->base.metrics);
    if (!s->base.opts->quiet) {
        char body[128];
        snprintf(body, sizeof body, "loss %.5g  lr %.3g  %.0f samples/s", loss, lr, rate);
        cascade_progress_print(t, seconds, steps, elapsed, body);
    }
}

/* h:mm:ss, or m:ss under an hour */
static void clock_str(char *buf, size_t n, double sec) {
    long long x = isfinite(sec) && sec > 0 ? (long long)(sec + 0.5) : 0;
    if (x >= 3600) snprintf(buf, n, "%lld:%02lld:%02lld", x / 3600, x / 60 % 60, x % 60);
    else snprintf(buf, n, "%lld:%02lld", x / 60, x % 60);
}

void cascade_progress_print(const cascade_training *t, double seconds, int64_t steps, double elapsed,
                            const char *body) {
    int64_t step = t->prog.step, total = t->total_steps > 0 ? t->total_steps : 1, per = t->steps_per_epoch;
    /* prog.epoch is the 0-based epoch this step belongs to (it advances after the line) */
    int64_t epochs = per > 0 ? (total + per - 1) / per : 1;
    char el[32], eta[32];
    clock_str(el, sizeof el, elapsed);
    if (steps > 0 && step < total) clock_str(eta, sizeof eta, seconds / (double)steps * (double)(total - step));
    else snprintf(eta, sizeof eta, step >= total ? "0:00" : "?");
    if (!t->tty) {
        cascade_log("epoch %lld/%lld  step %lld/%lld  %s  elapsed %s  ETA %s\n", (long long)t->prog.epoch + 1,
                    (long long)epochs, (long long)step, (long long)total, body, el, eta);
        return;
    }
    char bar[21];
    int filled = step >= total ? 20 : (int)(20 * step / total);
    for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
    bar[20] = 0;
    cascade_log("\r[%s] %3d%%  epoch %lld/%lld  step %lld/%lld  %s  %s elapsed, ETA %s   ", bar,
                (int)(100 * step / total), (long long)t->prog.epoch + 1, (long long)epochs, (long long)step,
                (long long)total, body, el, eta);
}

cascade_status cascade_session_validate(cascade_training *t, double elapsed, double *loss_out) {
    cascade_session *s = (cascade_session *)t;
    cascade_job *job = s->base.job;
    double loss;
    CASCADE_TRY(cascade_predict_dataset(job, &s->net, &s->valid, (int)job->micro_batch, s->xb, s->preds, s->classes,
                                        s->base.comm, &loss));
    *loss_out = loss;
    /* this rank's rows [lo, hi): outputs in s->preds, targets (x for an autoencoder) in valid */
    int64_t lo = s->valid_lo, m = s->valid_hi - s->valid_lo, ys = cascade_shape_numel(&s->valid.y_shape);
    const float *preds = s->preds, *y = job->kind == JOB_AUTOENCODER ? s->valid.x + lo * cascade_shape_numel(&s->valid.x_shape)
                                                                   : s->valid.y + lo * ys;
    if (s->phys_preds) { /* metrics in physical units */
        memcpy(s->phys_preds, s->preds, (size_t)(m * s->out_numel) * sizeof(float));
        memcpy(s->phys_y, y, (size_t)(m * ys) * sizeof(float));
        cascade_tnorm_apply(&s->tnorm, s->phys_preds, m, 1);
        cascade_tnorm_apply(&s->tnorm, s->phys_y, m, 1);
        preds = s->phys_preds;
        y = s->phys_y;
    }
    char metrics[4096], l[32];
    CASCADE_TRY(cascade_metrics_json(job, preds, y, m, s->out_numel, ys, s->base.comm, metrics, sizeof metrics, NULL));
    if (s->base.rank != 0) return CASCADE_OK;
    cascade_json_double(l, sizeof l, loss);
    fprintf(s->base.metrics, "{\"step\":%lld,\"epoch\":%lld,\"split\":\"valid\",\"loss\":%s,\"time_s\":%.3f%s}\n",
            (long long)s->base.prog.step, (long long)s->base.prog.epoch, l, elapsed, metrics);
    fflush(s->base.metrics);
    if (!s->base.opts->quiet) {
        /* console: `,"key":value` members as `  key value` */
        char pretty[4096];
        size_t k = 0;
        for (const char *p = metrics; *p && k + 3 < sizeof pretty; p++) {
            if (*p == '"') continue;
            if (*p == ',') pretty[k++] = ' ', pretty[k++] = ' ';
            else pretty[k++] = *p == ':' ? ' ' : *p;
        }
        pretty[k] = 0;
        cascade_log("%svalid  step %lld  loss %.5g%s\n", s->base.tty ? "\n" : "", (long long)s->base.prog.step, loss, pretty);
    }
    return CASCADE_OK;
}

cascade_status cascade_session_write(cascade_training *t, cascade_h5writer *w) {
    cascade_session *s = (cascade_session *)t;
    CASCADE_TRY(cascade_model_write(w, t->comm, t->job, &s->net, &s->opt, &s->norm, &t->train, &t->prog));
    if (t->job->normalize_targets == NORM_STANDARD) CASCADE_TRY(cascade_model_write_tnorm(w, t->comm, &s->tnorm));
    return CASCADE_OK;
}
