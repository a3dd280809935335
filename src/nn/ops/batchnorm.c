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
 * results do not depend on the thread count. The kernels (batchnorm.h) also normalise the
 * edge MLP of edgeconv. */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/batchnorm.h"

typedef struct {
    double momentum, eps;
} bn_cfg;

enum { BN_WEIGHT, BN_BIAS, BN_RUNNING_MEAN, BN_RUNNING_VAR };
/* S = 1 with at most this many channels: the row-by-row path (per-channel sums on the stack) */
#define BN_ROW_CHANNELS 1024

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
static bn_geom bn_geom_of(const cascade_layer *L, int n) {
    const bn_cfg *cfg = L->cfg;
    bn_geom g = {.n = n, .channels = L->in_shape[0].d[0], .momentum = cfg->momentum, .eps = cfg->eps};
    g.spatial = op_numel(&L->in_shape[0]) / g.channels;
    return g;
}

/* Batch mean and biased variance of channel ch (two passes, double). */
static void bn_batch_stats(const bn_geom *g, const real *x, int64_t ch, double *mean, double *var) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < g->n; i++) {
        const real *row = x + (i * g->channels + ch) * g->spatial;
        for (int64_t s = 0; s < g->spatial; s++) sum += (double)row[s];
    }
    double m = (double)g->n * (double)g->spatial;
    *mean = sum / m;
    for (int64_t i = 0; i < g->n; i++) {
        const real *row = x + (i * g->channels + ch) * g->spatial;
        for (int64_t s = 0; s < g->spatial; s++) {
            double d = (double)row[s] - *mean;
            sq += d * d;
        }
    }
    *var = sq / m;
}

/* The same for every channel of rows of C values (S = 1), reading x in order: the sums per
 * channel run over the rows in the same order as bn_batch_stats, so results are equal. */
static void bn_batch_stats_rows(const bn_geom *g, const real *x, double *mean, double *var) {
    int64_t C = g->channels;
    for (int64_t ch = 0; ch < C; ch++) mean[ch] = 0, var[ch] = 0;
    for (int64_t i = 0; i < g->n; i++)
        for (int64_t ch = 0; ch < C; ch++) mean[ch] += (double)x[i * C + ch];
    for (int64_t ch = 0; ch < C; ch++) mean[ch] /= (double)g->n;
    for (int64_t i = 0; i < g->n; i++)
        for (int64_t ch = 0; ch < C; ch++) {
            double d = (double)x[i * C + ch] - mean[ch];
            var[ch] += d * d;
        }
    for (int64_t ch = 0; ch < C; ch++) var[ch] /= (double)g->n;
}

/* saved[(2 * which + 0 | 1) * C + ch]: statistic `which` (0 mean, 1 invstd) as hi + lo */
static void bn_save(real *saved, int64_t channels, int64_t ch, int which, double v) {
    real hi = (real)v;
    saved[2 * which * channels + ch] = hi;
    saved[(2 * which + 1) * channels + ch] = (real)(v - (double)hi);
}

double OPSYM(bn_kernel_saved)(const real *saved, int64_t channels, int64_t ch, int which) {
    return (double)saved[2 * which * channels + ch] + (double)saved[(2 * which + 1) * channels + ch];
}

/* The statistics forward normalises channel ch with (batch ones given in mean/var when
 * training), exported or folded into the running ones; saves mean and invstd; returns the
 * affine map y = x * a + b with a = w * invstd, b = bias - mean * a. */
void OPSYM(bn_kernel_channel_map)(const bn_geom *g, int training, int update_stats, double *stats, int64_t ch,
                           double mean, double var, const real *weight, const real *bias, real *running_mean,
                           real *running_var, real *saved, double *a, double *b) {
    double count = (double)g->n * (double)g->spatial;
    int64_t C = g->channels;
    if (training) {
        double unbiased = count > 1 ? var * count / (count - 1) : var;
        if (stats) { /* exported: mean and unbiased variance per channel */
            stats[ch] = mean;
            stats[C + ch] = unbiased;
        } else if (update_stats) {
            running_mean[ch] = (real)((1 - g->momentum) * (double)running_mean[ch] + g->momentum * mean);
            running_var[ch] = (real)((1 - g->momentum) * (double)running_var[ch] + g->momentum * unbiased);
        }
    } else {
        mean = (double)running_mean[ch];
        var = (double)running_var[ch];
    }
    double invstd = 1 / sqrt(var + g->eps);
    bn_save(saved, C, ch, 0, mean);
    bn_save(saved, C, ch, 1, invstd);
    *a = (double)weight[ch] * invstd;
    *b = (double)bias[ch] - mean * *a;
}

void OPSYM(bn_kernel_forward)(const bn_geom *g, int training, int update_stats, double *stats, const real *x,
                              real *y, const real *weight, const real *bias, real *running_mean,
                              real *running_var, real *saved) {
    int64_t C = g->channels, S = g->spatial;
    double count = (double)g->n * (double)S;
    if (S == 1 && C <= BN_ROW_CHANNELS) { /* rows of C values: statistics row by row, the map in parallel */
        double mean[BN_ROW_CHANNELS], var[BN_ROW_CHANNELS], a[BN_ROW_CHANNELS], b[BN_ROW_CHANNELS];
        if (training) bn_batch_stats_rows(g, x, mean, var);
        for (int64_t ch = 0; ch < C; ch++)
            OPSYM(bn_kernel_channel_map)(g, training, update_stats, stats, ch, mean[ch], var[ch], weight, bias, running_mean,
                           running_var, saved, &a[ch], &b[ch]);
#pragma omp parallel for if (count * C > 65536)
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t ch = 0; ch < C; ch++) y[i * C + ch] = (real)((double)x[i * C + ch] * a[ch] + b[ch]);
        return;
    }
#pragma omp parallel for if (count * C > 65536)
    for (int64_t ch = 0; ch < C; ch++) {
        double mean = 0, var = 0, a, b;
        if (training) bn_batch_stats(g, x, ch, &mean, &var);
        OPSYM(bn_kernel_channel_map)(g, training, update_stats, stats, ch, mean, var, weight, bias, running_mean, running_var,
                       saved, &a, &b);
        for (int64_t i = 0; i < g->n; i++) {
            int64_t off = (i * C + ch) * S;
            for (int64_t s = 0; s < S; s++) y[off + s] = (real)((double)x[off + s] * a + b);
        }
    }
}

/* dweight, dbias and dx of channel ch from sg = sum(g), sgx = sum(g * xhat) (below). */
void OPSYM(bn_kernel_channel_grads)(const bn_geom *g, int training, int64_t ch, double sg, double sgx, const real *weight,
                             double invstd, real *dweight, real *dbias, double *scale, double *mean_g,
                             double *mean_gx) {
    double count = (double)g->n * (double)g->spatial;
    if (dweight) dweight[ch] += (real)sgx;
    if (dbias) dbias[ch] += (real)sg;
    *scale = (double)weight[ch] * invstd;
    *mean_g = training ? sg / count : 0;
    *mean_gx = training ? sgx / count : 0;
}

/* Training: with xhat = (x - mean) * invstd, sg = sum(g), sgx = sum(g * xhat) over the m
 * values of a channel: dx = w * invstd / m * (m g - sg - xhat sgx); dweight = sgx; dbias = sg.
 * Eval (statistics are constants): dx = w * invstd * g. */
void OPSYM(bn_kernel_backward)(const bn_geom *g, int training, const real *x, const real *dy, const real *weight,
                               const real *saved, real *dx, real *dweight, real *dbias) {
    int64_t C = g->channels, S = g->spatial;
    double count = (double)g->n * (double)S;
    if (S == 1 && C <= BN_ROW_CHANNELS) {
        double mean[BN_ROW_CHANNELS], invstd[BN_ROW_CHANNELS], sg[BN_ROW_CHANNELS], sgx[BN_ROW_CHANNELS];
        double scale[BN_ROW_CHANNELS], mean_g[BN_ROW_CHANNELS], mean_gx[BN_ROW_CHANNELS];
        for (int64_t ch = 0; ch < C; ch++) {
            mean[ch] = OPSYM(bn_kernel_saved)(saved, C, ch, 0);
            invstd[ch] = OPSYM(bn_kernel_saved)(saved, C, ch, 1);
            sg[ch] = 0, sgx[ch] = 0;
        }
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t ch = 0; ch < C; ch++) {
                int64_t off = i * C + ch;
                sg[ch] += (double)dy[off];
                sgx[ch] += (double)dy[off] * ((double)x[off] - mean[ch]) * invstd[ch];
            }
        for (int64_t ch = 0; ch < C; ch++)
            OPSYM(bn_kernel_channel_grads)(g, training, ch, sg[ch], sgx[ch], weight, invstd[ch], dweight, dbias, &scale[ch],
                             &mean_g[ch], &mean_gx[ch]);
        if (!dx) return;
#pragma omp parallel for if (count * C > 65536)
        for (int64_t i = 0; i < g->n; i++)
            for (int64_t ch = 0; ch < C; ch++) {
                int64_t off = i * C + ch;
                double xhat = ((double)x[off] - mean[ch]) * invstd[ch];
                dx[off] += (real)(scale[ch] * ((double)dy[off] - mean_g[ch] - xhat * mean_gx[ch]));
            }
        return;
    }
#pragma omp parallel for if (count * C > 65536)
    for (int64_t ch = 0; ch < C; ch++) {
        double mean = OPSYM(bn_kernel_saved)(saved, C, ch, 0), invstd = OPSYM(bn_kernel_saved)(saved, C, ch, 1);
        double sg = 0, sgx = 0;
        for (int64_t i = 0; i < g->n; i++) {
            int64_t off = (i * C + ch) * S;
            for (int64_t s = 0; s < S; s++) {
                sg += (double)dy[off + s];
                sgx += (double)dy[off + s] * ((double)x[off + s] - mean) * invstd;
            }
        }
        double scale, mean_g, mean_gx;
        OPSYM(bn_kernel_channel_grads)(g, training, ch, sg, sgx, weight, invstd, dweight, dbias, &scale, &mean_g, &mean_gx);
        if (!dx) continue;
        for (int64_t i = 0; i < g->n; i++) {
            int64_t off = (i * C + ch) * S;
            for (int64_t s = 0; s < S; s++) {
                double xhat = ((double)x[off + s] - mean) * invstd;
                dx[off + s] += (real)(scale * ((double)dy[off + s] - mean_g - xhat * mean_gx));
            }
        }
    }
}

void OPSYM(bn_kernel_apply_stats)(const bn_geom *g, real *running_mean, real *running_var, const double *stats) {
    for (int64_t ch = 0; ch < g->channels; ch++) {
        running_mean[ch] = (real)((1 - g->momentum) * (double)running_mean[ch] + g->momentum * stats[ch]);
        running_var[ch] =
            (real)((1 - g->momentum) * (double)running_var[ch] + g->momentum * stats[g->channels + ch]);
    }
}

static void bn_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    bn_geom g = bn_geom_of(L, c->n);
    OPSYM(bn_kernel_forward)(&g, c->training, c->update_stats, c->stats, c->in[0], c->out, c->param[BN_WEIGHT],
                             c->param[BN_BIAS], c->param[BN_RUNNING_MEAN], c->param[BN_RUNNING_VAR], c->saved);
}

static void bn_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    bn_geom g = bn_geom_of(L, c->n);
    OPSYM(bn_kernel_backward)(&g, c->training, c->in[0], c->dout, c->param[BN_WEIGHT], c->saved, c->din[0],
                              c->dparam[BN_WEIGHT], c->dparam[BN_BIAS]);
}

/* Running statistics from the mean over a step's forward calls of their batch mean and
 * unbiased variance (stats[ch], stats[C + ch]), with torch's momentum rule. */
static void bn_apply_stats(const cascade_layer *L, real *const *param, const double *stats) {
    bn_geom g = bn_geom_of(L, 0);
    OPSYM(bn_kernel_apply_stats)(&g, param[BN_RUNNING_MEAN], param[BN_RUNNING_VAR], stats);
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
