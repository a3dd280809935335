/* Optimizer configuration defaults and checks, state buffers, and dispatch to the kernels. */
#include <stdlib.h>
#include <string.h>

#include "optim/optim_internal.h"

static const char *const opt_kind_names[] = {"sgd", "adam", "adamw", "rmsprop", "lars", "lamb"};
static const char *const sched_kind_names[] = {"constant", "step", "cosine", "poly"};
static const char *const lr_scaling_names[] = {"none", "linear", "sqrt"};

const char *cascade_opt_kind_name(cascade_opt_kind kind) {
    return (unsigned)kind < sizeof opt_kind_names / sizeof *opt_kind_names ? opt_kind_names[kind]
                                                                           : "?";
}

const char *cascade_sched_kind_name(cascade_sched_kind kind) {
    return (unsigned)kind < sizeof sched_kind_names / sizeof *sched_kind_names
               ? sched_kind_names[kind]
               : "?";
}

const char *cascade_lr_scaling_name(cascade_lr_scaling s) {
    return (unsigned)s < sizeof lr_scaling_names / sizeof *lr_scaling_names ? lr_scaling_names[s] : "?";
}

double cascade_lr_scale_for(cascade_lr_scaling s, long batch, long reference_batch) {
    if (s == LR_SCALING_NONE || reference_batch < 1) return 1.0;
    const double ratio = (double)batch / (double)reference_batch;
    return s == LR_SCALING_SQRT ? sqrt(ratio) : ratio;
}

void cascade_opt_defaults(cascade_opt_cfg *cfg, cascade_opt_kind type) {
    memset(cfg, 0, sizeof *cfg);
    cfg->type = type;
    cfg->lr = type == OPT_RMSPROP ? 1e-2 : 1e-3;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    cfg->weight_decay = type == OPT_ADAMW ? 1e-2 : 0.0;
    cfg->alpha = 0.99;
    cfg->schedule = SCHED_CONSTANT;
    cfg->gamma = 0.1;
    cfg->power = 1.0;
    cfg->trust_coefficient = 1e-3;
    cfg->lr_scale = 1.0;
    if (type == OPT_LARS) cfg->momentum = 0.9, cfg->weight_decay = 5e-4;
    if (type == OPT_LAMB) cfg->eps = 1e-6, cfg->weight_decay = 1e-2;
}

/* "[optimizer]" or "[optimizer.NET]" followed by the complaint about `key`. */
static cascade_status bad_value(const cascade_opt_cfg *cfg, const char *key, double value,
                                const char *need) {
    return cascade_fail(CASCADE_EUSAGE, "[optimizer%s%s] %s = %g: %s", cfg->net[0] ? "." : "",
                        cfg->net, key, value, need);
}

cascade_status cascade_opt_cfg_check(const cascade_opt_cfg *cfg) {
    if ((unsigned)cfg->type > OPT_LAMB) return bad_value(cfg, "type", cfg->type, "unknown");
    if ((unsigned)cfg->schedule > SCHED_POLY)
        return bad_value(cfg, "schedule", cfg->schedule, "unknown");
    /* !(x >= 0) also rejects NaN */
    if (!(cfg->lr >= 0)) return bad_value(cfg, "lr", cfg->lr, "must be >= 0");
    if (!(cfg->eps >= 0)) return bad_value(cfg, "eps", cfg->eps, "must be >= 0");
    if (!(cfg->weight_decay >= 0))
        return bad_value(cfg, "weight_decay", cfg->weight_decay, "must be >= 0");
    if (!(cfg->momentum >= 0)) return bad_value(cfg, "momentum", cfg->momentum, "must be >= 0");
    if (cfg->type == OPT_ADAM || cfg->type == OPT_ADAMW || cfg->type == OPT_LAMB) {
        if (!(cfg->beta1 >= 0 && cfg->beta1 < 1))
            return bad_value(cfg, "betas", cfg->beta1, "the first beta must be in [0, 1)");
        if (!(cfg->beta2 >= 0 && cfg->beta2 < 1))
            return bad_value(cfg, "betas", cfg->beta2, "the second beta must be in [0, 1)");
    }
    if (cfg->type == OPT_RMSPROP && !(cfg->alpha >= 0))
        return bad_value(cfg, "alpha", cfg->alpha, "must be >= 0");
    if (cfg->type == OPT_SGD && cfg->nesterov && !(cfg->momentum > 0))
        return bad_value(cfg, "momentum", cfg->momentum, "nesterov needs momentum > 0");
    if (cfg->schedule == SCHED_STEP && cfg->step_size < 1)
        return bad_value(cfg, "step_size", (double)cfg->step_size,
                         "schedule = step needs step_size >= 1 (updates between decays)");
    if (!(cfg->gamma >= 0)) return bad_value(cfg, "gamma", cfg->gamma, "must be >= 0");
    if (!(cfg->power > 0 && isfinite(cfg->power)))
        return bad_value(cfg, "power", cfg->power, "must be a finite exponent > 0");
    if (!(cfg->min_lr >= 0)) return bad_value(cfg, "min_lr", cfg->min_lr, "must be >= 0");
    if (cfg->warmup < 0) return bad_value(cfg, "warmup", (double)cfg->warmup, "must be >= 0");
    if (cfg->type == OPT_LARS && !(cfg->trust_coefficient > 0))
        return bad_value(cfg, "trust_coefficient", cfg->trust_coefficient, "must be > 0");
    if ((unsigned)cfg->lr_scaling > LR_SCALING_SQRT)
        return bad_value(cfg, "lr_scaling", cfg->lr_scaling, "unknown");
    if (cfg->lr_scaling != LR_SCALING_NONE && cfg->reference_batch < 1)
        return bad_value(cfg, "reference_batch", (double)cfg->reference_batch,
                         "lr_scaling needs reference_batch >= 1 (the batch lr was tuned for)");
    if (!(cfg->lr_scale > 0 && isfinite(cfg->lr_scale)))
        return bad_value(cfg, "lr_scale", cfg->lr_scale, "must be a finite factor > 0");
    return CASCADE_OK;
}

cascade_status cascade_optimizer_init(cascade_optimizer *o, const cascade_opt_cfg *cfg, int64_t n) {
    memset(o, 0, sizeof *o);
    CASCADE_TRY(cascade_opt_cfg_check(cfg));
    if (n < 0)
        return cascade_fail(CASCADE_EINTERNAL, "optimizer for %lld parameters", (long long)n);
    o->cfg = *cfg;
    o->n = n;
    /* fixed order per kind; the update below relies on it */
    switch (cfg->type) {
    case OPT_SGD:
        if (cfg->momentum != 0) o->state_names[o->n_states++] = "momentum_buffer";
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        o->state_names[o->n_states++] = "exp_avg";
        o->state_names[o->n_states++] = "exp_avg_sq";
        break;
    case OPT_RMSPROP:
        o->state_names[o->n_states++] = "square_avg";
        if (cfg->momentum > 0) o->state_names[o->n_states++] = "momentum_buffer";
        if (cfg->centered) o->state_names[o->n_states++] = "grad_avg";
        break;
    case OPT_LARS:
        if (cfg->momentum > 0) o->state_names[o->n_states++] = "momentum_buffer";
        break;
    case OPT_LAMB:
        o->state_names[o->n_states++] = "exp_avg";
        o->state_names[o->n_states++] = "exp_avg_sq";
        break;
    }
    for (int s = 0; s < o->n_states; s++) {
        o->state[s] = cascade_alloc((size_t)n * sizeof(float), o->state_names[s]);
        if (!o->state[s]) {
            cascade_optimizer_free(o);
            cascade_error_context("optimizer state: ");
            return CASCADE_EINTERNAL;
        }
    }
    if (cfg->type == OPT_LARS || cfg->type == OPT_LAMB) {
        cascade_opt_tensor whole = {0, n, 1}; /* until set_tensors (offset is still 0 here) */
        cascade_status st = cascade_optimizer_set_tensors(o, &whole, 1);
        if (st) {
            cascade_optimizer_free(o);
            return st;
        }
        o->tensors[0].n = -1; /* marks "the whole buffer": resized to offset + n when used */
    }
    return CASCADE_OK;
}

static int by_offset(const void *a, const void *b) {
    const cascade_opt_tensor *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

cascade_status cascade_optimizer_set_tensors(cascade_optimizer *o, const cascade_opt_tensor *t, int n) {
    if (n < 1) return cascade_fail(CASCADE_EINTERNAL, "optimizer: %d parameter tensors", n);
    cascade_opt_tensor *copy = malloc((size_t)n * sizeof *copy);
    int64_t *acc = calloc((size_t)n * CASCADE_OPT_NORM_WORDS, sizeof *acc);
    if (!copy || !acc) {
        free(copy), free(acc);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for %d parameter tensors", n);
    }
    memcpy(copy, t, (size_t)n * sizeof *copy);
    qsort(copy, (size_t)n, sizeof *copy, by_offset);
    for (int i = 0; i < n; i++) /* a tiling of [0, total): each starts where the last ended */
        if (copy[i].n < 0 || copy[i].off != (i ? copy[i - 1].off + copy[i - 1].n : 0)) {
            free(copy), free(acc);
            return cascade_fail(CASCADE_EINTERNAL, "optimizer: parameter tensors do not tile the flat buffer "
                                "(tensor at %lld)", (long long)t[i].off);
        }
    free(o->tensors), free(o->norm_acc);
    o->tensors = copy, o->norm_acc = acc, o->n_tensors = n;
    return CASCADE_OK;
}

void cascade_optimizer_free(cascade_optimizer *o) {
    for (int s = 0; s < CASCADE_OPT_MAX_STATES; s++) cascade_free(o->state[s]);
    free(o->tensors), free(o->norm_acc);
    memset(o, 0, sizeof *o);
}

float *cascade_optimizer_state(const cascade_optimizer *o, const char *name) {
    for (int s = 0; s < o->n_states; s++)
        if (strcmp(o->state_names[s], name) == 0) return o->state[s];
    return NULL;
}

void cascade_optimizer_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo,
                              int64_t hi, double lr) {
    const cascade_opt_cfg *cfg = &o->cfg;
    if (cfg->type == OPT_LARS || cfg->type == OPT_LAMB) {
        if (!o->norms_ready) cascade_optimizer_norm_partials(o, params, grads, lo, hi); /* at the current step */
    }
    o->step += 1;
    switch (cfg->type) {
    case OPT_SGD:
        cascade_sgd_update(cfg, o->step, params, grads,
                           cascade_optimizer_state(o, "momentum_buffer"), lo, hi, lr);
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        cascade_adam_update(cfg, o->step, cfg->type == OPT_ADAMW, params, grads, o->state[0],
                            o->state[1], lo, hi, lr);
        break;
    case OPT_RMSPROP:
        cascade_rmsprop_update(cfg, params, grads, o->state[0],
                               cascade_optimizer_state(o, "momentum_buffer"),
                               cascade_optimizer_state(o, "grad_avg"), lo, hi, lr);
        break;
    case OPT_LARS:
    case OPT_LAMB:
        cascade_layerwise_update(o, params, grads, lo, hi, lr);
        break;
    }
}
