/* separable2d: depthwise-separable 2-D convolution (Keras SeparableConv2D, MobileNet), as two
 * torch convolutions:
 *   mid = conv2d(x, depthwise_weight, groups = C, stride, padding)     (no bias)
 *   out = conv2d(mid, pointwise_weight, bias)                           (1x1)
 * in (n, C, H, W) -> mid (n, C*m, Ho, Wo) -> out (n, filters, Ho, Wo), m = depth_multiplier;
 * depthwise_weight [C*m, 1, kh, kw], pointwise_weight [filters, C*m, 1, 1], bias [filters].
 *
 * Both stages run through conv.c (conv_run_forward/backward: im2col + GEMM over blocks of
 * samples; the 1x1 stage reads its input directly). mid is kept in saved for backward (the
 * pointwise stage's input); backward puts d(mid) at the front of work, the convolutions'
 * scratch after it. */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/conv.h"

typedef struct {
    long multiplier;
    conv_cfg dw, pw; /* depthwise (filters, groups set by infer) and pointwise convolutions */
} separable_cfg;

static cascade_status separable_configure(void *cfg, cascade_section *spec) {
    separable_cfg *c = cfg;
    conv_cfg *dw = &c->dw, *pw = &c->pw;
    CASCADE_TRY(cascade_cfg_int(spec, "filters", 0, 1, 1L << 24, &pw->filters));
    if (pw->filters == 0) return cascade_cfg_error(spec, NULL, "separable2d needs `filters`");
    dw->nsp = pw->nsp = 2;
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "kernel", 2, 0, 1, dw->kernel));
    if (dw->kernel[0] == 0) return cascade_cfg_error(spec, NULL, "separable2d needs `kernel`");
    CASCADE_TRY(cascade_cfg_int(spec, "depth_multiplier", 1, 1, 1L << 16, &c->multiplier));
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "stride", 2, 1, 1, dw->stride));
    for (int i = 0; i < 2; i++) {
        dw->dilation[i] = pw->kernel[i] = pw->stride[i] = pw->dilation[i] = 1;
        pw->pad_lo[i] = pw->pad_hi[i] = 0;
    }
    CASCADE_TRY(OPSYM(conv_padding_key)(spec, dw));
    pw->groups = 1;
    dw->bias = 0;
    return cascade_cfg_bool(spec, "bias", 1, &pw->bias);
}

static cascade_status separable_infer(cascade_layer *L) {
    separable_cfg *c = L->cfg;
    conv_cfg *dw = &c->dw, *pw = &c->pw;
    const cascade_shape *in = &L->in_shape[0];
    int64_t channels = in->ndim >= 1 ? in->d[0] : 1;
    dw->groups = channels;
    dw->filters = channels * c->multiplier;
    cascade_shape mid;
    CASCADE_TRY(OPSYM(conv_geometry)(dw, in, L->type, &mid));
    CASCADE_TRY(OPSYM(conv_geometry)(pw, &mid, L->type, &L->out_shape));
    /* torch's Conv2d init: U(+-1/sqrt(fan_in)), fan_in = in/groups * kh * kw */
    OPSYM(conv_add_param)(L, "depthwise_weight", 4, (int64_t[]){dw->filters, 1, dw->kernel[0], dw->kernel[1]},
              1.0 / sqrt((double)(dw->kernel[0] * dw->kernel[1])));
    double bound = 1.0 / sqrt((double)dw->filters);
    OPSYM(conv_add_param)(L, "pointwise_weight", 4, (int64_t[]){pw->filters, dw->filters, 1, 1}, bound);
    if (pw->bias) OPSYM(conv_add_param)(L, "bias", 1, (int64_t[]){pw->filters}, bound);
    int64_t dw_per, dw_fixed, pw_per, pw_fixed, mid_n = op_numel(&mid);
    OPSYM(conv_scratch)(&dw->g, &dw_per, &dw_fixed);
    OPSYM(conv_scratch)(&pw->g, &pw_per, &pw_fixed);
    L->saved_per_sample = mid_n;
    L->saved_fixed = 0;
    L->work_per_sample = mid_n + (dw_per > pw_per ? dw_per : pw_per);
    L->work_fixed = dw_fixed > pw_fixed ? dw_fixed : pw_fixed;
    return CASCADE_OK;
}

static void separable_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const separable_cfg *cfg = L->cfg;
    real *mid = c->saved;
    OPSYM(conv_run_forward)(&cfg->dw.g, c->n, c->in[0], mid, c->param[0], NULL, c->work);
    OPSYM(conv_run_forward)(&cfg->pw.g, c->n, mid, c->out, c->param[1], cfg->pw.bias ? c->param[2] : NULL,
                            c->work);
}

static void separable_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const separable_cfg *cfg = L->cfg;
    const conv_geom *dw = &cfg->dw.g, *pw = &cfg->pw.g;
    const real *mid = c->saved;
    int64_t mid_n = (int64_t)c->n * pw->cin * pw->in_px;
    int need_mid = c->din[0] || c->dparam[0]; /* d(mid) feeds only the depthwise gradients */
    real *dmid = need_mid ? c->work : NULL, *scratch = c->work + mid_n;
    if (dmid) memset(dmid, 0, (size_t)mid_n * sizeof(real));
    OPSYM(conv_run_backward)(pw, c->n, mid, c->dout, dmid, c->param[1], c->dparam[1],
                             cfg->pw.bias ? c->dparam[2] : NULL, scratch);
    if (need_mid) OPSYM(conv_run_backward)(dw, c->n, c->in[0], dmid, c->din[0], c->param[0], c->dparam[0], NULL, scratch);
}

/* Double backward (op_types.h). With D the depthwise and P the pointwise convolution (linear
 * in their inputs), din = D^T(P^T dout), so for R = sum(u * din) = <P D u, dout>:
 *   uout += P(D(u)) (no bias), dpointwise += the weight gradient of (D(u), dout),
 *   ddepthwise += the weight gradient of (u, d(mid) = P^T dout); no second-order term.
 * One mid-sized buffer at the front of work: d(mid) first, then D(u). */
static void separable_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const separable_cfg *cfg = L->cfg;
    const conv_geom *dw = &cfg->dw.g, *pw = &cfg->pw.g;
    const real *u = c->uin[0];
    if (!u) return;
    int64_t mid_n = (int64_t)c->n * pw->cin * pw->in_px;
    real *mid = c->work, *scratch = c->work + mid_n;
    if (c->dparam[0]) {
        memset(mid, 0, (size_t)mid_n * sizeof(real));
        OPSYM(conv_run_backward)(pw, c->n, c->saved, c->dout, mid, c->param[1], NULL, NULL, scratch);
        OPSYM(conv_run_backward)(dw, c->n, u, mid, NULL, c->param[0], c->dparam[0], NULL, scratch);
    }
    OPSYM(conv_run_forward)(dw, c->n, u, mid, c->param[0], NULL, scratch);
    OPSYM(conv_run_backward2)(pw, c->n, mid, c->dout, c->uout, c->param[1], c->dparam[1], scratch);
}

const OPSYM(cascade_op) OPSYM(cascade_op_separable2d) = {
    .type = "separable2d",
    .cfg_size = sizeof(separable_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = separable_configure,
    .infer = separable_infer,
    .forward = separable_forward,
    .backward = separable_backward,
    .backward2 = separable_backward2,
};
