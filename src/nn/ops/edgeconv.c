/* edgeconv: EdgeConv of dynamic graph CNNs (Wang et al. 2019) on point sets.
 *   in (n, P, F) points x features -> out (n, P, U), U = the last of `units`.
 * For every point i: its k nearest neighbours j (Euclidean distance in the graph
 * coordinates, i itself excluded, equal distances -> the smaller index first), the edge
 * features e_ij = concat(x_i, x_j - x_i) (2F values) through a shared MLP
 *   h_0 = act(e W_0^T + b_0), h_l = act(h_{l-1} W_l^T + b_l)   (act = `edge_activation`)
 * and the k edges of i aggregated by max or mean over the neighbours.
 *
 * Keys: units (comma list, the MLP widths), k [8], aggregation [max; mean],
 * edge_activation [relu; leaky_relu (slope 0.01) | elu (alpha 1) | tanh | none] after EACH
 * MLP layer (the layer's `activation` key belongs to the graph and acts after aggregation),
 * batchnorm [false; true: torch's BatchNorm over the channel of the (n, P, k, u) edge tensor
 * after each MLP activation, statistics over all edges of the batch; see below], graph:
 *   dynamic  kNN on this layer's input (one input);
 *   input    kNN on all features of the SECOND input (n, P, G): `input = prev, coords`;
 *   x:A:B    kNN on features A..B-1 of the net input, which must be the second input:
 *            `input = prev, x` (first layer: `input = x, x`).
 * The book's model, two EdgeConv layers on the fixed sky coordinates (unit vectors in
 * features 0..2 of x with `layout = features`):
 *   [model.ec1] type = edgeconv, input = x, x,   units = 32, 32, k = 8, graph = x:0:3
 *   [model.ec2] type = edgeconv, input = ec1, x, units = 32, 32, k = 8, graph = x:0:3
 *   [model.t]   type = permute, order = 0, 2, 1   ; (N, P, U) -> (N, U, P): points last
 *   [model.g]   type = globalmaxpool              ; over the points -> (N, U)
 *   [model.out] type = dense, units = 1
 * (trained end to end on `cascade simulate skymap` maps, inputs = events, layout = features).
 *
 * Parameters (torch.nn.Linear layouts and init U(+-1/sqrt(fan_in))):
 *   weight_l0 [u0, 2F], bias_l0 [u0], weight_l1 [u1, u0], bias_l1 [u1], ...
 * with batchnorm = true each layer l also has the batchnorm op's parameters and buffers,
 * suffixed: bn_weight_l0 [u0] (ones), bn_bias_l0 (zeros), bn_running_mean_l0 (zeros),
 * bn_running_var_l0 (ones), momentum 0.1, eps 1e-5 — the kernels of batchnorm.h, so the
 * statistics are per micro-batch, exported and averaged over a step's micro-batches and
 * ranks exactly as for a batchnorm layer (deterministic, rank-invariant); eval mode uses the
 * running statistics. A critic of a WGAN-GP cannot hold it (no double backward, as batchnorm).
 *
 * The kNN works blockwise per sample: a block of rows of -2 C C^T by GEMM plus the squared
 * norms gives squared distances; each row keeps its k smallest in a sorted insertion buffer
 * (a strict `<` keeps the earlier index on ties); after the first 8k candidates only those
 * below the current k-th are inserted, found branch-free by windows (partial selection). No gradient flows through the selection
 * nor into the graph-coordinate input; the neighbour indices go to `saved`.
 * Backward is exact for the MLP and the input through x_i and x_j - x_i; max aggregation
 * routes the gradient to the first edge holding the maximum. */
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/batchnorm.h"

#define EC_MAX_LAYERS 8
#define EC_BN_MOMENTUM 0.1
#define EC_BN_EPS 1e-5
#define EC_MAX_K 1024     /* the selection buffer lives on the stack */
#define EC_ROW_BLOCK 256  /* rows of the distance matrix computed at once */
#define EC_SAMPLE_PER_K 8    /* kNN: candidates per neighbour inserted one by one first */
#define EC_SELECT_WINDOW 256 /* then candidates screened against the k-th smallest at once */
#define EC_LEAKY_SLOPE 0.01

enum { EC_GRAPH_DYNAMIC, EC_GRAPH_INPUT, EC_GRAPH_X };
enum { EC_AGG_MAX, EC_AGG_MEAN };
enum { EC_ACT_RELU, EC_ACT_LEAKY, EC_ACT_ELU, EC_ACT_TANH, EC_ACT_NONE };

typedef struct {
    int n_layers;
    long units[EC_MAX_LAYERS];
    long k;
    int aggregation, act;
    int graph;
    long graph_lo, graph_hi; /* x:A:B as given; infer resolves `input` to 0..G */
    int batchnorm;
    int params_per_layer;    /* 2 (weight, bias), 6 with batch norm */
} edgeconv_cfg;

/* Index of layer l's parameters in param[]: weight, bias, then with batch norm the batchnorm
 * op's weight, bias, running_mean, running_var. */
enum { EC_W, EC_B, EC_BN_W, EC_BN_B, EC_BN_MEAN, EC_BN_VAR };
static inline int ec_param(const edgeconv_cfg *c, int l, int which) { return l * c->params_per_layer + which; }

/* The shapes a forward/backward call works with. */
typedef struct {
    int P, F, k, U;        /* points, features, neighbours, output features */
    int G, gstride, goff;  /* graph coordinates: G values at offset goff of rows of gstride */
    int maxw;              /* widest gradient row in backward: max(units, 2F) */
} ec_dims;

/* `graph = x:A:B` reads the net input, which the op only sees as an input: when the section
 * lists its inputs (the graph builder), the second one must be `x`. */
static cascade_status check_x_is_second_input(cascade_section *spec) {
    const cascade_kv *in = cascade_section_peek(spec, "input");
    if (!in) return CASCADE_OK; /* inputs given by the caller (tests): infer checks the count */
    const char *comma = strchr(in->value, ',');
    int ok = comma && !strchr(comma + 1, ',');
    if (ok) {
        const char *p = comma + 1;
        while (*p == ' ' || *p == '\t') p++;
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        ok = len == 1 && p[0] == 'x';
    }
    if (!ok)
        return cascade_cfg_error(spec, cascade_section_find(spec, "graph"),
                                 "a fixed graph on the net input needs it as the second input: "
                                 "`input = <layer>, x` (first layer: `input = x, x`), got `input = %s`",
                                 in->value);
    return CASCADE_OK;
}

static cascade_status parse_graph(edgeconv_cfg *c, cascade_section *spec) {
    const char *graph;
    CASCADE_TRY(cascade_cfg_string(spec, "graph", "dynamic", &graph));
    cascade_kv *kv = cascade_section_find(spec, "graph");
    if (strcmp(graph, "dynamic") == 0) {
        c->graph = EC_GRAPH_DYNAMIC;
        return CASCADE_OK;
    }
    if (strcmp(graph, "input") == 0) {
        c->graph = EC_GRAPH_INPUT;
        return CASCADE_OK;
    }
    int used = 0;
    if (sscanf(graph, "x:%ld:%ld%n", &c->graph_lo, &c->graph_hi, &used) == 2 && graph[used] == 0) {
        if (c->graph_lo < 0 || c->graph_hi <= c->graph_lo)
            return cascade_cfg_error(spec, kv, "x:A:B needs 0 <= A < B (features A..B-1 of x)");
        c->graph = EC_GRAPH_X;
        return check_x_is_second_input(spec);
    }
    return cascade_cfg_error(spec, kv, "graph must be dynamic, input (kNN on the second input) or "
                             "x:A:B (features A..B-1 of the net input x)");
}

static cascade_status edgeconv_configure(void *cfg, cascade_section *spec) {
    static const char *const aggregations[] = {"max", "mean", NULL};
    static const char *const acts[] = {"relu", "leaky_relu", "elu", "tanh", "none", NULL};
    edgeconv_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_intlist(spec, "units", EC_MAX_LAYERS, 1, 1L << 20, c->units, &c->n_layers));
    if (c->n_layers == 0)
        return cascade_cfg_error(spec, NULL, "edgeconv needs `units` (the edge MLP widths, e.g. units = 32, 32)");
    CASCADE_TRY(cascade_cfg_int(spec, "k", 8, 1, EC_MAX_K, &c->k));
    CASCADE_TRY(cascade_cfg_enum(spec, "aggregation", aggregations, EC_AGG_MAX, &c->aggregation));
    CASCADE_TRY(cascade_cfg_enum(spec, "edge_activation", acts, EC_ACT_RELU, &c->act));
    CASCADE_TRY(cascade_cfg_bool(spec, "batchnorm", 0, &c->batchnorm));
    c->params_per_layer = c->batchnorm ? 6 : 2;
    if (c->n_layers * c->params_per_layer > CASCADE_MAX_PARAMS)
        return cascade_cfg_error(spec, cascade_section_find(spec, "units"),
                                 "%d MLP layers with batch norm need %d parameters, at most %d: use at most %d layers",
                                 c->n_layers, c->n_layers * c->params_per_layer, CASCADE_MAX_PARAMS,
                                 CASCADE_MAX_PARAMS / c->params_per_layer);
    return parse_graph(c, spec);
}

static void add_param(cascade_layer *L, const char *kind, int l, int64_t rows, int64_t cols, int trainable,
                      int init, double bound) {
    cascade_param_desc *p = &L->params[L->n_params++];
    snprintf(p->name, sizeof p->name, "%s_l%d", kind, l);
    p->shape = cols ? cascade_shape_make(2, (int64_t[]){rows, cols}) : cascade_shape_make(1, (int64_t[]){rows});
    p->trainable = trainable;
    p->init = init;
    p->init_bound = bound;
}

static cascade_status edgeconv_infer(cascade_layer *L) {
    edgeconv_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    char a[128], b[128];
    if (in->ndim != 2)
        return cascade_fail(CASCADE_EUSAGE, "edgeconv needs per-sample input (P, F) = points x features, "
                            "got %s", cascade_shape_str(in, a, sizeof a));
    int64_t P = in->d[0], F = in->d[1];
    if (P > (1L << 24))
        return cascade_fail(CASCADE_EUSAGE, "edgeconv: %lld points exceed the limit of 2^24",
                            (long long)P);
    if (c->k > P - 1)
        return cascade_fail(CASCADE_EUSAGE, "edgeconv with k = %ld neighbours needs at least %ld points "
                            "(the point itself is not its neighbour), input %s has %lld",
                            c->k, c->k + 1, cascade_shape_str(in, a, sizeof a), (long long)P);
    int want_inputs = c->graph == EC_GRAPH_DYNAMIC ? 1 : 2;
    if (L->n_in != want_inputs)
        return cascade_fail(CASCADE_EUSAGE, "edgeconv with graph = %s takes %d input(s), got %d%s",
                            c->graph == EC_GRAPH_DYNAMIC ? "dynamic" : c->graph == EC_GRAPH_X ? "x:A:B" : "input",
                            want_inputs, L->n_in,
                            want_inputs == 2 ? " (`input = <layer>, <graph coordinates>`)" : "");
    if (c->graph != EC_GRAPH_DYNAMIC) {
        const cascade_shape *g = &L->in_shape[1];
        if (g->ndim != 2 || g->d[0] != P)
            return cascade_fail(CASCADE_EUSAGE, "edgeconv graph coordinates %s must be (P, G) with the "
                                "P = %lld points of the input %s", cascade_shape_str(g, a, sizeof a),
                                (long long)P, cascade_shape_str(in, b, sizeof b));
        if (c->graph == EC_GRAPH_INPUT) {
            c->graph_lo = 0;
            c->graph_hi = g->d[1];
        } else if (c->graph_hi > g->d[1]) {
            return cascade_fail(CASCADE_EUSAGE, "edgeconv graph = x:%ld:%ld needs %ld features in x, "
                                "which is %s per sample", c->graph_lo, c->graph_hi, c->graph_hi,
                                cascade_shape_str(g, a, sizeof a));
        }
    }
    int64_t fan_in = 2 * F, sum_units = 0, maxw = 2 * F;
    for (int l = 0; l < c->n_layers; l++) {
        double bound = 1.0 / sqrt((double)fan_in);
        add_param(L, "weight", l, c->units[l], fan_in, 1, CASCADE_INIT_UNIFORM, bound);
        add_param(L, "bias", l, c->units[l], 0, 1, CASCADE_INIT_UNIFORM, bound);
        if (c->batchnorm) {
            add_param(L, "bn_weight", l, c->units[l], 0, 1, CASCADE_INIT_ONES, 0);
            add_param(L, "bn_bias", l, c->units[l], 0, 1, CASCADE_INIT_ZEROS, 0);
            add_param(L, "bn_running_mean", l, c->units[l], 0, 0, CASCADE_INIT_ZEROS, 0);
            add_param(L, "bn_running_var", l, c->units[l], 0, 0, CASCADE_INIT_ONES, 0);
        }
        fan_in = c->units[l];
        sum_units += c->units[l];
        if (c->units[l] > maxw) maxw = c->units[l];
    }
    L->out_shape = cascade_shape_make(2, (int64_t[]){P, c->units[c->n_layers - 1]});
    int64_t edges = P * c->k;
    /* neighbour indices, then every MLP layer's output on every edge (with batch norm: the
     * activations, then the normalised ones, then per layer mean and invstd as hi + lo) */
    L->saved_per_sample = edges * (1 + (c->batchnorm ? 2 : 1) * sum_units);
    L->saved_fixed = c->batchnorm ? 4 * sum_units : 0;
    L->stat_count = c->batchnorm ? 2 * sum_units : 0; /* batch mean and unbiased variance per channel */
    if (c->batchnorm)
        L->no_backward2_reason = "batch norm in the edge MLP couples the samples of a batch, so the critic's "
                                 "gradient with respect to one sample — and the per-sample gradient penalty — "
                                 "is not defined (Gulrajani et al. 2017)";
    /* fixed: squared norms + one block of distances; per sample: the edge features and two
     * gradient buffers for backward; backward2 needs four more (tangents, primal adjoints) */
    int64_t block = P < EC_ROW_BLOCK ? P : EC_ROW_BLOCK;
    L->work_fixed = P + block * P;
    L->work_per_sample = edges * (2 * F + 2 * maxw);
    L->work2_per_sample = edges * 4 * maxw;
    return CASCADE_OK;
}

static ec_dims ec_dims_of(const cascade_layer *L) {
    const edgeconv_cfg *c = L->cfg;
    ec_dims d;
    d.P = (int)L->in_shape[0].d[0];
    d.F = (int)L->in_shape[0].d[1];
    d.k = (int)c->k;
    d.U = (int)c->units[c->n_layers - 1];
    if (c->graph == EC_GRAPH_DYNAMIC) {
        d.G = d.gstride = d.F;
        d.goff = 0;
    } else {
        d.G = (int)(c->graph_hi - c->graph_lo);
        d.gstride = (int)L->in_shape[1].d[1];
        d.goff = (int)c->graph_lo;
    }
    d.maxw = 2 * d.F;
    for (int l = 0; l < c->n_layers; l++)
        if (c->units[l] > d.maxw) d.maxw = (int)c->units[l];
    return d;
}

/* Inserts (dist, j) into the ascending buffer of `count` entries (capacity k); an entry
 * equal to an existing one goes after it, so earlier indices win ties. */
static inline void keep_smallest(real *best_d, int *best_j, int *count, int k, real dist, int j) {
    int pos;
    if (*count < k)
        pos = (*count)++;
    else if (dist < best_d[k - 1])
        pos = k - 1; /* drops the largest */
    else
        return;
    while (pos > 0 && best_d[pos - 1] > dist) {
        best_d[pos] = best_d[pos - 1];
        best_j[pos] = best_j[pos - 1];
        pos--;
    }
    best_d[pos] = dist;
    best_j[pos] = j;
}

/* The k nearest neighbours of every point of one sample: coords (P rows of gstride, G
 * values from the row start), nbr (P, k) indices as reals, scratch P + block*P. */
void OPSYM(edgeconv_knn)(const real *coords, int gstride, int P, int G, int k, real *nbr, real *scratch) {
    real *norm = scratch, *dist = scratch + P;
    for (int p = 0; p < P; p++) {
        real s = 0;
        for (int g = 0; g < G; g++) s += coords[(size_t)p * gstride + g] * coords[(size_t)p * gstride + g];
        norm[p] = s;
    }
    for (int r0 = 0; r0 < P; r0 += EC_ROW_BLOCK) {
        int rows = P - r0 < EC_ROW_BLOCK ? P - r0 : EC_ROW_BLOCK;
        /* dist (rows x P) = -2 C_block C^T */
        OPSYM(op_gemm)(0, 1, rows, P, G, -2, coords + (size_t)r0 * gstride, gstride, coords, gstride, 0,
                       dist, P);
#pragma omp parallel for if ((int64_t)rows * P > 32768)
        for (int r = 0; r < rows; r++) {
            int i = r0 + r, count = 0;
            real best_d[EC_MAX_K];
            int best_j[EC_MAX_K];
            real *row = dist + (size_t)r * P;
            /* the squared distances in place (the point itself out of reach), then a partial
             * selection: the k smallest of the first EC_SAMPLE_PER_K * k candidates bound the
             * k-th distance; the rest goes by windows whose candidates below the current bound
             * are first gathered without branches (a few per window), then inserted in index
             * order — the same neighbours as inserting every candidate in order */
#pragma omp simd
            for (int j = 0; j < P; j++) row[j] += norm[i] + norm[j];
            row[i] = REAL_MAX;
            int sample = P < EC_SAMPLE_PER_K * k ? P : EC_SAMPLE_PER_K * k;
            for (int j = 0; j < sample; j++) keep_smallest(best_d, best_j, &count, k, row[j], j);
            for (int j0 = sample; j0 < P; j0 += EC_SELECT_WINDOW) {
                int jn = P - j0 < EC_SELECT_WINDOW ? P - j0 : EC_SELECT_WINDOW, below = 0;
                int cand[EC_SELECT_WINDOW];
                real bound = best_d[k - 1];
                for (int j = 0; j < jn; j++) {
                    cand[below] = j0 + j;
                    below += row[j0 + j] < bound;
                }
                for (int c = 0; c < below; c++) keep_smallest(best_d, best_j, &count, k, row[cand[c]], cand[c]);
            }
            for (int t = 0; t < k; t++) nbr[(size_t)i * k + t] = (real)best_j[t];
        }
    }
}

/* Edge features of all n samples: row ((s*P + i)*k + t) = [x_i, x_j - x_i], j = nbr. */
static void edge_features(const ec_dims *d, int n, const real *x, const real *nbr, real *e) {
    int F = d->F;
#pragma omp parallel for if ((int64_t)n * d->P * d->k * F > 65536)
    for (int s = 0; s < n; s++) {
        const real *xs = x + (size_t)s * d->P * F;
        for (int i = 0; i < d->P; i++) {
            const real *xi = xs + (size_t)i * F;
            for (int t = 0; t < d->k; t++) {
                size_t edge = ((size_t)s * d->P + i) * d->k + t;
                const real *xj = xs + (size_t)nbr[edge] * F;
                real *row = e + edge * 2 * F;
                for (int f = 0; f < F; f++) {
                    row[f] = xi[f];
                    row[F + f] = xj[f] - xi[f];
                }
            }
        }
    }
}

static void activate(int act, real *h, int64_t count) {
    const real slope = (real)EC_LEAKY_SLOPE;
    switch (act) {
    case EC_ACT_RELU:
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) h[i] = h[i] > 0 ? h[i] : 0;
        break;
    case EC_ACT_LEAKY:
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) h[i] = h[i] > 0 ? h[i] : slope * h[i];
        break;
    case EC_ACT_ELU:
#pragma omp parallel for if (count > 65536)
        for (int64_t i = 0; i < count; i++) h[i] = h[i] > 0 ? h[i] : expm1(h[i]);
        break;
    case EC_ACT_TANH:
#pragma omp parallel for if (count > 65536)
        for (int64_t i = 0; i < count; i++) h[i] = tanh(h[i]);
        break;
    default:
        break;
    }
}

/* g *= act'(pre-activation), from the activation's output h (exact for these functions). */
static void activation_grad(int act, const real *h, real *g, int64_t count) {
    const real slope = (real)EC_LEAKY_SLOPE;
    switch (act) {
    case EC_ACT_RELU:
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) g[i] = h[i] > 0 ? g[i] : 0;
        break;
    case EC_ACT_LEAKY:
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) g[i] = h[i] > 0 ? g[i] : slope * g[i];
        break;
    case EC_ACT_ELU:
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) g[i] = h[i] > 0 ? g[i] : g[i] * (h[i] + 1);
        break;
    case EC_ACT_TANH:
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) g[i] *= 1 - h[i] * h[i];
        break;
    default:
        break;
    }
}

/* Saved layout: neighbour indices of all samples (n*P*k), then layer l's activations on all
 * edges (n*P*k x units[l]) one layer after the other; with batch norm then the normalised
 * activations the same way, and after all per-sample data each layer's 4*units[l] statistics. */
static int64_t sum_units_below(const edgeconv_cfg *c, int l) {
    int64_t sum = 0;
    for (int m = 0; m < l; m++) sum += c->units[m];
    return sum;
}

static int64_t layer_output(const cascade_layer *L, int n, int l) {
    const edgeconv_cfg *c = L->cfg;
    int64_t edges = (int64_t)n * L->in_shape[0].d[0] * c->k;
    return edges + edges * sum_units_below(c, l);
}

/* What layer l passes on (to layer l+1 or the aggregation): its normalised activations with
 * batch norm, else the activations. */
static int64_t mlp_output(const cascade_layer *L, int n, int l) {
    const edgeconv_cfg *c = L->cfg;
    if (!c->batchnorm) return layer_output(L, n, l);
    int64_t edges = (int64_t)n * L->in_shape[0].d[0] * c->k;
    return edges + edges * (sum_units_below(c, c->n_layers) + sum_units_below(c, l));
}

static int64_t bn_saved(const cascade_layer *L, int n, int l) {
    return L->saved_per_sample * n + 4 * sum_units_below(L->cfg, l);
}

/* Batch norm of layer l over its edges x units[l] values (channels last). */
static bn_geom ec_bn_geom(const edgeconv_cfg *c, int edges, int l) {
    return (bn_geom){.n = edges, .channels = c->units[l], .spatial = 1, .momentum = EC_BN_MOMENTUM,
                     .eps = EC_BN_EPS};
}

static void edgeconv_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const edgeconv_cfg *cfg = L->cfg;
    ec_dims d = ec_dims_of(L);
    int n = c->n, edges = n * d.P * d.k;
    real *nbr = c->saved, *e = c->work + L->work_fixed;
    const real *graph_in = cfg->graph == EC_GRAPH_DYNAMIC ? c->in[0] : c->in[1];
    for (int s = 0; s < n; s++)
        OPSYM(edgeconv_knn)(graph_in + (size_t)s * d.P * d.gstride + d.goff, d.gstride, d.P, d.G, d.k,
                            nbr + (size_t)s * d.P * d.k, c->work);
    edge_features(&d, n, c->in[0], nbr, e);
    const real *h_in = e;
    int w_in = 2 * d.F;
    for (int l = 0; l < cfg->n_layers; l++) {
        int u = (int)cfg->units[l];
        real *h = c->saved + layer_output(L, n, l);
        const real *bias = c->param[ec_param(cfg, l, EC_B)];
        for (int r = 0; r < edges; r++) memcpy(h + (size_t)r * u, bias, (size_t)u * sizeof(real));
        /* h (edges x u) += h_in (edges x w_in) W^T (w_in x u) */
        OPSYM(op_gemm)(0, 1, edges, u, w_in, 1, h_in, w_in, c->param[ec_param(cfg, l, EC_W)], w_in, 1, h, u);
        activate(cfg->act, h, (int64_t)edges * u);
        if (cfg->batchnorm) {
            real *y = c->saved + mlp_output(L, n, l);
            bn_geom g = ec_bn_geom(cfg, edges, l);
            OPSYM(bn_kernel_forward)(&g, c->training, c->update_stats, c->stats ? c->stats + 2 * sum_units_below(cfg, l) : NULL,
                                     h, y, c->param[ec_param(cfg, l, EC_BN_W)], c->param[ec_param(cfg, l, EC_BN_B)],
                                     c->param[ec_param(cfg, l, EC_BN_MEAN)], c->param[ec_param(cfg, l, EC_BN_VAR)],
                                     c->saved + bn_saved(L, n, l));
            h = y;
        }
        h_in = h;
        w_in = u;
    }
    /* aggregate the k edges of every point */
    int rows = n * d.P, U = d.U, k = d.k;
#pragma omp parallel for if ((int64_t)rows * k * U > 65536)
    for (int r = 0; r < rows; r++) {
        const real *h = h_in + (size_t)r * k * U;
        real *y = c->out + (size_t)r * U;
        for (int o = 0; o < U; o++) {
            real acc = h[o];
            for (int t = 1; t < k; t++) {
                real v = h[(size_t)t * U + o];
                if (cfg->aggregation == EC_AGG_MAX)
                    acc = v > acc ? v : acc;
                else
                    acc += v;
            }
            y[o] = cfg->aggregation == EC_AGG_MAX ? acc : acc / (real)k;
        }
    }
}

/* Gradient of the last MLP output (edges x U) from dout: mean spreads dout/k over the k
 * edges, max gives it to the first edge holding the maximum (forward copied it exactly). */
static void aggregation_grad(const cascade_layer *L, int n, const real *dout, const real *out, const ec_dims *d,
                             const real *h, real *g) {
    const edgeconv_cfg *cfg = L->cfg;
    int rows = n * d->P, U = d->U, k = d->k;
#pragma omp parallel for if ((int64_t)rows * k * U > 65536)
    for (int r = 0; r < rows; r++) {
        const real *hr = h + (size_t)r * k * U, *go = dout + (size_t)r * U, *y = out + (size_t)r * U;
        real *gr = g + (size_t)r * k * U;
        for (int o = 0; o < U; o++) {
            int first = -1;
            for (int t = 0; t < k; t++) {
                real v = 0;
                if (cfg->aggregation == EC_AGG_MEAN) {
                    v = go[o] / (real)k;
                } else if (first < 0 && hr[(size_t)t * U + o] == y[o]) {
                    first = t;
                    v = go[o];
                }
                gr[(size_t)t * U + o] = v;
            }
        }
    }
}

/* din for the edge-feature gradient g (edges x 2F): x_i gets g[:F] - g[F:], x_j gets g[F:]. */
static void scatter_input_grad(const ec_dims *d, int n, const real *nbr, const real *g, real *dx) {
    int F = d->F;
#pragma omp parallel for if ((int64_t)n * d->P * d->k * F > 65536)
    for (int s = 0; s < n; s++) {
        real *dxs = dx + (size_t)s * d->P * F;
        for (int i = 0; i < d->P; i++) {
            for (int t = 0; t < d->k; t++) {
                size_t edge = ((size_t)s * d->P + i) * d->k + t;
                const real *ge = g + edge * 2 * F;
                real *dxj = dxs + (size_t)nbr[edge] * F, *dxi = dxs + (size_t)i * F;
                for (int f = 0; f < F; f++) {
                    dxi[f] += ge[f] - ge[F + f];
                    dxj[f] += ge[F + f];
                }
            }
        }
    }
}

static void edgeconv_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const edgeconv_cfg *cfg = L->cfg;
    ec_dims d = ec_dims_of(L);
    int n = c->n, edges = n * d.P * d.k;
    const real *saved = c->saved, *nbr = c->saved;
    real *e = c->work + L->work_fixed, *g = e + (size_t)edges * 2 * d.F, *g_prev = g + (size_t)edges * d.maxw;
    int last = cfg->n_layers - 1;
    aggregation_grad(L, n, c->dout, c->out, &d, saved + mlp_output(L, n, last), g);
    for (int l = last; l >= 0; l--) {
        int u = (int)cfg->units[l], w_in = l ? (int)cfg->units[l - 1] : 2 * d.F;
        const real *h = saved + layer_output(L, n, l);
        if (cfg->batchnorm) { /* g: gradient of the normalised activations -> of the activations */
            bn_geom bg = ec_bn_geom(cfg, edges, l);
            memset(g_prev, 0, (size_t)edges * u * sizeof(real));
            OPSYM(bn_kernel_backward)(&bg, c->training, h, g, c->param[ec_param(cfg, l, EC_BN_W)],
                                      saved + bn_saved(L, n, l), g_prev, c->dparam[ec_param(cfg, l, EC_BN_W)],
                                      c->dparam[ec_param(cfg, l, EC_BN_B)]);
            real *swap = g;
            g = g_prev;
            g_prev = swap;
        }
        activation_grad(cfg->act, h, g, (int64_t)edges * u);
        const real *h_in = l ? saved + mlp_output(L, n, l - 1) : e;
        if (!l) edge_features(&d, n, c->in[0], nbr, e);
        /* dW (u x w_in) += g^T (u x edges) h_in (edges x w_in) */
        real *dw = c->dparam[ec_param(cfg, l, EC_W)];
        if (dw) OPSYM(op_gemm)(1, 0, u, w_in, edges, 1, g, u, h_in, w_in, 1, dw, w_in);
        real *db = c->dparam[ec_param(cfg, l, EC_B)];
        if (db) {
#pragma omp parallel for if ((int64_t)edges * u > 65536)
            for (int o = 0; o < u; o++) {
                real sum = 0;
                for (int r = 0; r < edges; r++) sum += g[(size_t)r * u + o];
                db[o] += sum;
            }
        }
        if (!l && !c->din[0]) break;
        /* g_prev (edges x w_in) = g (edges x u) W (u x w_in) */
        OPSYM(op_gemm)(0, 0, edges, w_in, u, 1, g, u, c->param[ec_param(cfg, l, EC_W)], w_in, 0, g_prev, w_in);
        real *swap = g;
        g = g_prev;
        g_prev = swap;
    }
    if (c->din[0]) scatter_input_grad(&d, n, nbr, g, c->din[0]);
}

/* ---------------------------------------------------------------- double backward
 *
 * With z_l = h_{l-1} W_l^T + b_l, h_l = act(z_l), h_{-1} = e = E(x) (the edge features, linear
 * in x for the fixed neighbours) and y = Agg(h_last) (linear for the fixed argmax), the
 * backward is gamma_last = Agg^T(dout), delta_l = gamma_l act'(z_l), gamma_{l-1} = delta_l W_l,
 * din = E^T(gamma_{-1}). R = sum(u * din) = <dout, Agg(hdot_last)> for the tangent chain
 *   hdot_{-1} = E(u),  zdot_l = hdot_{l-1} W_l^T,  hdot_l = act'(z_l) zdot_l,
 * whose last link aggregated is uout (the forward's Jacobian on u). R's derivatives come from
 * a reverse sweep of both chains: the tangents' adjoints a_l are the first backward's gamma_l,
 * the primal adjoints p_l (p_last = 0) pick up q_l = a_l zdot_l act''(z_l):
 *   P_l = p_l act'(z_l) + q_l,  dW_l += (a_l act'(z_l))^T hdot_{l-1} + P_l^T h_{l-1},
 *   db_l += sum P_l,  a_{l-1} = a_l act'(z_l) W_l,  p_{l-1} = P_l W_l,  hin += E^T(p_{-1}).
 * act' and act'' are written with the saved output h_l. The tangents are recomputed from E(u)
 * for every layer of the sweep (layers are few; it saves keeping all of them). Work: the edge
 * buffer then six of the widest rows per edge (tangents, a, p, each twice; four in work2). */

/* f1 = act'(z), f2 = act''(z), from h = act(z). */
static inline void act_derivs(int act, real h, real *f1, real *f2) {
    switch (act) {
    case EC_ACT_RELU: *f1 = h > 0 ? 1 : 0, *f2 = 0; break;
    case EC_ACT_LEAKY: *f1 = h > 0 ? 1 : (real)EC_LEAKY_SLOPE, *f2 = 0; break;
    case EC_ACT_ELU: *f1 = h > 0 ? 1 : h + 1, *f2 = h > 0 ? 0 : h + 1; break;
    case EC_ACT_TANH: *f1 = 1 - h * h, *f2 = -2 * h * (1 - h * h); break;
    default: *f1 = 1, *f2 = 0; break;
    }
}

/* The tangent chain up to layer l: zdot_l (edges x units[l]) in *zdot, hdot_{l-1} in *hprev
 * (e itself, holding E(u), for l = 0); t1, t2 are the two tangent buffers. */
static void tangent_to(const cascade_layer *L, const OPSYM(cascade_bwd2) *c, const ec_dims *d, int l, real *e,
                       real *t1, real *t2, real **zdot, const real **hprev) {
    const edgeconv_cfg *cfg = L->cfg;
    int n = c->n, edges = n * d->P * d->k;
    edge_features(d, n, c->uin[0], c->saved, e);
    const real *hp = e;
    int w_in = 2 * d->F;
    real *z = t1;
    for (int j = 0;; j++) {
        int u = (int)cfg->units[j];
        OPSYM(op_gemm)(0, 1, edges, u, w_in, 1, hp, w_in, c->param[ec_param(cfg, j, EC_W)], w_in, 0, z, u);
        if (j == l) break;
        activation_grad(cfg->act, c->saved + layer_output(L, n, j), z, (int64_t)edges * u); /* hdot_j */
        hp = z;
        z = z == t1 ? t2 : t1;
        w_in = u;
    }
    *zdot = z;
    *hprev = hp;
}

static void edgeconv_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const edgeconv_cfg *cfg = L->cfg;
    if (!c->uin[0]) return; /* the coordinate input has no gradient: its tangent is irrelevant */
    ec_dims d = ec_dims_of(L);
    int n = c->n, edges = n * d.P * d.k, last = cfg->n_layers - 1, U = d.U, k = d.k;
    size_t row = (size_t)edges * d.maxw;
    real *e = c->work + L->work_fixed, *t1 = e + (size_t)edges * 2 * d.F, *t2 = t1 + row;
    real *a = t2 + row, *a2 = a + row, *p = a2 + row, *p2 = p + row;
    real *zdot;
    const real *hprev;
    /* uout += Agg(hdot_last): max at the first edge holding the maximum, as backward */
    tangent_to(L, c, &d, last, e, t1, t2, &zdot, &hprev);
    const real *h_last = c->saved + layer_output(L, n, last);
    activation_grad(cfg->act, h_last, zdot, (int64_t)edges * U);
    int rows = n * d.P;
#pragma omp parallel for if ((int64_t)rows * k * U > 65536)
    for (int r = 0; r < rows; r++) {
        const real *hr = h_last + (size_t)r * k * U, *tr = zdot + (size_t)r * k * U, *y = c->out + (size_t)r * U;
        real *uo = c->uout + (size_t)r * U;
        for (int o = 0; o < U; o++) {
            real acc = 0;
            for (int t = 0; t < k; t++) {
                if (cfg->aggregation == EC_AGG_MEAN) {
                    acc += tr[(size_t)t * U + o];
                } else if (hr[(size_t)t * U + o] == y[o]) {
                    acc = tr[(size_t)t * U + o];
                    break;
                }
            }
            uo[o] += cfg->aggregation == EC_AGG_MEAN ? acc / (real)k : acc;
        }
    }
    /* the reverse sweep */
    aggregation_grad(L, n, c->dout, c->out, &d, h_last, a);
    memset(p, 0, (size_t)edges * U * sizeof(real));
    for (int l = last; l >= 0; l--) {
        int u = (int)cfg->units[l], w_in = l ? (int)cfg->units[l - 1] : 2 * d.F;
        const real *h = c->saved + layer_output(L, n, l);
        tangent_to(L, c, &d, l, e, t1, t2, &zdot, &hprev);
        int64_t count = (int64_t)edges * u;
#pragma omp parallel for simd if (count > 65536)
        for (int64_t i = 0; i < count; i++) {
            real f1, f2;
            act_derivs(cfg->act, h[i], &f1, &f2);
            p[i] = p[i] * f1 + a[i] * zdot[i] * f2;
            a[i] *= f1;
        }
        real *dw = c->dparam[ec_param(cfg, l, EC_W)], *db = c->dparam[ec_param(cfg, l, EC_B)];
        /* dW (u x w_in) += a^T hdot_{l-1} + P^T h_{l-1} */
        if (dw) OPSYM(op_gemm)(1, 0, u, w_in, edges, 1, a, u, hprev, w_in, 1, dw, w_in);
        if (!l) edge_features(&d, n, c->in[0], c->saved, e); /* h_{-1} = e, after hdot_{-1} was used */
        const real *h_in = l ? c->saved + layer_output(L, n, l - 1) : e;
        if (dw) OPSYM(op_gemm)(1, 0, u, w_in, edges, 1, p, u, h_in, w_in, 1, dw, w_in);
        if (db) {
#pragma omp parallel for if (count > 65536)
            for (int o = 0; o < u; o++) {
                real sum = 0;
                for (int r = 0; r < edges; r++) sum += p[(size_t)r * u + o];
                db[o] += sum;
            }
        }
        if (!l && !c->hin[0]) break;
        /* p_{l-1} = P W_l (and a_{l-1} = a W_l, not needed below layer 0) */
        OPSYM(op_gemm)(0, 0, edges, w_in, u, 1, p, u, c->param[ec_param(cfg, l, EC_W)], w_in, 0, p2, w_in);
        if (l) OPSYM(op_gemm)(0, 0, edges, w_in, u, 1, a, u, c->param[ec_param(cfg, l, EC_W)], w_in, 0, a2, w_in);
        real *swap = p;
        p = p2;
        p2 = swap;
        swap = a;
        a = a2;
        a2 = swap;
    }
    if (c->hin[0]) scatter_input_grad(&d, n, c->saved, p, c->hin[0]);
}

/* Running statistics of every MLP layer's batch norm (stat_count > 0 only with batchnorm). */
static void edgeconv_apply_stats(const cascade_layer *L, real *const *param, const double *stats) {
    const edgeconv_cfg *cfg = L->cfg;
    for (int l = 0; l < cfg->n_layers; l++) {
        bn_geom g = ec_bn_geom(cfg, 0, l);
        OPSYM(bn_kernel_apply_stats)(&g, param[ec_param(cfg, l, EC_BN_MEAN)], param[ec_param(cfg, l, EC_BN_VAR)],
                                     stats + 2 * sum_units_below(cfg, l));
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_edgeconv) = {
    .type = "edgeconv",
    .cfg_size = sizeof(edgeconv_cfg),
    .min_inputs = 1,
    .max_inputs = 2,
    .configure = edgeconv_configure,
    .infer = edgeconv_infer,
    .forward = edgeconv_forward,
    .backward = edgeconv_backward,
    .apply_stats = edgeconv_apply_stats,
    .backward2 = edgeconv_backward2, /* without batch norm (infer sets no_backward2_reason with it) */
};
