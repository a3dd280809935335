/* layernorm: torch.nn.LayerNorm with normalized_shape = the FULL per-sample shape.
 * Per-sample input of any rank ((F), (C, L), (C, H, W), ...) -> same shape. Each sample is
 * normalised over all its M values: y = (x - mean) * invstd * weight + bias, with the mean
 * and biased variance of that sample alone, invstd = 1 / sqrt(var + eps).
 * Params (affine = true): weight and bias with the per-sample shape (ones, zeros).
 * Keys: eps [1e-5], affine [true].
 *
 * Note: unlike batchnorm, the output for a sample never depends on the other samples of the
 * call (no batch statistics, no running statistics, the same in training and eval), so
 * results do not depend on the batch size or on how a batch is split over ranks or
 * micro-batches. That is why a WGAN-GP critic uses it: the gradient penalty is defined per
 * sample, which batch statistics would break.
 *
 * Saved: per sample the mean and invstd, each as a pair hi + lo of reals (4 per sample) so
 * the float engine's backward sees them to double precision: the input gradient cancels badly
 * when |mean| >> std. Sums are in double in a fixed order within each sample; OpenMP runs
 * over samples (forward, input gradient) and over blocks of elements (parameter gradients,
 * summed over samples in order), so results do not depend on the thread count. */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"

typedef struct {
    double eps;
    int affine;
} ln_cfg;

enum { LN_WEIGHT, LN_BIAS };
enum { LN_SAVED_PER_SAMPLE = 4 }; /* mean hi, mean lo, invstd hi, invstd lo */
enum { LN_BLOCK = 256 };          /* elements per parameter-gradient block */

static cascade_status ln_configure(void *cfg, cascade_section *spec) {
    ln_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_double(spec, "eps", 1e-5, 0, 1, &c->eps));
    /* eps = 0 would divide by zero on a constant sample */
    if (c->eps <= 0) return cascade_cfg_error(spec, cascade_section_peek(spec, "eps"), "must be positive");
    return cascade_cfg_bool(spec, "affine", 1, &c->affine);
}

static void ln_param(cascade_layer *L, const char *name, const cascade_shape *shape, int init) {
    cascade_param_desc *p = &L->params[L->n_params++];
    strcpy(p->name, name);
    p->shape = *shape;
    p->trainable = 1;
    p->init = init;
}

static cascade_status ln_infer(cascade_layer *L) {
    const ln_cfg *cfg = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    if (in->ndim < 1)
        return cascade_fail(CASCADE_EUSAGE,
                            "layernorm needs a per-sample input with at least one axis, got %d axes",
                            in->ndim);
    L->out_shape = *in;
    if (cfg->affine) {
        ln_param(L, "weight", in, CASCADE_INIT_ONES);
        ln_param(L, "bias", in, CASCADE_INIT_ZEROS);
    }
    L->saved_per_sample = LN_SAVED_PER_SAMPLE;
    L->work2_per_sample = LN_SAVED_PER_SAMPLE; /* backward2: m(u), m(u xhat) per sample, hi + lo */
    return CASCADE_OK;
}

/* saved[4 i + 2 which + (0 | 1)]: statistic `which` (0 mean, 1 invstd) of sample i, hi + lo */
static void ln_save(real *saved, int64_t sample, int which, double v) {
    real hi = (real)v;
    saved[LN_SAVED_PER_SAMPLE * sample + 2 * which] = hi;
    saved[LN_SAVED_PER_SAMPLE * sample + 2 * which + 1] = (real)(v - (double)hi);
}

static double ln_load(const real *saved, int64_t sample, int which) {
    const real *s = saved + LN_SAVED_PER_SAMPLE * sample + 2 * which;
    return (double)s[0] + (double)s[1];
}

/* Mean and biased variance of the m values of one sample (two passes, double). */
static void ln_stats(const real *x, int64_t m, double *mean, double *var) {
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < m; j++) sum += (double)x[j];
    *mean = sum / (double)m;
    for (int64_t j = 0; j < m; j++) {
        double d = (double)x[j] - *mean;
        sq += d * d;
    }
    *var = sq / (double)m;
}

static void ln_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const ln_cfg *cfg = L->cfg;
    int64_t m = op_numel(&L->in_shape[0]);
    const real *weight = cfg->affine ? c->param[LN_WEIGHT] : NULL;
    const real *bias = cfg->affine ? c->param[LN_BIAS] : NULL;
    int n = c->n;
#pragma omp parallel for if ((double)n * (double)m > 65536)
    for (int i = 0; i < n; i++) {
        const real *x = c->in[0] + (int64_t)i * m;
        real *y = c->out + (int64_t)i * m;
        double mean, var;
        ln_stats(x, m, &mean, &var);
        double invstd = 1 / sqrt(var + cfg->eps);
        ln_save(c->saved, i, 0, mean);
        ln_save(c->saved, i, 1, invstd);
        if (weight) {
            for (int64_t j = 0; j < m; j++)
                y[j] = (real)(((double)x[j] - mean) * invstd * (double)weight[j] + (double)bias[j]);
        } else {
            for (int64_t j = 0; j < m; j++) y[j] = (real)(((double)x[j] - mean) * invstd);
        }
    }
}

/* Input gradient of one sample. With xhat = (x - mean) * invstd and h = g * weight (g without
 * affine), over its m values: dx = invstd * (h - mean(h) - xhat * mean(h * xhat)). */
static void ln_input_grad(const real *x, const real *g, const real *weight, int64_t m,
                          double mean, double invstd, real *dx) {
    double sh = 0, shx = 0;
    for (int64_t j = 0; j < m; j++) {
        double h = weight ? (double)g[j] * (double)weight[j] : (double)g[j];
        sh += h;
        shx += h * ((double)x[j] - mean) * invstd;
    }
    double mean_h = sh / (double)m, mean_hx = shx / (double)m;
    for (int64_t j = 0; j < m; j++) {
        double h = weight ? (double)g[j] * (double)weight[j] : (double)g[j];
        double xhat = ((double)x[j] - mean) * invstd;
        dx[j] += (real)(invstd * (h - mean_h - xhat * mean_hx));
    }
}

/* dweight = sum over samples of g * xhat, dbias = sum of g, elementwise; per block of
 * elements, samples summed in order in double, so the result is thread-count independent. */
static void ln_param_grads(const OPSYM(cascade_bwd) *c, int64_t m, real *dweight, real *dbias) {
    int n = c->n;
    int64_t blocks = (m + LN_BLOCK - 1) / LN_BLOCK;
#pragma omp parallel for if ((double)n * (double)m > 65536)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t j0 = b * LN_BLOCK, len = m - j0 < LN_BLOCK ? m - j0 : LN_BLOCK;
        double sgx[LN_BLOCK] = {0}, sg[LN_BLOCK] = {0};
        for (int i = 0; i < n; i++) {
            double mean = ln_load(c->saved, i, 0), invstd = ln_load(c->saved, i, 1);
            const real *x = c->in[0] + (int64_t)i * m + j0, *g = c->dout + (int64_t)i * m + j0;
            for (int64_t j = 0; j < len; j++) {
                sg[j] += (double)g[j];
                sgx[j] += (double)g[j] * ((double)x[j] - mean) * invstd;
            }
        }
        for (int64_t j = 0; j < len; j++) {
            if (dweight) dweight[j0 + j] += (real)sgx[j];
            if (dbias) dbias[j0 + j] += (real)sg[j];
        }
    }
}

static void ln_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const ln_cfg *cfg = L->cfg;
    int64_t m = op_numel(&L->in_shape[0]);
    const real *weight = cfg->affine ? c->param[LN_WEIGHT] : NULL;
    int n = c->n;
    if (c->din[0]) {
#pragma omp parallel for if ((double)n * (double)m > 65536)
        for (int i = 0; i < n; i++) {
            int64_t off = (int64_t)i * m;
            ln_input_grad(c->in[0] + off, c->dout + off, weight, m, ln_load(c->saved, i, 0),
                          ln_load(c->saved, i, 1), c->din[0] + off);
        }
    }
    if (cfg->affine && (c->dparam[LN_WEIGHT] || c->dparam[LN_BIAS]))
        ln_param_grads(c, m, c->dparam[LN_WEIGHT], c->dparam[LN_BIAS]);
}

/* Double backward (op_types.h). Per sample, with xhat = (x - mean) * invstd, h = weight * g
 * (g = dout; h = g without affine), m() the mean over its M values and the centring
 *   N(v) = v - m(v) - xhat m(v xhat)        (symmetric: <u, N(v)> = <N(u), v>),
 * the backward is dx = invstd N(h), so R = <u, dx> = invstd M Q(u, h) with
 *   Q = m(u h) - m(u) m(h) - m(u xhat) m(h xhat).
 * Hence uout = dR/dg = weight * invstd N(u) (the forward's Jacobian on u), dweight = sum over
 * samples of g * invstd N(u), dbias = 0, and, through invstd (d sigma / dx = xhat / M) and
 * xhat (d xhat_j / dx_k = invstd (delta_jk - 1/M - xhat_j xhat_k / M)), the second-order term
 *   dR/dx = -invstd^2 (xhat Q + m(h xhat) N(u) + m(u xhat) N(h)).
 * The backward does not read the output: no hout. Sums in double, per sample in a fixed order;
 * dweight per block of elements over the samples in order (as ln_param_grads), from the
 * per-sample m(u), m(u xhat) kept in work as hi + lo pairs. */
static void ln_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const ln_cfg *cfg = L->cfg;
    if (!c->uin[0]) return;
    int64_t m = op_numel(&L->in_shape[0]);
    const real *weight = cfg->affine ? c->param[LN_WEIGHT] : NULL;
    real *hin = c->hin[0];
    int n = c->n;
    double dm = (double)m;
#pragma omp parallel for if ((double)n * (double)m > 65536)
    for (int i = 0; i < n; i++) {
        int64_t off = (int64_t)i * m;
        const real *x = c->in[0] + off, *g = c->dout + off, *u = c->uin[0] + off;
        double mean = ln_load(c->saved, i, 0), invstd = ln_load(c->saved, i, 1);
        double su = 0, sh = 0, sux = 0, shx = 0, suh = 0;
        for (int64_t j = 0; j < m; j++) {
            double xh = ((double)x[j] - mean) * invstd, h = weight ? (double)g[j] * (double)weight[j] : (double)g[j];
            su += (double)u[j];
            sh += h;
            sux += (double)u[j] * xh;
            shx += h * xh;
            suh += (double)u[j] * h;
        }
        double mu = su / dm, mh = sh / dm, mux = sux / dm, mhx = shx / dm;
        double q = suh / dm - mu * mh - mux * mhx, inv2 = invstd * invstd;
        ln_save(c->work, i, 0, mu);
        ln_save(c->work, i, 1, mux);
        for (int64_t j = 0; j < m; j++) {
            double xh = ((double)x[j] - mean) * invstd, h = weight ? (double)g[j] * (double)weight[j] : (double)g[j];
            double nu = (double)u[j] - mu - xh * mux, nh = h - mh - xh * mhx;
            c->uout[off + j] += (real)((weight ? (double)weight[j] : 1.0) * invstd * nu);
            if (hin) hin[off + j] -= (real)(inv2 * (xh * q + mhx * nu + mux * nh));
        }
    }
    real *dweight = cfg->affine ? c->dparam[LN_WEIGHT] : NULL;
    if (!dweight) return;
    int64_t blocks = (m + LN_BLOCK - 1) / LN_BLOCK;
#pragma omp parallel for if ((double)n * (double)m > 65536)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t j0 = b * LN_BLOCK, len = m - j0 < LN_BLOCK ? m - j0 : LN_BLOCK;
        double acc[LN_BLOCK] = {0};
        for (int i = 0; i < n; i++) {
            double mean = ln_load(c->saved, i, 0), invstd = ln_load(c->saved, i, 1);
            double mu = ln_load(c->work, i, 0), mux = ln_load(c->work, i, 1);
            int64_t off = (int64_t)i * m + j0;
            const real *x = c->in[0] + off, *g = c->dout + off, *u = c->uin[0] + off;
            for (int64_t j = 0; j < len; j++) {
                double xh = ((double)x[j] - mean) * invstd;
                acc[j] += (double)g[j] * invstd * ((double)u[j] - mu - xh * mux);
            }
        }
        for (int64_t j = 0; j < len; j++) dweight[j0 + j] += (real)acc[j];
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_layernorm) = {
    .type = "layernorm",
    .cfg_size = sizeof(ln_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = ln_configure,
    .infer = ln_infer,
    .forward = ln_forward,
    .backward = ln_backward,
    .backward2 = ln_backward2,
};
