/* Elementwise activations (as layers and as `activation =`): relu, leaky_relu (slope),
 * elu (alpha), tanh, sigmoid; as a layer only, sigmoid_gate (threshold, width): a soft
 * threshold y = x sigmoid((x - threshold) / width), e.g. a detector trigger that a refiner's
 * output passes through (values well below the threshold become ~0). Shape preserved. Backward uses the saved forward output
 * where that is exact (tanh, sigmoid, elu for x <= 0) and the input otherwise. */
#include <tgmath.h>

#include "nn/op.h"

typedef struct {
    double slope; /* leaky_relu */
    double alpha; /* elu */
    double threshold, width; /* sigmoid_gate */
} act_cfg;

static cascade_status leaky_configure(void *cfg, cascade_section *spec) {
    return cascade_cfg_double(spec, "slope", 0.01, -1e6, 1e6, &((act_cfg *)cfg)->slope);
}

static cascade_status elu_configure(void *cfg, cascade_section *spec) {
    return cascade_cfg_double(spec, "alpha", 1.0, 0, 1e6, &((act_cfg *)cfg)->alpha);
}

static cascade_status gate_configure(void *cfg, cascade_section *spec) {
    act_cfg *g = cfg;
    CASCADE_TRY(cascade_cfg_double(spec, "threshold", 0.0, -1e30, 1e30, &g->threshold));
    CASCADE_TRY(cascade_cfg_double(spec, "width", 1.0, 1e-30, 1e30, &g->width));
    return CASCADE_OK;
}

static cascade_status act_infer(cascade_layer *L) {
    L->out_shape = L->in_shape[0];
    return CASCADE_OK;
}

#define ACT_LOOP(body)                                                                     \
    int64_t total = (int64_t)c->n * op_numel(&L->out_shape);                               \
    _Pragma("omp parallel for simd if (total > 65536)") for (int64_t i = 0; i < total; i++) { body; }

static void relu_fwd(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const real *x = c->in[0];
    real *y = c->out;
    ACT_LOOP(y[i] = x[i] > 0 ? x[i] : 0)
}
static void relu_bwd(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const real *x = c->in[0], *g = c->dout;
    real *d = c->din[0];
    if (c->relu_rule == CASCADE_RELU_DECONVNET) { /* introspection rules (cascade explain) */
        ACT_LOOP(d[i] += g[i] > 0 ? g[i] : 0)
    } else if (c->relu_rule == CASCADE_RELU_GUIDED) {
        ACT_LOOP(d[i] += x[i] > 0 && g[i] > 0 ? g[i] : 0)
    } else {
        ACT_LOOP(d[i] += x[i] > 0 ? g[i] : 0)
    }
}

static void leaky_fwd(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const real *x = c->in[0];
    real *y = c->out;
    real s = (real)((const act_cfg *)L->cfg)->slope;
    ACT_LOOP(y[i] = x[i] > 0 ? x[i] : s * x[i])
}
static void leaky_bwd(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const real *x = c->in[0], *g = c->dout;
    real *d = c->din[0];
    real s = (real)((const act_cfg *)L->cfg)->slope;
    ACT_LOOP(d[i] += x[i] > 0 ? g[i] : s * g[i])
}

static void elu_fwd(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const real *x = c->in[0];
    real *y = c->out;
    real a = (real)((const act_cfg *)L->cfg)->alpha;
    ACT_LOOP(y[i] = x[i] > 0 ? x[i] : a * expm1(x[i]))
}
static void elu_bwd(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const real *x = c->in[0], *y = c->out, *g = c->dout;
    real *d = c->din[0];
    real a = (real)((const act_cfg *)L->cfg)->alpha;
    ACT_LOOP(d[i] += x[i] > 0 ? g[i] : g[i] * (y[i] + a))
}

static void tanh_fwd(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const real *x = c->in[0];
    real *y = c->out;
    ACT_LOOP(y[i] = tanh(x[i]))
}
static void tanh_bwd(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const real *y = c->out, *g = c->dout;
    real *d = c->din[0];
    ACT_LOOP(d[i] += g[i] * (1 - y[i] * y[i]))
}

static void sigmoid_fwd(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const real *x = c->in[0];
    real *y = c->out;
    /* stable for large |x|: exp of a non-positive number only */
    ACT_LOOP(y[i] = x[i] >= 0 ? 1 / (1 + exp(-x[i])) : exp(x[i]) / (1 + exp(x[i])))
}
static void sigmoid_bwd(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const real *y = c->out, *g = c->dout;
    real *d = c->din[0];
    ACT_LOOP(d[i] += g[i] * y[i] * (1 - y[i]))
}

/* sigmoid_gate: s = sigmoid(z), z = (x - t) / w; y = x s; dy/dx = s + x s (1 - s) / w */
static inline real gate_sigmoid(real x, real t, real w) {
    real z = (x - t) / w;
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}
static void gate_fwd(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const real *x = c->in[0];
    real *y = c->out;
    const act_cfg *g = L->cfg;
    real t = (real)g->threshold, w = (real)g->width;
    ACT_LOOP(y[i] = x[i] * gate_sigmoid(x[i], t, w))
}
static void gate_bwd(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const real *x = c->in[0], *gr = c->dout;
    real *d = c->din[0];
    const act_cfg *g = L->cfg;
    real t = (real)g->threshold, w = (real)g->width;
    ACT_LOOP(real sg = gate_sigmoid(x[i], t, w); d[i] += gr[i] * (sg + x[i] * sg * (1 - sg) / w))
}

/* Double backward (op_types.h): backward is din = g * f'(x), so for R = sum(u * din)
 * uout = u * f'(x) and the second-order term u * g * f''(x) goes to hout where f' is written
 * with the output y (tanh, sigmoid, elu), its chain through y then gives f''(x). relu and
 * leaky_relu are piecewise linear: no second-order term. */
#define ACT2_LOOP(body)                                                                    \
    if (!c->uin[0]) return;                                                                \
    const real *u = c->uin[0];                                                             \
    real *uo = c->uout;                                                                    \
    ACT_LOOP(body)

static void relu_bwd2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const real *x = c->in[0];
    ACT2_LOOP(uo[i] += x[i] > 0 ? u[i] : 0)
}
static void leaky_bwd2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const real *x = c->in[0];
    real s = (real)((const act_cfg *)L->cfg)->slope;
    ACT2_LOOP(uo[i] += x[i] > 0 ? u[i] : s * u[i])
}
/* f' = 1 (x > 0), y + alpha (x <= 0): d/dy (u g (y + alpha)) = u g */
static void elu_bwd2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const real *x = c->in[0], *y = c->out, *g = c->dout;
    real a = (real)((const act_cfg *)L->cfg)->alpha, *h = c->hout;
    ACT2_LOOP(if (x[i] > 0) uo[i] += u[i]; else {
        uo[i] += u[i] * (y[i] + a);
        h[i] += u[i] * g[i];
    })
}
/* f' = 1 - y^2: d/dy = -2 y u g */
static void tanh_bwd2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const real *y = c->out, *g = c->dout;
    real *h = c->hout;
    ACT2_LOOP(uo[i] += u[i] * (1 - y[i] * y[i]); h[i] -= 2 * y[i] * u[i] * g[i])
}
/* f' = y (1 - y): d/dy = (1 - 2y) u g */
static void sigmoid_bwd2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const real *y = c->out, *g = c->dout;
    real *h = c->hout;
    ACT2_LOOP(uo[i] += u[i] * y[i] * (1 - y[i]); h[i] += (1 - 2 * y[i]) * u[i] * g[i])
}

/* sigmoid_gate: f' = s + x s', s' = s (1 - s) / w; its backward reads the input, so the
 * second-order term u g f''(x), f'' = 2 s' + x s' (1 - 2 s) / w, goes to hin */
static void gate_bwd2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const real *x = c->in[0], *gr = c->dout;
    real *h = c->hin[0];
    const act_cfg *g = L->cfg;
    real t = (real)g->threshold, w = (real)g->width;
    ACT2_LOOP(real sg = gate_sigmoid(x[i], t, w); real ds = sg * (1 - sg) / w; uo[i] += u[i] * (sg + x[i] * ds);
              if (h) h[i] += u[i] * gr[i] * (2 * ds + x[i] * ds * (1 - 2 * sg) / w))
}

#define ACT_OP(id, cfgfn, f, b, b2)                                                        \
    const OPSYM(cascade_op) OPSYM(cascade_op_##id) = {                                     \
        .type = #id, .cfg_size = sizeof(act_cfg), .min_inputs = 1, .max_inputs = 1,        \
        .configure = cfgfn, .infer = act_infer, .forward = f, .backward = b, .backward2 = b2};

ACT_OP(relu, NULL, relu_fwd, relu_bwd, relu_bwd2)
ACT_OP(leaky_relu, leaky_configure, leaky_fwd, leaky_bwd, leaky_bwd2)
ACT_OP(elu, elu_configure, elu_fwd, elu_bwd, elu_bwd2)
ACT_OP(tanh, NULL, tanh_fwd, tanh_bwd, tanh_bwd2)
ACT_OP(sigmoid, NULL, sigmoid_fwd, sigmoid_bwd, sigmoid_bwd2)
ACT_OP(sigmoid_gate, gate_configure, gate_fwd, gate_bwd, gate_bwd2)
