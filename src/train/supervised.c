/* Supervised training: global batches split into micro-batches, dealt to ranks in contiguous
 * blocks; gradients summed over ranks (parallel/reducer.h), optimizer step, validation per epoch,
 * metrics.jsonl, atomic checkpoints, resume and signal-triggered checkpoints. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cascade/h5io.h"
#include "cascade/trace.h"
#include "cascade/xsum.h"
#include "eval/metrics.h"
#include "nn/loss.h"
#include "train/model.h"
#include "train/session.h"
#include "train/train.h"

/* Sum over the global batch of its labels' class weights, exact and the same on every rank
 * for any rank count (each rank adds its micro-batches' labels). */
static cascade_status class_weight_sum(cascade_session *s, int64_t first, int64_t last, double *out) {
    cascade_job *job = s->job;
    int64_t mb = job->micro_batch, ys = cascade_shape_numel(&s->train.y_shape);
    int64_t acc[CASCADE_XSUM_DIGITS] = {0};
    for (int64_t q = 0; q < (last - first) * mb; q++) {
        const float *labels = s->streaming ? s->stream.y + q * ys : s->train.y + s->perm[s->prog.cursor + first * mb + q] * ys;
        cascade_ce_label_weights(1, ys, labels, job->class_weights, s->classes, s->label_w);
        for (int64_t e = 0; e < ys; e++) cascade_xsum_add_doubles(acc, s->label_w + e, 1); /* one sum */
    }
    CASCADE_TRY(cascade_par_sum_int64(s->comm, acc, CASCADE_XSUM_DIGITS));
    cascade_xsum_to_doubles(acc, out, 1);
    if (!(*out > 0)) *out = 1; /* a batch of zero-weight labels: no gradient */
    return CASCADE_OK;
}

/* Streaming: reads the samples of this rank's micro-batches [first, last) of the step into
 * stream.x/y (normalised, in micro-batch order) and checks their labels. Collective. */
static cascade_status fetch_samples(cascade_session *s, int64_t first, int64_t last) {
    int64_t mb = s->job->micro_batch, n = (last - first) * mb;
    CASCADE_TRY(cascade_stream_fetch(&s->stream, s->job, s->perm + s->prog.cursor + first * mb, n, &s->norm, &s->tnorm));
    cascade_dataset d = cascade_stream_view(&s->stream, n);
    return cascade_model_check_labels(s->job, &d, s->classes);
}

/* One step over the global batch starting at perm[cursor]: this rank's micro-batches, then
 * the sums over all ranks of gradients, loss and batch-norm statistics (parallel/reducer.h:
 * deterministic mode sums every micro-batch's contribution exactly, so the result does not
 * depend on how micro-batches are dealt to ranks). Leaves the summed gradients in
 * s->grads_sum (valid on this rank's shard), the mean statistics applied; returns the mean
 * loss and whether any loss or gradient term was not finite (the same on every rank). */
static cascade_status global_step(cascade_session *s, int64_t step, double *loss_out, int *nonfinite) {
    cascade_job *job = s->job;
    cascade_net *net = &s->net;
    int mb = (int)job->micro_batch;
    int64_t nmb = job->batch / job->micro_batch, ns = net->n_stats, first, last;
    cascade_par_block(nmb, s->rank, s->size, &first, &last);
    cascade_reducer_begin(&s->red);
    if (s->streaming) {
        double t0 = cascade_now();
        /* a data error on one rank (e.g. NaN in its rows) must stop every rank */
        CASCADE_TRY(cascade_par_agree(s->comm, fetch_samples(s, first, last), NULL, NULL,
                                      "reading its samples of the step"));
        s->t_input += cascade_now() - t0;
        cascade_trace_add("input", "read the step's samples", t0, cascade_now());
    }
    /* the loss divides by the global batch's terms, or by its labels' weights (class_weights) */
    double denom = (double)(job->batch * s->terms_per_sample);
    if (job->n_class_weights) CASCADE_TRY(class_weight_sum(s, first, last, &denom));
    for (int64_t m = first; m < last; m++) {
        int64_t base = s->prog.cursor + m * mb;
        for (int i = 0; i < mb; i++) {
            s->idx[i] = s->perm[base + i];
            s->ids[i] = s->prog.epoch * s->train.n + base + i;
        }
        double t0 = cascade_now();
        if (s->streaming) { /* this step's samples were fetched above, before the loop */
            int64_t xs = cascade_shape_numel(&s->train.x_shape), ys = cascade_shape_numel(&s->train.y_shape);
            memcpy(s->xb, s->stream.x + (m - first) * mb * xs, (size_t)(mb * xs) * sizeof(float));
            memcpy(s->yb, s->stream.y + (m - first) * mb * ys, (size_t)(mb * ys) * sizeof(float));
        } else {
            cascade_data_gather(&s->train, s->idx, mb, s->xb, s->yb);
        }
        double t1 = cascade_now();
        s->t_input += t1 - t0;
        cascade_run run = {.n = mb, .training = 1, .collect_stats = 1, .sample_ids = s->ids, .step = (uint64_t)step,
                           .after_forward = cascade_reducer_poll, .hook_ctx = &s->red};
        run.ext[0] = s->xb;
        /* the last local micro-batch finishes the gradients: buckets start during its backward */
        run.after_backward = m == last - 1 ? cascade_reducer_hook : cascade_reducer_poll;
        net->grads = cascade_reducer_mb_grads(&s->red);
        cascade_net_forward(net, &run);
        const float *target = job->kind == JOB_AUTOENCODER ? s->xb : s->yb; /* reconstruct the input */
        double loss = cascade_loss_weighted(job->loss, mb, s->out_numel, s->classes, cascade_net_output(net), target,
                                            job->n_class_weights ? job->class_weights : NULL, s->dout,
                                            (float)(1.0 / denom));
        cascade_net_backward(net, &run, s->dout);
        s->t_compute += cascade_now() - t1;
        memcpy(s->facc, net->stats, (size_t)ns * sizeof(double));
        s->facc[ns] = loss;
        cascade_reducer_mb_done(&s->red, s->facc);
    }
    int64_t lo, hi;
    cascade_status st = cascade_reducer_finish(&s->red, s->facc, nonfinite, &s->grads_sum, &lo, &hi);
    if (st) {
        cascade_error_context("step %lld: ", (long long)step + 1);
        return st;
    }
    for (int64_t i = 0; i < ns; i++) s->facc[i] /= (double)nmb;
    *loss_out = s->facc[ns] / denom;
    if (!*nonfinite && isfinite(*loss_out)) cascade_net_apply_stats(net, s->facc);
    return CASCADE_OK;
}

cascade_status cascade_train_supervised(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm) {
    cascade_session s;
    cascade_status st = cascade_session_open(&s, job, o, comm);
    if (st) return st;
    int64_t B = job->batch, nonfinite_run = 0;
    double t0 = cascade_now(), t_log = t0, loss_acc = 0;
    int64_t steps_acc = 0;
    if (job->early_stopping > 0 && s.prog.stale_validations >= job->early_stopping) {
        cascade_log("%s stopped early at step %lld (best step %lld): nothing to resume\n", s.rundir,
                    (long long)s.prog.step, (long long)s.prog.best_valid_step);
        s.validated_at_end = 1;
        s.total_steps = s.prog.step;
    }
    while (!st && s.prog.step < s.total_steps) {
        if (s.prog.cursor == 0 || !s.perm_valid) cascade_session_shuffle(&s);
        int64_t step = s.prog.step;
        double t_step = cascade_now();
        double loss = NAN;
        int nonfinite = 0;
        cascade_net_begin_update(&s.net); /* spectral normalisation: one power iteration */
        if ((st = global_step(&s, step, &loss, &nonfinite))) break;
        int ok = isfinite(loss) && !nonfinite;
        double lr = cascade_lr_at(&job->opt[0], step, s.total_steps);
        if (ok) {
            /* own shard only with ZeRO-1 (the whole buffer otherwise), then share the result */
            double to = cascade_now();
            if ((st = cascade_shard_update(&s.opt, &s.shards, s.net.params, s.grads_sum, lr))) break;
            s.t_optim += cascade_now() - to;
            nonfinite_run = 0;
        } else if (++nonfinite_run >= job->max_nonfinite) {
            st = cascade_fail(CASCADE_EDATA, "loss or gradients were NaN/Inf in %ld steps in a row (last at step %lld); "
                              "stopping without writing a checkpoint (max_nonfinite = %ld)", job->max_nonfinite,
                              (long long)step + 1, job->max_nonfinite);
            break;
        } else {
            cascade_log("\nstep %lld: loss or gradients NaN/Inf, step skipped\n", (long long)step + 1);
        }
        cascade_trace_add("step", "training step", t_step, cascade_now());
        s.prog.step++;
        s.prog.samples_seen += B;
        s.prog.cursor += B;
        if (ok) loss_acc += loss, steps_acc++;
        int epoch_end = s.prog.cursor + B > s.train.n;
        if (s.prog.step % job->log_every == 0 || s.prog.step == s.total_steps || epoch_end) {
            double now = cascade_now();
            double rate = (double)(steps_acc * B) / (now - t_log > 1e-9 ? now - t_log : 1e-9);
            cascade_session_log_train(&s, steps_acc ? loss_acc / (double)steps_acc : NAN, lr, rate, now - t0);
            loss_acc = 0;
            steps_acc = 0;
            t_log = now;
        }
        /* validation and checkpoints are not training: their time stays out of samples/s */
        double t_aside = cascade_now();
        /* validation before the checkpoint of the same step, so that it records the outcome */
        if (epoch_end || s.prog.step == s.total_steps) {
            st = cascade_session_validate(&s, cascade_now() - t0);
            cascade_trace_add("validate", "validation", t_aside, cascade_now());
        }
        if (epoch_end) {
            s.prog.epoch++;
            s.prog.cursor = 0;
        }
        int any_stop = o->stop_flag ? (int)*o->stop_flag : 0;
        st = cascade_par_agree(comm, st, &any_stop, NULL, "validating");
        int due = job->checkpoint_every > 0 && s.prog.step % job->checkpoint_every == 0;
        if (!st && (due || any_stop || s.save_best || s.stop_early || s.prog.step == s.total_steps)) {
            double t_ck = cascade_now();
            st = cascade_session_checkpoint(&s);
            cascade_trace_add("checkpoint", "checkpoint", t_ck, cascade_now());
        }
        t_log += cascade_now() - t_aside;
        if (!st && any_stop) {
            cascade_log("\nstopped by a signal at step %lld after writing a checkpoint\n", (long long)s.prog.step);
            st = CASCADE_ESTOPPED;
        }
        if (!st && s.stop_early) {
            if (s.rank == 0 && s.metrics) {
                fprintf(s.metrics, "{\"step\":%lld,\"epoch\":%lld,\"split\":\"early_stop\",\"best_step\":%lld,"
                        "\"best_loss\":%.9g}\n", (long long)s.prog.step, (long long)s.prog.epoch,
                        (long long)s.prog.best_valid_step, s.prog.best_valid_loss);
                fflush(s.metrics);
            }
            cascade_log("\nearly stopping at step %lld: the validation loss has not fallen below %.6g (step %lld) "
                        "in %lld validations; checkpoints/BEST names step %lld\n", (long long)s.prog.step,
                        s.prog.best_valid_loss, (long long)s.prog.best_valid_step,
                        (long long)s.prog.stale_validations, (long long)s.prog.best_valid_step);
            break;
        }
    }
    if (!st && !s.validated_at_end) st = cascade_session_validate(&s, cascade_now() - t0);
    cascade_session_close(&s);
    return st;
}
