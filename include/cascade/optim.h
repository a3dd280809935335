/* Optimizers on flat float buffers, with torch.optim's exact update rules, and learning-rate
 * schedules. Free of MPI/HDF5: the caller hands in (already reduced) gradients.
 *
 * Update rules (float32 in torch's operation order, fused multiply-adds exactly where torch's
 * AVX2 CPU kernels fuse: bit-identical to torch 1.13 there, within float rounding elsewhere;
 * t = step after the increment):
 *   sgd      g += wd*p; momentum>0: buf = (t==1 ? g : momentum*buf + g);
 *            d = nesterov ? g + momentum*buf : buf (plain: d = g); p -= lr*d
 *   adam     g += wd*p (L2); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *            denom = sqrt(v)/sqrt(1-b2^t) + eps; p += (-lr/(1-b1^t)) * m/denom
 *   adamw    p *= 1 - lr*wd (decoupled), then adam without the L2 term
 *   rmsprop  g += wd*p; sq = alpha*sq + (1-alpha)*g*g; centered: ga = alpha*ga + (1-alpha)*g,
 *            avg = sqrt(sq - ga*ga) + eps (else sqrt(sq) + eps);
 *            momentum>0: buf = momentum*buf + g/avg, p -= lr*buf; else p -= lr*g/avg
 * Layer-wise (per parameter tensor T; no torch.optim counterpart, tested against numpy):
 *   lars     (You et al. 2017) ratio = eta*|w_T| / (|g_T| + wd*|w_T|), 1 when |w_T| or |g_T|
 *            is 0; buf = momentum*buf + (lr*ratio) * (g + wd*p) (buf starts at 0); p -= buf
 *   lamb     (You et al. 2019, Algorithm 2) m, v as adam; r = (m/(1-b1^t)) / (sqrt(v/(1-b2^t))
 *            + eps) + wd*p; ratio = |w_T| / |r_T|, 1 when either is 0; p -= (lr*ratio) * r
 *   |.|_T is the 2-norm over the whole tensor (exact sums of squares, cascade/xsum.h digits,
 *   so the same bits for any split of the tensor over ranks or threads). Tensors not adapted
 *   (1-D ones: biases, norm scales/shifts, see cascade_opt_tensor) get ratio 1 and no weight
 *   decay: lars is momentum SGD there, lamb is Adam.
 * State buffers (torch state-dict names): sgd momentum_buffer (momentum>0); adam/adamw/lamb
 * exp_avg, exp_avg_sq; rmsprop square_avg, momentum_buffer (momentum>0), grad_avg (centered);
 * lars momentum_buffer (momentum>0).
 *
 * Learning rate at update s (0-based) of `total`, base lr L, warm-up W (steps), as torch's
 * SequentialLR([LinearLR(start_factor=1/W, total_iters=W), SCHED], milestones=[W]) (just SCHED
 * when W = 0; LinearLR alone for `constant`) with scheduler.step() after every optimizer.step():
 *   s < W:        L * (1/W + (1 - 1/W) * s/W)          (LinearLR; L/W at s = 0)
 *   t = s - W >= 0:
 *     constant    L
 *     step        L * gamma^floor(t / step_size)                       (StepLR)
 *     cosine      min_lr + (L - min_lr) * (1 + cos(pi * t / T)) / 2,  T = total - W
 *                 (CosineAnnealingLR closed form); t >= T (past the end) gives min_lr, where
 *                 torch would climb again.
 *     poly        L * (1 - t / T)^power,  T = total - W  (PolynomialLR(total_iters=T, power)
 *                 closed form; power 1 is the linear decay to 0 of the LAMB paper, You et al.
 *                 2019, after its warm-up); t >= T gives 0, as torch.
 * L is lr * lr_scale: lr_scaling = linear gives lr_scale = batch / reference_batch, sqrt its
 * square root, none 1 (set by the job validation; min_lr is not scaled). */
#ifndef CASCADE_OPTIM_H
#define CASCADE_OPTIM_H

#include "cascade/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_LARS, OPT_LAMB } cascade_opt_kind;
typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_POLY } cascade_sched_kind;
typedef enum { LR_SCALING_NONE, LR_SCALING_LINEAR, LR_SCALING_SQRT } cascade_lr_scaling;

typedef struct {
    char net[64];           /* which net ("" = the [optimizer] default section) */
    cascade_opt_kind type;  /* [adam] */
    double lr;              /* [1e-3] */
    double momentum;        /* sgd/rmsprop [0]; lars [0.9] */
    int nesterov;           /* sgd [false] */
    double beta1, beta2;    /* adam/adamw/lamb: betas = b1, b2 [0.9, 0.999] */
    double eps;             /* [1e-8; lamb 1e-6] */
    double weight_decay;    /* [0; adamw, lamb 1e-2; lars 5e-4] */
    double trust_coefficient; /* lars eta [1e-3] */
    int adapt_biases;       /* lars/lamb: 1-D tensors get the trust ratio and weight decay too [false] */
    double alpha;           /* rmsprop smoothing [0.99] */
    int centered;           /* rmsprop [false] */
    cascade_sched_kind schedule; /* [constant] */
    long step_size;         /* step schedule: every step_size steps ... */
    double gamma;           /* ... lr *= gamma [0.1] */
    double min_lr;          /* cosine: eta_min [0] */
    double power;           /* poly: exponent of the decay [1] */
    long warmup;            /* linear warm-up steps [0] */
    cascade_lr_scaling lr_scaling; /* [none] */
    long reference_batch;   /* the batch lr was tuned for (lr_scaling != none) */
    double lr_scale;        /* the factor on lr it gives for the job's batch [1] */
} cascade_opt_cfg;

/* Defaults as torch.optim for `type` (adamw weight_decay 1e-2, others 0; lr 1e-3, rmsprop
 * 1e-2 as torch; sgd 1e-3 since torch has none; step_size 0 = must be given for `step`);
 * lars as You et al. 2017 (momentum 0.9, weight_decay 5e-4, trust_coefficient 1e-3), lamb as
 * You et al. 2019 (betas 0.9, 0.999, eps 1e-6, weight_decay 1e-2). lr_scale 1. */
void cascade_opt_defaults(cascade_opt_cfg *cfg, cascade_opt_kind type);
/* Checks ranges as torch does (lr, eps, weight_decay, momentum, alpha >= 0; 0 <= betas < 1;
 * nesterov needs momentum > 0; step schedule needs step_size >= 1; warmup, gamma, min_lr >= 0).
 * CASCADE_EUSAGE naming [optimizer(.NET)] and the key. */
cascade_status cascade_opt_cfg_check(const cascade_opt_cfg *cfg);
/* "sgd", "adam", "adamw", "rmsprop", "lars", "lamb" / "constant", "step", "cosine" /
 * "none", "linear", "sqrt" (the job-file spellings). */
const char *cascade_opt_kind_name(cascade_opt_kind kind);
const char *cascade_sched_kind_name(cascade_sched_kind kind);
const char *cascade_lr_scaling_name(cascade_lr_scaling s);
/* The factor on lr for a global batch: 1 (none), batch / reference (linear), its square
 * root (sqrt). */
double cascade_lr_scale_for(cascade_lr_scaling s, long batch, long reference_batch);

/* A parameter tensor of the flat buffer, for the layer-wise optimizers: floats [off, off + n)
 * (global offsets, not shard-relative). adapt = 0 for tensors that get neither the trust ratio
 * nor weight decay; the rule used by training is "1-D tensors are not adapted" (biases and
 * batch/layer-norm scales and shifts), as in the LARS/LAMB reference implementations. */
typedef struct {
    int64_t off, n;
    int adapt;
} cascade_opt_tensor;

#define CASCADE_OPT_MAX_STATES 3

typedef struct {
    cascade_opt_cfg cfg;
    int64_t n;        /* parameters in the flat buffer */
    int64_t offset;   /* ZeRO-1: the state covers flat parameters [offset, offset + n) (set by the caller) */
    int sharded;      /* ZeRO-1: each rank holds a different shard (set by the caller) */
    int64_t step;     /* updates applied so far (torch's state['step']) */
    int n_states;     /* state buffers this optimizer keeps */
    const char *state_names[CASCADE_OPT_MAX_STATES]; /* torch names: exp_avg, exp_avg_sq, momentum_buffer, square_avg, grad_avg */
    float *state[CASCADE_OPT_MAX_STATES];            /* each n floats, owned */
    /* lars/lamb: the tensors (sorted, tiling [0, total)) and per tensor the partial sums of
     * squares of phase 1, CASCADE_OPT_NORM_WORDS int64 each; owned */
    int n_tensors;
    cascade_opt_tensor *tensors;
    int64_t *norm_acc;
    int norms_ready; /* phase 1 ran since the last update */
} cascade_optimizer;

/* Per tensor: |w|^2 and |update|^2 as CASCADE_XSUM_DIGITS digits each plus a count of terms
 * out of range (|x| >= 2^32 or not finite: that norm counts as infinite). */
#define CASCADE_OPT_NORM_WORDS 10

/* Checks cfg, allocates the zeroed state buffers, step = 0. On error *o holds nothing to free. */
cascade_status cascade_optimizer_init(cascade_optimizer *o, const cascade_opt_cfg *cfg, int64_t n);
void cascade_optimizer_free(cascade_optimizer *o);
/* The state buffer with torch's name (e.g. "exp_avg"), NULL if this optimizer keeps none. */
float *cascade_optimizer_state(const cascade_optimizer *o, const char *name);
/* Learning rate for update number `step` (0-based) of `total` (cosine needs it): warm-up
 * (linear from lr/warmup at update 0, reaching lr at update `warmup`) then the schedule, as
 * torch's LinearLR + StepLR/CosineAnnealingLR stepped once per update (formulas at the top).
 * step < 0 counts as 0. */
double cascade_lr_at(const cascade_opt_cfg *cfg, int64_t step, int64_t total);
/* One update: o->step += 1, then params[i] updated from grads[i] for i in [lo, hi)
 * (lo=0, hi=n for the whole buffer; a sub-range lets ZeRO-1 update its own shard: call it
 * exactly once per update, also with an empty range, so `step` stays the global count).
 * params, grads and the state buffers are all indexed by the same i. To keep only the shard's
 * state, init with n = hi - lo instead and pass params + lo, grads + lo, range [0, hi - lo). */
void cascade_optimizer_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo,
                              int64_t hi, double lr);

/* Layer-wise optimizers (lars, lamb) need norms of whole tensors, which a ZeRO-1 shard may
 * cut; the update is then two-phase (optim stays MPI-free):
 *   1. w = cascade_optimizer_norm_partials(o, params, grads, lo, hi): this range's exact
 *      partial sums of squares per tensor (nothing is modified);
 *   2. the caller sums the cascade_optimizer_norm_words(o) int64 words at w over the ranks
 *      (integer MPI_SUM, e.g. cascade_par_sum_int64: exact, so any split gives the same bits);
 *   3. cascade_optimizer_update as above, which uses the summed norms.
 * Without phase 1, update computes the norms from its own range (right when that range holds
 * whole tensors, e.g. unsharded). Element-wise optimizers: 0 words, phase 1 returns NULL.
 * set_tensors gives the tensors (copied; they must tile [0, total) without overlap); without
 * it the whole buffer [0, offset + n) is one adapted tensor. */
cascade_status cascade_optimizer_set_tensors(cascade_optimizer *o, const cascade_opt_tensor *t, int n);
int64_t cascade_optimizer_norm_words(const cascade_optimizer *o);
int64_t *cascade_optimizer_norm_partials(cascade_optimizer *o, const float *params, const float *grads,
                                         int64_t lo, int64_t hi);

#ifdef __cplusplus
}
#endif
#endif
