/* dense: y = x W^T + b over the last axis (torch.nn.Linear).
 * in (n, ..., I) -> out (n, ..., O); weight [O, I], bias [O]. */
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/spectral.h"

typedef struct {
    long units;
    int bias;
    int spectral_norm; /* weight / sigma (spectral.h) */
} dense_cfg;

static cascade_status dense_configure(void *cfg, cascade_section *spec) {
    dense_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_int(spec, "units", 0, 1, 1L << 24, &c->units));
    if (c->units == 0) return cascade_cfg_error(spec, NULL, "dense needs `units`");
    CASCADE_TRY(cascade_cfg_bool(spec, "spectral_norm", 0, &c->spectral_norm));
    return cascade_cfg_bool(spec, "bias", 1, &c->bias);
}

static cascade_status dense_infer(cascade_layer *L) {
    const dense_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    if (in->ndim < 1) return cascade_fail(CASCADE_EUSAGE, "dense needs an input with features");
    int64_t fan_in = in->d[in->ndim - 1];
    L->out_shape = *in;
    L->out_shape.d[in->ndim - 1] = c->units;
    double bound = 1.0 / sqrt((double)fan_in);
    cascade_param_desc *w = &L->params[L->n_params++];
    strcpy(w->name, "weight");
    w->shape = cascade_shape_make(2, (int64_t[]){c->units, fan_in});
    w->trainable = 1;
    w->init = CASCADE_INIT_UNIFORM;
    w->init_bound = bound;
    if (c->bias) {
        cascade_param_desc *b = &L->params[L->n_params++];
        strcpy(b->name, "bias");
        b->shape = cascade_shape_make(1, (int64_t[]){c->units});
        b->trainable = 1;
        b->init = CASCADE_INIT_UNIFORM;
        b->init_bound = bound;
    }
    if (c->spectral_norm) OPSYM(sn_setup)(L, c->units, fan_in);
    return CASCADE_OK;
}

/* rows = n * (product of leading per-sample axes) */
static void dense_dims(const cascade_layer *L, int n, int *rows, int *in_f, int *out_f) {
    const cascade_shape *in = &L->in_shape[0];
    *in_f = (int)in->d[in->ndim - 1];
    *out_f = (int)L->out_shape.d[in->ndim - 1];
    *rows = (int)(n * (op_numel(in) / *in_f));
}

static void dense_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const dense_cfg *cfg = L->cfg;
    int rows, nin, nout;
    dense_dims(L, c->n, &rows, &nin, &nout);
    const real *bias = cfg->bias ? c->param[1] : NULL;
    if (bias) {
        for (int r = 0; r < rows; r++) memcpy(c->out + (size_t)r * nout, bias, (size_t)nout * sizeof(real));
    }
    const real *W = cfg->spectral_norm ? OPSYM(sn_forward)(L, c->param, c->saved) : c->param[0];
    /* out (rows x nout) = in (rows x nin) * W^T (nin x nout) */
    OPSYM(op_gemm)(0, 1, rows, nout, nin, 1, c->in[0], nin, W, nin, bias ? 1 : 0, c->out, nout);
}

static void dense_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const dense_cfg *cfg = L->cfg;
    int rows, nin, nout;
    dense_dims(L, c->n, &rows, &nin, &nout);
    int sn = cfg->spectral_norm;
    const real *W = sn ? c->saved : c->param[0]; /* W_sn from forward */
    real *dW = sn && c->dparam[0] ? OPSYM(sn_grad_buffer)(L, c->n, c->work) : c->dparam[0];
    /* din (rows x nin) += dout (rows x nout) * W (nout x nin) */
    if (c->din[0]) OPSYM(op_gemm)(0, 0, rows, nin, nout, 1, c->dout, nout, W, nin, 1, c->din[0], nin);
    /* dW (nout x nin) += dout^T (nout x rows) * in (rows x nin) */
    if (dW) OPSYM(op_gemm)(1, 0, nout, nin, rows, 1, c->dout, nout, c->in[0], nin, 1, dW, nin);
    if (sn && dW) OPSYM(sn_grad)(L, c->param, c->saved, dW, c->dparam[0]);
    if (cfg->bias && c->dparam[1]) {
        real *db = c->dparam[1];
        for (int r = 0; r < rows; r++) {
            const real *g = c->dout + (size_t)r * nout;
            for (int o = 0; o < nout; o++) db[o] += g[o];
        }
    }
}

/* Double backward: din = dout W, so for R = sum(u * din): uout += u W^T (the forward
 * without bias) and dW += dout^T u; the bias does not enter the backward. */
static void dense_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const dense_cfg *cfg = L->cfg;
    int rows, nin, nout;
    dense_dims(L, c->n, &rows, &nin, &nout);
    if (!c->uin[0]) return;
    int sn = cfg->spectral_norm;
    const real *W = sn ? c->saved : c->param[0];
    real *dW = sn && c->dparam[0] ? OPSYM(sn_grad_buffer)(L, c->n, c->work) : c->dparam[0];
    OPSYM(op_gemm)(0, 1, rows, nout, nin, 1, c->uin[0], nin, W, nin, 1, c->uout, nout);
    if (dW) OPSYM(op_gemm)(1, 0, nout, nin, rows, 1, c->dout, nout, c->uin[0], nin, 1, dW, nin);
    if (sn && dW) OPSYM(sn_grad)(L, c->param, c->saved, dW, c->dparam[0]);
}

static void dense_begin_update(const cascade_layer *L, real *const *param) {
    if (((const dense_cfg *)L->cfg)->spectral_norm) OPSYM(sn_begin_update)(L, param);
}

const OPSYM(cascade_op) OPSYM(cascade_op_dense) = {
    .type = "dense",
    .cfg_size = sizeof(dense_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = dense_configure,
    .infer = dense_infer,
    .forward = dense_forward,
    .backward = dense_backward,
    .backward2 = dense_backward2,
    .begin_update = dense_begin_update,
};
