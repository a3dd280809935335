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
 * identical for any rank count. Checkpoints hold both nets and both optimizers. The loop
 * around the step is run.c's. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (st) cascade_error_context("net %s, step %lld: ", net->name, (long long)s->base.prog.step + 1);
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
        cascade_data_gather(k ? &s->xin[k] : &s->base.train, idx, m, s->sb + m * s->gx.off[k], NULL);
}

/* The generator's samples for global-batch positions [first, first + m), from z drawn for
 * update counter `ctr` (and the conditions in cb): left in the generator's output. */
/* A refiner refines the simulated micro-batch in sb instead. */
static const float *generate_batch(gan_session *s, uint64_t ctr, int64_t first, int m, int collect) {
    if (!s->refiner) cascade_gan_noise((uint64_t)s->base.job->seed, ctr, first, m, s->zs, s->zb);
    for (int i = 0; i < m; i++) s->base.ids[i] = (int64_t)(ctr * (uint64_t)s->base.job->batch) + first + i;
    cascade_run run = {.n = m, .training = 1, .collect_stats = collect, .sample_ids = s->base.ids, .step = ctr};
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
    cascade_run run = {.n = m, .training = 1, .sample_ids = s->base.ids, .step = ctr};
    critic_inputs(s, &run, x, m);
    cascade_net_forward(&s->critic, &run);
    return cascade_net_output(&s->critic);
}

/* Critic backward of s->dout after critic_forward on the same x. */
static void critic_backward(gan_session *s, const float *x, int m, uint64_t ctr, int no_param_grads, int final) {
    cascade_run run = {.n = m, .training = 1, .sample_ids = s->base.ids, .step = ctr, .no_param_grads = no_param_grads};
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
        cascade_philox((uint64_t)s->base.job->seed, CASCADE_RNG_GAN_ALPHA, ctr, (uint64_t)(first + i), r);
        float a = cascade_u01f(r[0]);
        for (int t = 0; t < gx->n; t++)
            for (int64_t e = 0; e < gx->numel[t]; e++) {
                int64_t k = m * gx->off[t] + i * gx->numel[t] + e;
                s->hat[k] = s->xb[k] + a * (fake[k] - s->xb[k]);
            }
    }
    cascade_run run = {.n = m, .training = 1, .sample_ids = s->base.ids, .step = ctr, .no_param_grads = 1};
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
        if (s->base.job->one_sided && d < 0) d = 0; /* max(0, |g| - 1)^2 */
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
        if (cascade_gan_uses_bce(s->base.job)) {
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
            cascade_data_gather(k ? &s->xin[k] : &s->base.train, s->base.perm + s->base.prog.cursor + pos, m,
                                s->xb + m * s->gx.off[k], k == 0 && s->cs ? s->cb : NULL);
        return;
    }
    int64_t idx[1024], base = s->critic_updates * s->base.job->batch + pos;
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
    int mb = (int)s->base.job->micro_batch;
    for (int64_t m = first; m < last; m++) {
        int64_t pos = m * mb;
        sim_batch(s, s->base.perm + s->base.prog.cursor + pos, mb);
        const float *refined = generate_batch(s, ctr, pos, mb, 0);
        for (int i = 0; i < mb; i++) /* fake_all holds rows (the history's layout) */
            cascade_gan_x_row(&s->gx, refined, mb, i, s->fake_all + (pos + i) * s->xs);
    }
    return cascade_refiner_share_batch(s);
}

/* One critic update on the global batch at perm[cursor]. sums: loss, D(real), D(fake), penalty
 * (the scores' means over the batch). */
static cascade_status critic_update(gan_session *s, uint64_t ctr, double sums[4]) {
    cascade_job *job = s->base.job;
    int mb = (int)job->micro_batch, K = GAN_CRITIC_DOUBLES;
    double B = (double)job->batch, terms = B * (double)s->scores;
    int64_t nmb = job->batch / job->micro_batch, first, last;
    cascade_par_block(nmb, s->base.rank, s->base.size, &first, &last);
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
    s->base.t_compute += cascade_now() - t0;
    s->last_base = s->base.prog.cursor;
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
    cascade_job *job = s->base.job;
    int mb = (int)job->micro_batch, ns = (int)s->gen.n_stats;
    double B = (double)job->batch, lambda = job->self_regularization;
    int constrained = s->constrainer.open;
    int64_t nmb = job->batch / job->micro_batch, xs = s->xs, first, last;
    cascade_par_block(nmb, s->base.rank, s->base.size, &first, &last);
    step_begin(s, &s->gen);
    double t0 = cascade_now();
    for (int64_t m = first; m < last; m++) {
        int64_t pos = m * mb;
        if (s->refiner) sim_batch(s, s->base.perm + s->last_base + pos, mb);
        else if (s->cs) cascade_data_gather(&s->base.train, s->base.perm + s->last_base + pos, mb, s->xb, s->cb);
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
        cascade_run grun = {.n = mb, .training = 1, .sample_ids = s->base.ids, .step = ctr};
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
    s->base.t_compute += cascade_now() - t0;
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

/* ---- the kind: checkpoint contents, progress line, sample pictures, the step (run.c loops) ---- */

/* The adversarial kind's part of a checkpoint: both nets and optimizers (the generator's
 * with the normalisation and progress), /gan, and a refiner's history. */
static cascade_status gan_write(cascade_training *t, cascade_h5writer *w) {
    gan_session *s = (gan_session *)t;
    CASCADE_TRY(cascade_model_write(w, t->comm, t->job, &s->gen, &s->gopt, &s->norm, s->gx.n > 1 ? &s->ndesc : &t->train,
                                    &t->prog));
    CASCADE_TRY(cascade_model_write(w, t->comm, t->job, &s->critic, &s->copt, NULL, NULL, NULL));
    CASCADE_TRY(cascade_gan_write_layout(w, t->rank, t->job, &t->train, &s->gx));
    return s->refiner ? cascade_refiner_write(w, s) : CASCADE_OK;
}

/* The progress line: the loss means of the finite steps since the last line. */
static void gan_log(cascade_training *t, double seconds, double elapsed) {
    gan_session *s = (gan_session *)t;
    double updates = (double)(s->means.n * t->job->batch * (s->pretraining ? 1 : t->job->critic_steps));
    double rate = updates / (seconds > 1e-9 ? seconds : 1e-9), lr_g = s->lr_g, lr_c = s->lr_c;
    gan_means means = s->means, *m = &means;
    memset(&s->means, 0, sizeof s->means);
    cascade_reducer *gr = &s->gen_red, *cr = &s->critic_red;
    double secs[CASCADE_TIMERS] = {s->base.t_input, s->base.t_compute, gr->wait_s + cr->wait_s + s->t_comm, gr->exact_s + cr->exact_s,
                                s->base.t_optim};
    char timers[1024];
    s->base.t_input = s->base.t_compute = s->t_comm = s->base.t_optim = 0;
    gr->wait_s = cr->wait_s = gr->exact_s = cr->exact_s = 0;
    if (cascade_timers_json(s->base.comm, secs, timers, sizeof timers)) timers[0] = 0;
    if (s->base.rank != 0) return;
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
    fprintf(s->base.metrics,
            "{\"step\":%lld,\"epoch\":%lld,\"split\":\"train\",\"loss\":%s,\"loss_critic\":%s,\"loss_generator\":%s,"
            "\"wasserstein\":%s,\"gradient_penalty\":%s,\"lr\":%.7g,\"lr_critic\":%.7g,\"samples_per_s\":%.1f,"
            "\"time_s\":%.3f%s%s}\n",
            (long long)s->base.prog.step, (long long)s->base.prog.epoch, c, c, g, w, p, lr_g, lr_c, rate, elapsed, timers, r);
    fflush(s->base.metrics);
    if (!s->base.opts->quiet) {
        char body[192];
        snprintf(body, sizeof body, "critic %.5g  %s %.5g  %s %.4g%s%.4g  %.0f samples/s", m->critic / n,
                 s->refiner ? "refiner" : "generator", m->gen / n, s->refiner ? "L1" : "W",
                 s->refiner ? m->selfreg / n : m->wass / n, cascade_gan_uses_penalty(s->base.job) ? "  gp " : "",
                 cascade_gan_uses_penalty(s->base.job) ? m->gp / n : 0.0, rate);
        cascade_progress_print(t, seconds, (int64_t)m->n, elapsed, body);
    }
}

/* sample_every: RUNDIR/samples/step-N.png (rank 0), the first input's map of up to 8 samples
 * side by side in physical units — generated from the same z every time (generate's draws,
 * the first training conditions), or a refiner's first simulated samples above their refined
 * versions — so the pictures show the training's progress. Inputs that are not 2-D maps per
 * channel (C, H, W) get no pictures (one log line). */
static cascade_status write_samples(cascade_training *t) {
    gan_session *s = (gan_session *)t;
    const cascade_shape *xs_shape = &s->base.train.x_shape;
    if (t->rank != 0 || !(t->job->sample_every > 0 && t->prog.step % t->job->sample_every == 0)) return CASCADE_OK;
    if (s->base.job->layout != LAYOUT_CHANNELS || xs_shape->ndim != 3 || s->gx.n > 1) {
        if (s->base.prog.step == s->base.job->sample_every)
            cascade_log("\nsample_every: no pictures for these samples (one stacked x of 2-D maps only)\n");
        return CASCADE_OK;
    }
    int m = (int)(s->base.job->micro_batch < 8 ? s->base.job->micro_batch : 8), rows = s->refiner ? 2 : 1;
    if (m > s->base.train.n) m = (int)s->base.train.n;
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
        memcpy(s->sb, s->base.train.x, (size_t)(m * xs) * sizeof(float));
        memcpy(x, s->sb, (size_t)(m * xs) * sizeof(float));
        run.ext[0] = s->sb;
    } else {
        cascade_gan_noise((uint64_t)s->base.job->seed, UINT64_MAX, 0, m, s->zs, s->zb);
        if (s->cs) memcpy(s->cb, s->base.train.y, (size_t)(m * s->cs) * sizeof(float));
        run.ext[0] = s->zb;
        run.ext[1] = s->cb;
    }
    cascade_net_forward(&s->gen, &run);
    memcpy(x + (rows - 1) * m * xs, cascade_net_output(&s->gen), (size_t)(m * xs) * sizeof(float));
    cascade_gan_to_physical(s->base.job, &s->base.train, &s->norm, x, rows * m);
    int64_t mw = m * (W + 1);
    memset(map, 0, (size_t)(rows * (H + 1) * mw) * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < m; i++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t c = 0; c < W; c++)
                    map[(r * (H + 1) + y) * mw + i * (W + 1) + c] = x[(int64_t)(r * m + i) * xs + y * W + c];
    char dir[CASCADE_PATH_MAX + 16], path[CASCADE_PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/samples", s->base.rundir);
    snprintf(path, sizeof path, "%s/step-%08lld.png", dir, (long long)s->base.prog.step);
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
    int64_t epoch = s->base.prog.epoch;
    if (s->base.perm_valid && s->base.prog.cursor + s->base.job->batch <= s->base.train.n) return;
    if (s->base.prog.cursor + s->base.job->batch > s->base.train.n) { /* (also right after resuming there) */
        s->base.prog.epoch++;
        s->base.prog.cursor = 0;
    }
    if (s->base.perm_valid && epoch == s->base.prog.epoch) return;
    cascade_training_shuffle(&s->base);
}

/* One critic update on the next real batch, then clipping (wgan); *fine: its terms were
 * finite and the update applied. */
static cascade_status critic_step(gan_session *s, uint64_t ctr, double sums[4], int *fine) {
    cascade_job *job = s->base.job;
    int64_t B = job->batch;
    next_batch(s);
    cascade_net_begin_update(&s->critic); /* spectral normalisation: one power iteration */
    CASCADE_TRY(critic_update(s, ctr, sums));
    s->base.prog.cursor += B;
    s->base.prog.samples_seen += B;
    *fine = isfinite(sums[0]) && !s->nonfinite;
    if (!*fine) return CASCADE_OK;
    double to = cascade_now();
    CASCADE_TRY(cascade_shard_update(&s->copt, &s->critic_shards, s->critic.params, s->grads_sum,
                                     cascade_lr_at(&job->opt[1], s->copt.step, s->base.total_steps * job->critic_steps)));
    if (job->kind == JOB_WGAN) clip_weights(&s->critic, job->clip);
    s->base.t_optim += cascade_now() - to;
    return CASCADE_OK;
}

/* The adversarial kind's step: critic_steps critic updates, each on the next global batch of
 * real samples, then one generator update (a refiner's pretraining steps: the refiner alone,
 * on the next simulated batch). Epochs advance inside, as a batch needs them (*epoch_end
 * stays 0). */
static cascade_status gan_step(cascade_training *t, int64_t step, int *ok, int *epoch_end) {
    gan_session *s = (gan_session *)t;
    cascade_job *job = t->job;
    int64_t B = job->batch, K = job->critic_steps;
    s->lr_c = cascade_lr_at(&job->opt[1], s->copt.step, t->total_steps * K);
    s->lr_g = cascade_lr_at(&job->opt[0], step, t->total_steps);
    double sums[4] = {0}, gloss[2] = {NAN, NAN};
    s->pretraining = s->refiner && step < job->pretrain_steps;
    *ok = 1;
    *epoch_end = 0;
    if (s->pretraining) { /* the refiner alone, on the next simulated batch */
        next_batch(s);
        s->last_base = t->prog.cursor;
        t->prog.cursor += B;
        t->prog.samples_seen += B;
    }
    for (int64_t c = 0; !s->pretraining && c < K; c++) {
        int fine;
        CASCADE_TRY(critic_step(s, ((uint64_t)step << 8) | (uint64_t)c, sums, &fine));
        *ok &= fine;
    }
    cascade_net_begin_update(&s->gen);
    CASCADE_TRY(generator_update(s, ((uint64_t)step << 8) | GAN_GEN_PHASE, !s->pretraining, gloss));
    int gfine = isfinite(gloss[0]) && !s->nonfinite;
    if (gfine) {
        double to = cascade_now();
        CASCADE_TRY(cascade_shard_update(&s->gopt, &s->gen_shards, s->gen.params, s->grads_sum, s->lr_g));
        t->t_optim += cascade_now() - to;
    }
    *ok &= gfine;
    if (*ok) {
        s->means.critic += sums[0], s->means.gen += gloss[0], s->means.wass += sums[1] - sums[2];
        s->means.gp += sums[3], s->means.selfreg += gloss[1], s->means.n++;
    }
    return CASCADE_OK;
}

/* the loop's base sits first: the kind's functions cast between the two */
_Static_assert(offsetof(gan_session, base) == 0, "gan_session starts with its run base");

const cascade_trainer_kind cascade_adversarial_kind = {
    .name = "adversarial",
    .session_size = sizeof(gan_session),
    .open = cascade_gan_session_open,
    .step = gan_step,
    .log = gan_log,
    .after_step = write_samples,
    .write_checkpoint = gan_write,
    .close = cascade_gan_session_close,
};
