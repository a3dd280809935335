/* Training session setup, logging, validation and checkpoints (see session.h). */
#include "train/session.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/metrics.h"
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

/* Training and validation sets: a separate file, or a Philox split of the training file. */
static cascade_status load_data(cascade_session *s) {
    cascade_job *job = s->job;
    int64_t *rows = NULL, n_train = 0, n_valid = 0;
    cascade_status st = CASCADE_OK;
    if (job->valid[0]) {
        CASCADE_TRY(cascade_data_load(job, job->valid, 1, NULL, 0, s->comm, &s->valid));
        s->has_valid = 1;
    } else if (job->valid_fraction > 0) {
        CASCADE_TRY(cascade_data_split(job, s->comm, &rows, &n_train, &n_valid));
        st = cascade_data_load(job, job->train, 1, rows + n_train, n_valid, s->comm, &s->valid);
        s->has_valid = !st;
    }
    /* preload the training set when it fits the budget, else stream it */
    cascade_source src;
    if (!st) st = cascade_source_open(job, job->train, 1, s->comm, &src);
    if (!st) {
        int64_t n = rows ? n_train : src.total;
        double bytes = (double)n * (double)(cascade_shape_numel(&src.shape.x_shape) +
                                            cascade_shape_numel(&src.shape.y_shape)) * sizeof(float);
        cascade_source_close(&src);
        if (bytes <= job->memory_budget_mb * 1048576.0) {
            st = cascade_data_load(job, job->train, 1, rows, n_train, s->comm, &s->train);
        } else {
            int64_t nmb = job->batch / job->micro_batch;
            int64_t most = (nmb + s->size - 1) / s->size * job->micro_batch; /* samples per rank and step */
            s->streaming = 1;
            st = cascade_stream_open(&s->stream, job, rows, n_train, most, s->comm); /* takes rows */
            s->train = s->stream.shape;
            rows = NULL;
        }
    }
    free(rows);
    return st;
}

static cascade_status load_checkpoint(cascade_session *s, const char *from, int full) {
    cascade_h5file *f;
    CASCADE_TRY(cascade_ckpt_open(from, s->comm, &f));
    cascade_status st = full ? cascade_model_read_counters(f, &s->prog) : CASCADE_OK;
    if (!st) st = cascade_model_read_params(f, &s->net, full);
    if (!st && full)
        st = cascade_model_read_state(f, s->job, &s->net, &s->opt, NULL, &s->train, &s->prog); /* norm: read_data_stats */
    if (st) cascade_error_context("%s %s: ", full ? "resuming from" : "--init from", from);
    cascade_h5_close(f);
    return st;
}

/* Resuming: the input and target normalisation of the checkpoint (read before the data are
 * normalised; a fresh run computes them from the training set). */
static cascade_status read_data_stats(cascade_session *s, const char *from) {
    cascade_h5file *f;
    CASCADE_TRY(cascade_ckpt_open(from, s->comm, &f));
    cascade_status st = CASCADE_OK;
    if (s->job->normalize == NORM_STANDARD)
        st = cascade_model_read_state(f, s->job, &s->net, NULL, &s->norm, &s->train, NULL);
    if (!st && s->job->normalize_targets == NORM_STANDARD)
        st = cascade_model_read_tnorm(f, cascade_shape_numel(&s->train.y_shape), &s->tnorm);
    cascade_h5_close(f);
    return st;
}

cascade_status cascade_session_start(const cascade_job *job, const cascade_train_opts *o, int size,
                                     char rundir[CASCADE_PATH_MAX], char ckdir[CASCADE_PATH_MAX + 16],
                                     const char **resume_from) {
    if (o->out_dir)
        snprintf(rundir, CASCADE_PATH_MAX, "%s", o->out_dir);
    else
        snprintf(rundir, CASCADE_PATH_MAX, "runs/%s", job->name);
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
    if (!(*metrics = fopen(path, "a"))) return cascade_fail(CASCADE_EIO, "cannot open %s: %s", path, strerror(errno));
    return CASCADE_OK;
}

cascade_status cascade_session_open(cascade_session *s, cascade_job *job, const cascade_train_opts *o,
                                    MPI_Comm comm) {
    memset(s, 0, sizeof *s);
    s->job = job;
    s->opts = o;
    s->prog.best_valid_loss = INFINITY, s->prog.best_valid_step = -1;
    s->comm = comm;
    s->rank = cascade_par_rank(comm);
    s->size = cascade_par_size(comm);
    s->tty = isatty(2);
    cascade_status st = CASCADE_OK;
    const char *resume_from = NULL;
    CASCADE_TRY(cascade_session_start(job, o, s->size, s->rundir, s->ckdir, &resume_from));
    if ((st = load_data(s))) goto fail;
    if (s->train.n < job->batch) {
        st = cascade_fail(CASCADE_EUSAGE, "%s: batch = %ld is larger than the %lld training samples in %s",
                          job->path, job->batch, (long long)s->train.n, job->train);
        goto fail;
    }
    if ((st = cascade_model_build(job, job->nets[0], &s->train.x_shape, &s->net))) goto fail;
    if ((st = cascade_model_check_targets(job, &s->net, &s->train))) goto fail;
    s->classes = cascade_model_classes(job, &s->net);
    if (!s->streaming && (st = cascade_model_check_labels(job, &s->train, s->classes))) goto fail;
    if (s->has_valid && (st = cascade_model_check_labels(job, &s->valid, s->classes))) goto fail;
    if (job->early_stopping > 0 && !s->has_valid) {
        cascade_section *ts = cascade_job_section(job, "train");
        st = cascade_cfg_error(ts, ts ? cascade_section_peek(ts, "early_stopping") : NULL,
                               "early stopping watches the validation loss: give [data] valid or valid_fraction");
        goto fail;
    }
    if (resume_from && (st = read_data_stats(s, resume_from))) goto fail;
    if (job->normalize == NORM_STANDARD) {
        if (!resume_from)
            st = s->streaming ? cascade_stream_norm(&s->stream, job, &s->norm) : cascade_norm_compute(job, &s->train, &s->norm);
        if (st) goto fail;
        if (!s->streaming) cascade_norm_apply(job, &s->norm, &s->train);
        if (s->has_valid) cascade_norm_apply(job, &s->norm, &s->valid);
    }
    if (job->normalize_targets == NORM_STANDARD) {
        if (!resume_from)
            st = s->streaming ? cascade_stream_tnorm(&s->stream, job, &s->tnorm) : cascade_tnorm_compute(&s->train, &s->tnorm);
        if (st) goto fail;
        if (!s->streaming) cascade_tnorm_apply(&s->tnorm, s->train.y, s->train.n, 0);
        if (s->has_valid) cascade_tnorm_apply(&s->tnorm, s->valid.y, s->valid.n, 0);
    }
    int mb = (int)job->micro_batch;
    if ((st = cascade_net_prepare(&s->net, mb, 0))) goto fail;
    /* ZeRO-1 (and deterministic mode): rank r keeps the optimizer state of its block of parameters */
    if ((st = cascade_net_shards(job, &s->net, comm, &s->shards))) goto fail;
    if ((st = cascade_shard_optimizer(&s->opt, &job->opt[0], &s->shards))) goto fail;
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
        cascade_log("resuming %s at step %lld (epoch %lld)\n", s->rundir, (long long)s->prog.step,
                    (long long)s->prog.epoch);
    } else if (o->init_path) {
        if ((st = load_checkpoint(s, o->init_path, 0))) goto fail;
    }
    if ((st = cascade_topo_init(&s->topo, comm))) goto fail;
    s->grads_own = s->net.grads;
    if ((st = cascade_net_reducer(&s->net, &s->topo, job, (int)s->net.n_stats + 1, &s->shards, &s->red))) goto fail;
    s->steps_per_epoch = s->train.n / job->batch;
    s->total_steps = o->steps > 0 ? o->steps : job->steps > 0 ? job->steps : job->epochs * s->steps_per_epoch;
    int64_t ys = cascade_shape_numel(&s->train.y_shape), xs = cascade_shape_numel(&s->train.x_shape);
    s->perm = malloc((size_t)s->train.n * sizeof(int64_t));
    s->idx = malloc((size_t)mb * sizeof(int64_t));
    s->ids = malloc((size_t)mb * sizeof(int64_t));
    s->xb = cascade_alloc((size_t)mb * (size_t)xs * sizeof(float), "input batch");
    s->yb = cascade_alloc((size_t)mb * (size_t)ys * sizeof(float), "target batch");
    s->dout = cascade_alloc((size_t)mb * (size_t)s->out_numel * sizeof(float), "output gradient");
    s->preds = cascade_alloc((size_t)(s->has_valid ? s->valid.n : 1) * (size_t)s->out_numel * sizeof(float),
                             "validation outputs");
    if (job->normalize_targets == NORM_STANDARD && s->has_valid) {
        s->phys_preds = cascade_alloc((size_t)s->valid.n * (size_t)s->out_numel * sizeof(float), "validation outputs");
        s->phys_y = cascade_alloc((size_t)s->valid.n * (size_t)ys * sizeof(float), "validation targets");
        if (!s->phys_preds || !s->phys_y) {
            st = cascade_fail(CASCADE_EINTERNAL, "out of memory");
            goto fail;
        }
    }
    s->facc = cascade_alloc((size_t)(s->net.n_stats + 1) * sizeof(double), "statistics buffer");
    s->label_w = cascade_alloc((size_t)(ys + 1) * sizeof(double), "label weights");
    if (!s->perm || !s->idx || !s->ids || !s->xb || !s->yb || !s->dout || !s->preds || !s->facc || !s->label_w) {
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory for batch buffers");
        goto fail;
    }
    if (s->rank == 0) {
        if ((st = cascade_session_open_rundir(job, s->rundir, &s->metrics))) goto fail;
        char summary[8192];
        cascade_net_summary(&s->net, summary, sizeof summary);
        if (!o->quiet) cascade_log("%s", summary);
        if (s->streaming)
            cascade_log("streaming the training set from %s (larger than memory_budget_mb = %g)\n", job->train,
                        job->memory_budget_mb);
        cascade_log("training %s: %lld samples, %lld steps of batch %ld (%lld per epoch), %d rank(s)%s\n", job->name,
                    (long long)s->train.n, (long long)s->total_steps, job->batch, (long long)s->steps_per_epoch,
                    s->size, job->deterministic ? ", deterministic" : "");
        if (!o->quiet)
            cascade_log("optimizer state: %.0f bytes per rank%s\n", cascade_optimizer_bytes(&s->opt),
                        s->shards.sharded ? " (sharded over the ranks)" : "");
    }
    return CASCADE_OK;
fail:
    cascade_session_close(s);
    return st;
}

void cascade_session_close(cascade_session *s) {
    if (s->metrics) fclose(s->metrics);
    cascade_data_free(&s->train);
    cascade_data_free(&s->valid);
    if (s->grads_own) s->net.grads = s->grads_own;
    cascade_net_free(&s->net);
    cascade_optimizer_free(&s->opt);
    free(s->perm);
    free(s->idx);
    free(s->ids);
    cascade_free(s->xb);
    cascade_free(s->yb);
    cascade_free(s->dout);
    cascade_free(s->preds);
    cascade_free(s->facc);
    cascade_free(s->label_w);
    cascade_reducer_free(&s->red);
    cascade_shards_free(&s->shards);
    cascade_topo_free(&s->topo);
    if (s->streaming) cascade_stream_close(&s->stream);
    cascade_norm_free(&s->norm);
    cascade_norm_free(&s->tnorm);
    cascade_free(s->phys_preds);
    cascade_free(s->phys_y);
    memset(s, 0, sizeof *s);
}

void cascade_session_shuffle(cascade_session *s) {
    if (s->job->shuffle)
        cascade_permutation((uint64_t)s->job->seed, CASCADE_RNG_SHUFFLE, (uint64_t)s->prog.epoch, s->train.n, s->perm);
    else
        for (int64_t i = 0; i < s->train.n; i++) s->perm[i] = i;
    s->perm_valid = 1;
}

void cascade_json_double(char *buf, size_t n, double v) {
    if (isfinite(v))
        snprintf(buf, n, "%.7g", v);
    else
        snprintf(buf, n, "null");
}

void cascade_session_log_train(cascade_session *s, double loss, double lr, double rate, double elapsed) {
    double t[CASCADE_TIMERS] = {s->t_input, s->t_compute, s->red.wait_s, s->red.exact_s, s->t_optim};
    char timers[1024];
    s->t_input = s->t_compute = s->t_optim = s->red.wait_s = s->red.exact_s = 0;
    if (cascade_timers_json(s->comm, t, timers, sizeof timers)) timers[0] = 0;
    if (s->rank != 0) return;
    char l[32];
    cascade_json_double(l, sizeof l, loss);
    fprintf(s->metrics,
            "{\"step\":%lld,\"epoch\":%lld,\"split\":\"train\",\"loss\":%s,\"lr\":%.7g,\"samples_per_s\":%.1f,"
            "\"time_s\":%.3f%s}\n",
            (long long)s->prog.step, (long long)s->prog.epoch, l, lr, rate, elapsed, timers);
    fflush(s->metrics);
    if (!s->opts->quiet)
        cascade_log("%sstep %lld/%lld  epoch %lld  loss %.5g  lr %.3g  %.0f samples/s%s", s->tty ? "\r" : "",
                    (long long)s->prog.step, (long long)s->total_steps, (long long)s->prog.epoch, loss, lr, rate,
                    s->tty ? "   " : "\n");
}

cascade_status cascade_session_validate(cascade_session *s, double elapsed) {
    if (!s->has_valid || s->last_valid_step == s->prog.step) return CASCADE_OK;
    s->last_valid_step = s->prog.step;
    s->validated_at_end = s->prog.step == s->total_steps;
    double loss = cascade_predict_dataset(s->job, &s->net, &s->valid, (int)s->job->micro_batch, s->xb, s->preds,
                                          s->classes, s->comm);
    if (s->job->early_stopping > 0) {
        /* every rank computed the same loss; rank 0's decides, so that no rank can differ */
        CASCADE_TRY(cascade_par_bcast(s->comm, &loss, sizeof loss));
        if (loss < s->prog.best_valid_loss) { /* NaN never improves */
            s->prog.best_valid_loss = loss, s->prog.best_valid_step = s->prog.step;
            s->prog.stale_validations = 0;
            s->save_best = 1;
        } else if (++s->prog.stale_validations >= s->job->early_stopping) {
            s->stop_early = 1;
        }
    }
    if (s->rank != 0) return CASCADE_OK;
    char metrics[4096], l[32];
    const float *preds = s->preds, *y = s->job->kind == JOB_AUTOENCODER ? s->valid.x : s->valid.y;
    if (s->phys_preds) { /* metrics in physical units */
        int64_t ys = cascade_shape_numel(&s->valid.y_shape);
        memcpy(s->phys_preds, s->preds, (size_t)(s->valid.n * s->out_numel) * sizeof(float));
        memcpy(s->phys_y, s->valid.y, (size_t)(s->valid.n * ys) * sizeof(float));
        cascade_tnorm_apply(&s->tnorm, s->phys_preds, s->valid.n, 1);
        cascade_tnorm_apply(&s->tnorm, s->phys_y, s->valid.n, 1);
        preds = s->phys_preds;
        y = s->phys_y;
    }
    cascade_metrics_json(s->job, preds, y, s->valid.n, s->out_numel, cascade_shape_numel(&s->valid.y_shape),
                         metrics, sizeof metrics);
    cascade_json_double(l, sizeof l, loss);
    fprintf(s->metrics, "{\"step\":%lld,\"epoch\":%lld,\"split\":\"valid\",\"loss\":%s,\"time_s\":%.3f%s}\n",
            (long long)s->prog.step, (long long)s->prog.epoch, l, elapsed, metrics);
    fflush(s->metrics);
    if (!s->opts->quiet) {
        /* console: `,"key":value` members as `  key value` */
        char pretty[4096];
        size_t k = 0;
        for (const char *p = metrics; *p && k + 3 < sizeof pretty; p++) {
            if (*p == '"') continue;
            if (*p == ',') pretty[k++] = ' ', pretty[k++] = ' ';
            else pretty[k++] = *p == ':' ? ' ' : *p;
        }
        pretty[k] = 0;
        cascade_log("%svalid  step %lld  loss %.5g%s\n", s->tty ? "\n" : "", (long long)s->prog.step, loss, pretty);
    }
    return CASCADE_OK;
}

cascade_status cascade_session_checkpoint(cascade_session *s) {
    char name[64];
    snprintf(name, sizeof name, "step-%08lld.h5", (long long)s->prog.step);
    double t0 = cascade_now();
    cascade_h5writer *w;
    CASCADE_TRY(cascade_ckpt_begin(s->ckdir, name, s->comm, &w));
    cascade_ckpt_meta meta = {.step = s->prog.step, .epoch = s->prog.epoch, .samples_seen = s->prog.samples_seen,
                              .world_size = s->size, .seed = s->job->seed, .job = s->job->text};
    cascade_status st = cascade_ckpt_write_meta(w, &meta);
    if (!st) st = cascade_model_write(w, s->rank, s->job, &s->net, &s->opt, &s->norm, &s->train, &s->prog);
    if (!st && s->job->normalize_targets == NORM_STANDARD) st = cascade_model_write_tnorm(w, s->rank, &s->tnorm);
    if (st) {
        cascade_h5w_abort(w);
        return st;
    }
    CASCADE_TRY(cascade_ckpt_finish(w));
    if (s->save_best) { /* the validation of this step lowered the loss */
        CASCADE_TRY(cascade_ckpt_mark_best(s->ckdir, name, s->comm));
        s->save_best = 0;
    }
    double dt = cascade_now() - t0;
    if (s->rank == 0 && s->metrics) { /* the write rate, for bench/ */
        char path[CASCADE_PATH_MAX + 96];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", s->ckdir, name);
        double mb = stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0;
        fprintf(s->metrics, "{\"step\":%lld,\"epoch\":%lld,\"split\":\"checkpoint\",\"seconds\":%.4f,\"mb\":%.3f}\n",
                (long long)s->prog.step, (long long)s->prog.epoch, dt, mb);
        fflush(s->metrics);
    }
    return cascade_ckpt_keep_last(s->ckdir, (int)s->job->keep_checkpoints, s->comm);
}
