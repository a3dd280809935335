/* Activation maximisation (Erhan et al. 2009; Simonyan et al. 2014; the book's exercise 12.2):
 * gradient ascent on the input, from Philox noise, of one objective per row:
 *   neuron   J = a[target]                        (flat index into the node's per-sample output)
 *   channel  J = mean of channel `target` of a (C, spatial...) output (a feature map)
 *   layer    J = mean of the whole output
 * Each step: x += step_size * g / rms(g), g = dJ/dx (at x rolled by a random jitter, rolled
 * back), then the optional regularisers: x *= (1 - l2) (L2 decay) and a Gaussian blur of
 * width `blur` cells over the spatial axes (Yosinski et al. 2015). The RMS normalisation makes
 * the step length independent of the gradient's scale, so one step size serves every layer.
 * Rows are independent objectives: a chunk of max_n of them runs as one batch. Eval mode. */
#include <math.h>
#include <string.h>

#include "explain/explain.h"

/* Philox purposes of this file (distinct from CASCADE_RNG_* and the simulators' range). */
enum { ACTMAX_RNG_NOISE = 48, ACTMAX_RNG_JITTER = 49 };

const char *const cascade_actmax_objective_names[] = {"neuron", "channel", "layer"};

/* Values the objective averages per row: the neuron (1), a channel's map, or the layer. */
static int64_t objective_span(const cascade_shape *s, int objective) {
    int64_t numel = cascade_shape_numel(s);
    return objective == ACTMAX_NEURON ? 1 : objective == ACTMAX_CHANNEL ? numel / s->d[0] : numel;
}

cascade_status cascade_explain_actmax_check(const cascade_net *net, const cascade_actmax_opts *o,
                                            const int64_t *targets, int64_t n_obj) {
    const cascade_layer *L = &net->layers[o->node];
    const cascade_shape *s = &L->out_shape;
    char sh[64];
    cascade_shape_str(s, sh, sizeof sh);
    if (o->steps < 1) return cascade_fail(CASCADE_EUSAGE, "explain: actmax needs --steps >= 1, not %d", o->steps);
    if (!(o->step_size > 0)) return cascade_fail(CASCADE_EUSAGE, "explain: --step-size must be > 0, not %g", o->step_size);
    if (!(o->l2 >= 0 && o->l2 < 1)) return cascade_fail(CASCADE_EUSAGE, "explain: --l2 must be in [0, 1), not %g", o->l2);
    if (!(o->blur >= 0) || !(o->noise >= 0))
        return cascade_fail(CASCADE_EUSAGE, "explain: --blur and --noise must be >= 0 (got %g, %g)", o->blur, o->noise);
    const cascade_shape *xs = &net->ext_shapes[0];
    if ((o->jitter > 0 || o->blur > 0) && xs->ndim < 2)
        return cascade_fail(CASCADE_EUSAGE, "explain: --jitter and --blur act on spatial axes, but the input x has "
                            "shape %s per sample (no axes after the channels)",
                            cascade_shape_str(xs, sh, sizeof sh));
    if (o->objective == ACTMAX_CHANNEL && s->ndim < 2)
        return cascade_fail(CASCADE_EUSAGE, "explain: --objective channel needs a (channels, spatial...) output, but "
                            "layer %s has output %s; use --objective neuron", L->name, sh);
    int64_t limit = o->objective == ACTMAX_NEURON ? cascade_shape_numel(s) : o->objective == ACTMAX_CHANNEL ? s->d[0] : 1;
    const char *what = o->objective == ACTMAX_NEURON ? "units" : o->objective == ACTMAX_CHANNEL ? "channels" : "objective";
    for (int64_t i = 0; i < n_obj; i++)
        if (targets[i] < 0 || targets[i] >= limit)
            return cascade_fail(CASCADE_EUSAGE, "explain: --target %lld is out of range: layer %s (output %s) has %lld "
                                "%s (valid 0 to %lld)", (long long)targets[i], L->name, sh, (long long)limit, what,
                                (long long)limit - 1);
    return CASCADE_OK;
}

/* Rolls each sample of x (m, C, spatial...) over its last one or two axes by (dy, dx) per row
 * (circularly; sign = -1 undoes it) into out. */
static void roll(const cascade_shape *xs, const float *x, int m, const int *shift, int sign, float *out) {
    int nsp = xs->ndim - 1 >= 2 ? 2 : 1;
    int64_t W = xs->d[xs->ndim - 1], H = nsp == 2 ? xs->d[xs->ndim - 2] : 1;
    int64_t planes = cascade_shape_numel(xs) / (H * W);
    for (int i = 0; i < m; i++) {
        int64_t dy = ((sign * shift[2 * i]) % H + H) % H, dx = ((sign * shift[2 * i + 1]) % W + W) % W;
        for (int64_t p = 0; p < planes; p++) {
            const float *src = x + ((int64_t)i * planes + p) * H * W;
            float *dst = out + ((int64_t)i * planes + p) * H * W;
            for (int64_t y = 0; y < H; y++)
                for (int64_t c = 0; c < W; c++) dst[((y + dy) % H) * W + (c + dx) % W] = src[y * W + c];
        }
    }
}

/* Gaussian blur of width sigma (cells) along one axis of length len with stride `step`
 * (elements between neighbours), `count` lines starting at `base` offsets line_off(k);
 * weights renormalised over the in-range taps, so edges are not darkened. */
static void blur_axis(float *x, int64_t lines, int64_t len, int64_t step, int64_t block, double sigma, float *tmp) {
    int r = (int)ceil(3 * sigma);
    double wt[64];
    if (r > 31) r = 31;
    for (int k = -r; k <= r; k++) wt[k + r] = exp(-0.5 * k * k / (sigma * sigma));
    for (int64_t li = 0; li < lines; li++) {
        /* line li: elements at base + t*step, base = (li / step) * block + li % step */
        float *line = x + (li / step) * block + li % step;
        for (int64_t t = 0; t < len; t++) {
            double s = 0, ws = 0;
            for (int k = -r; k <= r; k++) {
                int64_t u = t + k;
                if (u < 0 || u >= len) continue;
                s += wt[k + r] * line[u * step];
                ws += wt[k + r];
            }
            tmp[t] = (float)(s / ws);
        }
        for (int64_t t = 0; t < len; t++) line[t * step] = tmp[t];
    }
}

static void blur(const cascade_shape *xs, float *x, int m, double sigma, float *tmp) {
    int64_t numel = (int64_t)m * cascade_shape_numel(xs);
    int64_t inner = 1; /* elements after axis a */
    for (int a = xs->ndim - 1; a >= 1; a--) {
        int64_t len = xs->d[a], block = len * inner;
        blur_axis(x, numel / len, len, inner, block, sigma, tmp);
        inner = block;
    }
}

/* Objective J per row from the node's output; dJ/da into d when not NULL. */
static void objective(const cascade_shape *s, int obj, const float *a, int m, const int64_t *targets, double *J,
                      float *d) {
    int64_t numel = cascade_shape_numel(s), span = objective_span(s, obj);
    if (d) memset(d, 0, (size_t)m * (size_t)numel * sizeof(float));
    for (int i = 0; i < m; i++) {
        int64_t start = obj == ACTMAX_NEURON ? targets[i] : obj == ACTMAX_CHANNEL ? targets[i] * span : 0;
        const float *row = a + (int64_t)i * numel + start;
        double sum = 0;
        for (int64_t k = 0; k < span; k++) sum += row[k];
        J[i] = sum / (double)span;
        if (d)
            for (int64_t k = 0; k < span; k++) d[(int64_t)i * numel + start + k] = (float)(1.0 / (double)span);
    }
}

cascade_status cascade_explain_actmax(cascade_net *net, const cascade_actmax_opts *o, const int64_t *targets,
                                      int64_t n_obj, float *x, double *history) {
    CASCADE_TRY(cascade_explain_actmax_check(net, o, targets, n_obj));
    if (!net->want_dext || !net->dext[0] || net->max_n < 1)
        return cascade_fail(CASCADE_EINTERNAL, "net %s is not prepared for input gradients", net->name);
    const cascade_shape *xs = &net->ext_shapes[0], *s = &net->layers[o->node].out_shape;
    int64_t xn = cascade_shape_numel(xs), an = cascade_shape_numel(s), big = 1;
    for (int a = 0; a < xs->ndim; a++) big = xs->d[a] > big ? xs->d[a] : big;
    size_t chunk = (size_t)net->max_n;
    float *d = cascade_alloc(chunk * (size_t)an * sizeof(float), "objective gradient");
    float *xj = cascade_alloc(chunk * (size_t)xn * sizeof(float), "jittered input");
    float *g = cascade_alloc(chunk * (size_t)xn * sizeof(float), "input gradient");
    float *tmp = cascade_alloc((size_t)big * sizeof(float), "blur line");
    int *shift = cascade_alloc(chunk * 2 * sizeof(int), "jitter shifts");
    double *J = cascade_alloc(chunk * sizeof(double), "objective values");
    if (!d || !xj || !g || !tmp || !shift || !J) {
        cascade_free(d), cascade_free(xj), cascade_free(g), cascade_free(tmp), cascade_free(shift), cascade_free(J);
        return CASCADE_EINTERNAL;
    }
    /* the start: noise * N(0, 1), a stream per objective target (the same unit starts from the
     * same noise whatever else is asked for) */
    for (int64_t r = 0; r < n_obj; r++)
        for (int64_t j = 0; j < xn; j += 2) {
            double z[2];
            cascade_normal2(o->seed, ACTMAX_RNG_NOISE, (uint64_t)targets[r], (uint64_t)j, z);
            x[r * xn + j] = (float)(o->noise * z[0]);
            if (j + 1 < xn) x[r * xn + j + 1] = (float)(o->noise * z[1]);
        }
    int T = o->steps;
    for (int64_t s0 = 0; s0 < n_obj; s0 += net->max_n) {
        int m = (int)(n_obj - s0 < net->max_n ? n_obj - s0 : net->max_n);
        float *xs0 = x + s0 * xn;
        cascade_run run = {.n = m, .no_param_grads = 1};
        for (int t = 0; t <= T; t++) {
            const float *in = xs0;
            if (o->jitter > 0) { /* the history holds J at x itself, not at the jittered copy */
                run.ext[0] = xs0;
                cascade_net_forward(net, &run);
                objective(s, o->objective, net->act[o->node], m, targets + s0, J, NULL);
                for (int i = 0; i < m; i++) history[(s0 + i) * (T + 1) + t] = J[i];
            }
            if (o->jitter > 0 && t < T) {
                for (int i = 0; i < m; i++) {
                    uint32_t rr[4];
                    cascade_philox(o->seed, ACTMAX_RNG_JITTER, (uint64_t)targets[s0 + i], (uint64_t)t, rr);
                    shift[2 * i] = (int)(rr[0] % (uint32_t)(2 * o->jitter + 1)) - o->jitter;
                    shift[2 * i + 1] = (int)(rr[1] % (uint32_t)(2 * o->jitter + 1)) - o->jitter;
                }
                roll(xs, xs0, m, shift, 1, xj);
                in = xj;
            }
            run.ext[0] = in;
            cascade_net_forward(net, &run);
            if (t == T && o->jitter > 0) break;
            objective(s, o->objective, net->act[o->node], m, targets + s0, J, t < T ? d : NULL);
            if (!o->jitter)
                for (int i = 0; i < m; i++) history[(s0 + i) * (T + 1) + t] = J[i];
            if (t == T) break; /* the last entry: J at the final x */
            cascade_net_backward_from(net, &run, o->node, d);
            if (o->jitter > 0)
                roll(xs, net->dext[0], m, shift, -1, g);
            else
                memcpy(g, net->dext[0], (size_t)m * (size_t)xn * sizeof(float));
            for (int i = 0; i < m; i++) {
                float *xi = xs0 + (int64_t)i * xn, *gi = g + (int64_t)i * xn;
                double sq = 0;
                for (int64_t j = 0; j < xn; j++) sq += (double)gi[j] * gi[j];
                double rms = sqrt(sq / (double)xn);
                if (rms > 0) /* a dead objective (zero gradient) stays where it is */
                    for (int64_t j = 0; j < xn; j++) xi[j] += (float)(o->step_size * gi[j] / rms);
                if (o->l2 > 0)
                    for (int64_t j = 0; j < xn; j++) xi[j] *= (float)(1 - o->l2);
            }
            if (o->blur > 0) blur(xs, xs0, m, o->blur, tmp);
        }
    }
    cascade_free(d), cascade_free(xj), cascade_free(g), cascade_free(tmp), cascade_free(shift), cascade_free(J);
    return CASCADE_OK;
}
