/* Per-optimizer kernels behind cascade_optimizer_update. Each updates params[i] for i in
 * [lo, hi) from grads[i] and its state buffers (all indexed by the same global i), at
 * update number `step` (1-based, torch's state['step']) with learning rate `lr`. Scalars are
 * rounded to float where torch rounds them (python float -> float32 tensor op). */
#ifndef CASCADE_OPTIM_INTERNAL_H
#define CASCADE_OPTIM_INTERNAL_H

#include <math.h>

#include "cascade/optim.h"

/* Bit-identical to torch's AVX2 CPU kernels (within float rounding on others): torch computes
 * add(a, b, alpha) and addcmul as fused multiply-adds there, so the kernels call fmaf() exactly
 * where torch fuses, and nowhere else. Contracting any other a*b + c (gcc's default in GNU C)
 * would break that, hence fp-contract off; fmaf is exact on every CPU, so the FMA clone used on
 * CPUs that have the instruction gives the same bits as the plain one. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#else
#pragma STDC FP_CONTRACT OFF/* lars / lamb with the norms in o->norm_acc (layerwise.c). */
void cascade_layerwise_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo, int64_t hi,
                              double lr);

#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__FMA__)
#define OPTIM_KERNEL __attribute__((target_clones("fma", "default")))
#else
#define OPTIM_KERNEL/* lars / lamb with the norms in o->norm_acc (layerwise.c). */
void cascade_layerwise_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo, int64_t hi,
                              double lr);

#endif

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
/* lars / lamb with the norms in o->norm_acc (layerwise.c). */
void cascade_layerwise_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo, int64_t hi,
                              double lr);

#endif
