/* Optimizers on flat float buffers, with torch.optim's exact update rules, and learning-rate
 * schedules. Free of MPI/HDF5: the caller hands in (already reduced) gradients. */
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

/* Defaults as torch.optim for `type` (adamw weight_decay 1e-2, others 0; lr 1e-3 ...). */
void cascade_opt_defaults(cascade_opt_cfg *cfg, cascade_opt_kind type);

#define CASCADE_OPT_MAX_STATES 3

typedef struct {
    cascade_opt_cfg cfg;
    int64_t n;        /* parameters in the flat buffer */
    int64_t step;     /* updates applied so far (torch's state['step']) */
    int n_states;     /* state buffers this optimizer keeps */
    const char *state_names[CASCADE_OPT_MAX_STATES]; /* torch names: exp_avg, exp_avg_sq, momentum_buffer, square_avg, grad_avg */
    float *state[CASCADE_OPT_MAX_STATES];            /* each n floats, owned */
} cascade_optimizer;

cascade_status cascade_optimizer_init(cascade_optimizer *o, const cascade_opt_cfg *cfg, int64_t n);
void cascade_optimizer_free(cascade_optimizer *o);
/* Learning rate for update number `step` (0-based) of `total` (cosine needs it): warm-up
 * (linear from lr/warmup to lr over `warmup` steps) then the schedule, as torch's
 * LinearLR + StepLR/CosineAnnealingLR stepped once per update. */
double cascade_lr_at(const cascade_opt_cfg *cfg, int64_t step, int64_t total);
/* One update: o->step += 1, then params[i] updated from grads[i] for i in [lo, hi)
 * (lo=0, hi=n for the whole buffer; a sub-range lets ZeRO-1 update its own shard). */
void cascade_optimizer_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo,
                              int64_t hi, double lr);

#ifdef __cplusplus
}
#endif
#endif
