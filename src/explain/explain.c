/* `cascade explain`: the model and data from cascade_trained_open, the chosen samples, one
 * method, and DIR/explain.h5 + pictures. Every rank computes the same (small) result; rank 0
 * writes the rows and the pictures. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/h5io.h"
#include "explain/explain.h"
#include "apps/trained.h"

static const char *const method_names[] = {"activations", "filters",   "saliency", "inputxgrad",    "integrated",
                                           "cam",         "gradcam",   "deconvnet", "guided",       "guided-gradcam",
                                           "actmax",      "lrp"};
#define N_METHODS ((int)(sizeof method_names / sizeof method_names[0]))
const char cascade_explain_methods[] = "activations, filters, saliency, inputxgrad, integrated, cam, gradcam, "
                                       "deconvnet, guided, guided-gradcam, actmax, lrp";

cascade_status cascade_explain_parse_method(const char *name, cascade_explain_method *out) {
    for (int m = 0; m < N_METHODS; m++)
        if (strcmp(name, method_names[m]) == 0) {
            *out = (cascade_explain_method)m;
            return CASCADE_OK;
        }
    return cascade_fail(CASCADE_EUSAGE, "explain: unknown --method '%s' (known: %s)", name, cascade_explain_methods);
}

static int parse_int64(const char *s, int64_t *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *v = x;
    return 0;
}

cascade_status cascade_explain_parse_index(const char *text, int64_t n, const char *file, int64_t *first,
                                           int64_t *count) {
    char a[32] = "", b[32] = "";
    const char *colon = strchr(text, ':');
    int64_t lo, hi;
    if (colon) {
        snprintf(a, sizeof a, "%.*s", (int)(colon - text < 31 ? colon - text : 31), text);
        snprintf(b, sizeof b, "%s", colon + 1);
    }
    int bad = colon ? parse_int64(a, &lo) || parse_int64(b, &hi) : parse_int64(text, &lo);
    if (!colon) hi = lo + 1;
    if (bad) return cascade_fail(CASCADE_EUSAGE, "explain: --index '%s' is not I or A:B", text);
    if (lo < 0 || hi > n || lo >= hi)
        return cascade_fail(CASCADE_EUSAGE,
                            "explain: --index %s is out of range: %s has %lld samples (valid: 0 to %lld, or A:B with "
                            "0 <= A < B <= %lld)",
                            text, file, (long long)n, (long long)n - 1, (long long)n);
    *first = lo;
    *count = hi - lo;
    return CASCADE_OK;
}

/* ---- layers ---- */

/* User-visible layers are the nodes whose name has no '/' (activation nodes are "conv1/relu"). */
static int is_user_layer(const cascade_layer *L) { return strchr(L->name, '/') == NULL; }

static void layer_list(const cascade_net *net, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (int l = 0; l < net->n_layers && used < size; l++)
        if (is_user_layer(&net->layers[l]))
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", net->layers[l].name);
}

static cascade_status find_layer(const cascade_net *net, const char *name, int *out) {
    *out = cascade_net_find(net, name);
    if (*out >= 0 && is_user_layer(&net->layers[*out])) return CASCADE_OK;
    char names[2048];
    layer_list(net, names, sizeof names);
    return cascade_fail(CASCADE_EUSAGE, "explain: --layer '%s' is not a layer of net %s (layers: %s)", name, net->name,
                        names);
}

/* The node holding a layer's output as later layers see it: its `activation =` node if any. */
static int output_node(const cascade_net *net, int l) {
    for (int j = 0; j < net->n_layers; j++)
        if (!is_user_layer(&net->layers[j]) && net->layers[j].n_in == 1 && net->inputs[j][0] == l) return j;
    return l;
}

/* The weight a layer's filters are: "weight", or the spatial "depthwise_weight". -1: none. */
static int filter_param(const cascade_layer *L) {
    for (int p = 0; p < L->n_params; p++)
        if (strcmp(L->params[p].name, "weight") == 0 || strcmp(L->params[p].name, "depthwise_weight") == 0) return p;
    return -1;
}

static int is_conv_or_dense(const cascade_layer *L) {
    return strcmp(L->type, "dense") == 0 || strncmp(L->type, "conv", 4) == 0 || strcmp(L->type, "hexconv") == 0 ||
           strcmp(L->type, "separable2d") == 0;
}

/* ---- writing ---- */

static cascade_shape with_rows(int64_t n, const cascade_shape *per_sample) {
    int64_t dims[CASCADE_MAX_DIMS] = {n};
    for (int i = 0; i < per_sample->ndim && i + 1 < CASCADE_MAX_DIMS; i++) dims[i + 1] = per_sample->d[i];
    return cascade_shape_make(per_sample->ndim + 1, dims);
}

static cascade_status write_rows(cascade_h5writer *w, const char *path, int64_t n, const cascade_shape *per_sample,
                                 const float *data, int rank) {
    cascade_shape sh = with_rows(n, per_sample);
    CASCADE_TRY(cascade_h5w_create_rows(w, path, &sh));
    return cascade_h5w_write_rows(w, path, 0, rank == 0 ? n : 0, data);
}

static cascade_status write_values(cascade_h5writer *w, const char *path, int64_t n, const double *v, int rank) {
    float *f = cascade_alloc((size_t)n * sizeof(float), "output values");
    if (!f) return CASCADE_EINTERNAL;
    for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
    cascade_shape one = cascade_shape_make(0, NULL);
    cascade_status st = write_rows(w, path, n, &one, f, rank);
    cascade_free(f);
    return st;
}

/* ---- methods ---- */

typedef struct {
    const cascade_explain_opts *o;
    cascade_explain_method method;
    cascade_trained t;
    int64_t first, n, *indices;
    int rank;
    int hex; /* the data are on the air-shower array's hexagonal grid (root attr kind = airshower) */
    /* pictures: rows of the drawn array and their labels in the file names (sample indices;
     * actmax: the objective targets) */
    int64_t n_pictures, *labels, *own_labels;
    cascade_mask_spec mask; /* --mask: the region data set and its rows for the chosen samples */
    float *mask_labels;
} explain_ctx;

/* Whether `file` is an air-shower data set (its pictures are drawn as hexagons). Collective. */
static cascade_status is_airshower(const char *file, MPI_Comm comm, int *hex) {
    cascade_h5file *f;
    char *kind = NULL;
    *hex = 0;
    CASCADE_TRY(cascade_h5_open(file, comm, &f));
    cascade_status st = CASCADE_OK;
    if (cascade_h5_attr_exists(f, "/", "kind")) st = cascade_h5_attr_string(f, "/", "kind", &kind);
    if (!st && kind) *hex = strcmp(kind, "airshower") == 0;
    cascade_free(kind);
    cascade_h5_close(f);
    return st;
}

static cascade_status run_activations(explain_ctx *c, cascade_h5writer *w) {
    cascade_net *net = &c->t.net;
    int only = -1;
    if (c->o->layer) CASCADE_TRY(find_layer(net, c->o->layer, &only));
    int64_t xn = cascade_shape_numel(&c->t.d.x_shape);
    cascade_status st = CASCADE_OK;
    for (int l = 0; !st && l < net->n_layers; l++) {
        if (!is_user_layer(&net->layers[l]) || (only >= 0 && l != only)) continue;
        int node = output_node(net, l);
        const cascade_shape *sh = &net->layers[node].out_shape;
        int64_t numel = cascade_shape_numel(sh);
        float *acts = cascade_alloc((size_t)(c->n * numel) * sizeof(float), "activations");
        if (!acts) return CASCADE_EINTERNAL;
        for (int64_t s = 0; s < c->n; s += net->max_n) { /* one forward per layer: memory stays per layer */
            int m = (int)(c->n - s < net->max_n ? c->n - s : net->max_n);
            cascade_run run = {.n = m};
            run.ext[0] = c->t.d.x + (c->first + s) * xn;
            cascade_net_forward(net, &run);
            memcpy(acts + s * numel, net->act[node], (size_t)(m * numel) * sizeof(float));
        }
        char path[160];
        snprintf(path, sizeof path, "activations/%s", net->layers[l].name);
        st = write_rows(w, path, c->n, sh, acts, c->rank);
        if (!st) st = cascade_h5w_attr_string(w, path, "node", net->layers[node].name);
        cascade_free(acts);
    }
    return st;
}

static cascade_status run_filters(explain_ctx *c, cascade_h5writer *w) {
    cascade_net *net = &c->t.net;
    int l = -1;
    if (c->o->layer) {
        CASCADE_TRY(find_layer(net, c->o->layer, &l));
        if (filter_param(&net->layers[l]) < 0)
            return cascade_fail(CASCADE_EUSAGE, "explain: layer %s (%s) has no weights; filters are shown for dense "
                                                "and convolution layers",
                                c->o->layer, net->layers[l].type);
    } else {
        for (int j = 0; j < net->n_layers && l < 0; j++)
            if (is_conv_or_dense(&net->layers[j]) && filter_param(&net->layers[j]) >= 0) l = j;
        if (l < 0) return cascade_fail(CASCADE_EUSAGE, "explain: net %s has no dense or convolution layer", net->name);
    }
    const cascade_layer *L = &net->layers[l];
    int p = filter_param(L);
    const cascade_param_desc *d = &L->params[p];
    const float *wt = (d->trainable ? net->params : net->buffers) + net->param_off[l][p];
    int64_t numel = cascade_shape_numel(&d->shape);
    char path[160];
    snprintf(path, sizeof path, "filters/%s", L->name);
    CASCADE_TRY(cascade_h5w_write_floats(w, path, &d->shape, wt, 0, c->rank == 0 ? numel : 0));
    CASCADE_TRY(cascade_h5w_attr_string(w, path, "param", d->name));
    return cascade_h5w_attr_string(w, path, "type", L->type);
}

/* The layer a class activation map is taken at, and for CAM the final dense layer:
 * CAM needs ... -> A -> globalavgpool -> dense (the output); Grad-CAM takes --layer or the last
 * layer before the output whose output has the input's rank (a convolution's (K, h, w)). */
static cascade_status cam_layers(explain_ctx *c, int *node, int *dense) {
    cascade_net *net = &c->t.net;
    int out = net->output;
    if (!is_user_layer(&net->layers[out])) out = net->inputs[out][0]; /* under its activation */
    *dense = out;
    if (c->method == EXPLAIN_CAM) {
        const cascade_layer *D = &net->layers[out];
        int pool = net->inputs[out][0];
        if (strcmp(D->type, "dense") != 0 || pool < 0 || strcmp(net->layers[pool].type, "globalavgpool") != 0)
            return cascade_fail(CASCADE_EUSAGE, "explain: CAM needs a net ending in globalavgpool -> dense, but the "
                                "output layer %s (%s) reads %s; use gradcam (any convolution layer)", D->name, D->type,
                                pool < 0 ? "the input" : net->layers[pool].name);
        *node = net->inputs[pool][0];
        if (*node < 0) return cascade_fail(CASCADE_EUSAGE, "explain: CAM: globalavgpool reads the net input directly");
        return CASCADE_OK;
    }
    if (c->o->layer) {
        int l;
        CASCADE_TRY(find_layer(net, c->o->layer, &l));
        *node = output_node(net, l);
        return CASCADE_OK;
    }
    *node = -1;
    for (int l = 0; l < net->n_layers; l++)
        if (l != out && is_user_layer(&net->layers[l]) &&
            net->layers[output_node(net, l)].out_shape.ndim == c->t.d.x_shape.ndim)
            *node = output_node(net, l);
    if (*node < 0)
        return cascade_fail(CASCADE_EUSAGE, "explain: gradcam: no layer with a (channels, spatial...) output; name one "
                            "with --layer");
    return CASCADE_OK;
}

/* CAM / Grad-CAM: `map` (n, layer spatial) and, upsampled (bilinear) to the input grid and
 * repeated for every input channel, `attribution` shaped as x. */
static cascade_status run_cam(explain_ctx *c, cascade_h5writer *w, const float *x, float *attr, double *value) {
    cascade_net *net = &c->t.net;
    const cascade_shape *xs = &c->t.d.x_shape;
    int node = -1, dense = -1;
    CASCADE_TRY(cam_layers(c, &node, &dense));
    const cascade_shape *as = &net->layers[node].out_shape;
    char a[64], b[64];
    if (xs->ndim != 3 || as->ndim != 3)
        return cascade_fail(CASCADE_EUSAGE, "explain: class activation maps are drawn for 2-D images: input %s, layer "
                            "%s output %s", cascade_shape_str(xs, a, sizeof a), net->layers[node].name,
                            cascade_shape_str(as, b, sizeof b));
    int64_t h = as->d[1], wd = as->d[2], H = xs->d[1], W = xs->d[2], C = xs->d[0];
    float *map = cascade_alloc((size_t)(c->n * h * wd) * sizeof(float), "class activation maps");
    float *up = cascade_alloc((size_t)(H * W) * sizeof(float), "upsampled map");
    if (!map || !up) {
        cascade_free(map), cascade_free(up);
        return CASCADE_EINTERNAL;
    }
    cascade_status st = c->method == EXPLAIN_CAM
                            ? cascade_explain_cam(net, node, dense, x, c->n, c->o->target, map, value)
                            : cascade_explain_gradcam(net, node, x, c->n, c->o->target, map, value);
    for (int64_t i = 0; !st && i < c->n; i++) {
        cascade_explain_upsample(map + i * h * wd, h, wd, H, W, up);
        for (int64_t ch = 0; ch < C; ch++) memcpy(attr + (i * C + ch) * H * W, up, (size_t)(H * W) * sizeof(float));
    }
    cascade_shape ms = cascade_shape_make(2, (int64_t[]){h, wd});
    if (!st) st = write_rows(w, "map", c->n, &ms, map, c->rank);
    if (!st) st = cascade_h5w_attr_string(w, "map", "layer", net->layers[node].name);
    if (!st && c->method == EXPLAIN_CAM) st = cascade_h5w_attr_string(w, "map", "includes", "bias: mean = logit");
    cascade_free(map);
    cascade_free(up);
    return st;
}

/* LRP: attribution = the input relevance; `relevance_sum` (n) = its sum per sample and root attr
 * `conservation_error` = max over samples of |sum - S| / |S| (0 for a conserving rule and no
 * biases; biases and epsilon absorb relevance). */
static cascade_status run_lrp(explain_ctx *c, cascade_h5writer *w, const float *x, float *attr, double *value) {
    cascade_net *net = &c->t.net;
    const cascade_explain_opts *o = c->o;
    cascade_lrp_opts lo = {.rule = LRP_COMPOSITE, .epsilon = o->epsilon, .alpha = o->alpha, .beta = o->beta};
    if (o->rule) CASCADE_TRY(cascade_lrp_parse_rule(o->rule, &lo.rule));
    CASCADE_TRY(cascade_explain_lrp(net, &lo, x, c->n, o->target, attr, value, NULL, NULL));
    int64_t xn = cascade_shape_numel(&c->t.d.x_shape);
    double *sum = cascade_alloc((size_t)c->n * sizeof(double), "relevance sums"), worst = 0;
    if (!sum) return CASCADE_EINTERNAL;
    for (int64_t i = 0; i < c->n; i++) {
        sum[i] = 0;
        for (int64_t j = 0; j < xn; j++) sum[i] += attr[i * xn + j];
        double rel = fabs(sum[i] - value[i]) / (fabs(value[i]) > 1e-30 ? fabs(value[i]) : 1e-30);
        worst = rel > worst ? rel : worst;
    }
    /* where the rest goes: z/epsilon give biases (and epsilon) a share; the other rules leave
     * biases out but lose an output's relevance when it has no positive (negative) contribution */
    int zlike = lo.rule == LRP_Z || lo.rule == LRP_EPSILON;
    cascade_log("explain: lrp rule %s: conservation |sum(R) - S| <= %.3g of |S|%s\n", cascade_lrp_rule_names[lo.rule],
                worst, worst <= 1e-4 ? "" : zlike ? " (biases and epsilon absorb the rest)"
                                                   : " (biases and epsilon absorb relevance; zplus/alphabeta lose it "
                                                     "at outputs without positive/negative contributions, e.g. S < 0)");
    cascade_status st = write_values(w, "relevance_sum", c->n, sum, c->rank);
    cascade_free(sum);
    if (!st) st = cascade_h5w_attr_double(w, "/", "conservation_error", worst);
    if (!st) st = cascade_h5w_attr_double(w, "/", "epsilon", lo.epsilon);
    if (!st) st = cascade_h5w_attr_double(w, "/", "alpha", lo.rule == LRP_ALPHABETA ? lo.alpha : 1);
    if (!st) st = cascade_h5w_attr_double(w, "/", "beta", lo.rule == LRP_ALPHABETA ? lo.beta : 0);
    return st;
}

/* attribution (n, x shape) for the gradient methods; pictures after. */
/* --evaluate: pixel flipping of the attribution against a random order (aopc_curve,
 * aopc_random, root attrs aopc, aopc_random, flip_steps, flip_value). */
static cascade_status run_flipping(explain_ctx *c, cascade_h5writer *w, const float *x, const float *attr) {
    const cascade_shape *xs = &c->t.d.x_shape;
    int channels = c->t.job.layout == LAYOUT_CHANNELS;
    int64_t C = channels && xs->ndim > 1 ? xs->d[0] : 1, P = cascade_shape_numel(xs) / C;
    int steps = c->o->flip_steps > 0 ? c->o->flip_steps : (int)(P < 100 ? P : 100);
    if (steps > P) steps = (int)P;
    double *curve = cascade_alloc((size_t)(2 * (steps + 1)) * sizeof(double), "pixel-flipping curves");
    if (!curve) return CASCADE_EINTERNAL;
    double *rnd = curve + steps + 1;
    cascade_status st = cascade_explain_flipping(&c->t.net, x, c->n, xs, channels, attr, c->o->target, steps,
                                                 (float)c->o->flip_value, (uint64_t)c->t.job.seed, curve, rnd);
    double aopc = cascade_explain_aopc(curve, steps), aopc_r = cascade_explain_aopc(rnd, steps);
    int64_t len = steps + 1;
    cascade_shape sh = cascade_shape_make(1, &len);
    float *buf = cascade_alloc((size_t)(2 * len) * sizeof(float), "pixel-flipping curves");
    if (!st && !buf) st = CASCADE_EINTERNAL;
    for (int64_t k = 0; !st && k < len; k++) buf[k] = (float)curve[k], buf[len + k] = (float)rnd[k];
    if (!st) st = cascade_h5w_write_floats(w, "aopc_curve", &sh, buf, 0, c->rank == 0 ? len : 0);
    if (!st) st = cascade_h5w_write_floats(w, "aopc_random", &sh, buf + len, 0, c->rank == 0 ? len : 0);
    if (!st) st = cascade_h5w_attr_double(w, "/", "aopc", aopc);
    if (!st) st = cascade_h5w_attr_double(w, "/", "aopc_random", aopc_r);
    if (!st) st = cascade_h5w_attr_int(w, "/", "flip_steps", steps);
    if (!st) st = cascade_h5w_attr_double(w, "/", "flip_value", c->o->flip_value);
    if (!st)
        cascade_log("explain: pixel flipping over %lld pixels in %d steps: AOPC %.4g (%s), %.4g (random order)\n",
                    (long long)P, steps, aopc, method_names[c->method], aopc_r);
    cascade_free(curve);
    cascade_free(buf);
    return st;
}

static cascade_status run_attribution(explain_ctx *c, cascade_h5writer *w, float *attr) {
    cascade_net *net = &c->t.net;
    const cascade_shape *xs = &c->t.d.x_shape;
    int64_t xn = cascade_shape_numel(xs), out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    const float *x = c->t.d.x + c->first * xn;
    if (c->o->target < 0 || c->o->target >= out_numel) {
        char sh[64];
        return cascade_fail(CASCADE_EUSAGE, "explain: --target %lld is out of range: the model output has %lld "
                                            "elements (shape %s; valid 0 to %lld)",
                            (long long)c->o->target, (long long)out_numel,
                            cascade_shape_str(cascade_net_out_shape(net), sh, sizeof sh), (long long)out_numel - 1);
    }
    CASCADE_TRY(cascade_net_prepare(net, (int)c->t.job.micro_batch, 1));
    double *value = cascade_alloc((size_t)c->n * 2 * sizeof(double), "output values");
    float *baseline = cascade_alloc((size_t)xn * sizeof(float), "baseline");
    if (!value || !baseline) {
        cascade_free(value), cascade_free(baseline);
        return CASCADE_EINTERNAL;
    }
    cascade_status st;
    if (c->method == EXPLAIN_CAM || c->method == EXPLAIN_GRADCAM) {
        st = run_cam(c, w, x, attr, value);
    } else if (c->method == EXPLAIN_DECONVNET || c->method == EXPLAIN_GUIDED) {
        st = cascade_explain_gradient_rule(net, x, c->n, c->o->target,
                                           c->method == EXPLAIN_GUIDED ? CASCADE_RELU_GUIDED : CASCADE_RELU_DECONVNET,
                                           attr, value);
    } else if (c->method == EXPLAIN_GUIDED_GRADCAM) { /* guided backprop x the upsampled Grad-CAM */
        float *cam = cascade_alloc((size_t)(c->n * xn) * sizeof(float), "Grad-CAM");
        st = cam ? CASCADE_OK : CASCADE_EINTERNAL;
        if (!st) {
            c->method = EXPLAIN_GRADCAM;
            st = run_cam(c, w, x, cam, value);
            c->method = EXPLAIN_GUIDED_GRADCAM;
        }
        if (!st) st = cascade_explain_gradient_rule(net, x, c->n, c->o->target, CASCADE_RELU_GUIDED, attr, value);
        for (int64_t j = 0; !st && j < c->n * xn; j++) attr[j] *= cam[j];
        cascade_free(cam);
    } else if (c->method == EXPLAIN_LRP) {
        st = run_lrp(c, w, x, attr, value);
    } else if (c->method == EXPLAIN_INTEGRATED) {
        if (c->o->baseline_mean)
            for (int64_t j = 0; j < xn; j++) {
                double s = 0;
                for (int64_t i = 0; i < c->n; i++) s += x[i * xn + j];
                baseline[j] = (float)(s / (double)c->n);
            }
        st = cascade_explain_integrated(net, x, c->n, baseline, c->o->target, c->o->steps, attr, value,
                                        value + c->n);
        if (!st) {
            double worst = 0;
            for (int64_t i = 0; i < c->n; i++) {
                double sum = 0, gap = value[i] - value[c->n + i];
                for (int64_t j = 0; j < xn; j++) sum += attr[i * xn + j];
                double rel = fabs(sum - gap) / (fabs(gap) > 1e-12 ? fabs(gap) : 1e-12);
                if (rel > worst) worst = rel;
            }
            cascade_log("explain: integrated gradients, %d steps: completeness |sum(attr) - (S(x) - S(baseline))| "
                        "<= %.3g of S(x) - S(baseline)\n",
                        c->o->steps, worst);
        }
        if (!st) st = cascade_h5w_write_floats(w, "baseline", xs, baseline, 0, c->rank == 0 ? xn : 0);
        if (!st) st = write_values(w, "baseline_output", c->n, value + c->n, c->rank);
        if (!st) st = cascade_h5w_attr_int(w, "/", "steps", c->o->steps);
        if (!st) st = cascade_h5w_attr_string(w, "/", "baseline", c->o->baseline_mean ? "mean" : "zero");
        if (!st) st = cascade_h5w_attr_string(w, "/", "integration", "midpoint");
    } else {
        st = cascade_explain_gradient(net, x, c->n, c->o->target, attr, value);
        if (!st && c->method == EXPLAIN_INPUTXGRAD)
            for (int64_t j = 0; j < c->n * xn; j++) attr[j] *= x[j];
    }
    if (!st) st = write_rows(w, "attribution", c->n, xs, attr, c->rank);
    if (!st) st = write_values(w, "output", c->n, value, c->rank);
    if (!st && c->o->evaluate) st = run_flipping(c, w, x, attr);
    if (!st && c->mask_labels)
        st = cascade_explain_mask_write(w, c->o->mask, &c->mask, c->mask_labels, xs,
                                        c->t.job.layout == LAYOUT_CHANNELS, c->n, attr, c->rank);
    cascade_free(value);
    cascade_free(baseline);
    return st;
}

/* actmax: `actmax` (objectives, x shape) and `objective` (objectives, steps + 1). The maximised
 * node is --layer's output node (after its activation), default the net output. */
static cascade_status run_actmax(explain_ctx *c, cascade_h5writer *w, float **result) {
    cascade_net *net = &c->t.net;
    const cascade_explain_opts *o = c->o;
    cascade_actmax_opts a = {.node = net->output, .objective = o->objective, .steps = o->steps,
                             .step_size = o->step_size, .l2 = o->l2, .blur = o->blur, .noise = o->noise,
                             .jitter = o->jitter, .seed = o->seed};
    int layer = net->output;
    if (o->layer) {
        CASCADE_TRY(find_layer(net, o->layer, &layer));
        a.node = output_node(net, layer);
    } else if (!is_user_layer(&net->layers[layer])) {
        layer = net->inputs[layer][0]; /* the output layer under its activation */
    }
    int64_t n_obj = o->objective == ACTMAX_LAYER ? 1 : (o->target_count > 0 ? o->target_count : 1);
    if (o->objective == ACTMAX_LAYER && (o->target != 0 || o->target_count > 1))
        return cascade_fail(CASCADE_EUSAGE, "explain: --objective layer maximises the mean of the whole layer; "
                            "--target does not apply");
    int64_t *targets = cascade_alloc((size_t)n_obj * sizeof(int64_t), "actmax targets");
    if (!targets) return CASCADE_EINTERNAL;
    for (int64_t r = 0; r < n_obj; r++) targets[r] = o->target + r;
    const cascade_shape *xs = &c->t.d.x_shape;
    int64_t xn = cascade_shape_numel(xs);
    cascade_status st = cascade_explain_actmax_check(net, &a, targets, n_obj);
    if (!st) st = cascade_net_prepare(net, (int)c->t.job.micro_batch, 1);
    float *x = st ? NULL : cascade_alloc((size_t)(n_obj * xn) * sizeof(float), "actmax inputs");
    double *hist = st ? NULL : cascade_alloc((size_t)(n_obj * (o->steps + 1)) * sizeof(double), "objective history");
    if (!st && (!x || !hist)) st = CASCADE_EINTERNAL;
    if (!st) st = cascade_explain_actmax(net, &a, targets, n_obj, x, hist);
    if (!st) {
        double worst = INFINITY, best = -INFINITY;
        int64_t dead = 0;
        for (int64_t r = 0; r < n_obj; r++) {
            double gain = hist[r * (o->steps + 1) + o->steps] - hist[r * (o->steps + 1)];
            worst = gain < worst ? gain : worst;
            best = gain > best ? gain : best;
            dead += gain == 0;
        }
        if (dead)
            cascade_log("explain: actmax: %lld objective(s) did not move (zero gradient: the unit is inactive at the "
                        "noise start); try a larger --noise or another --seed\n", (long long)dead);
        cascade_log("explain: actmax of %s (%s, %lld objective(s)), %d steps: objective gain %.4g to %.4g\n",
                    net->layers[a.node].name, cascade_actmax_objective_names[a.objective], (long long)n_obj,
                    o->steps, worst, best);
    }
    if (!st) st = write_rows(w, "actmax", n_obj, xs, x, c->rank);
    cascade_shape hs = cascade_shape_make(1, (int64_t[]){o->steps + 1});
    float *hf = st ? NULL : cascade_alloc((size_t)(n_obj * (o->steps + 1)) * sizeof(float), "objective history");
    if (!st && !hf) st = CASCADE_EINTERNAL;
    for (int64_t j = 0; !st && j < n_obj * (o->steps + 1); j++) hf[j] = (float)hist[j];
    if (!st) st = write_rows(w, "objective", n_obj, &hs, hf, c->rank);
    if (!st) st = cascade_h5w_attr_ints(w, "actmax", "targets", targets, n_obj);
    if (!st) st = cascade_h5w_attr_string(w, "actmax", "layer", net->layers[layer].name);
    if (!st) st = cascade_h5w_attr_string(w, "actmax", "node", net->layers[a.node].name);
    if (!st) st = cascade_h5w_attr_string(w, "/", "objective", cascade_actmax_objective_names[a.objective]);
    if (!st) st = cascade_h5w_attr_int(w, "/", "steps", o->steps);
    if (!st) st = cascade_h5w_attr_double(w, "/", "step_size", o->step_size);
    if (!st) st = cascade_h5w_attr_double(w, "/", "l2", o->l2);
    if (!st) st = cascade_h5w_attr_double(w, "/", "blur", o->blur);
    if (!st) st = cascade_h5w_attr_int(w, "/", "jitter", o->jitter);
    if (!st) st = cascade_h5w_attr_double(w, "/", "noise", o->noise);
    if (!st) st = cascade_h5w_attr_int(w, "/", "seed", (int64_t)o->seed);
    cascade_free(hf);
    cascade_free(hist);
    if (st) {
        cascade_free(x);
        cascade_free(targets);
        return st;
    }
    *result = x;
    c->n_pictures = n_obj;
    c->labels = c->own_labels = targets;
    return CASCADE_OK;
}

/* One PNG per row and channel for (C, H, W) inputs: DIR/PREFIX_LABEL_CHANNEL.png. */
static cascade_status draw_maps(explain_ctx *c, const char *prefix, const float *attr) {
    const cascade_shape *xs = &c->t.d.x_shape;
    char sh[64];
    if (xs->ndim != 3) {
        cascade_log("explain: no pictures: the input x has shape %s per sample; pictures are drawn for (C, H, W)\n",
                    cascade_shape_str(xs, sh, sizeof sh));
        return CASCADE_OK;
    }
    int64_t C = xs->d[0], H = xs->d[1], W = xs->d[2], big = H > W ? H : W;
    int scale = big >= 256 ? 1 : (int)(256 / big);
    for (int64_t i = 0; i < c->n_pictures; i++)
        for (int64_t ch = 0; ch < C; ch++) {
            char path[CASCADE_PATH_MAX + 64];
            snprintf(path, sizeof path, "%s/%s_%" PRId64 "_%" PRId64 ".png", c->o->out_dir, prefix, c->labels[i], ch);
            const float *map = attr + (i * C + ch) * H * W;
            CASCADE_TRY(c->hex ? cascade_explain_png_hex(path, map, H, W, scale)
                               : cascade_explain_png(path, map, H, W, scale));
        }
    cascade_log("explain: %lld pictures %s/%s_%s_CHANNEL.png (%s; blue < 0 < red, scaled to max |value|)\n",
                (long long)(c->n_pictures * C), c->o->out_dir, prefix, c->labels == c->indices ? "SAMPLE" : "TARGET",
                c->hex ? "hexagonal air-shower grid, north up" : "square grid");
    return CASCADE_OK;
}

static cascade_status write_root_attrs(explain_ctx *c, cascade_h5writer *w) {
    int gradient = c->method >= EXPLAIN_SALIENCY;
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "generator", "cascade explain"));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "method", method_names[c->method]));
    CASCADE_TRY(cascade_h5w_attr_int(w, "/", "target", gradient ? c->o->target : -1));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "rule", c->method == EXPLAIN_LRP ? (c->o->rule ? c->o->rule : "composite") : ""));
    /* actmax starts from noise, not from samples: no indices */
    CASCADE_TRY(cascade_h5w_attr_ints(w, "/", "indices", c->indices, c->method == EXPLAIN_ACTMAX ? 0 : c->n));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "checkpoint", c->o->ckpt));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "data", c->t.d.file));
    return cascade_h5w_attr_int(w, "/", "step", c->t.meta.step);
}

static cascade_status explain_run(explain_ctx *c, MPI_Comm comm) {
    const cascade_explain_opts *o = c->o;
    CASCADE_TRY(cascade_explain_parse_method(o->method, &c->method));
    if (o->evaluate && (c->method < EXPLAIN_SALIENCY || c->method == EXPLAIN_ACTMAX))
        return cascade_fail(CASCADE_EUSAGE, "explain: --evaluate flips the pixels an attribution ranks first; "
                            "--method %s gives no attribution", o->method);
    if (o->mask && (c->method < EXPLAIN_SALIENCY || c->method == EXPLAIN_ACTMAX))
        return cascade_fail(CASCADE_EUSAGE, "explain: --mask measures how much attribution lies in a region; "
                            "--method %s gives no attribution", o->method);
    if (o->mask && !o->data)
        return cascade_fail(CASCADE_EUSAGE, "explain: --mask reads its region from the --data file; give --data");
    if (o->mask) CASCADE_TRY(cascade_mask_parse(o->mask, &c->mask));
    CASCADE_TRY(cascade_trained_open(&c->t, o->ckpt, o->data, 0, comm));
    CASCADE_TRY(cascade_explain_parse_index(o->index ? o->index : "0", c->t.d.n, c->t.d.file, &c->first, &c->n));
    CASCADE_TRY(is_airshower(c->t.d.file, comm, &c->hex));
    if (o->mask) /* read (and checked) before the attribution is computed */
        CASCADE_TRY(cascade_explain_mask_read(c->t.d.file, &c->mask, c->t.d.n, &c->t.d.x_shape,
                                              c->t.job.layout == LAYOUT_CHANNELS, c->first, c->n, comm,
                                              &c->mask_labels));
    c->indices = cascade_alloc((size_t)c->n * sizeof(int64_t), "sample indices");
    if (!c->indices) return CASCADE_EINTERNAL;
    for (int64_t i = 0; i < c->n; i++) c->indices[i] = c->first + i;
    CASCADE_TRY(cascade_mkdir_p(o->out_dir));
    char path[CASCADE_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/explain.h5", o->out_dir);
    cascade_h5writer *w;
    CASCADE_TRY(cascade_h5w_create(path, comm, &w));
    float *attr = NULL;
    cascade_status st = write_root_attrs(c, w);
    if (!st && c->method == EXPLAIN_ACTIVATIONS) st = run_activations(c, w);
    if (!st && c->method == EXPLAIN_FILTERS) st = run_filters(c, w);
    c->n_pictures = c->n;
    c->labels = c->indices;
    if (!st && c->method == EXPLAIN_ACTMAX) {
        st = run_actmax(c, w, &attr);
    } else if (!st && c->method >= EXPLAIN_SALIENCY) {
        attr = cascade_alloc((size_t)(c->n * cascade_shape_numel(&c->t.d.x_shape)) * sizeof(float), "attribution");
        st = attr ? run_attribution(c, w, attr) : CASCADE_EINTERNAL;
    }
    if (st) {
        cascade_h5w_abort(w);
        cascade_free(attr);
        return st;
    }
    st = cascade_h5w_commit(w);
    if (!st && c->method == EXPLAIN_FILTERS)
        cascade_log("explain: filters -> %s\n", path);
    else if (!st && c->method == EXPLAIN_ACTMAX)
        cascade_log("explain: actmax of %lld objective(s) -> %s\n", (long long)c->n_pictures, path);
    else if (!st)
        cascade_log("explain: %s of %lld sample(s) -> %s\n", method_names[c->method], (long long)c->n, path);
    /* pictures after the file: a rank-0-only step must not sit between collective writes */
    if (!st && attr && o->pictures && c->rank == 0)
        st = draw_maps(c, c->method == EXPLAIN_ACTMAX ? "actmax" : "attribution", attr);
    cascade_free(attr);
    return st;
}

cascade_status cascade_explain(const cascade_explain_opts *o, MPI_Comm comm) {
    explain_ctx c = {.o = o};
    MPI_Comm_rank(comm, &c.rank);
    cascade_status st = explain_run(&c, comm);
    cascade_free(c.indices);
    cascade_free(c.own_labels);
    cascade_free(c.mask_labels);
    if (c.t.f) cascade_trained_close(&c.t);
    return st;
}
