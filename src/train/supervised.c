/* The supervised step (kind = supervised, autoencoder): global batches split into
 * micro-batches, dealt to ranks in contiguous blocks; gradients summed over ranks
 * (parallel/reducer.h), then the optimizer update. The loop around it is run.c's. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cascade/trace.h"
#include "cascade/xsum.h"
#include "core/region.h"
#include "nn/loss.h"
#include "train/session.h"

/* Sum over the global batch of its labels' class weights, exact and the same on every rank
 * for any rank count (each rank adds its micro-batches' labels). */
static cascade_status class_weight_sum(cascade_session *s, int64_t first, int64_t last, double *out) {
    cascade_job *job = s->base.job;
    int64_t mb = job->micro_batch, ys = cascade_shape_numel(&s->base.train.y_shape);
    int64_t acc[CASCADE_XSUM_DIGITS] = {0};
    for (int64_t q = 0; q < (last - first) * mb; q++) {
        const float *labels = s->streaming ? s->stream.y + q * ys : s->base.train.y + s->base.perm[s->base.prog.cursor + first * mb + q] * ys;
        cascade_ce_label_weights(1, ys, labels, job->class_weights, s->classes, s->label_w);
        for (int64_t e = 0; e < ys; e++) cascade_xsum_add_doubles(acc, s->label_w + e, 1); /* one sum */
    }
    CASCADE_TRY(cascade_par_sum_int64(s->base.comm, acc, CASCADE_XSUM_DIGITS));
    cascade_xsum_to_doubles(acc, out, 1);
    if (!(*out > 0)) *out = 1; /* a batch of zero-weight labels: no gradient */
    return CASCADE_OK;
}

/* Streaming: reads the samples of this rank's micro-batches [first, last) of the step into
 * stream.x/y (normalised, in micro-batch order) and checks their labels. Collective. */
static cascade_status fetch_samples(cascade_session *s, int64_t first, int64_t last) {
    int64_t mb = s->base.job->micro_batch, n = (last - first) * mb;
    CASCADE_TRY(cascade_stream_fetch(&s->stream, s->base.job, s->base.perm + s->base.prog.cursor + first * mb, n, &s->norm, &s->tnorm));
    cascade_dataset d = cascade_stream_view(&s->stream, n);
    return cascade_model_check_labels(s->base.job, &d, s->classes);
}

/* Streaming with prefetch: the samples of this rank's micro-batches [first, last) of the next
 * step (the next global batch, or the first of the next epoch's permutation when this step
 * ends the epoch — supervised_step's rule) are read in the background while this step
 * computes; the next fetch uses them when it asks for exactly those samples (a run that stops
 * here leaves them unused). Same samples, same order: the results do not change. */
static void prefetch_next(cascade_session *s, int64_t step, int64_t first, int64_t last) {
    cascade_training *t = &s->base;
    int64_t B = t->job->batch, mb = t->job->micro_batch, cursor = t->prog.cursor + B;
    if (!s->stream.prefetching || step + 1 >= t->total_steps) return;
    const int64_t *perm = t->perm;
    if (cursor + B > t->train.n) { /* this step ends the epoch */
        cascade_training_permutation(t, t->prog.epoch + 1, s->stream.next_perm);
        perm = s->stream.next_perm, cursor = 0;
    }
    cascade_stream_prefetch(&s->stream, perm + cursor + first * mb, (last - first) * mb);
}

/* One step over the global batch starting at perm[cursor]: this rank's micro-batches, then
 * the sums over all ranks of gradients, loss and batch-norm statistics (parallel/reducer.h:
 * deterministic mode sums every micro-batch's contribution exactly, so the result does not
 * depend on how micro-batches are dealt to ranks). Leaves the summed gradients in
 * s->grads_sum (valid on this rank's shard), the mean statistics applied; returns the mean
 * loss and whether any loss or gradient term was not finite (the same on every rank). */
static cascade_status global_step(cascade_session *s, int64_t step, double *loss_out, int *nonfinite) {
    cascade_job *job = s->base.job;
    cascade_net *net = &s->net;
    int mb = (int)job->micro_batch;
    int64_t nmb = job->batch / job->micro_batch, ns = net->n_stats, first, last;
    cascade_par_block(nmb, s->base.rank, s->base.size, &first, &last);
    cascade_reducer_begin(&s->red);
    if (s->streaming) {
        double t0 = cascade_now();
        cascade_status st = fetch_samples(s, first, last);
        double t1 = cascade_now();
        /* a data error on one rank (e.g. NaN in its rows) must stop every rank; the ranks wait
         * for the slowest one here (as in the gradient reduction): communication wait */
        CASCADE_TRY(cascade_par_agree(s->base.comm, st, NULL, NULL, "reading its samples of the step"));
        double t2 = cascade_now();
        s->red.wait_s += t2 - t1;
        prefetch_next(s, step, first, last);
        s->base.t_input += (t1 - t0) + (cascade_now() - t2);
        cascade_trace_add("input", "read the step's samples", t0, t1);
    }
    /* the loss divides by the global batch's terms, or by its labels' weights (class_weights) */
    double denom = (double)(job->batch * s->terms_per_sample);
    if (job->n_class_weights) CASCADE_TRY(class_weight_sum(s, first, last, &denom));
    for (int64_t m = first; m < last; m++) {
        int64_t base = s->base.prog.cursor + m * mb;
        for (int i = 0; i < mb; i++) {
            s->idx[i] = s->base.perm[base + i];
            s->base.ids[i] = s->base.prog.epoch * s->base.train.n + base + i;
        }
        double t0 = cascade_now();
        if (s->streaming) { /* this step's samples were fetched above, before the loop */
            int64_t xs = cascade_shape_numel(&s->base.train.x_shape), ys = cascade_shape_numel(&s->base.train.y_shape);
            memcpy(s->xb, s->stream.x + (m - first) * mb * xs, (size_t)(mb * xs) * sizeof(float));
            memcpy(s->yb, s->stream.y + (m - first) * mb * ys, (size_t)(mb * ys) * sizeof(float));
        } else {
            cascade_data_gather(&s->base.train, s->idx, mb, s->xb, s->yb);
        }
        double t1 = cascade_now();
        s->base.t_input += t1 - t0;
        cascade_run run = {.n = mb, .training = 1, .collect_stats = 1, .sample_ids = s->base.ids, .step = (uint64_t)step,
                           .after_forward = cascade_reducer_poll, .hook_ctx = &s->red};
        run.ext[0] = s->xb;
        /* the last local micro-batch finishes the gradients: buckets start during its backward */
        run.after_backward = m == last - 1 ? cascade_reducer_hook : cascade_reducer_poll;
        net->grads = cascade_reducer_mb_grads(&s->red);
        cascade_net_forward(net, &run);
        const float *target = job->kind == JOB_AUTOENCODER ? s->xb : s->yb; /* reconstruct the input */
        cascade_region_begin("loss", "supervised", mb, 0);
        double loss = cascade_loss_weighted(job->loss, mb, s->out_numel, s->classes, cascade_net_output(net), target,
                                            job->n_class_weights ? job->class_weights : NULL, s->dout,
                                            (float)(1.0 / denom));
        cascade_region_end();
        cascade_net_backward(net, &run, s->dout);
        s->base.t_compute += cascade_now() - t1;
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

/* The supervised kind's step: the epoch's permutation at its start, the global batch at
 * perm[cursor], the optimizer update when every term was finite (own shard only with ZeRO-1,
 * the whole buffer otherwise, then the result shared); an epoch ends when the rest of it is
 * shorter than a batch. */
static cascade_status supervised_step(cascade_training *t, int64_t step, int *ok, int *epoch_end) {
    cascade_session *s = (cascade_session *)t;
    cascade_job *job = t->job;
    int64_t B = job->batch;
    if (t->prog.cursor == 0 || !t->perm_valid) cascade_training_shuffle(t);
    double loss = NAN;
    int nonfinite = 0;
    cascade_net_begin_update(&s->net); /* spectral normalisation: one power iteration */
    CASCADE_TRY(global_step(s, step, &loss, &nonfinite));
    *ok = isfinite(loss) && !nonfinite;
    s->lr = cascade_lr_at(&job->opt[0], step, t->total_steps);
    if (*ok) {
        double to = cascade_now();
        CASCADE_TRY(cascade_shard_update(&s->opt, &s->shards, s->net.params, s->grads_sum, s->lr));
        t->t_optim += cascade_now() - to;
        s->loss_acc += loss, s->steps_acc++;
    }
    t->prog.samples_seen += B;
    t->prog.cursor += B;
    *epoch_end = t->prog.cursor + B > t->train.n;
    return CASCADE_OK;
}

/* the loop's base sits first: the kind's functions cast between the two */
_Static_assert(offsetof(cascade_session, base) == 0, "cascade_session starts with its run base");

const cascade_trainer_kind cascade_supervised_kind = {
    .name = "supervised",
    .session_size = sizeof(cascade_session),
    .open = cascade_session_open,
    .step = supervised_step,
    .log = cascade_session_log,
    .validate = cascade_session_validate,
    .write_checkpoint = cascade_session_write,
    .close = cascade_session_close,
    .log_checkpoint_time = 1,
};
