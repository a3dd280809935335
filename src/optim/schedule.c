/* Learning-rate schedules in closed form, equal (to double rounding) to what torch's
 * LinearLR warm-up followed (SequentialLR) by StepLR / CosineAnnealingLR / PolynomialLR sets
 * on the optimizer for each update, on the base lr times the batch scaling factor. Formulas
 * in include/cascade/optim.h. */
#include <math.h>

#include "cascade/optim.h"

double cascade_lr_at(const cascade_opt_cfg *cfg, int64_t step, int64_t total) {
    const double base_lr = cfg->lr * cfg->lr_scale; /* lr_scaling (1 without) */
    if (step < 0) step = 0;
    const int64_t warmup = cfg->warmup > 0 ? cfg->warmup : 0;
    if (step < warmup) {
        /* LinearLR closed form with start_factor = 1/W, end_factor = 1, total_iters = W */
        const double start_factor = 1.0 / (double)warmup;
        return base_lr * (start_factor + (1.0 - start_factor) * (double)step / (double)warmup);
    }
    const int64_t t = step - warmup; /* the schedule restarts at the milestone */
    switch (cfg->schedule) {
    case SCHED_STEP:
        if (cfg->step_size < 1) return base_lr; /* rejected by cascade_opt_cfg_check */
        return base_lr * pow(cfg->gamma, (double)(t / cfg->step_size));
    case SCHED_COSINE: {
        const int64_t period = total - warmup; /* T_max */
        if (t >= period) return cfg->min_lr;
        return cfg->min_lr +
               (base_lr - cfg->min_lr) * (1.0 + cos(M_PI * (double)t / (double)period)) / 2.0;
    }
    case SCHED_POLY: {
        const int64_t period = total - warmup; /* PolynomialLR's total_iters */
        if (t >= period) return 0.0;
        return base_lr * pow(1.0 - (double)t / (double)period, cfg->power);
    }
    case SCHED_CONSTANT:
    default:
        return base_lr;
    }
}
