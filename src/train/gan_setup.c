/* Setting up adversarial training (see gan.c): data, nets, optimizers, resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/xsum.h"
#include "train/adversarial.h"

/* ---- set-up ---- */

void cascade_gan_input_view(const cascade_job *job, int k, cascade_job *view) {
    *view = *job;
    view->n_targets = k <= 0 ? job->n_conditions : 0;
    memcpy(view->targets, job->conditions, sizeof view->targets);
    if (k < 0) return;
    view->n_inputs = 1;
    snprintf(view->inputs[0], sizeof view->inputs[0], "%s", job->inputs[k]);
    view->layout = LAYOUT_CHANNELS;
    view->n_log_inputs = 0;
    for (int i = 0; i < job->n_log_inputs; i++)
        if (strcmp(job->log_inputs[i], job->inputs[k]) == 0)
            snprintf(view->log_inputs[view->n_log_inputs++], 64, "%s", job->inputs[k]);
}

/* The tensors of `file` into first (input 0, with the conditions as y when with_cond) and
 * rest[k] (input k >= 1); one stacked x unless the job has outputs. split: only the training
 * rows of the valid_fraction split (the rest is held out for `evaluate`; the nets never see
 * it). One open of the file per tensor; one copy per node (data.h). */
static cascade_status load_tensors(gan_session *s, const char *file, int split, int with_cond, cascade_dataset *first,
                                   cascade_dataset *rest) {
    cascade_job *job = s->base.job;
    int multi = job->n_gen_outputs > 0;
    int64_t *rows = NULL, n_train = 0, n_valid = 0, total = 0;
    cascade_status st = CASCADE_OK;
    for (int k = 0; !st && k < (multi ? job->n_inputs : 1); k++) {
        cascade_job view;
        cascade_gan_input_view(job, multi ? k : -1, &view);
        cascade_dataset *d = k ? &rest[k] : first;
        cascade_source src;
        if ((st = cascade_source_open(&view, file, k == 0 && with_cond, s->base.comm, &src))) break;
        if (k == 0) total = src.total;
        if (src.total != total)
            st = cascade_fail(CASCADE_EDATA, "%s: data set '%s' has %lld samples, '%s' %lld", file, job->inputs[k],
                              (long long)src.total, job->inputs[0], (long long)total);
        if (!st && split && !rows) st = cascade_data_split_n(job, total, &rows, &n_train, &n_valid);
        if (!st) st = cascade_data_load_from(&view, &src, rows, n_train, s->base.comm, &s->base.topo, d);
        cascade_source_close(&src);
    }
    free(rows);
    return st;
}

static cascade_status load_train(gan_session *s) {
    cascade_job *job = s->base.job;
    CASCADE_TRY(load_tensors(s, job->train, job->valid_fraction > 0, job->n_conditions > 0, &s->base.train, s->xin));
    int multi = job->n_gen_outputs > 0;
    s->gx.n = multi ? job->n_inputs : 1;
    for (int k = 0; k < s->gx.n; k++) s->gx.shape[k] = k ? s->xin[k].x_shape : s->base.train.x_shape;
    cascade_gan_x_sizes(&s->gx);
    if (multi) { /* one normalisation statistic per input, as the checkpoint stores them */
        s->ndesc.n_inputs = job->n_inputs;
        for (int k = 0; k <= job->n_inputs; k++) s->ndesc.stat_start[k] = k;
        s->ndesc.n_stats = job->n_inputs;
    }
    if (!s->refiner) return CASCADE_OK;
    /* the target (measured-domain) samples: the same tensors, the same shapes */
    CASCADE_TRY(load_tensors(s, job->target_file, 0, 0, &s->target, s->tin));
    char a[128], b[128];
    for (int k = 0; k < s->gx.n; k++) {
        const cascade_shape *ts = k ? &s->tin[k].x_shape : &s->target.x_shape;
        if (!cascade_shape_equal(ts, &s->gx.shape[k]))
            return cascade_fail(CASCADE_EDATA, "%s: the target samples%s%s are %s, the simulated ones in %s %s (the "
                                "same inputs must have the same shapes in both files)", job->target_file,
                                multi ? " of " : "", multi ? job->inputs[k] : "", cascade_shape_str(ts, a, sizeof a),
                                job->train, cascade_shape_str(&s->gx.shape[k], b, sizeof b));
    }
    return CASCADE_OK;
}

/* The data set description the checkpoint's normalisation is laid out by. */
static const cascade_dataset *norm_desc(const gan_session *s) { return s->gx.n > 1 ? &s->ndesc : &s->base.train; }

/* Input normalisation: from the training set (or norm as read back), applied to every input. */
static cascade_status normalize_inputs(gan_session *s, int computed) {
    cascade_job *job = s->base.job;
    if (s->gx.n == 1) {
        if (!computed) CASCADE_TRY(cascade_norm_compute(job, &s->base.train, s->base.comm, &s->norm));
        CASCADE_TRY(cascade_data_norm_apply(job, &s->norm, &s->base.train));
        if (s->refiner) CASCADE_TRY(cascade_data_norm_apply(job, &s->norm, &s->target)); /* one space for both domains */
        return CASCADE_OK;
    }
    if (!computed) CASCADE_TRY(cascade_norm_init(&s->norm, job->n_inputs));
    for (int k = 0; k < s->gx.n; k++) {
        cascade_job view;
        cascade_gan_input_view(job, k, &view);
        cascade_dataset *d = k ? &s->xin[k] : &s->base.train;
        if (!computed) {
            cascade_norm_stats one = {0};
            CASCADE_TRY(cascade_norm_compute(&view, d, s->base.comm, &one));
            s->norm.mean[k] = one.mean[0];
            s->norm.std[k] = one.std[0];
            cascade_norm_free(&one);
        }
        cascade_norm_stats one = {1, s->norm.mean + k, s->norm.std + k}; /* a view, not owned */
        CASCADE_TRY(cascade_data_norm_apply(&view, &one, d));
        if (s->refiner) CASCADE_TRY(cascade_data_norm_apply(&view, &one, k ? &s->tin[k] : &s->target));
    }
    return CASCADE_OK;
}

/* The critic is trained with the gradient penalty (wgan-gp, and a refiner's default critic). */
int cascade_gan_uses_penalty(const cascade_job *job) {
    return job->kind == JOB_WGAN_GP || (job->kind == JOB_REFINER && !job->critic_bce);
}

/* Logistic (BCE on logits) losses: gan, and a refiner's bce (patch) critic; else Wasserstein. */
int cascade_gan_uses_bce(const cascade_job *job) { return job->kind == JOB_GAN || (job->kind == JOB_REFINER && job->critic_bce); }

void cascade_gan_x_sizes(cascade_gan_x *gx) {
    gx->total = 0;
    for (int k = 0; k < gx->n; k++) {
        gx->numel[k] = cascade_shape_numel(&gx->shape[k]);
        gx->off[k] = gx->total;
        gx->total += gx->numel[k];
    }
}

void cascade_gan_x_row(const cascade_gan_x *gx, const float *batch, int m, int i, float *row) {
    for (int k = 0; k < gx->n; k++)
        memcpy(row + gx->off[k], batch + m * gx->off[k] + i * gx->numel[k], (size_t)gx->numel[k] * sizeof(float));
}

void cascade_gan_x_put_row(const cascade_gan_x *gx, const float *row, float *batch, int m, int i) {
    for (int k = 0; k < gx->n; k++)
        memcpy(batch + m * gx->off[k] + i * gx->numel[k], row + gx->off[k], (size_t)gx->numel[k] * sizeof(float));
}

/* A generator layer by name, or the activation node appended to it (`activation =`). */
static int output_layer(const cascade_net *net, const char *name) {
    int found = cascade_net_find(net, name);
    size_t len = strlen(name);
    for (int l = 0; found >= 0 && l < net->n_layers; l++)
        if (strncmp(net->layers[l].name, name, len) == 0 && net->layers[l].name[len] == '/') found = l;
    return found;
}

cascade_status cascade_gan_build(cascade_job *job, const cascade_gan_x *gx, const cascade_shape *c_shape,
                                 cascade_net *gen, cascade_net *critic, int *gen_out) {
    /* c: the conditions flattened and concatenated per sample, a vector (C) */
    int64_t latent = job->latent, cn = c_shape ? cascade_shape_numel(c_shape) : 0;
    cascade_shape zsh = cascade_shape_make(1, &latent), csh = cascade_shape_make(1, &cn);
    int refiner = job->kind == JOB_REFINER, multi = gx->n > 1, nc = job->n_conditions ? 1 : 0;
    /* externals: the critic's (and a refiner's) x or each input by name, then c; a generator's z, c */
    const char *gext[CASCADE_MAX_NAMES + 1] = {"z", "c"}, *cext[CASCADE_MAX_NAMES + 1];
    cascade_shape gsh[CASCADE_MAX_NAMES + 1] = {zsh, csh}, dsh[CASCADE_MAX_NAMES + 1];
    if (gx->n + nc > CASCADE_MAX_EXTERNAL)
        return cascade_fail(CASCADE_EUSAGE, "%s: a critic reads at most %d inputs (with the condition)", job->path,
                            CASCADE_MAX_EXTERNAL);
    for (int k = 0; k < gx->n; k++) cext[k] = multi ? job->inputs[k] : "x", dsh[k] = gx->shape[k];
    cext[gx->n] = "c", dsh[gx->n] = csh;
    int n_gext = 1 + nc;
    if (refiner) {
        memcpy(gext, cext, sizeof gext);
        memcpy(gsh, dsh, sizeof gsh);
        n_gext = gx->n + nc;
    }
    CASCADE_TRY(cascade_model_build_ext(job, job->nets[0], n_gext, gext, gsh, gen));
    cascade_status st = cascade_model_build_ext(job, job->nets[1], gx->n + nc, cext, dsh, critic);
    if (st) return st;
    /* the two nets draw different initial weights from the same job seed */
    cascade_net_init_params(critic, (uint64_t)job->seed ^ 0x5DEECE66DULL);
    char a[128], b[128];
    for (int k = 0; k < gx->n; k++) {
        gen_out[k] = multi ? output_layer(gen, job->gen_outputs[k]) : gen->output;
        if (gen_out[k] < 0)
            return cascade_fail(CASCADE_EUSAGE, "[%s] outputs: no layer '%s' in net %s", refiner ? "refiner" : "gan",
                                job->gen_outputs[k], gen->name);
        const cascade_shape *go = &gen->layers[gen_out[k]].out_shape;
        if (!cascade_shape_equal(go, &gx->shape[k]) && multi)
            return cascade_fail(CASCADE_EUSAGE, "the %s (net %s) must produce samples shaped like %s: layer %s "
                                "([%s] outputs) is %s, %s is %s", refiner ? "refiner" : "generator", gen->name,
                                job->inputs[k], job->gen_outputs[k], refiner ? "refiner" : "gan",
                                cascade_shape_str(go, a, sizeof a), job->inputs[k],
                                cascade_shape_str(&gx->shape[k], b, sizeof b));
        if (!cascade_shape_equal(go, &gx->shape[k]))
            return cascade_fail(CASCADE_EUSAGE, "the %s (net %s) must produce samples shaped like x: its output is "
                                "%s, x is %s (the job's inputs)", refiner ? "refiner" : "generator", gen->name,
                                cascade_shape_str(go, a, sizeof a), cascade_shape_str(&gx->shape[k], b, sizeof b));
    }
    const cascade_shape *co = cascade_net_out_shape(critic);
    if (cascade_shape_numel(co) != 1 && !(refiner && job->critic_bce))
        return cascade_fail(CASCADE_EUSAGE, "the critic (net %s) must give one score per sample: its output is %s%s",
                            critic->name, cascade_shape_str(co, a, sizeof a),
                            refiner ? " (a patch critic with one logit per patch needs critic_loss = bce)" : "");
    if (cascade_gan_uses_penalty(job))
        CASCADE_TRY(cascade_net_check_backward2(critic, refiner ? "a refiner's wgan-gp critic" : "a wgan-gp critic"));
    return CASCADE_OK;
}

static cascade_status read_checkpoint(gan_session *s, const char *from, int full) {
    cascade_h5file *f; /* resuming: `from` was verified by cascade_ckpt_select */
    CASCADE_TRY(full ? cascade_ckpt_open_selected(from, s->base.comm, &f) : cascade_ckpt_open(from, s->base.comm, &f));
    cascade_status st = full ? cascade_model_read_counters(f, &s->base.prog) : CASCADE_OK;
    if (!st) st = cascade_model_read_params(f, &s->gen, full);
    if (!st) st = cascade_model_read_params(f, &s->critic, full);
    if (!st && full) st = cascade_model_read_state(f, s->base.job, &s->gen, &s->gopt, NULL, norm_desc(s), &s->base.prog);
    if (!st && full) st = cascade_model_read_state(f, s->base.job, &s->critic, &s->copt, NULL, norm_desc(s), NULL);
    if (!st && full) st = cascade_refiner_read(f, s);
    if (st) cascade_error_context("%s %s: ", full ? "resuming from" : "--init from", from);
    cascade_h5_close(f);
    return st;
}

static cascade_status read_norm(gan_session *s, const char *from) {
    cascade_h5file *f;
    CASCADE_TRY(cascade_ckpt_open_selected(from, s->base.comm, &f));
    cascade_status st = cascade_model_read_state(f, s->base.job, &s->gen, NULL, &s->norm, norm_desc(s), NULL);
    cascade_h5_close(f);
    return st;
}

void cascade_gan_session_close(cascade_training *t) {
    gan_session *s = (gan_session *)t;
    cascade_data_free(&s->target);
    for (int k = 1; k < CASCADE_MAX_NAMES; k++) cascade_data_free(&s->xin[k]);
    for (int k = 1; k < CASCADE_MAX_NAMES; k++) cascade_data_free(&s->tin[k]);
    cascade_free(s->fakeb);
    cascade_refiner_free(s);
    cascade_constrainer_close(&s->constrainer);
    cascade_reducer_free(&s->gen_red);
    cascade_reducer_free(&s->critic_red);
    cascade_shards_free(&s->gen_shards);
    cascade_shards_free(&s->critic_shards);
    if (s->gen_grads_own) s->gen.grads = s->gen_grads_own;
    if (s->critic_grads_own) s->critic.grads = s->critic_grads_own;
    cascade_norm_free(&s->norm);
    cascade_net_free(&s->gen);
    cascade_net_free(&s->critic);
    cascade_optimizer_free(&s->gopt);
    cascade_optimizer_free(&s->copt);
    cascade_free(s->xb);
    cascade_free(s->cb);
    cascade_free(s->zb);
    cascade_free(s->hat);
    cascade_free(s->dout);
    cascade_free(s->v);
    cascade_free(s->facc);
    cascade_free(s->dvals);
    cascade_training_close(t);
}

/* Rank 0: RUNDIR with job.ini and metrics.jsonl, then what is about to be trained. */
static cascade_status open_rundir(gan_session *s) {
    cascade_job *job = s->base.job;
    const cascade_train_opts *o = s->base.opts;
    CASCADE_TRY(cascade_session_open_rundir(job, s->base.rundir, &s->base.metrics));
    char summary[8192];
    if (!o->quiet) {
        cascade_net_summary(&s->gen, summary, sizeof summary);
        cascade_log("%s", summary);
        cascade_net_summary(&s->critic, summary, sizeof summary);
        cascade_log("%s", summary);
    }
    if (s->refiner)
        cascade_log("training %s (kind refiner, %s critic): %lld simulated and %lld target samples, %lld steps of "
                    "%ld critic update(s) on batches of %ld then one refiner update (the first %ld on the "
                    "self-regularization alone), history %ld, %d rank(s)%s\n",
                    job->name, job->critic_bce ? "bce" : "wgan-gp", (long long)s->base.train.n,
                    (long long)s->target.n, (long long)s->base.total_steps, job->critic_steps, job->batch,
                    job->pretrain_steps, job->history, s->base.size, job->deterministic ? ", deterministic" : "");
    else
        cascade_log("training %s (kind %s): %lld real samples, %lld steps of %ld critic update(s) on batches of "
                    "%ld then one generator update, %d rank(s)%s\n",
                    job->name, job->kind == JOB_GAN ? "gan" : job->kind == JOB_WGAN ? "wgan" : "wgan-gp",
                    (long long)s->base.train.n, (long long)s->base.total_steps, job->critic_steps, job->batch, s->base.size,
                    job->deterministic ? ", deterministic" : "");
    if (!o->quiet)
        cascade_log("optimizer state: %.0f bytes per rank (generator %.0f, critic %.0f)%s\n",
                    cascade_optimizer_bytes(&s->gopt) + cascade_optimizer_bytes(&s->copt),
                    cascade_optimizer_bytes(&s->gopt), cascade_optimizer_bytes(&s->copt),
                    s->gen_shards.sharded ? " (sharded over the ranks)" : "");
    return CASCADE_OK;
}

cascade_status cascade_gan_session_open(cascade_training *t, cascade_job *job, const cascade_train_opts *o,
                                        MPI_Comm comm) {
    gan_session *s = (gan_session *)t;
    s->refiner = job->kind == JOB_REFINER;
    const char *resume_from = NULL;
    cascade_status st = cascade_training_open(t, job, o, comm, &resume_from);
    if (!st && job->critic_steps > GAN_MAX_CRITIC_STEPS)
        st = cascade_fail(CASCADE_EUSAGE, "%s: critic_steps = %ld; at most %d", job->path, job->critic_steps,
                          GAN_MAX_CRITIC_STEPS);
    if (!st) st = load_train(s);
    if (!st && s->base.train.n < job->batch)
        st = cascade_fail(CASCADE_EUSAGE, "%s: batch = %ld is larger than the %lld training samples in %s", job->path,
                          job->batch, (long long)s->base.train.n, job->train);
    if (st) goto fail;
    if ((st = cascade_gan_build(job, &s->gx, job->n_conditions ? &s->base.train.y_shape : NULL, &s->gen, &s->critic,
                                s->gen_out)))
        goto fail;
    if (s->gx.n > 1 && job->constrainer[0]) {
        st = cascade_fail(CASCADE_EUSAGE, "%s: a constrainer reads one stacked x; this job has [gan] outputs", job->path);
        goto fail;
    }
    s->xs = s->gx.total;
    s->cs = job->n_conditions ? cascade_shape_numel(&s->base.train.y_shape) : 0;
    s->zs = job->latent;
    if (job->normalize == NORM_STANDARD) {
        if (resume_from && (st = read_norm(s, resume_from))) goto fail;
        if ((st = normalize_inputs(s, resume_from != NULL))) goto fail;
    }
    s->scores = cascade_shape_numel(cascade_net_out_shape(&s->critic));
    int mb = (int)job->micro_batch;
    if ((st = cascade_net_prepare(&s->gen, mb, 0))) goto fail;
    if ((st = cascade_net_prepare(&s->critic, mb, cascade_gan_uses_penalty(job) ? 2 : 1))) goto fail;
    if ((st = cascade_net_shards(job, &s->gen, comm, &s->gen_shards))) goto fail;
    if ((st = cascade_net_shards(job, &s->critic, comm, &s->critic_shards))) goto fail;
    if ((st = cascade_shard_optimizer(&s->gopt, job, 0, &s->gen, &s->gen_shards))) goto fail;
    if ((st = cascade_shard_optimizer(&s->copt, job, 1, &s->critic, &s->critic_shards))) goto fail;
    if (s->refiner && (st = cascade_refiner_alloc(s))) goto fail;
    if (job->constrainer[0] && (st = cascade_constrainer_open(&s->constrainer, job, &s->base.train, &s->norm, mb, comm)))
        goto fail;
    s->gen_grads_own = s->gen.grads, s->critic_grads_own = s->critic.grads;
    if ((st = cascade_net_reducer(&s->gen, &s->base.topo, job, GAN_GEN_DOUBLES(s), &s->gen_shards, &s->gen_red))) goto fail;
    if ((st = cascade_net_reducer(&s->critic, &s->base.topo, job, GAN_CRITIC_DOUBLES, &s->critic_shards, &s->critic_red)))
        goto fail;
    if (resume_from) {
        if ((st = read_checkpoint(s, resume_from, 1))) goto fail;
        cascade_log("resuming %s at step %lld (epoch %lld)\n", s->base.rundir, (long long)s->base.prog.step,
                    (long long)s->base.prog.epoch + 1);
    } else if (o->init_path && (st = read_checkpoint(s, o->init_path, 0))) {
        goto fail;
    }
    s->base.steps_per_epoch = s->base.train.n / (job->batch * job->critic_steps);
    if (s->base.steps_per_epoch < 1) s->base.steps_per_epoch = 1;
    s->base.total_steps = o->steps > 0 ? o->steps : job->steps > 0 ? job->steps : job->epochs * s->base.steps_per_epoch;
    int64_t nd = s->gen.n_stats + 8;
    if ((st = cascade_training_buffers(t))) goto fail;
    s->xb = cascade_alloc((size_t)(mb * s->xs) * sizeof(float), "real batch");
    s->cb = cascade_alloc((size_t)(mb * (s->cs ? s->cs : 1)) * sizeof(float), "condition batch");
    s->zb = cascade_alloc((size_t)(mb * s->zs) * sizeof(float), "noise batch");
    s->hat = cascade_alloc((size_t)(mb * s->xs) * sizeof(float), "interpolated batch");
    s->v = cascade_alloc((size_t)(mb * s->xs) * sizeof(float), "penalty tangent");
    s->fakeb = cascade_alloc((size_t)(mb * s->xs) * sizeof(float), "generated batch");
    s->dout = cascade_alloc((size_t)(mb * s->scores) * sizeof(float), "score gradient");
    s->facc = cascade_alloc((size_t)nd * sizeof(double), "step sums");
    s->dvals = cascade_alloc((size_t)nd * sizeof(double), "micro-batch sums");
    if (!s->xb || !s->cb || !s->zb || !s->hat || !s->v || !s->fakeb || !s->dout || !s->facc ||
        !s->dvals) {
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory for batch buffers");
        goto fail;
    }
    if (s->base.rank == 0 && (st = open_rundir(s))) goto fail;
    return CASCADE_OK;
fail:
    cascade_gan_session_close(t);
    return st;
}

