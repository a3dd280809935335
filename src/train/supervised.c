/* Supervised training: global batches split into micro-batches, dealt to ranks in contiguous
 * blocks; gradients summed over ranks (MPI_Allreduce), optimizer step, validation per epoch,
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
#include "cascade/xsum.h"
#include "eval/metrics.h"
#include "nn/loss.h"
#include "train/model.h"
#include "train/session.h"
#include "train/train.h"

static void bucket_hook(void *ctx, int layer) { cascade_buckets_progress(ctx, layer); }

/* Sum over the global batch of its labels' class weights, exact and the same on every rank
 * for any rank count (each rank adds its micro-batches' labels). */
static cascade_status class_weight_sum(cascade_session *s, int64_t first, int64_t last, double *out) {
    cascade_job *job = s->job;
    int64_t mb = job->micro_batch, ys = cascade_shape_numel(&s->train.y_shape);
    int64_t acc[CASCADE_XSUM_DIGITS] = {0};
    for (int64_t q = 0; q < (last - first) * mb; q++) {
        const float *labels = s->streaming ? s->yloc + q * ys : s->train.y + s->perm[s->prog.cursor + first * mb + q] * ys;
        cascade_ce_label_weights(1, ys, labels, job->class_weights, s->classes, s->label_w);
        for (int64_t e = 0; e < ys; e++) cascade_xsum_add_doubles(acc, s->label_w + e, 1); /* one sum */
    }
    if (s->size > 1 && MPI_Allreduce(MPI_IN_PLACE, acc, CASCADE_XSUM_DIGITS, MPI_INT64_T, MPI_SUM, s->comm) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "rank %d: MPI_Allreduce of class weights failed", s->rank);
    cascade_xsum_to_doubles(acc, out, 1);
    if (!(*out > 0)) *out = 1; /* a batch of zero-weight labels: no gradient */
    return CASCADE_OK;
}

/* One step over the global batch starting at perm[cursor]: this rank's micro-batches, then
 * the sum over all ranks of gradients, loss and batch-norm statistics. Deterministic mode sums
 * every micro-batch's contribution exactly (cascade/xsum.h), so the result does not depend on
 * how micro-batches are dealt to ranks; fast mode adds floats locally and with MPI_SUM.
 * Leaves the summed gradients in net->grads, the mean statistics applied; returns the mean
 * loss (NaN when any term was not finite). */
static cascade_status global_step(cascade_session *s, int64_t step, double *loss_out) {
    cascade_job *job = s->job;
    cascade_net *net = &s->net;
    int mb = (int)job->micro_batch, det = job->deterministic;
    int64_t nmb = job->batch / job->micro_batch, np = net->n_params, ns = net->n_stats;
    int64_t first = nmb * s->rank / s->size, last = nmb * (s->rank + 1) / s->size;
    int64_t nx = CASCADE_XSUM_DIGITS * (np + ns + 1) + 1;
    int64_t *g_acc = s->xacc, *s_acc = s->xacc + CASCADE_XSUM_DIGITS * np;
    int64_t *l_acc = s_acc + CASCADE_XSUM_DIGITS * ns, *bad = s->xacc + nx - 1;
    if (det) memset(s->xacc, 0, (size_t)nx * sizeof(int64_t));
    memset(s->facc, 0, (size_t)(ns + 1) * sizeof(double));
    memset(net->grads, 0, (size_t)np * sizeof(float));
    if (s->streaming) {
        double t0 = cascade_now();
        cascade_status fst = cascade_stream_fetch(s, first, last);
        /* a data error on one rank (e.g. NaN in its rows) must stop every rank */
        int bad = fst != CASCADE_OK ? (int)fst : 0, worst = 0;
        MPI_Allreduce(&bad, &worst, 1, MPI_INT, MPI_MAX, s->comm);
        if (fst) return fst;
        if (worst) return cascade_fail((cascade_status)worst, "another rank failed reading its samples of step %lld",
                                       (long long)step + 1);
        s->t_input += cascade_now() - t0;
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
        if (s->streaming) { /* this step's samples were fetched below, before the loop */
            int64_t xs = cascade_shape_numel(&s->train.x_shape), ys = cascade_shape_numel(&s->train.y_shape);
            memcpy(s->xb, s->xloc + (m - first) * mb * xs, (size_t)(mb * xs) * sizeof(float));
            memcpy(s->yb, s->yloc + (m - first) * mb * ys, (size_t)(mb * ys) * sizeof(float));
        } else {
            cascade_data_gather(&s->train, s->idx, mb, s->xb, s->yb);
        }
        double t1 = cascade_now();
        s->t_input += t1 - t0;
        cascade_run run = {.n = mb, .training = 1, .collect_stats = 1, .sample_ids = s->ids, .step = (uint64_t)step};
        run.ext[0] = s->xb;
        if (s->use_buckets && m == last - 1) { /* the last local micro-batch finishes the gradients */
            cascade_buckets_reset(&s->buckets);
            run.after_backward = bucket_hook;
            run.hook_ctx = &s->buckets;
        }
        if (det) memset(net->grads, 0, (size_t)np * sizeof(float));
        cascade_net_forward(net, &run);
        const float *target = job->kind == JOB_AUTOENCODER ? s->xb : s->yb; /* reconstruct the input */
        double loss = cascade_loss_weighted(job->loss, mb, s->out_numel, s->classes, cascade_net_output(net), target,
                                            job->n_class_weights ? job->class_weights : NULL, s->dout,
                                            (float)(1.0 / denom));
        cascade_net_backward(net, &run, s->dout);
        double t2 = cascade_now();
        s->t_compute += t2 - t1;
        if (det) {
            *bad += cascade_xsum_add_floats(g_acc, net->grads, np);
            *bad += cascade_xsum_add_doubles(s_acc, net->stats, ns);
            *bad += cascade_xsum_add_doubles(l_acc, &loss, 1);
            s->t_exact += cascade_now() - t2;
        } else {
            for (int64_t i = 0; i < ns; i++) s->facc[i] += net->stats[i];
            s->facc[ns] += loss;
        }
    }
    int rc = MPI_SUCCESS;
    double loss_sum = NAN, tc = cascade_now();
    if (det) {
        if (s->size > 1) rc = MPI_Allreduce(MPI_IN_PLACE, s->xacc, (int)nx, MPI_INT64_T, MPI_SUM, s->comm);
        double te = cascade_now();
        s->t_comm += te - tc;
        tc = te;
        if (rc == MPI_SUCCESS) {
            cascade_xsum_to_floats(g_acc, net->grads, np);
            cascade_xsum_to_doubles(s_acc, s->facc, ns);
            cascade_xsum_to_doubles(l_acc, &loss_sum, 1);
            if (*bad) loss_sum = NAN;
        }
        s->t_exact += cascade_now() - tc;
    } else if (s->size > 1) {
        if (first == last) { /* no local micro-batch (not possible when ranks divide them) */
            cascade_buckets_reset(&s->buckets);
        }
        if (cascade_buckets_finish(&s->buckets) != CASCADE_OK) rc = MPI_ERR_OTHER;
        if (rc == MPI_SUCCESS) rc = MPI_Allreduce(MPI_IN_PLACE, s->facc, (int)(ns + 1), MPI_DOUBLE, MPI_SUM, s->comm);
        s->t_comm += cascade_now() - tc;
    }
    if (rc != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "rank %d: MPI_Allreduce of the step's gradients failed at step %lld",
                            s->rank, (long long)step + 1);
    if (!det) loss_sum = s->facc[ns];
    for (int64_t i = 0; i < ns; i++) s->facc[i] /= (double)nmb;
    *loss_out = loss_sum / denom;
    if (isfinite(*loss_out)) cascade_net_apply_stats(net, s->facc);
    return CASCADE_OK;
}

static int all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
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
        double loss = NAN;
        cascade_net_begin_update(&s.net); /* spectral normalisation: one power iteration */
        if ((st = global_step(&s, step, &loss))) break;
        int ok = isfinite(loss) && all_finite(s.net.grads, s.net.n_params);
        double lr = cascade_lr_at(&job->opt[0], step, s.total_steps);
        if (ok) {
            /* own shard only with ZeRO-1 (the whole buffer otherwise), then share the result */
            double to = cascade_now();
            cascade_optimizer_update(&s.opt, s.net.params + s.shard_lo, s.net.grads + s.shard_lo, 0,
                                     s.shard_hi - s.shard_lo, lr);
            if (job->zero && s.size > 1 &&
                MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, s.net.params, s.shard_counts, s.shard_displs,
                               MPI_FLOAT, comm) != MPI_SUCCESS) {
                st = cascade_fail(CASCADE_EINTERNAL, "rank %d: ZeRO-1 allgather of parameters failed", s.rank);
                break;
            }
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
        if (epoch_end || s.prog.step == s.total_steps) st = cascade_session_validate(&s, cascade_now() - t0);
        if (epoch_end) {
            s.prog.epoch++;
            s.prog.cursor = 0;
        }
        int stop = o->stop_flag ? (int)*o->stop_flag : 0, any_stop = 0;
        MPI_Allreduce(&stop, &any_stop, 1, MPI_INT, MPI_MAX, comm);
        int due = job->checkpoint_every > 0 && s.prog.step % job->checkpoint_every == 0;
        if (!st && (due || any_stop || s.save_best || s.stop_early || s.prog.step == s.total_steps))
            st = cascade_session_checkpoint(&s);
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
