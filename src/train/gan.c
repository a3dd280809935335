/* Adversarial training (kind = gan | wgan | wgan-gp): a generator G(z, c) and a critic
 * D(x, c), both data-parallel. One step = critic_steps critic updates, each on the next
 * global batch of real samples, then one generator update:
 *   gan      D: mean softplus(-D(x)) + softplus(D(G(z)))   G: mean softplus(-D(G(z)))
 *            (BCE on logits; the generator's loss is the non-saturating one)
 *   wgan     D: mean D(G(z)) - mean D(x), then every critic parameter clipped to [-clip, clip]
 *            G: -mean D(G(z))
 *   wgan-gp  D: as wgan + gp_lambda * mean (|grad_x D(x^)| - 1)^2, x^ = x + a (G(z) - x),
 *            a ~ U[0, 1) per sample — the penalty's parameter gradient is exact (double
 *            backward through every critic layer, cascade_net_backward2)
 * Micro-batches are dealt to ranks in contiguous blocks as in supervised training; z and a
 * are Philox draws keyed by (update, position in the global batch), never by rank, and the
 * deterministic mode sums every micro-batch's gradients exactly, so the nets are bitwise
 * identical for any rank count. Checkpoints hold both nets and both optimizers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cascade/h5io.h"
#include "cascade/trace.h"
#include "cascade/xsum.h"
#include "io/png.h"
#include "train/adversarial.h"

/* ---- one update ---- */

void cascade_gan_noise(uint64_t seed, uint64_t counter, int64_t first, int m, int64_t zs, float *z) {
    for (int i = 0; i < m; i++)
        for (int64_t j = 0; j < zs; j += 2) {
            double g[2];
            cascade_normal2(seed, CASCADE_RNG_GAN_Z, counter, ((uint64_t)(first + i) << 24) | (uint64_t)(j / 2), g);
            z[i * zs + j] = (float)g[0];
            if (j + 1 < zs) z[i * zs + j + 1] = (float)g[1];
        }
}

static cascade_reducer *reducer_of(gan_session *s, const cascade_net *net) {
    return net == &s->gen ? &s->gen_red : &s->critic_red;
}

/* Before a micro-batch: where its backward passes accumulate the net's gradients. */
static void mb_begin(gan_session *s, cascade_net *net) { net->grads = cascade_reducer_mb_grads(reducer_of(s, net)); }

/* After a micro-batch: its gradients and doubles (dvals) into the step's sums. */
static void mb_end(gan_session *s, cascade_net *net) { cascade_reducer_mb_done(reducer_of(s, net), s->dvals); }

static void step_begin(gan_session *s, cascade_net *net) { cascade_reducer_begin(reducer_of(s, net)); }

/* The sums over all ranks: gradients into s->grads_sum (valid on this rank's shard), the
 * doubles into facc; s->nonfinite when any term was NaN/Inf (the same on every rank). */
static cascade_status step_reduce(gan_session *s, cascade_net *net) {
    int64_t lo, hi;
    cascade_status st = cascade_reducer_finish(reducer_of(s, net), s->facc, &s->nonfinite, &s->grads_sum, &lo, &hi);
    if (st) cascade_error_context("net %s, step %lld: ", net->name, (long long)s->prog.step + 1);
    return st;
}

/* The reducer's hooks: the final backward of the step (the last local micro-batch's) starts
 * the buckets that backward has finished; every other pass only progresses requests. */
static void hook_on(gan_session *s, cascade_run *run, cascade_net *net, int final) {
    run->hook_ctx = reducer_of(s, net);
    run->after_backward = final ? cascade_reducer_hook : cascade_reducer_poll;
    run->after_forward = cascade_reducer_poll;
}

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

/* The generator's external inputs: z and c; a refiner's simulated batch sb (input-major, one
 * tensor per input with outputs). */
static void gen_inputs(const gan_session *s, cascade_run *run, int m) {
    if (!s->refiner) {
        run->ext[0] = s->zb;
        run->ext[1] = s->cb;
        return;
    }
    for (int k = 0; k < s->gx.n; k++) run->ext[k] = s->sb + m * s->gx.off[k];
    run->ext[s->gx.n] = s->cb;
}

/* Simulated samples idx[0..m) into sb, input-major (a refiner's input). */
static void sim_batch(gan_session *s, const int64_t *idx, int m) {
    for (int k = 0; k < s->gx.n; k++)
        cascade_data_gather(k ? &s->xin[k] : &s->train, idx, m, s->sb + m * s->gx.off[k], NULL);
}

/* The generator's samples for global-batch positions [first, first + m), from z drawn for
 * update counter `ctr` (and the conditions in cb): left in the generator's output. */
/* A refiner refines the simulated micro-batch in sb instead. */
static const float *generate_batch(gan_session *s, uint64_t ctr, int64_t first, int m, int collect) {
    if (!s->refiner) cascade_gan_noise((uint64_t)s->job->seed, ctr, first, m, s->zs, s->zb);
    for (int i = 0; i < m; i++) s->ids[i] = (int64_t)(ctr * (uint64_t)s->job->batch) + first + i;
    cascade_run run = {.n = m, .training = 1, .collect_stats = collect, .sample_ids = s->ids, .step = ctr};
    gen_inputs(s, &run, m);
    cascade_net_forward(&s->gen, &run);
    for (int k = 0; k < s->gx.n; k++) /* the outputs, input-major */
        memcpy(s->fakeb + m * s->gx.off[k], s->gen.act[s->gen_out[k]], (size_t)(m * s->gx.numel[k]) * sizeof(float));
    return s->fakeb;
}

/* The critic's external inputs for an input-major batch x of m samples: each tensor, then c. */
static void critic_inputs(const gan_session *s, cascade_run *run, const float *x, int m) {
    for (int k = 0; k < s->gx.n; k++) run->ext[k] = x + m * s->gx.off[k];
    run->ext[s->gx.n] = s->cb;
}

/* Critic forward on x (conditions cb); its scores stay in its output. */
static const float *critic_forward(gan_session *s, const float *x, int m, uint64_t ctr) {
    cascade_run run = {.n = m, .training = 1, .sample_ids = s->ids, .step = ctr};
    critic_inputs(s, &run, x, m);
    cascade_net_forward(&s->critic, &run);
    return cascade_net_output(&s->critic);
}

/* Critic backward of s->dout after critic_forward on the same x. */
static void critic_backward(gan_session *s, const float *x, int m, uint64_t ctr, int no_param_grads, int final) {
    cascade_run run = {.n = m, .training = 1, .sample_ids = s->ids, .step = ctr, .no_param_grads = no_param_grads};
    critic_inputs(s, &run, x, m);
    hook_on(s, &run, &s->critic, final && !no_param_grads);
    cascade_net_backward(&s->critic, &run, s->dout);
}

/* Gradient penalty of micro-batch positions [first, first + m): x^ between the real xb and
 * the fake batch (input-major; one alpha per sample for all its tensors, the gradient's norm
 * over all of them); adds its exact parameter gradient; returns the sum of (|g| - 1)^2. */
static double penalty(gan_session *s, const float *fake, uint64_t ctr, int64_t first, int m, double scale,
                      int final) {
    const cascade_gan_x *gx = &s->gx;
    for (int i = 0; i < m; i++) {
        uint32_t r[4];
        cascade_philox((uint64_t)s->job->seed, CASCADE_RNG_GAN_ALPHA, ctr, (uint64_t)(first + i), r);
        float a = cascade_u01f(r[0]);
        for (int t = 0; t < gx->n; t++)
            for (int64_t e = 0; e < gx->numel[t]; e++) {
                int64_t k = m * gx->off[t] + i * gx->numel[t] + e;
                s->hat[k] = s->xb[k] + a * (fake[k] - s->xb[k]);
            }
    }
    cascade_run run = {.n = m, .training = 1, .sample_ids = s->ids, .step = ctr, .no_param_grads = 1};
    critic_inputs(s, &run, s->hat, m);
    cascade_net_forward(&s->critic, &run);
    for (int i = 0; i < m; i++) s->dout[i] = 1; /* d(sum of scores)/d x^: each sample's own gradient */
    cascade_net_backward(&s->critic, &run, s->dout);
    double sum = 0;
    const float *vs[CASCADE_MAX_EXTERNAL] = {0};
    for (int i = 0; i < m; i++) {
        double sq = 0;
        for (int t = 0; t < gx->n; t++)
            for (int64_t e = 0; e < gx->numel[t]; e++) {
                double g = s->critic.dext[t][i * gx->numel[t] + e];
                sq += g * g;
            }
        double norm = sqrt(sq), d = norm - 1;
        if (s->job->one_sided && d < 0) d = 0; /* max(0, |g| - 1)^2 */
        sum += d * d;
        /* dR/dg = scale * 2 (|g| - 1) g / |g|; no direction at g = 0 */
        double f = norm > 0 ? scale * 2 * d / norm : 0;
        for (int t = 0; t < gx->n; t++)
            for (int64_t e = 0; e < gx->numel[t]; e++)
                s->v[m * gx->off[t] + i * gx->numel[t] + e] = (float)(f * s->critic.dext[t][i * gx->numel[t] + e]);
    }
    for (int t = 0; t < gx->n; t++) vs[t] = s->v + m * gx->off[t];
    run.no_param_grads = 0;
    hook_on(s, &run, &s->critic, final); /* the seeded sweep finishes the gradients */
    cascade_net_backward2_multi(&s->critic, &run, vs);
    return sum;
}

/* Adds the critic's loss terms for scores d (m samples, `scores` each) judged as real or
 * generated, with their gradient (divided by the global batch's terms) into dout; returns the
 * loss sum. Logistic: softplus(-d) real, softplus(d) fake; Wasserstein: -d real, d fake. */
static double score_loss(gan_session *s, const float *d, int m, int real, double norm) {
    double loss = 0;
    for (int64_t i = 0; i < m * s->scores; i++) {
        if (cascade_gan_uses_bce(s->job)) {
            loss += real ? softplus(-(double)d[i]) : softplus(d[i]);
            s->dout[i] = (float)((sigmoid(d[i]) - (real ? 1 : 0)) / norm);
        } else {
            loss += real ? -d[i] : d[i];
            s->dout[i] = (float)((real ? -1 : 1) / norm);
        }
    }
    return loss;
}

static double score_sum(const float *d, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += d[i];
    return sum;
}

/* The real micro-batch into xb: gan: the training samples at perm[cursor + pos]; refiner:
 * the target samples in their fixed permutation, cycling, at the critic update's offset. */
static void real_batch(gan_session *s, int64_t pos, int m) {
    if (!s->refiner) {
        for (int k = 0; k < s->gx.n; k++)
            cascade_data_gather(k ? &s->xin[k] : &s->train, s->perm + s->prog.cursor + pos, m,
                                s->xb + m * s->gx.off[k], k == 0 && s->cs ? s->cb : NULL);
        return;
    }
    int64_t idx[1024], base = s->critic_updates * s->job->batch + pos;
    for (int i = 0; i < m; i += 1024) {
        int c = m - i < 1024 ? m - i : 1024;
        for (int j = 0; j < c; j++) idx[j] = s->perm_t[(base + i + j) % s->target.n];
        for (int k = 0; k < s->gx.n; k++) /* input-major: tensor k of the m samples at m * off[k] */
            cascade_data_gather(k ? &s->tin[k] : &s->target, idx, c,
                                s->xb + m * s->gx.off[k] + (int64_t)i * s->gx.numel[k], NULL);
    }
}

/* A refiner's critic judges the refined global batch, mixed with its history: refine this
 * rank's micro-batches first and share them with every rank. */
static cascade_status refine_all(gan_session *s, uint64_t ctr, int64_t first, int64_t last) {
    int mb = (int)s->job->micro_batch;
    for (int64_t m = first; m < last; m++) {
        int64_t pos = m * mb;
        sim_batch(s, s->perm + s->prog.cursor + pos, mb);
        const float *refined = generate_batch(s, ctr, pos, mb, 0);
        for (int i = 0; i < mb; i++) /* fake_all holds rows (the history's layout) */
            cascade_gan_x_row(&s->gx, refined, mb, i, s->fake_all + (pos + i) * s->xs);
    }
    return cascade_refiner_share_batch(s);
}

/* One critic update on the global batch at perm[cursor]. sums: loss, D(real), D(fake), penalty
 * (the scores' means over the batch). */
static cascade_status critic_update(gan_session *s, uint64_t ctr, double sums[4]) {
    cascade_job *job = s->job;
    int mb = (int)job->micro_batch, K = GAN_CRITIC_DOUBLES;
    double B = (double)job->batch, terms = B * (double)s->scores;
    int64_t nmb = job->batch / job->micro_batch, first, last;
    cascade_par_block(nmb, s->rank, s->size, &first, &last);
    step_begin(s, &s->critic);
    double t0 = cascade_now();
    if (s->refiner) CASCADE_TRY(refine_all(s, ctr, first, last));
    for (int64_t m = first; m < last; m++) {
        int64_t pos = m * mb;
        real_batch(s, pos, mb);
        mb_begin(s, &s->critic);
        const float *fake;
        if (s->refiner) {
            cascade_refiner_fake_batch(s, ctr, pos, mb);
            fake = s->fake_mb;
        } else {
            fake = generate_batch(s, ctr, pos, mb, 0);
        }
        double loss = 0, gp = 0;
        const float *d = critic_forward(s, s->xb, mb, ctr);
        double real_sum = score_sum(d, mb * s->scores);
        loss += score_loss(s, d, mb, 1, terms);
        critic_backward(s, s->xb, mb, ctr, 0, 0);
        d = critic_forward(s, fake, mb, ctr);
        double fake_sum = score_sum(d, mb * s->scores);
        loss += score_loss(s, d, mb, 0, terms);
        critic_backward(s, fake, mb, ctr, 0, m == last - 1 && !cascade_gan_uses_penalty(job));
        if (cascade_gan_uses_penalty(job)) { /* (one score per sample: terms = B) */
            gp = penalty(s, fake, ctr, pos, mb, job->gp_lambda / B, m == last - 1);
            loss += job->gp_lambda * gp;
        }
        s->dvals[0] = loss, s->dvals[1] = real_sum, s->dvals[2] = fake_sum, s->dvals[3] = gp;
        mb_end(s, &s->critic);
    }
    s->t_compute += cascade_now() - t0;
    s->last_base = s->prog.cursor;
    CASCADE_TRY(step_reduce(s, &s->critic));
    for (int i = 0; i < K; i++) sums[i] = s->facc[i] / terms;
    if (s->refiner) cascade_refiner_remember(s, ctr);
    s->critic_updates++;
    return CASCADE_OK;
}

/* One generator update: z for every position of the global batch, the conditions of the last
 * critic batch, plus constrainer_weight * mean (C(G(z, c)) - c)^2 with a constrainer; a
 * refiner refines the last critic batch's simulated samples, its loss the adversarial term
 * (left out while pretraining: adversarial = 0) plus self_regularization * mean |R(x) - x|
 * (torch's l1_loss). loss_out: the loss, and the self-regularization (refiner) or constrainer
 * mean squared error (NaN if not finite). */
static cascade_status generator_update(gan_session *s, uint64_t ctr, int adversarial, double loss_out[2]) {
    cascade_job *job = s->job;
    int mb = (int)job->micro_batch, ns = (int)s->gen.n_stats;
    double B = (double)job->batch, lambda = job->self_regularization;
    int constrained = s->constrainer.open;
    int64_t nmb = job->batch / job->micro_batch, xs = s->xs, first, last;
    cascade_par_block(nmb, s->rank, s->size, &first, &last);
    step_begin(s, &s->gen);
    double t0 = cascade_now();
    for (int64_t m = first; m < last; m++) {
        int64_t pos = m * mb;
        if (s->refiner) sim_batch(s, s->perm + s->last_base + pos, mb);
        else if (s->cs) cascade_data_gather(&s->train, s->perm + s->last_base + pos, mb, s->xb, s->cb);
        mb_begin(s, &s->gen);
        const float *fake = generate_batch(s, ctr, pos, mb, 1);
        double adv = 0, l1 = 0, csq = 0;
        float *dfake[CASCADE_MAX_NAMES]; /* d loss / d generated tensor k (mb, numel[k]) */
        if (adversarial) {
            /* gan / bce critic: non-saturating -log sigmoid(D); Wasserstein: -D */
            adv = score_loss(s, critic_forward(s, fake, mb, ctr), mb, 1, B * (double)s->scores);
            critic_backward(s, fake, mb, ctr, 1, 0); /* only the gradient with respect to the samples */
            for (int k = 0; k < s->gx.n; k++) dfake[k] = s->critic.dext[k];
        } else {
            memset(s->v, 0, (size_t)(mb * xs) * sizeof(float));
            for (int k = 0; k < s->gx.n; k++) dfake[k] = s->v + mb * s->gx.off[k];
        }
        for (int k = 0; s->refiner && lambda > 0 && k < s->gx.n; k++) /* the mean over all tensors' elements */
            for (int64_t e = 0, o = mb * s->gx.off[k]; e < mb * s->gx.numel[k]; e++) {
                double diff = (double)fake[o + e] - s->sb[o + e];
                l1 += fabs(diff);
                dfake[k][e] += (float)(lambda * (diff > 0 ? 1 : diff < 0 ? -1 : 0) / (B * (double)xs));
            }
        if (constrained)
            csq = cascade_constrainer_apply(&s->constrainer, fake, s->cb, mb, B * (double)s->cs,
                                            job->constrainer_weight, dfake[0]);
        cascade_run grun = {.n = mb, .training = 1, .sample_ids = s->ids, .step = ctr};
        gen_inputs(s, &grun, mb);
        hook_on(s, &grun, &s->gen, m == last - 1);
        if (s->gx.n == 1) {
            cascade_net_backward(&s->gen, &grun, dfake[0]);
        } else { /* one output layer per input: the gradient with respect to each */
            const float *douts[CASCADE_MAX_NAMES];
            for (int k = 0; k < s->gx.n; k++) douts[k] = dfake[k];
            cascade_net_backward_seeds(&s->gen, &grun, s->gx.n, s->gen_out, douts);
        }
        if (ns) memcpy(s->dvals, s->gen.stats, (size_t)ns * sizeof(double));
        s->dvals[ns] = adv;
        s->dvals[ns + 1] = l1;
        s->dvals[ns + 2] = csq;
        mb_end(s, &s->gen);
    }
    s->t_compute += cascade_now() - t0;
    CASCADE_TRY(step_reduce(s, &s->gen));
    loss_out[1] = s->refiner ? s->facc[ns + 1] / (B * (double)xs) : s->facc[ns + 2] / (B * (double)(s->cs ? s->cs : 1));
    loss_out[0] = s->facc[ns] / (B * (double)s->scores) +
                  (s->refiner ? lambda : constrained ? job->constrainer_weight : 0) * loss_out[1];
    if (s->nonfinite) loss_out[0] = NAN;
    if (isfinite(loss_out[0])) {
        for (int i = 0; i < ns; i++) s->facc[i] /= (double)nmb;
        cascade_net_apply_stats(&s->gen, s->facc);
    }
    return CASCADE_OK;
}

/* ---- checkpoints, progress, the loop ---- */

static cascade_status gan_checkpoint(gan_session *s) {
    char name[64];
    snprintf(name, sizeof name, "step-%08lld.h5", (long long)s->prog.step);
    cascade_h5writer *w;
    CASCADE_TRY(cascade_ckpt_begin(s->ckdir, name, s->comm, &w));
    cascade_ckpt_meta meta = {.step = s->prog.step, .epoch = s->prog.epoch, .samples_seen = s->prog.samples_seen,
                              .world_size = s->size, .seed = s->job->seed, .job = s->job->text};
    cascade_status st = cascade_ckpt_write_meta(w, &meta);
    if (!st)
        st = cascade_model_write(w, s->rank, s->job, &s->gen, &s->gopt, &s->norm, s->gx.n > 1 ? &s->ndesc : &s->train,
                                 &s->prog);
    if (!st) st = cascade_model_write(w, s->rank, s->job, &s->critic, &s->copt, NULL, NULL, NULL);
    if (!st) st = cascade_gan_write_layout(w, s->rank, s->job, &s->train, &s->gx);
    if (!st && s->refiner) st = cascade_refiner_write(w, s);
    if (st) {
        cascade_h5w_abort(w);
        return st;
    }
    CASCADE_TRY(cascade_ckpt_finish(w));
    return cascade_ckpt_keep_last(s->ckdir, (int)s->job->keep_checkpoints, s->comm);
}

typedef struct {
    double critic, gen, wass, gp, selfreg;
    int64_t n;
} gan_means;

static void log_progress(gan_session *s, const gan_means *m, double lr_g, double lr_c, double rate, double elapsed) {
    cascade_reducer *gr = &s->gen_red, *cr = &s->critic_red;
    double t[CASCADE_TIMERS] = {s->t_input, s->t_compute, gr->wait_s + cr->wait_s + s->t_comm, gr->exact_s + cr->exact_s,
                                s->t_optim};
    char timers[1024];
    s->t_input = s->t_compute = s->t_comm = s->t_optim = 0;
    gr->wait_s = cr->wait_s = gr->exact_s = cr->exact_s = 0;
    if (cascade_timers_json(s->comm, t, timers, sizeof timers)) timers[0] = 0;
    if (s->rank != 0) return;
    double n = m->n ? (double)m->n : NAN;
    char c[32], g[32], w[32], p[32], r[64] = "";
    if (s->refiner || s->constrainer.open) {
        char v[32];
        cascade_json_double(v, sizeof v, m->selfreg / n);
        snprintf(r, sizeof r, ",\"%s\":%s", s->refiner ? "self_regularization" : "constrainer_mse", v);
    }
    cascade_json_double(c, sizeof c, m->critic / n);
    cascade_json_double(g, sizeof g, m->gen / n);
    cascade_json_double(w, sizeof w, m->wass / n);
    cascade_json_double(p, sizeof p, m->gp / n);
    fprintf(s->metrics,
            "{\"step\":%lld,\"epoch\":%lld,\"split\":\"train\",\"loss\":%s,\"loss_critic\":%s,\"loss_generator\":%s,"
            "\"wasserstein\":%s,\"gradient_penalty\":%s,\"lr\":%.7g,\"lr_critic\":%.7g,\"samples_per_s\":%.1f,"
            "\"time_s\":%.3f%s%s}\n",
            (long long)s->prog.step, (long long)s->prog.epoch, c, c, g, w, p, lr_g, lr_c, rate, elapsed, timers, r);
    fflush(s->metrics);
    if (!s->o->quiet)
        cascade_log("%sstep %lld/%lld  epoch %lld  critic %.5g  %s %.5g  %s %.4g%s%.4g  %.0f samples/s%s",
                    s->tty ? "\r" : "", (long long)s->prog.step, (long long)s->total_steps, (long long)s->prog.epoch,
                    m->critic / n, s->refiner ? "refiner" : "generator", m->gen / n,
                    s->refiner ? "L1" : "W", s->refiner ? m->selfreg / n : m->wass / n,
                    cascade_gan_uses_penalty(s->job) ? "  gp " : "", cascade_gan_uses_penalty(s->job) ? m->gp / n : 0.0, rate,
                    s->tty ? "   " : "\n");
}

/* sample_every: RUNDIR/samples/step-N.png (rank 0), the first input's map of up to 8 samples
 * side by side in physical units — generated from the same z every time (generate's draws,
 * the first training conditions), or a refiner's first simulated samples above their refined
 * versions — so the pictures show the training's progress. Inputs that are not 2-D maps per
 * channel (C, H, W) get no pictures (one log line). */
static cascade_status write_samples(gan_session *s) {
    const cascade_shape *xs_shape = &s->train.x_shape;
    if (s->rank != 0) return CASCADE_OK;
    if (s->job->layout != LAYOUT_CHANNELS || xs_shape->ndim != 3 || s->gx.n > 1) {
        if (s->prog.step == s->job->sample_every)
            cascade_log("\nsample_every: no pictures for these samples (one stacked x of 2-D maps only)\n");
        return CASCADE_OK;
    }
    int m = (int)(s->job->micro_batch < 8 ? s->job->micro_batch : 8), rows = s->refiner ? 2 : 1;
    if (m > s->train.n) m = (int)s->train.n;
    int64_t H = xs_shape->d[1], W = xs_shape->d[2], xs = s->xs;
    float *x = cascade_alloc((size_t)(rows * m * xs) * sizeof(float), "sample pictures");
    float *map = cascade_alloc((size_t)(rows * (H + 1) * m * (W + 1)) * sizeof(float), "sample pictures");
    if (!x || !map) {
        cascade_free(x);
        cascade_free(map);
        return CASCADE_EINTERNAL;
    }
    cascade_run run = {.n = m, .training = 0};
    if (s->refiner) {
        memcpy(s->sb, s->train.x, (size_t)(m * xs) * sizeof(float));
        memcpy(x, s->sb, (size_t)(m * xs) * sizeof(float));
        run.ext[0] = s->sb;
    } else {
        cascade_gan_noise((uint64_t)s->job->seed, UINT64_MAX, 0, m, s->zs, s->zb);
        if (s->cs) memcpy(s->cb, s->train.y, (size_t)(m * s->cs) * sizeof(float));
        run.ext[0] = s->zb;
        run.ext[1] = s->cb;
    }
    cascade_net_forward(&s->gen, &run);
    memcpy(x + (rows - 1) * m * xs, cascade_net_output(&s->gen), (size_t)(m * xs) * sizeof(float));
    cascade_gan_to_physical(s->job, &s->train, &s->norm, x, rows * m);
    int64_t mw = m * (W + 1);
    memset(map, 0, (size_t)(rows * (H + 1) * mw) * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < m; i++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t c = 0; c < W; c++)
                    map[(r * (H + 1) + y) * mw + i * (W + 1) + c] = x[(int64_t)(r * m + i) * xs + y * W + c];
    char dir[CASCADE_PATH_MAX + 16], path[CASCADE_PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/samples", s->rundir);
    snprintf(path, sizeof path, "%s/step-%08lld.png", dir, (long long)s->prog.step);
    int scale = (int)(512 / (mw > 1 ? mw : 1));
    cascade_status st = cascade_mkdir_p(dir);
    if (!st) st = cascade_png_heatmap(path, map, rows * (H + 1) - 1, mw - 1, scale < 4 ? 4 : scale);
    cascade_free(x);
    cascade_free(map);
    return st;
}

static void clip_weights(cascade_net *net, double clip) {
    float c = (float)clip;
    for (int64_t i = 0; i < net->n_params; i++) net->params[i] = fminf(fmaxf(net->params[i], -c), c);
}

/* The next global batch of real samples: a new epoch (and permutation) when the rest of this
 * one is shorter than a batch. */
static void next_batch(gan_session *s) {
    int64_t epoch = s->prog.epoch;
    if (s->perm_valid && s->prog.cursor + s->job->batch <= s->train.n) return;
    if (s->prog.cursor + s->job->batch > s->train.n) { /* (also right after resuming there) */
        s->prog.epoch++;
        s->prog.cursor = 0;
    }
    if (s->perm_valid && epoch == s->prog.epoch) return;
    if (s->job->shuffle)
        cascade_permutation((uint64_t)s->job->seed, CASCADE_RNG_SHUFFLE, (uint64_t)s->prog.epoch, s->train.n, s->perm);
    else
        for (int64_t i = 0; i < s->train.n; i++) s->perm[i] = i;
    s->perm_valid = 1;
}

cascade_status cascade_train_gan(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm) {
    gan_session s;
    cascade_status st = cascade_gan_session_open(&s, job, o, comm);
    if (st) return st;
    double t0 = cascade_now(), t_log = t0;
    gan_means acc = {0};
    int64_t nonfinite_run = 0, B = job->batch, K = job->critic_steps;
    while (!st && s.prog.step < s.total_steps) {
        int64_t step = s.prog.step;
        double t_step = cascade_now();
        double lr_c = cascade_lr_at(&job->opt[1], s.copt.step, s.total_steps * K);
        double lr_g = cascade_lr_at(&job->opt[0], step, s.total_steps);
        double sums[4] = {0}, gloss[2] = {NAN, NAN};
        int ok = 1, pretraining = s.refiner && step < job->pretrain_steps;
        if (pretraining) { /* the refiner alone, on the next simulated batch */
            next_batch(&s);
            s.last_base = s.prog.cursor;
            s.prog.cursor += B;
            s.prog.samples_seen += B;
        }
        for (int64_t t = 0; !st && !pretraining && t < K; t++) {
            next_batch(&s);
            uint64_t ctr = ((uint64_t)step << 8) | (uint64_t)t;
            cascade_net_begin_update(&s.critic); /* spectral normalisation: one power iteration */
            if ((st = critic_update(&s, ctr, sums))) break;
            s.prog.cursor += B;
            s.prog.samples_seen += B;
            int fine = isfinite(sums[0]) && !s.nonfinite;
            if (fine) {
                double to = cascade_now();
                st = cascade_shard_update(&s.copt, &s.critic_shards, s.critic.params, s.grads_sum,
                                          cascade_lr_at(&job->opt[1], s.copt.step, s.total_steps * K));
                if (job->kind == JOB_WGAN) clip_weights(&s.critic, job->clip);
                s.t_optim += cascade_now() - to;
            }
            ok &= fine;
        }
        if (st) break;
        cascade_net_begin_update(&s.gen);
        if ((st = generator_update(&s, ((uint64_t)step << 8) | GAN_GEN_PHASE, !pretraining, gloss))) break;
        int gfine = isfinite(gloss[0]) && !s.nonfinite;
        if (gfine) {
            double to = cascade_now();
            if ((st = cascade_shard_update(&s.gopt, &s.gen_shards, s.gen.params, s.grads_sum, lr_g))) break;
            s.t_optim += cascade_now() - to;
        }
        ok &= gfine;
        if (ok) {
            nonfinite_run = 0;
            acc.critic += sums[0], acc.gen += gloss[0], acc.wass += sums[1] - sums[2], acc.gp += sums[3];
            acc.selfreg += gloss[1], acc.n++;
        } else if (++nonfinite_run >= job->max_nonfinite) {
            st = cascade_fail(CASCADE_EDATA, "losses or gradients were NaN/Inf in %ld steps in a row (last at step "
                              "%lld); stopping without writing a checkpoint (max_nonfinite = %ld)", job->max_nonfinite,
                              (long long)step + 1, job->max_nonfinite);
            break;
        } else {
            cascade_log("\nstep %lld: a loss or gradient was NaN/Inf, that update skipped\n", (long long)step + 1);
        }
        cascade_trace_add("step", "training step", t_step, cascade_now());
        s.prog.step++;
        if (s.prog.step % job->log_every == 0 || s.prog.step == s.total_steps) {
            double now = cascade_now();
            double rate = (double)(acc.n * B * (pretraining ? 1 : K)) / (now - t_log > 1e-9 ? now - t_log : 1e-9);
            log_progress(&s, &acc, lr_g, lr_c, rate, now - t0);
            memset(&acc, 0, sizeof acc);
            t_log = now;
        }
        double t_aside = cascade_now(); /* samples and checkpoints stay out of samples/s */
        int any_stop = o->stop_flag ? (int)*o->stop_flag : 0;
        if ((st = cascade_par_agree(comm, st, &any_stop, NULL, "training"))) break;
        if (!st && job->sample_every > 0 && s.prog.step % job->sample_every == 0) st = write_samples(&s);
        int due = job->checkpoint_every > 0 && s.prog.step % job->checkpoint_every == 0;
        if (!st && (due || any_stop || s.prog.step == s.total_steps)) {
            double t_ck = cascade_now();
            st = gan_checkpoint(&s);
            cascade_trace_add("checkpoint", "checkpoint", t_ck, cascade_now());
        }
        t_log += cascade_now() - t_aside;
        if (!st && any_stop) {
            cascade_log("\nstopped by a signal at step %lld after writing a checkpoint\n", (long long)s.prog.step);
            st = CASCADE_ESTOPPED;
        }
    }
    cascade_gan_session_close(&s);
    return st;
}
