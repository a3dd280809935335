/* SGD as torch.optim.SGD (dampening 0): weight decay added to the gradient, the momentum
 * buffer starts as the gradient on the first update, optional Nesterov look-ahead. */
#include "optim/optim_internal.h"

OPTIM_KERNEL void cascade_sgd_update(const cascade_opt_cfg *cfg, int64_t step, float *params,
                                     const float *grads, float *momentum_buffer, int64_t lo,
                                     int64_t hi, double lr) {
    const float weight_decay = (float)cfg->weight_decay;
    const float momentum = (float)cfg->momentum;
    const float neg_lr = (float)-lr;
    const int use_momentum = momentum_buffer != NULL && cfg->momentum != 0;
    const int first = step == 1;
    const int nesterov = cfg->nesterov;
#pragma omp parallel for simd schedule(static) if (hi - lo >= OPTIM_PARALLEL_MIN)
    for (int64_t i = lo; i < hi; i++) {
        float d = grads[i];
        if (weight_decay != 0) d = fmaf(params[i], weight_decay, d);
        if (use_momentum) {
            /* torch: buf = clone(d) first, then buf.mul_(momentum).add_(d, alpha=1) */
            float buf = first ? d : momentum_buffer[i] * momentum + d;
            momentum_buffer[i] = buf;
            d = nesterov ? fmaf(buf, momentum, d) : buf;
        }
        params[i] = fmaf(d, neg_lr, params[i]);
    }
}
