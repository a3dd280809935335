/* THE training loop, for every kind (run.h): epochs and steps, the non-finite policy, the
 * ranks' agreement on stopping (signals), the log / validation / checkpoint cadence, early
 * stopping and resume. A kind's step, progress line, validation and checkpoint contents come
 * from its cascade_trainer_kind (supervised.c, gan.c). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cascade/trace.h"
#include "train/session.h" /* cascade_session_start; run.h */

/* ---- the base: shared set-up ---- */

cascade_status cascade_training_open(cascade_training *t, cascade_job *job, const cascade_train_opts *o,
                                     MPI_Comm comm, const char **resume_from) {
    t->job = job;
    t->opts = o;
    t->comm = comm;
    t->rank = cascade_par_rank(comm);
    t->size = cascade_par_size(comm);
    t->tty = isatty(2);
    CASCADE_TRY(cascade_topo_init(&t->topo, comm)); /* first: close frees it */
    CASCADE_TRY(cascade_session_start(job, o, t->size, t->rundir, t->ckdir, resume_from));
    if (!*resume_from) return CASCADE_OK;
    /* verified once here (--resume auto: the newest intact checkpoint); opened with
     * cascade_ckpt_open_selected afterwards */
    CASCADE_TRY(cascade_ckpt_select(*resume_from, o->resume == 1, comm, t->resume_file, sizeof t->resume_file));
    *resume_from = t->resume_file;
    return CASCADE_OK;
}

cascade_status cascade_training_buffers(cascade_training *t) {
    t->perm = malloc((size_t)t->train.n * sizeof(int64_t));
    t->ids = malloc((size_t)t->job->micro_batch * sizeof(int64_t));
    if (!t->perm || !t->ids) return cascade_fail(CASCADE_EINTERNAL, "out of memory for batch buffers");
    return CASCADE_OK;
}

void cascade_training_close(cascade_training *t) {
    if (t->metrics) fclose(t->metrics);
    t->metrics = NULL;
    cascade_data_free(&t->train);
    cascade_topo_free(&t->topo);
    free(t->perm);
    free(t->ids);
    t->perm = t->ids = NULL;
}

void cascade_training_permutation(const cascade_training *t, int64_t epoch, int64_t *perm) {
    if (t->job->shuffle)
        cascade_permutation((uint64_t)t->job->seed, CASCADE_RNG_SHUFFLE, (uint64_t)epoch, t->train.n, perm);
    else
        for (int64_t i = 0; i < t->train.n; i++) perm[i] = i;
}

void cascade_training_shuffle(cascade_training *t) {
    cascade_training_permutation(t, t->prog.epoch, t->perm);
    t->perm_valid = 1;
}

/* ---- validation, early stopping, checkpoints ---- */

/* Early stopping: rank 0's loss decides (every rank computed the same, so that none can
 * differ); NaN never improves. */
static cascade_status watch_validation_loss(cascade_training *t, double loss) {
    CASCADE_TRY(cascade_par_bcast(t->comm, &loss, sizeof loss));
    if (loss < t->prog.best_valid_loss) {
        t->prog.best_valid_loss = loss, t->prog.best_valid_step = t->prog.step;
        t->prog.stale_validations = 0;
        t->save_best = 1;
    } else if (++t->prog.stale_validations >= t->job->early_stopping) {
        t->stop_early = 1;
    }
    return CASCADE_OK;
}

/* A validation at this step, once (the loop asks at epoch ends and at the last step). */
static cascade_status validate(const cascade_trainer_kind *k, cascade_training *t, double elapsed) {
    if (!k->validate || !t->has_valid || t->last_valid_step == t->prog.step) return CASCADE_OK;
    t->last_valid_step = t->prog.step;
    t->validated_at_end = t->prog.step == t->total_steps;
    double loss;
    CASCADE_TRY(k->validate(t, elapsed, &loss));
    return t->job->early_stopping > 0 ? watch_validation_loss(t, loss) : CASCADE_OK;
}

/* RUNDIR/checkpoints/step-N.h5: the counters, the kind's contents, then LATEST (and BEST when
 * this step's validation lowered the loss); keep_checkpoints of them kept. Collective. */
static cascade_status checkpoint(const cascade_trainer_kind *k, cascade_training *t) {
    char name[64];
    snprintf(name, sizeof name, "step-%08lld.h5", (long long)t->prog.step);
    double t0 = cascade_now();
    cascade_h5writer *w;
    CASCADE_TRY(cascade_ckpt_begin(t->ckdir, name, t->comm, &w));
    cascade_ckpt_meta meta = {.step = t->prog.step, .epoch = t->prog.epoch, .samples_seen = t->prog.samples_seen,
                              .world_size = t->size, .seed = t->job->seed, .job = t->job->text};
    cascade_status st = cascade_ckpt_write_meta(w, &meta);
    if (!st) st = k->write_checkpoint(t, w);
    if (st) {
        cascade_h5w_abort(w);
        return st;
    }
    CASCADE_TRY(cascade_ckpt_finish(w));
    if (t->save_best) {
        CASCADE_TRY(cascade_ckpt_mark_best(t->ckdir, name, t->comm));
        t->save_best = 0;
    }
    double dt = cascade_now() - t0;
    if (k->log_checkpoint_time && t->rank == 0 && t->metrics) { /* the write rate, for bench/ */
        char path[CASCADE_PATH_MAX + 96];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", t->ckdir, name);
        double mb = stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0;
        fprintf(t->metrics, "{\"step\":%lld,\"epoch\":%lld,\"split\":\"checkpoint\",\"seconds\":%.4f,\"mb\":%.3f}\n",
                (long long)t->prog.step, (long long)t->prog.epoch, dt, mb);
        fflush(t->metrics);
    }
    return cascade_ckpt_keep_last(t->ckdir, (int)t->job->keep_checkpoints, t->comm);
}

static void report_early_stop(cascade_training *t) {
    if (t->rank == 0 && t->metrics) {
        fprintf(t->metrics, "{\"step\":%lld,\"epoch\":%lld,\"split\":\"early_stop\",\"best_step\":%lld,"
                "\"best_loss\":%.9g}\n", (long long)t->prog.step, (long long)t->prog.epoch,
                (long long)t->prog.best_valid_step, t->prog.best_valid_loss);
        fflush(t->metrics);
    }
    cascade_log("\nearly stopping at step %lld: the validation loss has not fallen below %.6g (step %lld) "
                "in %lld validations; checkpoints/BEST names step %lld\n", (long long)t->prog.step,
                t->prog.best_valid_loss, (long long)t->prog.best_valid_step,
                (long long)t->prog.stale_validations, (long long)t->prog.best_valid_step);
}

/* ---- the loop ---- */

/* A step with a non-finite loss or gradient was skipped by every rank; max_nonfinite of them
 * in a row stop the run without a checkpoint. */
static cascade_status nonfinite_policy(cascade_training *t, int ok, int64_t *run) {
    if (ok) {
        *run = 0;
        return CASCADE_OK;
    }
    long most = t->job->max_nonfinite;
    if (++*run >= most)
        return cascade_fail(CASCADE_EDATA, "loss or gradients were NaN/Inf in %ld steps in a row (last at step %lld); "
                            "stopping without writing a checkpoint (max_nonfinite = %ld)", most,
                            (long long)t->prog.step + 1, most);
    cascade_log("\nstep %lld: a loss or gradient was NaN/Inf, that update skipped\n", (long long)t->prog.step + 1);
    return CASCADE_OK;
}

/* After a step: validation (epoch ends, the last step) before the checkpoint of the same step,
 * so that it records the outcome; the ranks agree on errors and stop signals; checkpoints when
 * due, stopped, improved, stopping early or done. *stop: the loop ends without an error. */
static cascade_status after_step(const cascade_trainer_kind *k, cascade_training *t, int epoch_end, double t0,
                                 int *stop) {
    cascade_job *job = t->job;
    int last = t->prog.step == t->total_steps;
    cascade_status st = CASCADE_OK;
    if (k->validate && (epoch_end || last)) {
        double tv = cascade_now();
        st = validate(k, t, tv - t0);
        cascade_trace_add("validate", "validation", tv, cascade_now());
    }
    if (epoch_end) {
        t->prog.epoch++;
        t->prog.cursor = 0;
    }
    int any_stop = t->opts->stop_flag ? (int)*t->opts->stop_flag : 0;
    CASCADE_TRY(cascade_par_agree(t->comm, st, &any_stop, NULL, k->validate ? "validating" : "training"));
    if (k->after_step) CASCADE_TRY(k->after_step(t));
    int due = job->checkpoint_every > 0 && t->prog.step % job->checkpoint_every == 0;
    if (due || any_stop || t->save_best || t->stop_early || last) {
        double tc = cascade_now();
        CASCADE_TRY(checkpoint(k, t));
        cascade_trace_add("checkpoint", "checkpoint", tc, cascade_now());
    }
    if (any_stop) {
        cascade_log("\nstopped by a signal at step %lld after writing a checkpoint\n", (long long)t->prog.step);
        return CASCADE_ESTOPPED;
    }
    if (t->stop_early) {
        report_early_stop(t);
        *stop = 1;
    }
    return CASCADE_OK;
}

/* The steps from prog.step to total_steps, then the last validation if that step had none. */
static cascade_status fit(const cascade_trainer_kind *k, cascade_training *t) {
    cascade_job *job = t->job;
    double t0 = cascade_now(), t_log = t0;
    int64_t nonfinite_run = 0;
    cascade_status st = CASCADE_OK;
    if (job->early_stopping > 0 && t->prog.stale_validations >= job->early_stopping) {
        cascade_log("%s stopped early at step %lld (best step %lld): nothing to resume\n", t->rundir,
                    (long long)t->prog.step, (long long)t->prog.best_valid_step);
        t->validated_at_end = 1;
        t->total_steps = t->prog.step;
    }
    int stop = 0;
    while (!st && !stop && t->prog.step < t->total_steps) {
        double t_step = cascade_now();
        int ok = 1, epoch_end = 0;
        if ((st = k->step(t, t->prog.step, &ok, &epoch_end))) break;
        if ((st = nonfinite_policy(t, ok, &nonfinite_run))) break;
        cascade_trace_add("step", "training step", t_step, cascade_now());
        t->prog.step++;
        if (t->prog.step % job->log_every == 0 || t->prog.step == t->total_steps || epoch_end) {
            double now = cascade_now();
            k->log(t, now - t_log, now - t0);
            t_log = now;
        }
        double t_aside = cascade_now(); /* validation, samples and checkpoints stay out of samples/s */
        st = after_step(k, t, epoch_end, t0, &stop);
        t_log += cascade_now() - t_aside;
    }
    if (!st && k->validate && !t->validated_at_end) st = validate(k, t, cascade_now() - t0);
    return st;
}

cascade_status cascade_train(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm) {
    const cascade_trainer_kind *k = job->kind == JOB_SUPERVISED || job->kind == JOB_AUTOENCODER
                                        ? &cascade_supervised_kind
                                        : &cascade_adversarial_kind;
    cascade_training *t = calloc(1, k->session_size);
    if (!t) return cascade_fail(CASCADE_EINTERNAL, "out of memory for the %s session", k->name);
    cascade_status st = k->open(t, job, o, comm);
    if (!st) {
        st = fit(k, t);
        k->close(t);
    }
    free(t);
    return st;
}
