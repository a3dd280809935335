/* Per-optimizer kernels behind cascade_optimizer_update. Each updates params[i] for i in
 * [lo, hi) from grads[i] and its state buffers (all indexed by the same global i), at
 * update number `step` (1-based, torch's state['step']) with learning rate `lr`. Scalars are
 * rounded to float where torch rounds them (python float -> float32 tensor op). */
#ifndef CASCADE_OPTIM_INTERNAL_H
#define CASCADE_OPTIM_INTERNAL_H

#include "cascade/optim.h"

/* Element loops go parallel from this many elements on: below it the thread start-up costs
 * more than the update. Every element's update is independent, so results never depend on
 * the number of threads. */
#define OPTIM_PARALLEL_MIN 32768

/* momentum_buffer: NULL when cfg->momentum == 0. */
void cascade_sgd_update(const cascade_opt_cfg *cfg, int64_t step, float *params, const float *grads,
                        float *momentum_buffer, int64_t lo, int64_t hi, double lr);
/* decoupled = 0: Adam (weight decay as L2 in the gradient); 1: AdamW (p *= 1 - lr*wd). */
void cascade_adam_update(const cascade_opt_cfg *cfg, int64_t step, int decoupled, float *params,
                         const float *grads, float *exp_avg, float *exp_avg_sq, int64_t lo,
                         int64_t hi, double lr);
/* momentum_buffer NULL unless cfg->momentum > 0; grad_avg NULL unless cfg->centered. */
void cascade_rmsprop_update(const cascade_opt_cfg *cfg, float *params, const float *grads,
                            float *square_avg, float *momentum_buffer, float *grad_avg, int64_t lo,
                            int64_t hi, double lr);

#endif
