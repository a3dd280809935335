/* Adam and AdamW as torch.optim.Adam / AdamW (amsgrad off): bias corrections folded into
 * step_size = lr / (1 - beta1^t) and denom = sqrt(v) / sqrt(1 - beta2^t) + eps, applied with
 * addcdiv (p + (-step_size) * m / denom), all in float32 like torch (see optim_internal.h). */
#include "optim/optim_internal.h"

OPTIM_KERNEL void cascade_adam_update(const cascade_opt_cfg *cfg, int64_t step, int decoupled,
                                      float *params, const float *grads, float *exp_avg,
                                      float *exp_avg_sq, int64_t lo, int64_t hi, double lr) {
    /* python-side scalars in double, as torch computes them before the float32 kernels */
    const double bias_correction1 = 1.0 - pow(cfg->beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(cfg->beta2, (double)step);
    const float neg_step_size = (float)-(lr / bias_correction1);
    const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    const float beta1 = (float)cfg->beta1, one_minus_beta1 = (float)(1.0 - cfg->beta1);
    const float beta2 = (float)cfg->beta2, one_minus_beta2 = (float)(1.0 - cfg->beta2);
    const float eps = (float)cfg->eps;
    const float l2 = decoupled ? 0.0f : (float)cfg->weight_decay;
    const float decay = (float)(1.0 - lr * cfg->weight_decay); /* AdamW only */
#pragma omp parallel for simd schedule(static) if (hi - lo >= OPTIM_PARALLEL_MIN)
    for (int64_t i = lo; i < hi; i++) {
        float p = params[i], g = grads[i];
        if (decoupled) p = p * decay;
        if (l2 != 0) g = fmaf(p, l2, g);
        const float m = fmaf(g, one_minus_beta1, exp_avg[i] * beta1); /* mul_, add_(alpha) */
        const float v = fmaf(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2); /* mul_, addcmul_ */
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        const float denom = sqrtf(v) / bias_correction2_sqrt + eps;
        params[i] = p + neg_step_size * m / denom;
    }
}
