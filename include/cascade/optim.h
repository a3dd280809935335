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
 * State buffers (torch state-dict names): sgd momentum_buffer (momentum>0); adam/adamw exp_avg,
 * exp_avg_sq; rmsprop square_avg, momentum_buffer (momentum>0), grad_avg (centered).
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
 *                 torch would climb again. */
#ifndef CASCADE_OPTIM_H
#define CASCADE_OPTIM_H

#include "cascade/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP } cascade_opt_kind;
typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE } cascade_sched_kind;

typedef struct {
    char net[64];           /* which net ("" = the [optimizer] default section) */
    cascade_opt_kind type;  /* [adam] */
    double lr;              /* [1e-3] */
    double momentum;        /* sgd/rmsprop [0] */
    int nesterov;           /* sgd [false] */
    double beta1, beta2;    /* adam/adamw: betas = b1, b2 [0.9, 0.999] */
    double eps;             /* [1e-8] */
    double weight_decay;    /* [0; adamw 1e-2 as torch] */
    double alpha;           /* rmsprop smoothing [0.99] */
    int centered;           /* rmsprop [false] */
    cascade_sched_kind schedule; /* [constant] */
    long step_size;         /* step schedule: every step_size steps ... */
    double gamma;           /* ... lr *= gamma [0.1] */
    double min_lr;          /* cosine: eta_min [0] */
    long warmup;            /* linear warm-up steps [0] */
} cascade_opt_cfg;

/* Defaults as torch.optim for `type` (adamw weight_decay 1e-2, others 0; lr 1e-3, rmsprop
 * 1e-2 as torch; sgd 1e-3 since torch has none; step_size 0 = must be given for `step`). */
void cascade_opt_defaults(cascade_opt_cfg *cfg, cascade_opt_kind type);
/* Checks ranges as torch does (lr, eps, weight_decay, momentum, alpha >= 0; 0 <= betas < 1;
 * nesterov needs momentum > 0; step schedule needs step_size >= 1; warmup, gamma, min_lr >= 0).
 * CASCADE_EUSAGE naming [optimizer(.NET)] and the key. */
cascade_status cascade_opt_cfg_check(const cascade_opt_cfg *cfg);
/* "sgd", "adam", "adamw", "rmsprop" / "constant", "step", "cosine" (the job-file spellings). */
const char *cascade_opt_kind_name(cascade_opt_kind kind);
const char *cascade_sched_kind_name(cascade_sched_kind kind);

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
} cascade_optimizer;

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

#ifdef __cplusplus
}
#endif
#endif
