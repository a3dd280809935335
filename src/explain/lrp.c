/* Layer-wise relevance propagation (Bach et al. 2015; Montavon et al. 2019, "LRP: an
 * overview") inside the engine: the net's own forward and backward kernels redistribute the
 * relevance, layer by layer in reverse topological order, as the executor's backward walks the
 * graph (DESIGN: introspection reuses backward with its own rules, no second engine).
 *
 * R starts as S = output[target] at the output and is 0 elsewhere; a node read by several
 * layers sums what they send back. Per layer kind (by type):
 *   linear   dense, conv1d/2d/3d, conv*_transpose, hexconv, separable2d: out z = W x + b. With
 *            s = R / z' the rules are, for input i and output k (backward(W, s) = Wᵀ s):
 *              z        R_i = x_i Σ_k w_ik s_k, z' = z                  (backward, times x)
 *              epsilon  the same with z' = z + ε sign(z) (sign(0) = +1)
 *              alphabeta  on the signed contributions z_ik = x_i w_ik:
 *                       R_i = α Σ_k z_ik⁺ / Σ_i z_ik⁺ R_k − β Σ_k z_ik⁻ / Σ_i z_ik⁻ R_k, where
 *                       z_ik⁺ = x_i⁺ w_ik⁺ + x_i⁻ w_ik⁻ (so Σ_i z_ik⁺ = W⁺x⁺ + W⁻x⁻: two forwards)
 *                       and R_i⁺ = x_i⁺ (W⁺ᵀ s⁺)_i + x_i⁻ (W⁻ᵀ s⁺)_i (two backwards), likewise z⁻;
 *                       NOT Captum's x·w⁺, which is wrong for negative inputs
 *              zplus    = alphabeta with α = 1, β = 0
 *              w2       R_i = Σ_k w_ik² / Σ_i w_ik² R_k   (forward of W² on ones; input-free)
 *              flat     the same with every w = 1 (uniform over the receptive field)
 *            The bias takes its share in z and epsilon (not conserved unless b = 0) and is left
 *            out of the other rules (conserved up to outputs with no positive/negative part).
 *            A batchnorm whose only input is a linear layer read by nothing else is folded into
 *            it: W' = a W, a = γ / sqrt(var + eps) per output channel (measured by running the
 *            batchnorm forward on 0 and 1), z = the batchnorm's output.
 *   sum      add, avgpool, globalavgpool, upsample: the z rule through their backward
 *            (R_j = x_j Σ_k ∂z_k/∂x_j R_k / z_k), a tiny guard only against z = 0.
 *   route    maxpool, globalmaxpool (winner takes all), concat (the z rule of a concatenation
 *            is the identity), permute, slice (the cut-away part gets none): R goes back
 *            through the op's backward unchanged.
 *   pass     relu, leaky_relu, elu, tanh, sigmoid, dropout (eval), flatten, reshape: R_in = R.
 * Anything else (softmax, lstm, edgeconv, layernorm, a batchnorm that cannot be folded) is an
 * error naming the layer and why. Eval mode. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "explain/explain.h"

const char *const cascade_lrp_rule_names[] = {"z", "epsilon", "zplus", "alphabeta", "w2", "flat", "composite"};
#define N_RULES 7

cascade_status cascade_lrp_parse_rule(const char *name, int *rule) {
    for (int r = 0; r < N_RULES; r++)
        if (strcmp(name, cascade_lrp_rule_names[r]) == 0) {
            *rule = r;
            return CASCADE_OK;
        }
    return cascade_fail(CASCADE_EUSAGE, "explain: unknown --rule '%s' (known: z, epsilon, zplus, alphabeta, w2, flat, "
                        "composite)", name);
}

enum { K_ERROR, K_LINEAR, K_BN, K_SUM, K_ROUTE, K_PASS };

static const struct {
    const char *type;
    int kind;
    const char *why; /* K_ERROR */
} kinds[] = {
    {"dense", K_LINEAR, NULL},           {"conv1d", K_LINEAR, NULL},
    {"conv2d", K_LINEAR, NULL},          {"conv3d", K_LINEAR, NULL},
    {"conv1d_transpose", K_LINEAR, NULL}, {"conv2d_transpose", K_LINEAR, NULL},
    {"hexconv", K_LINEAR, NULL},         {"separable2d", K_LINEAR, NULL},
    {"batchnorm", K_BN, NULL},           {"add", K_SUM, NULL},
    {"avgpool", K_SUM, NULL},            {"globalavgpool", K_SUM, NULL},
    {"upsample", K_SUM, NULL},           {"maxpool", K_ROUTE, NULL},
    {"globalmaxpool", K_ROUTE, NULL},    {"concat", K_ROUTE, NULL},
    {"permute", K_ROUTE, NULL},          {"relu", K_PASS, NULL},
    {"leaky_relu", K_PASS, NULL},        {"elu", K_PASS, NULL},
    {"tanh", K_PASS, NULL},              {"sigmoid", K_PASS, NULL},
    {"dropout", K_PASS, NULL},           {"flatten", K_PASS, NULL},
    {"reshape", K_PASS, NULL},           {"slice", K_ROUTE, NULL},
    {"softmax", K_ERROR, "a softmax normalises over its axis, so relevance cannot be redistributed through it; "
                         "explain the logits (loss = ce takes them, end the net without softmax)"},
    {"lstm", K_ERROR, "its gates multiply activations, for which this LRP has no rule"},
    {"edgeconv", K_ERROR, "its neighbours and max aggregation come from a data-dependent graph, for which this LRP "
                          "has no rule"},
    {"layernorm", K_ERROR, "it divides by statistics of its own input, so it is not a linear redistribution and "
                           "cannot be folded into a neighbour"},
};

static int kind_of(const cascade_layer *L, const char **why) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(L->type, kinds[k].type) == 0) {
            *why = kinds[k].why;
            return kinds[k].kind;
        }
    *why = "this LRP has no rule for its type";
    return K_ERROR;
}

/* The parameter that carries a linear layer's output channels, and on which axis. */
static int out_channel_param(const cascade_layer *L, int *axis) {
    *axis = strcmp(L->type, "conv1d_transpose") == 0 || strcmp(L->type, "conv2d_transpose") == 0 ? 1 : 0;
    const char *name = strcmp(L->type, "separable2d") == 0 ? "pointwise_weight" : "weight";
    for (int p = 0; p < L->n_params; p++)
        if (strcmp(L->params[p].name, name) == 0) return p;
    return -1;
}

/* Number of layers reading node l (as an input reference). */
static int readers(const cascade_net *net, int l) {
    int r = 0;
    for (int j = 0; j < net->n_layers; j++)
        for (int k = 0; k < net->layers[j].n_in; k++) r += net->inputs[j][k] == l;
    return r;
}

/* The rule of linear layer l: the given one, or the composite's (flat on layers reading the
 * net input, epsilon on dense, alpha1-beta0 on convolutions). alpha/beta/eps out. */
static int layer_rule(const cascade_net *net, const cascade_lrp_opts *o, int l, double *alpha, double *beta,
                      double *eps) {
    *alpha = o->alpha, *beta = o->beta, *eps = o->epsilon;
    int rule = o->rule;
    if (rule == LRP_COMPOSITE) {
        if (net->inputs[l][0] < 0)
            rule = LRP_FLAT;
        else if (strcmp(net->layers[l].type, "dense") == 0)
            rule = LRP_EPSILON;
        else
            rule = LRP_ALPHABETA, *alpha = 1, *beta = 0;
    }
    if (rule == LRP_ZPLUS) rule = LRP_ALPHABETA, *alpha = 1, *beta = 0;
    if (rule == LRP_Z) rule = LRP_EPSILON, *eps = 0;
    return rule;
}

cascade_status cascade_explain_lrp_check(const cascade_net *net, const cascade_lrp_opts *o) {
    if (o->rule < 0 || o->rule >= N_RULES) return cascade_fail(CASCADE_EUSAGE, "explain: unknown LRP rule %d", o->rule);
    if (!(o->epsilon >= 0)) return cascade_fail(CASCADE_EUSAGE, "explain: --epsilon must be >= 0, not %g", o->epsilon);
    if (o->rule == LRP_ALPHABETA && (!(o->beta >= 0) || fabs(o->alpha - o->beta - 1) > 1e-12))
        return cascade_fail(CASCADE_EUSAGE, "explain: --rule alphabeta needs beta >= 0 and alpha - beta = 1 (relevance "
                            "conservation), got --alpha %g --beta %g", o->alpha, o->beta);
    for (int l = 0; l <= net->output; l++) {
        const cascade_layer *L = &net->layers[l];
        const char *why;
        int kind = kind_of(L, &why);
        if (kind == K_ERROR)
            return cascade_fail(CASCADE_EUSAGE, "explain: lrp cannot explain layer %s (%s): %s", L->name, L->type, why);
        if (kind == K_BN) {
            int in = net->inputs[l][0], axis;
            const cascade_layer *P = in >= 0 ? &net->layers[in] : NULL;
            const char *no = !P                                 ? "it reads the net input"
                             : kind_of(P, &why) != K_LINEAR     ? "its input is not a dense or convolution layer"
                             : readers(net, in) != 1            ? "its input layer is also read by other layers"
                             : out_channel_param(P, &axis) < 0  ? "its input layer has no weight"
                             : strcmp(P->type, "dense") == 0 && P->out_shape.ndim != 1
                                 ? "the dense output has its features on the last axis, batchnorm normalises axis 0"
                                 : NULL;
            if (no)
                return cascade_fail(CASCADE_EUSAGE, "explain: lrp folds batchnorm into the dense or convolution layer "
                                    "before it, but batchnorm %s cannot be folded: %s (input %s)", L->name, no,
                                    in >= 0 ? net->layers[in].name : "x");
        }
        if (kind == K_LINEAR && strcmp(L->type, "separable2d") == 0) {
            double a, b, e;
            int r = layer_rule(net, o, l, &a, &b, &e);
            if (r != LRP_EPSILON && r != LRP_FLAT)
                return cascade_fail(CASCADE_EUSAGE, "explain: lrp --rule %s cannot explain layer %s (separable2d): "
                                    "it would modify the weights of both convolutions elementwise, and the product "
                                    "of two modified convolutions is not the modified product; use --rule z, "
                                    "epsilon or flat", cascade_lrp_rule_names[o->rule], L->name);
        }
    }
    return CASCADE_OK;
}

/* ---- the walk ---- */

typedef struct {
    cascade_net *net;
    const cascade_lrp_opts *o;
    int m;
    const float *x;           /* (m, x shape) */
    float *rx;                /* relevance of x (m, x shape) */
    float *a[3], *b[5];       /* scratch: (m, largest layer input) x3, (m, largest output) x5 */
    float *saved;             /* saved/work scratch for modified forwards */
    float *scale;             /* folded batchnorm: per output channel */
    float *wp, *wn;           /* modified parameter sets (largest layer's parameters) */
    double *sent, *received;  /* per layer, optional */
} walk;

static const float *value_of(const walk *w, int ref) { return ref >= 0 ? w->net->act[ref] : w->x; }
static float *rel_of(const walk *w, int ref) { return ref >= 0 ? w->net->dact[ref] : w->rx; }

/* dst += scale * a (⊙ b when b); returns the sum added. */
static double acc(float *dst, const float *a, const float *b, double scale, int64_t count) {
    double sum = 0;
    for (int64_t i = 0; i < count; i++) {
        double v = scale * (double)a[i] * (b ? (double)b[i] : 1.0);
        dst[i] += (float)v;
        sum += v;
    }
    return sum;
}

/* s = R / (z + eps sign z), 0 where the denominator is 0 (eps = 0) */
static void divide(float *s, const float *R, const float *z, double eps, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        double d = (double)z[i] + (z[i] >= 0 ? eps : -eps);
        s[i] = d != 0 ? (float)((double)R[i] / d) : 0;
    }
}

/* One forward / backward of layer l with parameters `param` (NULL: the net's) on m samples;
 * single-input ops only (linear layers). dout -> din is accumulated: callers zero din. */
static void fwd(const walk *w, int l, float *const *param, const float *in, float *out) {
    const cascade_layer *L = &w->net->layers[l];
    cascade_fwd c = {0};
    c.n = w->m;
    c.in[0] = in;
    c.out = out;
    for (int p = 0; p < L->n_params; p++) c.param[p] = param[p];
    c.saved = w->saved;
    c.work = w->net->work;
    L->op->forward(L, &c);
}

static void bwd(const walk *w, int l, float *const *param, const float *in, const float *dout, float *din) {
    const cascade_layer *L = &w->net->layers[l];
    cascade_bwd c = {0};
    c.n = w->m;
    c.in[0] = in;
    c.din[0] = din;
    c.out = NULL;
    c.dout = dout;
    for (int p = 0; p < L->n_params; p++) c.param[p] = param[p];
    c.saved = w->saved;
    c.work = w->net->work;
    L->op->backward(L, &c);
}

/* Parameter pointers of layer l into `buf`, filled from the net's parameters scaled per output
 * channel by `scale` (folded batchnorm; NULL: none), then per element: 0 keep, 1 positive
 * part, 2 negative part, 3 square, 4 ones. Biases are zeroed (the rules that modify weights
 * leave them out; z/epsilon take z from the net's forward). */
static void param_set(const walk *w, int l, const float *scale, int mode, float *buf, float **param) {
    const cascade_net *net = w->net;
    const cascade_layer *L = &net->layers[l];
    int axis, sp = out_channel_param(L, &axis);
    float *p = buf;
    for (int k = 0; k < L->n_params; k++) {
        const cascade_param_desc *d = &L->params[k];
        int64_t numel = cascade_shape_numel(&d->shape);
        const float *src = (d->trainable ? net->params : net->buffers) + net->param_off[l][k];
        param[k] = p;
        int bias = strcmp(d->name, "bias") == 0;
        /* element j's output channel on `axis` of the weight shape */
        int64_t inner = 1;
        for (int a = axis + 1; a < d->shape.ndim; a++) inner *= d->shape.d[a];
        int64_t chans = d->shape.ndim > axis ? d->shape.d[axis] : 1;
        for (int64_t j = 0; j < numel; j++) {
            double v = bias ? 0 : src[j];
            if (!bias && scale && k == sp) v *= scale[(j / inner) % chans];
            if (!bias) {
                if (mode == 1) v = v > 0 ? v : 0;
                if (mode == 2) v = v < 0 ? v : 0;
                if (mode == 3) v = v * v;
                if (mode == 4) v = 1;
            }
            p[j] = (float)v;
        }
        p += numel;
    }
}

/* a = γ / sqrt(var + eps) of batchnorm b per channel: its eval forward on ones minus its
 * forward on zeros (one sample each). */
static void bn_scale(walk *w, int b, float *scale) {
    const cascade_net *net = w->net;
    const cascade_layer *B = &net->layers[b];
    int64_t C = B->in_shape[0].d[0], per = cascade_shape_numel(&B->in_shape[0]) / C;
    float *zeros = w->b[0], *ones = w->b[1], *out0 = w->b[2], *out1 = w->b[3];
    float *param[CASCADE_MAX_PARAMS];
    for (int p = 0; p < B->n_params; p++)
        param[p] = (B->params[p].trainable ? net->params : net->buffers) + net->param_off[b][p];
    int m = w->m;
    w->m = 1;
    for (int64_t j = 0; j < C * per; j++) zeros[j] = 0, ones[j] = 1;
    fwd(w, b, param, zeros, out0);
    fwd(w, b, param, ones, out1);
    for (int64_t c = 0; c < C; c++) scale[c] = out1[c * per] - out0[c * per];
    w->m = m;
}

/* Linear layer l (folded into batchnorm `bn` when bn >= 0): R (m, out) -> its input. */
static double linear(walk *w, int l, int bn) {
    cascade_net *net = w->net;
    const cascade_layer *L = &net->layers[l];
    int top = bn >= 0 ? bn : l, in = net->inputs[l][0];
    int64_t ni = (int64_t)w->m * cascade_shape_numel(&L->in_shape[0]);
    int64_t no = (int64_t)w->m * cascade_shape_numel(&L->out_shape);
    const float *x = value_of(w, in), *R = net->dact[top], *z = net->act[top];
    float *rin = rel_of(w, in), *scale = NULL;
    float *P[CASCADE_MAX_PARAMS], *N[CASCADE_MAX_PARAMS];
    if (bn >= 0) {
        scale = w->scale;
        bn_scale(w, bn, scale);
    }
    double alpha, beta, eps, sent = 0;
    int rule = layer_rule(net, w->o, l, &alpha, &beta, &eps);
    float *c = w->a[0], *s = w->b[0];
    if (rule == LRP_EPSILON) {
        param_set(w, l, scale, 0, w->wp, P);
        divide(s, R, z, eps, no);
        memset(c, 0, (size_t)ni * sizeof(float));
        bwd(w, l, P, x, s, c);
        return acc(rin, x, c, 1, ni);
    }
    if (rule == LRP_W2 || rule == LRP_FLAT) {
        float *ones = w->a[2], *den = w->b[1];
        param_set(w, l, scale, rule == LRP_W2 ? 3 : 4, w->wp, P);
        for (int64_t j = 0; j < ni; j++) ones[j] = 1;
        fwd(w, l, P, ones, den);
        divide(s, R, den, 0, no);
        memset(c, 0, (size_t)ni * sizeof(float));
        bwd(w, l, P, ones, s, c);
        return acc(rin, c, NULL, 1, ni);
    }
    /* alpha-beta on the signed contributions */
    float *xp = w->a[1], *xm = w->a[2], *zp = w->b[1], *t = w->b[2];
    for (int64_t j = 0; j < ni; j++) xp[j] = x[j] > 0 ? x[j] : 0, xm[j] = x[j] < 0 ? x[j] : 0;
    param_set(w, l, scale, 1, w->wp, P);
    param_set(w, l, scale, 2, w->wn, N);
    for (int part = 0; part < 2; part++) {
        double weight = part == 0 ? alpha : -beta;
        if (weight == 0) continue;
        /* positive part: W⁺ on x⁺ and W⁻ on x⁻; negative part: W⁻ on x⁺ and W⁺ on x⁻ */
        float **on_xp = part == 0 ? P : N, **on_xm = part == 0 ? N : P;
        fwd(w, l, on_xp, xp, zp);
        fwd(w, l, on_xm, xm, t);
        for (int64_t j = 0; j < no; j++) zp[j] += t[j];
        divide(s, R, zp, 0, no);
        memset(c, 0, (size_t)ni * sizeof(float));
        bwd(w, l, on_xp, xp, s, c);
        sent += acc(rin, xp, c, weight, ni);
        memset(c, 0, (size_t)ni * sizeof(float));
        bwd(w, l, on_xm, xm, s, c);
        sent += acc(rin, xm, c, weight, ni);
    }
    return sent;
}

/* Parameter-free z rule (add, pooling averages, upsample) through the op's backward. */
static double zsum(walk *w, int l) {
    cascade_net *net = w->net;
    const cascade_layer *L = &net->layers[l];
    int64_t no = (int64_t)w->m * cascade_shape_numel(&L->out_shape);
    float *s = w->b[0];
    divide(s, net->dact[l], net->act[l], 0, no);
    double sent = 0;
    for (int k = 0; k < L->n_in; k++) {
        cascade_bwd c = {0};
        int64_t ni = (int64_t)w->m * cascade_shape_numel(&L->in_shape[k]);
        float *g = w->a[0];
        memset(g, 0, (size_t)ni * sizeof(float));
        c.n = w->m;
        for (int j = 0; j < L->n_in; j++) c.in[j] = value_of(w, net->inputs[l][j]);
        c.din[k] = g;
        c.out = net->act[l];
        c.dout = s;
        c.saved = net->saved[l];
        c.work = net->work;
        L->op->backward(L, &c);
        sent += acc(rel_of(w, net->inputs[l][k]), value_of(w, net->inputs[l][k]), g, 1, ni);
    }
    return sent;
}

/* Routing ops: R back through the op's backward (winner takes all for max pooling). */
static double route(walk *w, int l) {
    cascade_net *net = w->net;
    const cascade_layer *L = &net->layers[l];
    cascade_bwd c = {0};
    double before = 0, after = 0;
    c.n = w->m;
    for (int k = 0; k < L->n_in; k++) {
        int r = net->inputs[l][k];
        int64_t ni = (int64_t)w->m * cascade_shape_numel(&L->in_shape[k]);
        c.in[k] = value_of(w, r);
        c.din[k] = rel_of(w, r);
        for (int64_t j = 0; j < ni; j++) before += c.din[k][j];
    }
    c.out = net->act[l];
    c.dout = net->dact[l];
    c.saved = net->saved[l];
    c.work = net->work;
    L->op->backward(L, &c);
    for (int k = 0; k < L->n_in; k++) {
        int64_t ni = (int64_t)w->m * cascade_shape_numel(&L->in_shape[k]);
        for (int64_t j = 0; j < ni; j++) after += c.din[k][j];
    }
    return after - before;
}

static void walk_chunk(walk *w, int64_t target, double *value) {
    cascade_net *net = w->net;
    int m = w->m;
    cascade_run run = {.n = m};
    run.ext[0] = w->x;
    cascade_net_forward(net, &run);
    for (int l = 0; l < net->n_layers; l++)
        memset(net->dact[l], 0, (size_t)m * (size_t)cascade_shape_numel(&net->layers[l].out_shape) * sizeof(float));
    memset(w->rx, 0, (size_t)m * (size_t)cascade_shape_numel(&net->ext_shapes[0]) * sizeof(float));
    int64_t on = cascade_shape_numel(&net->layers[net->output].out_shape);
    for (int i = 0; i < m; i++) {
        float S = net->act[net->output][(int64_t)i * on + target];
        net->dact[net->output][(int64_t)i * on + target] = S;
        if (value) value[i] = S;
    }
    for (int l = net->output; l >= 0; l--) {
        const cascade_layer *L = &net->layers[l];
        const char *why;
        int kind = kind_of(L, &why);
        int64_t no = (int64_t)m * cascade_shape_numel(&L->out_shape);
        double got = 0, sent = 0;
        for (int64_t j = 0; j < no; j++) got += net->dact[l][j];
        int folded = 0; /* a linear layer read only by a batchnorm: done with the batchnorm */
        for (int j = l + 1; j <= net->output && kind == K_LINEAR && !folded; j++)
            folded = strcmp(net->layers[j].type, "batchnorm") == 0 && net->inputs[j][0] == l;
        if (folded) continue;
        if (kind == K_LINEAR) sent = linear(w, l, -1);
        if (kind == K_BN) sent = linear(w, net->inputs[l][0], l);
        if (kind == K_SUM) sent = zsum(w, l);
        if (kind == K_ROUTE) sent = route(w, l);
        if (kind == K_PASS) sent = acc(rel_of(w, net->inputs[l][0]), net->dact[l], NULL, 1, no);
        if (w->received) w->received[l] += got;
        if (w->sent) w->sent[l] += sent;
    }
}

cascade_status cascade_explain_lrp(cascade_net *net, const cascade_lrp_opts *o, const float *x, int64_t n,
                                   int64_t target, float *rel, double *value, double *sent, double *received) {
    CASCADE_TRY(cascade_explain_lrp_check(net, o));
    int64_t on = cascade_shape_numel(cascade_net_out_shape(net));
    if (target < 0 || target >= on)
        return cascade_fail(CASCADE_EUSAGE, "target %lld is out of range: the output has %lld elements",
                            (long long)target, (long long)on);
    if (!net->act || net->max_n < 1)
        return cascade_fail(CASCADE_EINTERNAL, "net %s is not prepared for lrp", net->name);
    int64_t big_in = 0, big_out = 0, big_param = 0, big_saved = 0;
    for (int l = 0; l <= net->output; l++) {
        const cascade_layer *L = &net->layers[l];
        for (int k = 0; k < L->n_in; k++) {
            int64_t v = cascade_shape_numel(&L->in_shape[k]);
            big_in = v > big_in ? v : big_in;
        }
        int64_t v = cascade_shape_numel(&L->out_shape), p = 0;
        big_out = v > big_out ? v : big_out;
        big_in = v > big_in ? v : big_in; /* batchnorm probes are outputs of the folded layer */
        for (int k = 0; k < L->n_params; k++) p += cascade_shape_numel(&L->params[k].shape);
        big_param = p > big_param ? p : big_param;
        v = L->saved_per_sample * net->max_n + L->saved_fixed;
        big_saved = v > big_saved ? v : big_saved;
    }
    size_t mi = (size_t)net->max_n * (size_t)big_in, mo = (size_t)net->max_n * (size_t)big_out;
    walk w = {.net = net, .o = o, .sent = sent, .received = received};
    float *mem = cascade_alloc((3 * mi + 5 * mo + (size_t)big_out + (size_t)big_saved + 2 * (size_t)big_param + 64) *
                                   sizeof(float),
                               "relevance scratch");
    if (!mem) return CASCADE_EINTERNAL;
    float *p = mem;
    for (int k = 0; k < 3; k++) w.a[k] = p, p += mi;
    for (int k = 0; k < 5; k++) w.b[k] = p, p += mo;
    w.scale = p, p += big_out;
    w.saved = p, p += big_saved + 16;
    w.wp = p, p += big_param;
    w.wn = p;
    if (sent) memset(sent, 0, (size_t)net->n_layers * sizeof(double));
    if (received) memset(received, 0, (size_t)net->n_layers * sizeof(double));
    int64_t xn = cascade_shape_numel(&net->ext_shapes[0]);
    for (int64_t s0 = 0; s0 < n; s0 += net->max_n) {
        w.m = (int)(n - s0 < net->max_n ? n - s0 : net->max_n);
        w.x = x + s0 * xn;
        w.rx = rel + s0 * xn;
        walk_chunk(&w, target, value ? value + s0 : NULL);
    }
    cascade_free(mem);
    return CASCADE_OK;
}
