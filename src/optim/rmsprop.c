/* RMSprop as torch.optim.RMSprop: square_avg with smoothing alpha, eps added after the square
 * root, optional centering (grad_avg) and momentum (buffer of g / avg). */
#include "optim/optim_internal.h"

OPTIM_KERNEL void cascade_rmsprop_update(const cascade_opt_cfg *cfg, float *params,
                                         const float *grads, float *square_avg,
                                         float *momentum_buffer, float *grad_avg, int64_t lo,
                                         int64_t hi, double lr) {
    const float weight_decay = (float)cfg->weight_decay;
    const float alpha = (float)cfg->alpha, one_minus_alpha = (float)(1.0 - cfg->alpha);
    const float eps = (float)cfg->eps;
    const float momentum = (float)cfg->momentum;
    const float neg_lr = (float)-lr;
#pragma omp parallel for simd schedule(static) if (hi - lo >= OPTIM_PARALLEL_MIN)
    for (int64_t i = lo; i < hi; i++) {
        float g = grads[i];
        if (weight_decay != 0) g = fmaf(params[i], weight_decay, g);
        const float sq = fmaf(one_minus_alpha * g, g, square_avg[i] * alpha);
        square_avg[i] = sq;
        float avg;
        if (grad_avg) {
            const float ga = fmaf(g, one_minus_alpha, grad_avg[i] * alpha);
            grad_avg[i] = ga;
            avg = sqrtf(fmaf(-1.0f * ga, ga, sq)); /* addcmul(ga, ga, value=-1) */
        } else {
            avg = sqrtf(sq);
        }
        avg = avg + eps;
        if (momentum_buffer) {
            const float buf = momentum_buffer[i] * momentum + g / avg;
            momentum_buffer[i] = buf;
            params[i] = fmaf(buf, neg_lr, params[i]);
        } else {
            params[i] = params[i] + neg_lr * g / avg;
        }
    }
}
