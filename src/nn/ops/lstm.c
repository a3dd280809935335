/* lstm: torch.nn.LSTM(F, H, num_layers, batch_first=True) with zero initial h and c.
 * in (n, T, F) -> out (n, T, H) with return_sequences, else (n, H) = the top layer's h at
 * the last time step. Keys: units (H), layers [1], return_sequences [false].
 *
 * Per time step and layer, with x_t the layer's input (F for layer 0, H above):
 *   gates = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh     split into i, f, g, o (torch order)
 *   i, f, o = sigmoid(.), g = tanh(.); c_t = f c_{t-1} + i g; h_t = o tanh(c_t)
 *
 * Parameters (PyTorch layouts; init U(-1/sqrt(H), 1/sqrt(H)) for all, as torch):
 *   layers = 1: weight_ih [4H, F], weight_hh [4H, H], bias_ih [4H], bias_hh [4H]
 *               (CONTRACT's checkpoint names);
 *   layers > 1: torch's state_dict names weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0,
 *               weight_ih_l1 [4H, H], ... — parameter index 4*l + {0,1,2,3}.
 * At most LSTM_MAX_LAYERS = 4 layers (4 parameters each).
 *
 * saved, per layer l, for the n samples of a call (backward through time reads them):
 *   act_l (n, T, 4H) gate activations i, f, g, o; cell_l (n, T, H); hid_l (n, T, H)
 *   -> per sample layers * T * 6H.
 * work (backward only): dgate (n, T, 4H), two (n, T, H) gradients w.r.t. a layer's outputs
 *   (ping-pong between layers), dcell (n, H) -> per sample T * 6H + H.
 * work2 (backward2 only, after work): the tangents of saved (layers * T * 6H) and of the
 *   backward's buffers (T * 6H + H) per sample. */
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"

#define LSTM_MAX_LAYERS 4 /* 4 parameters each */

typedef struct {
    long units;
    long layers;
    int return_sequences;
} lstm_cfg;

static cascade_status lstm_configure(void *cfg, cascade_section *spec) {
    lstm_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_int(spec, "units", 0, 1, 1L << 20, &c->units));
    if (c->units == 0) return cascade_cfg_error(spec, NULL, "lstm needs `units`");
    CASCADE_TRY(cascade_cfg_int(spec, "layers", 1, 1, LSTM_MAX_LAYERS, &c->layers));
    return cascade_cfg_bool(spec, "return_sequences", 0, &c->return_sequences);
}

static void lstm_add_param(cascade_layer *L, const char *base, long layers, long layer,
                           cascade_shape shape, double bound) {
    cascade_param_desc *p = &L->params[L->n_params++];
    if (layers == 1)
        snprintf(p->name, sizeof p->name, "%s", base);
    else
        snprintf(p->name, sizeof p->name, "%s_l%ld", base, layer);
    p->shape = shape;
    p->trainable = 1;
    p->init = CASCADE_INIT_UNIFORM;
    p->init_bound = bound;
}

static cascade_status lstm_infer(cascade_layer *L) {
    const lstm_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    char buf[128];
    if (in->ndim < 2 || in->d[in->ndim - 2] < 1 || in->d[in->ndim - 1] < 1)
        return cascade_fail(CASCADE_EUSAGE,
                            "lstm needs a per-sample input (T, F) (data layout = features), or (P..., T, F) for one "
                            "sequence per position, got %s",
                            cascade_shape_str(in, buf, sizeof buf));
    /* leading axes are positions (e.g. stations), each with its own sequence, shared weights */
    int64_t positions = cascade_shape_numel(in) / (in->d[in->ndim - 2] * in->d[in->ndim - 1]);
    int64_t steps = in->d[in->ndim - 2], features = in->d[in->ndim - 1], hidden = c->units;
    /* GEMM sizes are int: keep one sample's largest buffer far below INT_MAX */
    if (steps * 4 * hidden > (1L << 28) || features > (1L << 28))
        return cascade_fail(CASCADE_EUSAGE, "lstm input %s with units = %lld is too large",
                            cascade_shape_str(in, buf, sizeof buf), (long long)hidden);
    L->out_shape = *in; /* (P..., T, H) or (P..., H) */
    if (c->return_sequences) {
        L->out_shape.d[in->ndim - 1] = hidden;
    } else {
        L->out_shape.ndim = in->ndim - 1;
        L->out_shape.d[in->ndim - 2] = hidden;
    }
    double bound = 1.0 / sqrt((double)hidden);
    for (long l = 0; l < c->layers; l++) {
        int64_t in_f = l == 0 ? features : hidden;
        lstm_add_param(L, "weight_ih", c->layers, l, cascade_shape_make(2, (int64_t[]){4 * hidden, in_f}), bound);
        lstm_add_param(L, "weight_hh", c->layers, l, cascade_shape_make(2, (int64_t[]){4 * hidden, hidden}), bound);
        lstm_add_param(L, "bias_ih", c->layers, l, cascade_shape_make(1, (int64_t[]){4 * hidden}), bound);
        lstm_add_param(L, "bias_hh", c->layers, l, cascade_shape_make(1, (int64_t[]){4 * hidden}), bound);
    }
    L->saved_per_sample = positions * c->layers * steps * 6 * hidden;
    L->saved_fixed = 0;
    L->work_per_sample = positions * (steps * 6 * hidden + hidden);
    L->work_fixed = 0;
    /* backward2: the tangents of everything saved, and of the backward's buffers */
    L->work2_per_sample = positions * (c->layers * steps * 6 * hidden + steps * 6 * hidden + hidden);
    return CASCADE_OK;
}

/* Sizes of a call and where layer l's saved arrays live. */
typedef struct {
    int n, steps, features, hidden, layers;
    int64_t rows; /* n * steps */
} lstm_dims;

/* Every position of every sample is one sequence: n here counts sequences. */
static lstm_dims lstm_get_dims(const cascade_layer *L, int n) {
    const lstm_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    int64_t steps = in->d[in->ndim - 2], features = in->d[in->ndim - 1];
    int64_t positions = cascade_shape_numel(in) / (steps * features);
    lstm_dims d = {.n = (int)(n * positions),
                   .steps = (int)steps,
                   .features = (int)features,
                   .hidden = (int)c->units,
                   .layers = (int)c->layers};
    d.rows = (int64_t)d.n * d.steps;
    return d;
}

static real *lstm_act(const lstm_dims *d, real *saved, int l) {
    return saved + (size_t)l * (size_t)d->rows * 6 * (size_t)d->hidden;
}
static real *lstm_cell(const lstm_dims *d, real *saved, int l) {
    return lstm_act(d, saved, l) + (size_t)d->rows * 4 * (size_t)d->hidden;
}
static real *lstm_hid(const lstm_dims *d, real *saved, int l) {
    return lstm_act(d, saved, l) + (size_t)d->rows * 5 * (size_t)d->hidden;
}

/* Stable for large |x|: exp of a non-positive argument only. */
static inline real lstm_sigmoid(real x) {
    if (x >= 0) return 1 / (1 + exp(-x));
    real e = exp(x);
    return e / (1 + e);
}

/* One layer over all steps. x (n, T, in_f) -> act, cell, hid of the layer. */
static void lstm_layer_forward(const lstm_dims *d, int in_f, const real *x, const real *w_ih,
                               const real *w_hh, const real *b_ih, const real *b_hh, real *act,
                               real *cell, real *hid) {
    const int hs = d->hidden, g4 = 4 * hs, steps = d->steps;
    /* pre-activations of all steps at once: act (n*T x 4H) = b_ih + b_hh + x W_ih^T */
    for (int64_t r = 0; r < d->rows; r++) {
        real *row = act + (size_t)r * g4;
        for (int j = 0; j < g4; j++) row[j] = b_ih[j] + b_hh[j];
    }
    OPSYM(op_gemm)(0, 1, (int)d->rows, g4, in_f, 1, x, in_f, w_ih, in_f, 1, act, g4);
    for (int t = 0; t < steps; t++) {
        /* act[:, t] (n x 4H, row stride T*4H) += hid[:, t-1] (n x H, row stride T*H) W_hh^T */
        if (t > 0)
            OPSYM(op_gemm)(0, 1, d->n, g4, hs, 1, hid + (size_t)(t - 1) * hs, steps * hs, w_hh, hs, 1,
                           act + (size_t)t * g4, steps * g4);
        for (int s = 0; s < d->n; s++) {
            size_t r = (size_t)s * steps + t;
            real *a = act + r * g4, *c = cell + r * hs, *h = hid + r * hs;
            const real *c_prev = t > 0 ? c - hs : NULL;
            for (int j = 0; j < hs; j++) {
                real gi = lstm_sigmoid(a[j]), gf = lstm_sigmoid(a[hs + j]);
                real gg = tanh(a[2 * hs + j]), go = lstm_sigmoid(a[3 * hs + j]);
                a[j] = gi, a[hs + j] = gf, a[2 * hs + j] = gg, a[3 * hs + j] = go;
                c[j] = (c_prev ? gf * c_prev[j] : 0) + gi * gg;
                h[j] = go * tanh(c[j]);
            }
        }
    }
}

static void lstm_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const lstm_cfg *cfg = L->cfg;
    lstm_dims d = lstm_get_dims(L, c->n);
    for (int l = 0; l < d.layers; l++) {
        const real *x = l == 0 ? c->in[0] : lstm_hid(&d, c->saved, l - 1);
        int in_f = l == 0 ? d.features : d.hidden;
        lstm_layer_forward(&d, in_f, x, c->param[4 * l], c->param[4 * l + 1], c->param[4 * l + 2],
                           c->param[4 * l + 3], lstm_act(&d, c->saved, l), lstm_cell(&d, c->saved, l),
                           lstm_hid(&d, c->saved, l));
    }
    const real *top = lstm_hid(&d, c->saved, d.layers - 1);
    size_t hs = (size_t)d.hidden;
    if (cfg->return_sequences) {
        memcpy(c->out, top, (size_t)d.rows * hs * sizeof(real));
    } else {
        for (int s = 0; s < d.n; s++)
            memcpy(c->out + s * hs, top + ((size_t)s * d.steps + d.steps - 1) * hs, hs * sizeof(real));
    }
}

/* Backward through time of one layer. dhid (n, T, H): gradient w.r.t. the layer's outputs
 * from above; it is consumed (the recurrent contributions are added into it). Fills dgate
 * (n, T, 4H) with the gradient w.r.t. the gate pre-activations. */
static void lstm_layer_bptt(const lstm_dims *d, const real *w_hh, const real *act, const real *cell,
                            real *dhid, real *dgate, real *dcell) {
    const int hs = d->hidden, g4 = 4 * hs, steps = d->steps;
    memset(dcell, 0, (size_t)d->n * hs * sizeof(real));
    for (int t = steps - 1; t >= 0; t--) {
        for (int s = 0; s < d->n; s++) {
            size_t r = (size_t)s * steps + t;
            const real *a = act + r * g4, *c = cell + r * hs;
            const real *c_prev = t > 0 ? c - hs : NULL;
            const real *dh = dhid + r * hs;
            real *dg = dgate + r * g4, *dc = dcell + (size_t)s * hs;
            for (int j = 0; j < hs; j++) {
                real gi = a[j], gf = a[hs + j], gg = a[2 * hs + j], go = a[3 * hs + j];
                real tc = tanh(c[j]);
                real dct = dc[j] + dh[j] * go * (1 - tc * tc);
                dg[j] = dct * gg * gi * (1 - gi);
                dg[hs + j] = c_prev ? dct * c_prev[j] * gf * (1 - gf) : 0;
                dg[2 * hs + j] = dct * gi * (1 - gg * gg);
                dg[3 * hs + j] = dh[j] * tc * go * (1 - go);
                dc[j] = dct * gf;
            }
        }
        /* dhid[:, t-1] (n x H) += dgate[:, t] (n x 4H) W_hh (4H x H) */
        if (t > 0)
            OPSYM(op_gemm)(0, 0, d->n, hs, g4, 1, dgate + (size_t)t * g4, steps * g4, w_hh, hs, 1,
                           dhid + (size_t)(t - 1) * hs, steps * hs);
    }
}

/* Parameter gradients of one layer from dgate; x (n, T, in_f) its input, hid its outputs. */
static void lstm_layer_param_grads(const lstm_dims *d, int in_f, const real *x, const real *hid,
                                   const real *dgate, real *dw_ih, real *dw_hh, real *db_ih,
                                   real *db_hh) {
    const int hs = d->hidden, g4 = 4 * hs, steps = d->steps;
    /* dW_ih (4H x in_f) += dgate^T (4H x n*T) x (n*T x in_f) */
    if (dw_ih) OPSYM(op_gemm)(1, 0, g4, in_f, (int)d->rows, 1, dgate, g4, x, in_f, 1, dw_ih, in_f);
    /* dW_hh += sum over samples of dgate[s, 1:T]^T hid[s, 0:T-1]; per sample, fixed order */
    if (dw_hh && steps > 1)
        for (int s = 0; s < d->n; s++)
            OPSYM(op_gemm)(1, 0, g4, hs, steps - 1, 1, dgate + ((size_t)s * steps + 1) * g4, g4,
                           hid + (size_t)s * steps * hs, hs, 1, dw_hh, hs);
    for (int64_t r = 0; r < d->rows; r++) {
        const real *dg = dgate + (size_t)r * g4;
        for (int j = 0; j < g4; j++) {
            if (db_ih) db_ih[j] += dg[j];
            if (db_hh) db_hh[j] += dg[j];
        }
    }
}

static void lstm_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const lstm_cfg *cfg = L->cfg;
    lstm_dims d = lstm_get_dims(L, c->n);
    const size_t hs = (size_t)d.hidden, seq = (size_t)d.rows * hs;
    real *saved = (real *)c->saved; /* only read; the accessors are shared with forward */
    real *dgate = c->work, *dhid = dgate + 4 * seq, *dbelow = dhid + seq, *dcell = dbelow + seq;
    if (cfg->return_sequences) {
        memcpy(dhid, c->dout, seq * sizeof(real));
    } else {
        memset(dhid, 0, seq * sizeof(real));
        for (int s = 0; s < d.n; s++)
            memcpy(dhid + ((size_t)s * d.steps + d.steps - 1) * hs, c->dout + s * hs, hs * sizeof(real));
    }
    for (int l = d.layers - 1; l >= 0; l--) {
        const real *x = l == 0 ? c->in[0] : lstm_hid(&d, saved, l - 1);
        int in_f = l == 0 ? d.features : d.hidden;
        const real *w_ih = c->param[4 * l], *w_hh = c->param[4 * l + 1];
        lstm_layer_bptt(&d, w_hh, lstm_act(&d, saved, l), lstm_cell(&d, saved, l), dhid, dgate, dcell);
        lstm_layer_param_grads(&d, in_f, x, lstm_hid(&d, saved, l), dgate, c->dparam[4 * l],
                               c->dparam[4 * l + 1], c->dparam[4 * l + 2], c->dparam[4 * l + 3]);
        /* gradient w.r.t. the layer input (n*T x in_f) = dgate (n*T x 4H) W_ih (4H x in_f):
         * accumulated into din for layer 0, else the next (lower) layer's dhid */
        if (l > 0) {
            OPSYM(op_gemm)(0, 0, (int)d.rows, in_f, 4 * d.hidden, 1, dgate, 4 * d.hidden, w_ih, in_f, 0,
                           dbelow, in_f);
            real *swap = dhid;
            dhid = dbelow;
            dbelow = swap;
        } else if (c->din[0]) {
            OPSYM(op_gemm)(0, 0, (int)d.rows, in_f, 4 * d.hidden, 1, dgate, 4 * d.hidden, w_ih, in_f, 1,
                           c->din[0], in_f);
        }
    }
}

/* ---------------------------------------------------------------- double backward
 *
 * R = sum(u * din) is the derivative of S = <dout, forward(x)> along x then u; its
 * derivatives with respect to x and the weights (dout fixed) are those of the backward's din
 * and dparam along the direction u in x: by the symmetry of second derivatives
 * dR/dx = H_xx u and dR/dparam = H_param,x u. So backward2 runs the backward in forward mode
 * (every quantity with its tangent, written with a leading t: tdgate, tdhid, ...): first the
 * tangent of the forward (the JVP, whose top output is uout), then backward through time of
 * both the primal quantities (recomputed) and their tangents, layer by layer from the top.
 * The tangent of dout is zero (uout is dR/d(dout), the JVP). */

/* Tangent of one layer's forward: tx (n, T, in_f) the input's tangent; fills tact (the gate
 * activations' tangents), tcell, thid, laid out as act, cell, hid. */
static void lstm_layer_jvp(const lstm_dims *d, int in_f, const real *tx, const real *w_ih, const real *w_hh,
                           const real *act, const real *cell, real *tact, real *tcell, real *thid) {
    const int hs = d->hidden, g4 = 4 * hs, steps = d->steps;
    OPSYM(op_gemm)(0, 1, (int)d->rows, g4, in_f, 1, tx, in_f, w_ih, in_f, 0, tact, g4);
    for (int t = 0; t < steps; t++) {
        if (t > 0)
            OPSYM(op_gemm)(0, 1, d->n, g4, hs, 1, thid + (size_t)(t - 1) * hs, steps * hs, w_hh, hs, 1,
                           tact + (size_t)t * g4, steps * g4);
        for (int s = 0; s < d->n; s++) {
            size_t r = (size_t)s * steps + t;
            const real *a = act + r * g4, *c = cell + r * hs;
            real *ta = tact + r * g4, *tc = tcell + r * hs, *th = thid + r * hs;
            const real *c_prev = t > 0 ? c - hs : NULL, *tc_prev = t > 0 ? tc - hs : NULL;
            for (int j = 0; j < hs; j++) {
                real gi = a[j], gf = a[hs + j], gg = a[2 * hs + j], go = a[3 * hs + j];
                real ti = gi * (1 - gi) * ta[j], tf = gf * (1 - gf) * ta[hs + j];
                real tg = (1 - gg * gg) * ta[2 * hs + j], to = go * (1 - go) * ta[3 * hs + j];
                ta[j] = ti, ta[hs + j] = tf, ta[2 * hs + j] = tg, ta[3 * hs + j] = to;
                tc[j] = (c_prev ? tf * c_prev[j] + gf * tc_prev[j] : 0) + ti * gg + gi * tg;
                real tcj = tanh(c[j]);
                th[j] = to * tcj + go * (1 - tcj * tcj) * tc[j];
            }
        }
    }
}

/* lstm_layer_bptt with tangents: dhid, tdhid (consumed) -> dgate, tdgate; dcell, tdcell
 * scratch. tact, tcell: the layer's forward tangents. */
static void lstm_layer_bptt2(const lstm_dims *d, const real *w_hh, const real *act, const real *cell,
                             const real *tact, const real *tcell, real *dhid, real *tdhid, real *dgate,
                             real *tdgate, real *dcell, real *tdcell) {
    const int hs = d->hidden, g4 = 4 * hs, steps = d->steps;
    memset(dcell, 0, (size_t)d->n * hs * sizeof(real));
    memset(tdcell, 0, (size_t)d->n * hs * sizeof(real));
    for (int t = steps - 1; t >= 0; t--) {
        for (int s = 0; s < d->n; s++) {
            size_t r = (size_t)s * steps + t;
            const real *a = act + r * g4, *c = cell + r * hs, *ta = tact + r * g4, *tcl = tcell + r * hs;
            const real *c_prev = t > 0 ? c - hs : NULL, *tc_prev = t > 0 ? tcl - hs : NULL;
            const real *dh = dhid + r * hs, *tdh = tdhid + r * hs;
            real *dg = dgate + r * g4, *tdg = tdgate + r * g4;
            real *dc = dcell + (size_t)s * hs, *tdc = tdcell + (size_t)s * hs;
            for (int j = 0; j < hs; j++) {
                real gi = a[j], gf = a[hs + j], gg = a[2 * hs + j], go = a[3 * hs + j];
                real ti = ta[j], tf = ta[hs + j], tg = ta[2 * hs + j], to = ta[3 * hs + j];
                real tc = tanh(c[j]), sc = 1 - tc * tc, ttc = sc * tcl[j];
                real dct = dc[j] + dh[j] * go * sc;
                real tdct = tdc[j] + tdh[j] * go * sc + dh[j] * (to * sc - 2 * go * tc * ttc);
                real si = gi * (1 - gi), sf = gf * (1 - gf), sg = 1 - gg * gg, so = go * (1 - go);
                dg[j] = dct * gg * si;
                tdg[j] = tdct * gg * si + dct * (tg * si + gg * (1 - 2 * gi) * ti);
                if (c_prev) {
                    dg[hs + j] = dct * c_prev[j] * sf;
                    tdg[hs + j] = tdct * c_prev[j] * sf + dct * (tc_prev[j] * sf + c_prev[j] * (1 - 2 * gf) * tf);
                } else {
                    dg[hs + j] = tdg[hs + j] = 0;
                }
                dg[2 * hs + j] = dct * gi * sg;
                tdg[2 * hs + j] = tdct * gi * sg + dct * (ti * sg - 2 * gi * gg * tg);
                dg[3 * hs + j] = dh[j] * tc * so;
                tdg[3 * hs + j] = tdh[j] * tc * so + dh[j] * (ttc * so + tc * (1 - 2 * go) * to);
                dc[j] = dct * gf;
                tdc[j] = tdct * gf + dct * tf;
            }
        }
        if (t > 0) {
            OPSYM(op_gemm)(0, 0, d->n, hs, g4, 1, dgate + (size_t)t * g4, steps * g4, w_hh, hs, 1,
                           dhid + (size_t)(t - 1) * hs, steps * hs);
            OPSYM(op_gemm)(0, 0, d->n, hs, g4, 1, tdgate + (size_t)t * g4, steps * g4, w_hh, hs, 1,
                           tdhid + (size_t)(t - 1) * hs, steps * hs);
        }
    }
}

static void lstm_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const lstm_cfg *cfg = L->cfg;
    if (!c->uin[0]) return;
    lstm_dims d = lstm_get_dims(L, c->n);
    const size_t hs = (size_t)d.hidden, seq = (size_t)d.rows * hs;
    real *saved = (real *)c->saved; /* only read */
    real *dgate = c->work, *dhid = dgate + 4 * seq, *dbelow = dhid + seq, *dcell = dbelow + seq;
    real *tsaved = dcell + (size_t)d.n * hs; /* work2: the tangents of saved, same layout */
    real *tdgate = tsaved + (size_t)d.layers * 6 * seq, *tdhid = tdgate + 4 * seq, *tdbelow = tdhid + seq;
    real *tdcell = tdbelow + seq;
    for (int l = 0; l < d.layers; l++)
        lstm_layer_jvp(&d, l == 0 ? d.features : d.hidden, l == 0 ? c->uin[0] : lstm_hid(&d, tsaved, l - 1),
                       c->param[4 * l], c->param[4 * l + 1], lstm_act(&d, saved, l), lstm_cell(&d, saved, l),
                       lstm_act(&d, tsaved, l), lstm_cell(&d, tsaved, l), lstm_hid(&d, tsaved, l));
    const real *ttop = lstm_hid(&d, tsaved, d.layers - 1);
    if (cfg->return_sequences) {
        for (size_t i = 0; i < seq; i++) c->uout[i] += ttop[i];
    } else {
        for (int s = 0; s < d.n; s++)
            for (size_t j = 0; j < hs; j++) c->uout[s * hs + j] += ttop[((size_t)s * d.steps + d.steps - 1) * hs + j];
    }
    memset(tdhid, 0, seq * sizeof(real));
    if (cfg->return_sequences) {
        memcpy(dhid, c->dout, seq * sizeof(real));
    } else {
        memset(dhid, 0, seq * sizeof(real));
        for (int s = 0; s < d.n; s++)
            memcpy(dhid + ((size_t)s * d.steps + d.steps - 1) * hs, c->dout + s * hs, hs * sizeof(real));
    }
    for (int l = d.layers - 1; l >= 0; l--) {
        const real *x = l == 0 ? c->in[0] : lstm_hid(&d, saved, l - 1);
        const real *tx = l == 0 ? c->uin[0] : lstm_hid(&d, tsaved, l - 1);
        int in_f = l == 0 ? d.features : d.hidden, g4 = 4 * d.hidden;
        const real *w_ih = c->param[4 * l], *w_hh = c->param[4 * l + 1];
        lstm_layer_bptt2(&d, w_hh, lstm_act(&d, saved, l), lstm_cell(&d, saved, l), lstm_act(&d, tsaved, l),
                         lstm_cell(&d, tsaved, l), dhid, tdhid, dgate, tdgate, dcell, tdcell);
        /* the tangent of the parameter gradients: (tdgate, x, hid) + (dgate, tx, thid) */
        lstm_layer_param_grads(&d, in_f, x, lstm_hid(&d, saved, l), tdgate, c->dparam[4 * l],
                               c->dparam[4 * l + 1], c->dparam[4 * l + 2], c->dparam[4 * l + 3]);
        lstm_layer_param_grads(&d, in_f, tx, lstm_hid(&d, tsaved, l), dgate, c->dparam[4 * l],
                               c->dparam[4 * l + 1], NULL, NULL);
        if (l > 0) {
            OPSYM(op_gemm)(0, 0, (int)d.rows, in_f, g4, 1, dgate, g4, w_ih, in_f, 0, dbelow, in_f);
            OPSYM(op_gemm)(0, 0, (int)d.rows, in_f, g4, 1, tdgate, g4, w_ih, in_f, 0, tdbelow, in_f);
            real *swap = dhid;
            dhid = dbelow;
            dbelow = swap;
            swap = tdhid;
            tdhid = tdbelow;
            tdbelow = swap;
        } else if (c->hin[0]) { /* the tangent of din */
            OPSYM(op_gemm)(0, 0, (int)d.rows, in_f, g4, 1, tdgate, g4, w_ih, in_f, 1, c->hin[0], in_f);
        }
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_lstm) = {
    .type = "lstm",
    .cfg_size = sizeof(lstm_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = lstm_configure,
    .infer = lstm_infer,
    .forward = lstm_forward,
    .backward = lstm_backward,
    .backward2 = lstm_backward2,
};
