/* batchnorm: torch.nn.BatchNorm1d/2d/3d with affine weights and running statistics.
 * Per-sample input (C), (C, L), (C, H, W) or (C, D, H, W) -> same shape; statistics per
 * channel over the batch and all spatial axes (m = n * spatial values per channel).
 * Params: weight [C] (ones), bias [C] (zeros); buffers running_mean [C] (zeros),
 * running_var [C] (ones).
 * Training: normalises with the batch mean and biased variance; when c->update_stats the
 * running statistics move as torch's: new = (1 - momentum) * old + momentum * batch, with the
 * UNBIASED batch variance. Eval: normalises with the running statistics.
 * A single value per channel (input (C) with n = 1) is an error in torch training mode; here
 * it is handled gracefully: variance 0, so the output is the bias (and running_var moves
 * towards 0). The op cannot reject it: n is unknown at infer time.
 * Saved: per channel the mean and invstd, whichever statistics forward used, each as a pair
 * hi + lo of reals (4C) so the float engine's backward sees them to double precision: the
 * input gradient cancels badly when |mean| >> std or when there are few values per channel.
 * Sums are in double, in a fixed order within each channel; OpenMP runs over channels, so
 * results do not depend on the thread count. */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"

typedef struct {
    double momentum, eps;
} bn_cfg;

enum { BN_WEIGHT, BN_BIAS, BN_RUNNING_MEAN, BN_RUNNING_VAR };

static cascade_status bn_configure(void *cfg, cascade_section *spec) {
    bn_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_double(spec, "momentum", 0.1, 0, 1, &c->momentum));
    CASCADE_TRY(cascade_cfg_double(spec, "eps", 1e-5, 0, 1, &c->eps));
    /* eps = 0 would divide by zero on a constant channel */
    if (c->eps <= 0) return cascade_cfg_error(spec, cascade_section_peek(spec, "eps"), "must be positive");
    return CASCADE_OK;
}

static void bn_param(cascade_layer *L, const char *name, int64_t channels, int trainable, int init) {
    cascade_param_desc *p = &L->params[L->n_params++];
    strcpy(p->name, name);
    p->shape = cascade_shape_make(1, (int64_t[]){channels});
    p->trainable = trainable;
    p->init = init;
}

static cascade_status bn_infer(cascade_layer *L) {
    const cascade_shape *in = &L->in_shape[0];
    if (in->ndim < 1 || in->ndim > 4)
        return cascade_fail(CASCADE_EUSAGE,
                            "batchnorm needs a per-sample input (C), (C,L), (C,H,W) or (C,D,H,W), "
                            "got %d axes",
                            in->ndim);
    int64_t channels = in->d[0];
    L->out_shape = *in;
    bn_param(L, "weight", channels, 1, CASCADE_INIT_ONES);
    bn_param(L, "bias", channels, 1, CASCADE_INIT_ZEROS);
    bn_param(L, "running_mean", channels, 0, CASCADE_INIT_ZEROS);
    bn_param(L, "running_var", channels, 0, CASCADE_INIT_ONES);
    L->stat_count = 2 * channels; /* batch mean and unbiased variance per channel */
    L->saved_fixed = 4 * channels; /* mean (hi[C], lo[C]), invstd (hi[C], lo[C]) */
    return CASCADE_OK;
}

/* channels C and values per channel per sample S: element (i, ch, s) at (i*C + ch)*S + s */
static void bn_dims(const cascade_layer *L, int64_t *channels, int64_t *spatial) {
    *channels = L->in_shape[0].d[0];
    *spatial = op_numel(&L->in_shape[0]) / *channels;
}

/* Batch mean and biased variance of channel ch (two passes, double). */
static void bn_batch_stats(const real *x, int n, int64_t channels, int64_t spatial, int64_t ch,
                           double *mean, double *var) {
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        const real *row = x + ((int64_t)i * channels + ch) * spatial;
        for (int64_t s = 0; s < spatial; s++) sum += (double)row[s];
    }
    double m = (double)n * (double)spatial;
    *mean = sum / m;
    for (int i = 0; i < n; i++) {
        const real *row = x + ((int64_t)i * channels + ch) * spatial;
        for (int64_t s = 0; s < spatial; s++) {
            double d = (double)row[s] - *mean;
            sq += d * d;
        }
    }
    *var = sq / m;
}

/* saved[(2 * which + 0 | 1) * C + ch]: statistic `which` (0 mean, 1 invstd) as hi + lo */
static void bn_save(real *saved, int64_t channels, int64_t ch, int which, double v) {
    real hi = (real)v;
    saved[2 * which * channels + ch] = hi;
    saved[(2 * which + 1) * channels + ch] = (real)(v - (double)hi);
}

static double bn_load(const real *saved, int64_t channels, int64_t ch, int which) {
    return (double)saved[2 * which * channels + ch] + (double)saved[(2 * which + 1) * channels + ch];
}

static void bn_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const bn_cfg *cfg = L->cfg;
    int64_t channels, spatial;
    bn_dims(L, &channels, &spatial);
    const real *x = c->in[0];
    const real *weight = c->param[BN_WEIGHT], *bias = c->param[BN_BIAS];
    real *running_mean = c->param[BN_RUNNING_MEAN], *running_var = c->param[BN_RUNNING_VAR];
    int n = c->n;
    double count = (double)n * (double)spatial;
#pragma omp parallel for if (count * channels > 65536)
    for (int64_t ch = 0; ch < channels; ch++) {
        double mean, var;
        if (c->training) {
            bn_batch_stats(x, n, channels, spatial, ch, &mean, &var);
            if (c->stats) { /* exported: mean and unbiased variance per channel */
                c->stats[ch] = mean;
                c->stats[channels + ch] = count > 1 ? var * count / (count - 1) : var;
            } else if (c->update_stats) {
                double unbiased = count > 1 ? var * count / (count - 1) : var;
                running_mean[ch] = (real)((1 - cfg->momentum) * (double)running_mean[ch] + cfg->momentum * mean);
                running_var[ch] = (real)((1 - cfg->momentum) * (double)running_var[ch] + cfg->momentum * unbiased);
            }
        } else {
            mean = (double)running_mean[ch];
            var = (double)running_var[ch];
        }
        double invstd = 1 / sqrt(var + cfg->eps);
        bn_save(c->saved, channels, ch, 0, mean);
        bn_save(c->saved, channels, ch, 1, invstd);
        /* y = x * a + b with a = w * invstd, b = bias - mean * a */
        double a = (double)weight[ch] * invstd, b = (double)bias[ch] - mean * a;
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * channels + ch) * spatial;
            for (int64_t s = 0; s < spatial; s++) c->out[off + s] = (real)((double)x[off + s] * a + b);
        }
    }
}

/* Training: with xhat = (x - mean) * invstd, sg = sum(g), sgx = sum(g * xhat) over the m
 * values of a channel: dx = w * invstd / m * (m g - sg - xhat sgx); dweight = sgx; dbias = sg.
 * Eval (statistics are constants): dx = w * invstd * g. */
static void bn_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    int64_t channels, spatial;
    bn_dims(L, &channels, &spatial);
    const real *x = c->in[0], *g = c->dout, *weight = c->param[BN_WEIGHT];
    real *dx = c->din[0], *dweight = c->dparam[BN_WEIGHT], *dbias = c->dparam[BN_BIAS];
    int n = c->n;
    double count = (double)n * (double)spatial;
#pragma omp parallel for if (count * channels > 65536)
    for (int64_t ch = 0; ch < channels; ch++) {
        double mean = bn_load(c->saved, channels, ch, 0), invstd = bn_load(c->saved, channels, ch, 1);
        double sg = 0, sgx = 0;
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * channels + ch) * spatial;
            for (int64_t s = 0; s < spatial; s++) {
                sg += (double)g[off + s];
                sgx += (double)g[off + s] * ((double)x[off + s] - mean) * invstd;
            }
        }
        if (dweight) dweight[ch] += (real)sgx;
        if (dbias) dbias[ch] += (real)sg;
        if (!dx) continue;
        double scale = (double)weight[ch] * invstd;
        double mean_g = c->training ? sg / count : 0, mean_gx = c->training ? sgx / count : 0;
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * channels + ch) * spatial;
            for (int64_t s = 0; s < spatial; s++) {
                double xhat = ((double)x[off + s] - mean) * invstd;
                dx[off + s] += (real)(scale * ((double)g[off + s] - mean_g - xhat * mean_gx));
            }
        }
    }
}

/* Running statistics from the mean over a step's forward calls of their batch mean and
 * unbiased variance (stats[ch], stats[C + ch]), with torch's momentum rule. */
static void bn_apply_stats(const cascade_layer *L, real *const *param, const double *stats) {
    const bn_cfg *cfg = L->cfg;
    int64_t channels, spatial;
    bn_dims(L, &channels, &spatial);
    real *running_mean = param[BN_RUNNING_MEAN], *running_var = param[BN_RUNNING_VAR];
    for (int64_t ch = 0; ch < channels; ch++) {
        running_mean[ch] = (real)((1 - cfg->momentum) * (double)running_mean[ch] + cfg->momentum * stats[ch]);
        running_var[ch] = (real)((1 - cfg->momentum) * (double)running_var[ch] + cfg->momentum * stats[channels + ch]);
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_batchnorm) = {
    .type = "batchnorm",
    .cfg_size = sizeof(bn_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = bn_configure,
    .infer = bn_infer,
    .forward = bn_forward,
    .backward = bn_backward,
    .apply_stats = bn_apply_stats,
    .no_backward2_reason = "batch norm couples the samples of a batch, so the critic's gradient with respect "
                           "to one sample — and the per-sample gradient penalty — is not defined "
                           "(Gulrajani et al. 2017); use layernorm instead",
};
