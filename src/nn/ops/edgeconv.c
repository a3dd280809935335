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
 * The kNN (knn.c) is exact and blockwise with GEMM and partial selection; no gradient flows
 * through the selection nor into the graph-coordinate input; the neighbour indices go to
 * `saved`. A layer whose fixed graph is an earlier layer's (the same coordinate input,
 * features and k) copies that layer's neighbours instead (edgeconv_shares_saved). Backward
 * is exact for the MLP and the input through x_i and x_j - x_i; max aggregation routes the
 * gradient to the first edge holding the maximum.
 *
 * The edge MLP runs fused over blocks of EC_EDGE_BLOCK edges (cache-sized; the blocks, not
 * the threads, are the unit of work, so results do not depend on the thread count): per
 * block the layer's input rows (the previous layer's normalised activations, recomputed from
 * its saved activations), the GEMM, bias and activation, and the batch-norm sums; sums are
 * per block in double and reduced in block order. Layer 0 never builds the edge features in
 * forward: e W^T = x_i (W_a - W_b)^T + x_j W_b^T with W = [W_a | W_b], so two per-point
 * products (n*P rows instead of n*P*k) are gathered per edge. The batch statistics are the
 * double sums of (h - s) and (h - s)^2 with s the running mean (exact in double for float
 * activations, and s keeps the cancellation small); mean and invstd are saved as the
 * batchnorm op saves them and the normalised values recomputed from them wherever needed.
 * The double backward (no batch norm) is in edgeconv_grad2.c. */
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/batchnorm.h"
#include "nn/ops/edgeconv.h"
#include "nn/ops/knn.h"

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
    CASCADE_TRY(cascade_cfg_int(spec, "k", 8, 1, KNN_MAX_K, &c->k));
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

static int64_t sum_units_below(const edgeconv_cfg *c, int l) {
    int64_t sum = 0;
    for (int m = 0; m < l; m++) sum += c->units[m];
    return sum;
}

/* reals of the work buffer of a call on n samples (ec_layout_of) */
static int64_t ec_work_size(const cascade_layer *L, int64_t n);

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
    /* neighbour indices, then every MLP layer's activations on every edge (with batch norm
     * before normalising), then per layer mean and invstd as hi + lo */
    L->saved_per_sample = edges * (1 + sum_units);
    L->saved_fixed = c->batchnorm ? 4 * sum_units : 0;
    L->stat_count = c->batchnorm ? 2 * sum_units : 0; /* batch mean and unbiased variance per channel */
    if (c->batchnorm)
        L->no_backward2_reason = "batch norm in the edge MLP couples the samples of a batch, so the critic's "
                                 "gradient with respect to one sample — and the per-sample gradient penalty — "
                                 "is not defined (Gulrajani et al. 2017)";
    /* ec_layout_of below; backward2 needs four more rows per edge (tangents, primal adjoints) */
    L->work_fixed = ec_work_size(L, 0);
    L->work_per_sample = ec_work_size(L, 1) - L->work_fixed;
    L->work2_per_sample = edges * 4 * maxw;
    return CASCADE_OK;
}

ec_dims OPSYM(ec_dims_of)(const cascade_layer *L) {
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

/* Saved layout: neighbour indices of all samples (n*P*k), then layer l's activations on all
 * edges (n*P*k x units[l]) one layer after the other (with batch norm before normalising),
 * and after all per-sample data each batch-normalised layer's 4*units[l] statistics. */
int64_t OPSYM(ec_layer_output)(const cascade_layer *L, int n, int l) {
    const edgeconv_cfg *c = L->cfg;
    int64_t edges = (int64_t)n * L->in_shape[0].d[0] * c->k;
    return edges + edges * sum_units_below(c, l);
}

static int64_t bn_saved(const cascade_layer *L, int n, int l) {
    return L->saved_per_sample * n + 4 * sum_units_below(L->cfg, l);
}

/* Batch norm of layer l over its edges x units[l] values (channels last). */
static bn_geom ec_bn_geom(const edgeconv_cfg *c, int64_t edges, int l) {
    return (bn_geom){.n = edges, .channels = c->units[l], .spatial = 1, .momentum = EC_BN_MOMENTUM,
                     .eps = EC_BN_EPS};
}

#define EC_POINT_BLOCK 256 /* points per block of layer 0's weight gradient */
static int64_t ec_point_blocks_of(int64_t points) { return (points + EC_POINT_BLOCK - 1) / EC_POINT_BLOCK; }

static int64_t even(int64_t v) { return v + (v & 1); } /* doubles after it stay aligned */

/* The work buffer of a call on n samples, in reals from its start (ec_layout_of gives the
 * offsets, ec_work_of the pointers). Fixed: per layer 8*units[l] doubles (the batch norm's
 * map a, b, its mean, invstd and backward's scale, mean_g, mean_gx), the kNN scratch
 * (KNN_SLOTS samples), layer 0's point weights (2*u0 x F); per sample: per block 2*maxw doubles of partial sums and a
 * maxw x maxw partial weight gradient, three edge tensors (edges x maxw: layer inputs and
 * two gradients) and layer 0's point terms (P x 2*u0). */
typedef struct {
    int64_t affine, knn, wpoint, part, dw_part, y, g1, g2, point, end;
} ec_layout;

static ec_layout ec_layout_of(const cascade_layer *L, int64_t n) {
    const edgeconv_cfg *cfg = L->cfg;
    ec_dims d = OPSYM(ec_dims_of)(L);
    int64_t rpd = (int64_t)(sizeof(double) / sizeof(real)), pk = (int64_t)d.P * d.k;
    /* >= ec_blocks_of(n * pk), and the point blocks of layer 0's backward */
    int64_t blocks = n * ec_blocks_of(pk), pblocks = ec_point_blocks_of(n * d.P);
    if (pblocks > blocks) blocks = pblocks;
    ec_layout o;
    o.affine = 0;
    o.knn = rpd * 8 * sum_units_below(cfg, cfg->n_layers);
    o.wpoint = o.knn + even(KNN_SLOTS * KNN_SCRATCH(d.P));
    o.part = o.wpoint + even(2 * cfg->units[0] * d.F);
    o.dw_part = o.part + rpd * 2 * d.maxw * blocks;
    o.y = o.dw_part + (int64_t)d.maxw * d.maxw * blocks;
    o.g1 = o.y + n * pk * d.maxw;
    o.g2 = o.g1 + n * pk * d.maxw;
    o.point = o.g2 + n * pk * d.maxw;
    o.end = o.point + n * d.P * 2 * cfg->units[0];
    return o;
}

static int64_t ec_work_size(const cascade_layer *L, int64_t n) { return ec_layout_of(L, n).end; }

typedef struct {
    double *affine, *part;
    real *knn, *wpoint, *dw_part, *y, *g1, *g2, *point;
} ec_work;

static ec_work ec_work_of(const cascade_layer *L, int n, real *work) {
    ec_layout o = ec_layout_of(L, n);
    return (ec_work){.affine = (double *)work, .part = (double *)(work + o.part), .knn = work + o.knn,
                     .wpoint = work + o.wpoint, .dw_part = work + o.dw_part, .y = work + o.y, .g1 = work + o.g1,
                     .g2 = work + o.g2, .point = work + o.point};
}

/* Layer l's slice of the affine region: a, b, mean, invstd, scale, mean_g, mean_gx (u each). */
static double *ec_affine(const edgeconv_cfg *cfg, const ec_work *w, int l) {
    return w->affine + 8 * sum_units_below(cfg, l);
}

/* The map y = h * a + b of layer l's batch norm from its saved statistics (forward and
 * backward use these same numbers). */
static void affine_from_saved(const edgeconv_cfg *cfg, int l, const real *saved, const real *weight,
                              const real *bias, double *aff) {
    int64_t u = cfg->units[l];
    for (int64_t ch = 0; ch < u; ch++) {
        double mean = OPSYM(bn_kernel_saved)(saved, u, ch, 0), invstd = OPSYM(bn_kernel_saved)(saved, u, ch, 1);
        aff[2 * u + ch] = mean;
        aff[3 * u + ch] = invstd;
        aff[ch] = (double)weight[ch] * invstd;
        aff[u + ch] = (double)bias[ch] - mean * aff[ch];
    }
}

/* out (rows x u) = h * a + b per channel: a layer's normalised activations */
OP_SIMD_CLONES static void normalise_rows(const real *h, int64_t rows, int u, const double *aff, real *out) {
    const double *a = aff, *b = aff + u;
    for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
        for (int ch = 0; ch < u; ch++) out[r * u + ch] = (real)((double)h[r * u + ch] * a[ch] + b[ch]);
    }
}

OP_SIMD_CLONES static void activate(int act, real *h, int64_t count) {
    const real slope = (real)EC_LEAKY_SLOPE;
    switch (act) {
    case EC_ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < count; i++) h[i] = h[i] > 0 ? h[i] : 0;
        break;
    case EC_ACT_LEAKY:
#pragma omp simd
        for (int64_t i = 0; i < count; i++) h[i] = h[i] > 0 ? h[i] : slope * h[i];
        break;
    case EC_ACT_ELU:
        for (int64_t i = 0; i < count; i++) h[i] = h[i] > 0 ? h[i] : expm1(h[i]);
        break;
    case EC_ACT_TANH:
        for (int64_t i = 0; i < count; i++) h[i] = tanh(h[i]);
        break;
    default:
        break;
    }
}

/* g *= act'(pre-activation), from the activation's output h (exact for these functions). */
OP_SIMD_CLONES void OPSYM(ec_activation_grad)(int act, const real *h, real *g, int64_t count) {
    const real slope = (real)EC_LEAKY_SLOPE;
    switch (act) {
    case EC_ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < count; i++) g[i] = h[i] > 0 ? g[i] : 0;
        break;
    case EC_ACT_LEAKY:
#pragma omp simd
        for (int64_t i = 0; i < count; i++) g[i] = h[i] > 0 ? g[i] : slope * g[i];
        break;
    case EC_ACT_ELU:
#pragma omp simd
        for (int64_t i = 0; i < count; i++) g[i] = h[i] > 0 ? g[i] : g[i] * (h[i] + 1);
        break;
    case EC_ACT_TANH:
#pragma omp simd
        for (int64_t i = 0; i < count; i++) g[i] *= 1 - h[i] * h[i];
        break;
    default:
        break;
    }
}

/* sums[o] = sum over the rows of g (rows x u) of column o, row after row. */
OP_SIMD_CLONES static void column_sums(const real *g, int64_t rows, int u, double *sums) {
    for (int o = 0; o < u; o++) sums[o] = 0;
    for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
        for (int o = 0; o < u; o++) sums[o] += (double)g[r * u + o];
    }
}

/* dst[i] += the sum over `blocks` partials (stride apart) of element i, in block order. */
static void reduce_blocks(const double *part, int64_t stride, int64_t blocks, int count, real *dst) {
    for (int i = 0; i < count; i++) {
        double s = 0;
        for (int64_t b = 0; b < blocks; b++) s += part[b * stride + i];
        dst[i] += (real)s;
    }
}

static void reduce_blocks_real(const real *part, int64_t stride, int64_t blocks, int count, real *dst) {
    for (int i = 0; i < count; i++) {
        double s = 0;
        for (int64_t b = 0; b < blocks; b++) s += (double)part[b * stride + i];
        dst[i] += (real)s;
    }
}

/* Layer 0's point weights wpoint (2*u0 x F) = [W_a - W_b; W_b] for W = [W_a | W_b]. */
static void point_weights(const edgeconv_cfg *cfg, const ec_dims *d, const real *weight, real *wpoint) {
    int u = (int)cfg->units[0], F = d->F;
    for (int o = 0; o < u; o++)
        for (int f = 0; f < F; f++) {
            wpoint[(size_t)o * F + f] = weight[(size_t)o * 2 * F + f] - weight[(size_t)o * 2 * F + F + f];
            wpoint[(size_t)(u + o) * F + f] = weight[(size_t)o * 2 * F + F + f];
        }
}

/* Layer 0's per-point terms of all n*P points: point (n*P x 2*u0) = x wpoint^T. */
static void point_terms(const edgeconv_cfg *cfg, const ec_dims *d, int n, const real *x, const real *weight,
                        ec_work *w) {
    int u = (int)cfg->units[0], F = d->F;
    point_weights(cfg, d, weight, w->wpoint);
    OPSYM(op_gemm)(0, 1, n * d->P, 2 * u, F, 1, x, F, w->wpoint, F, 0, w->point, 2 * u);
}

/* Layer 0 backward from its pre-activation gradient g (edges x u0), in the per-point form of
 * forward (h = x_i A^T + x_j B^T + b, wpoint = [A; B]): per point gi = the sum of g over its
 * own k edges and gj = over the edges that have it as neighbour (in edge order, per sample),
 * point = [gi | gj] (n*P x 2*u0); then per block of EC_POINT_BLOCK points [dA; dB] = point^T x
 * (partials reduced in block order in double), dW_a += dA, dW_b += dB - dA, and
 * dx += point wpoint. n*P rows instead of n*P*k and no edge features. */
static void first_layer_grads(const edgeconv_cfg *cfg, const ec_dims *d, int n, const real *x, const real *nbr,
                              const real *weight, const real *g, real *dw, real *dx, ec_work *w) {
    int u = (int)cfg->units[0], F = d->F, P = d->P, k = d->k, u2 = 2 * u;
#pragma omp parallel for if ((int64_t)n * P * k * u > 65536)
    for (int s = 0; s < n; s++) {
        real *pt = w->point + (size_t)s * P * u2;
        for (int p = 0; p < P; p++) memset(pt + (size_t)p * u2 + u, 0, (size_t)u * sizeof(real));
        for (int i = 0; i < P; i++) {
            const real *ge = g + ((size_t)s * P + i) * k * u;
            real *gi = pt + (size_t)i * u2;
            memcpy(gi, ge, (size_t)u * sizeof(real));
            for (int t = 1; t < k; t++) {
#pragma omp simd
                for (int o = 0; o < u; o++) gi[o] += ge[(size_t)t * u + o];
            }
            for (int t = 0; t < k; t++) {
                real *gj = pt + (size_t)nbr[((size_t)s * P + i) * k + t] * u2 + u;
#pragma omp simd
                for (int o = 0; o < u; o++) gj[o] += ge[(size_t)t * u + o];
            }
        }
    }
    int64_t rows_all = (int64_t)n * P, pblocks = ec_point_blocks_of(rows_all), stride = (int64_t)d->maxw * d->maxw;
    if (dw) {
#pragma omp parallel for schedule(static) if (pblocks > 1)
        for (int64_t b = 0; b < pblocks; b++) {
            int64_t r0 = b * EC_POINT_BLOCK, rows = rows_all - r0 < EC_POINT_BLOCK ? rows_all - r0 : EC_POINT_BLOCK;
            /* [dA; dB] (2u x F) = point^T (2u x rows) x (rows x F) */
            OPSYM(op_gemm_serial)(1, 0, u2, F, (int)rows, 1, w->point + r0 * u2, u2, x + r0 * F, F, 0,
                           w->dw_part + b * stride, F);
        }
        for (int o = 0; o < u; o++)
            for (int f = 0; f < F; f++) {
                double da = 0, db = 0;
                for (int64_t b = 0; b < pblocks; b++) {
                    da += (double)w->dw_part[b * stride + (int64_t)o * F + f];
                    db += (double)w->dw_part[b * stride + (int64_t)(u + o) * F + f];
                }
                dw[(size_t)o * 2 * F + f] += (real)da;
                dw[(size_t)o * 2 * F + F + f] += (real)(db - da);
            }
    }
    if (dx) {
        point_weights(cfg, d, weight, w->wpoint);
        OPSYM(op_gemm)(0, 0, (int)rows_all, F, u2, 1, w->point, u2, w->wpoint, F, 1, dx, F);
    }
}

/* Layer 0's pre-activations of edges r0.. : h = point_i[:u] + point_j[u:] + bias. */
OP_SIMD_CLONES static void first_layer_rows(const ec_dims *d, const real *nbr, const real *point, const real *bias, int u,
                             int64_t r0, int64_t rows, real *h) {
    for (int64_t r = 0; r < rows; r++) {
        int64_t pi, pj;
        ec_edge_ends(d, nbr, r0 + r, &pi, &pj);
        const real *a = point + pi * 2 * u, *b = point + pj * 2 * u + u;
        real *hr = h + r * u;
#pragma omp simd
        for (int o = 0; o < u; o++) hr[o] = a[o] + b[o] + bias[o];
    }
}

/* Partial batch-norm sums of a block: part[ch] = sum (h - s), part[u + ch] = sum (h - s)^2. */
OP_SIMD_CLONES static void partial_stats(const real *h, int64_t rows, int u, const real *shift, double *part) {
    for (int ch = 0; ch < 2 * u; ch++) part[ch] = 0;
    for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
        for (int ch = 0; ch < u; ch++) {
            double v = (double)h[r * u + ch] - (double)shift[ch];
            part[ch] += v;
            part[u + ch] += v * v;
        }
    }
}

/* After layer l's forward on all blocks: its batch statistics from the partial sums (training)
 * or the running ones, exported or updated, saved; the map in the affine region. */
static void finish_batchnorm(const cascade_layer *L, const OPSYM(cascade_fwd) *c, const ec_dims *d, int l,
                             int64_t edges, ec_work *w) {
    const edgeconv_cfg *cfg = L->cfg;
    int64_t u = cfg->units[l], blocks = ec_blocks_of(edges);
    bn_geom g = ec_bn_geom(cfg, edges, l);
    real *saved = c->saved + bn_saved(L, c->n, l), *running_mean = c->param[ec_param(cfg, l, EC_BN_MEAN)];
    const real *weight = c->param[ec_param(cfg, l, EC_BN_W)], *bias = c->param[ec_param(cfg, l, EC_BN_B)];
    double *stats = c->stats ? c->stats + 2 * sum_units_below(cfg, l) : NULL;
    for (int64_t ch = 0; ch < u; ch++) {
        double mean = 0, var = 0, a, b;
        if (c->training) {
            double s1 = 0, s2 = 0;
            for (int64_t k = 0; k < blocks; k++) {
                s1 += w->part[k * 2 * d->maxw + ch];
                s2 += w->part[k * 2 * d->maxw + u + ch];
            }
            double m1 = s1 / (double)edges;
            mean = (double)running_mean[ch] + m1;
            var = s2 / (double)edges - m1 * m1;
            if (var < 0) var = 0;
        }
        OPSYM(bn_kernel_channel_map)(&g, c->training, c->update_stats, stats, ch, mean, var, weight, bias,
                                     running_mean, c->param[ec_param(cfg, l, EC_BN_VAR)], saved, &a, &b);
    }
    affine_from_saved(cfg, l, saved, weight, bias, ec_affine(cfg, w, l));
}

/* y (U) = the max or mean over the k edges of a point of its rows hr (k x U), each through
 * the batch-norm map (NULL: none); y is the accumulator, edge after edge. */
OP_SIMD_CLONES static void aggregate_row(const real *hr, int k, int U, int aggregation, const double *map, real *y) {
    int mean = aggregation == EC_AGG_MEAN;
    for (int t = 0; t < k; t++) {
        const real *ht = hr + (size_t)t * U;
#pragma omp simd
        for (int o = 0; o < U; o++) {
            real v = map ? (real)((double)ht[o] * map[o] + map[U + o]) : ht[o];
            y[o] = t == 0 ? v : mean ? y[o] + v : v > y[o] ? v : y[o];
        }
    }
    if (mean)
        for (int o = 0; o < U; o++) y[o] /= (real)k;
}

static void edgeconv_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const edgeconv_cfg *cfg = L->cfg;
    ec_dims d = OPSYM(ec_dims_of)(L);
    int n = c->n;
    int64_t edges = (int64_t)n * d.P * d.k, blocks = ec_blocks_of(edges);
    real *nbr = c->saved;
    ec_work w = ec_work_of(L, n, c->work);
    const real *graph_in = cfg->graph == EC_GRAPH_DYNAMIC ? c->in[0] : c->in[1];
    if (c->peer_saved) /* an earlier layer's graph of the same coordinates (edgeconv_shares_saved) */
        memcpy(nbr, c->peer_saved, (size_t)edges * sizeof(real));
    else
        OPSYM(edgeconv_knn_batch)(graph_in + d.goff, (int64_t)d.P * d.gstride, d.gstride, n, d.P, d.G, d.k, nbr,
                                  w.knn);
    point_terms(cfg, &d, n, c->in[0], c->param[ec_param(cfg, 0, EC_W)], &w);
    for (int l = 0; l < cfg->n_layers; l++) {
        int u = (int)cfg->units[l], w_in = l ? (int)cfg->units[l - 1] : 2 * d.F;
        real *h = c->saved + OPSYM(ec_layer_output)(L, n, l);
        const real *h_prev = l ? c->saved + OPSYM(ec_layer_output)(L, n, l - 1) : NULL;
        const real *W = c->param[ec_param(cfg, l, EC_W)];
        const real *bias = c->param[ec_param(cfg, l, EC_B)];
        const double *prev_map = l && cfg->batchnorm ? ec_affine(cfg, &w, l - 1) : NULL;
        const real *shift = cfg->batchnorm && c->training ? c->param[ec_param(cfg, l, EC_BN_MEAN)] : NULL;
#pragma omp parallel for schedule(static) if (blocks > 1)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t r0 = b * EC_EDGE_BLOCK, rows = edges - r0 < EC_EDGE_BLOCK ? edges - r0 : EC_EDGE_BLOCK;
            real *hb = h + r0 * u;
            if (!l) {
                first_layer_rows(&d, nbr, w.point, bias, u, r0, rows, hb);
            } else {
                const real *in = h_prev + r0 * w_in;
                if (prev_map) {
                    normalise_rows(in, rows, w_in, prev_map, w.y + r0 * w_in);
                    in = w.y + r0 * w_in;
                }
                for (int64_t r = 0; r < rows; r++) memcpy(hb + r * u, bias, (size_t)u * sizeof(real));
                /* h (rows x u) += in (rows x w_in) W^T */
                OPSYM(op_gemm_serial)(0, 1, (int)rows, u, w_in, 1, in, w_in, W, w_in, 1, hb, u);
            }
            activate(cfg->act, hb, rows * u);
            if (shift) partial_stats(hb, rows, u, shift, w.part + b * 2 * d.maxw);
        }
        if (cfg->batchnorm) finish_batchnorm(L, c, &d, l, edges, &w);
    }
    /* aggregate the k edges of every point (of the normalised activations with batch norm) */
    int last = cfg->n_layers - 1;
    const real *h = c->saved + OPSYM(ec_layer_output)(L, n, last);
    const double *map = cfg->batchnorm ? ec_affine(cfg, &w, last) : NULL;
    int64_t rows = (int64_t)n * d.P;
    int U = d.U, k = d.k;
#pragma omp parallel for if (rows * k * U > 65536)
    for (int64_t r = 0; r < rows; r++) aggregate_row(h + r * k * U, k, U, cfg->aggregation, map, c->out + r * U);
}

/* Gradient of the last MLP output (edges x U) from dout: mean spreads dout/k over the k
 * edges, max gives it to the first edge holding the maximum (forward copied it exactly);
 * map: the last layer's batch-norm map (NULL without), which forward applied before. */
void OPSYM(ec_aggregation_grad)(const cascade_layer *L, int n, const real *dout, const real *out, const ec_dims *d,
                             const real *h, const double *map, real *g) {
    const edgeconv_cfg *cfg = L->cfg;
    int64_t rows = (int64_t)n * d->P;
    int U = d->U, k = d->k;
#pragma omp parallel for if (rows * k * U > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const real *hr = h + r * k * U, *go = dout + r * U, *y = out + r * U;
        real *gr = g + r * k * U;
        if (cfg->aggregation == EC_AGG_MEAN) {
            for (int t = 0; t < k; t++) {
#pragma omp simd
                for (int o = 0; o < U; o++) gr[(size_t)t * U + o] = go[o] / (real)k;
            }
            continue;
        }
        for (int o = 0; o < U; o++) {
            int first = -1;
            for (int t = 0; t < k; t++) {
                real v = 0;
                if (first < 0) {
                    real hv = hr[(size_t)t * U + o];
                    if (map) hv = (real)((double)hv * map[o] + map[U + o]);
                    if (hv == y[o]) {
                        first = t;
                        v = go[o];
                    }
                }
                gr[(size_t)t * U + o] = v;
            }
        }
    }
}

/* part[ch] = sum g, part[u + ch] = sum g * xhat over rows (rows x u), row after row. */
OP_SIMD_CLONES static void grad_sum_rows(const real *g, const real *h, int64_t rows, int u, const double *mean,
                                         const double *invstd, double *part) {
    for (int ch = 0; ch < 2 * u; ch++) part[ch] = 0;
    for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
        for (int ch = 0; ch < u; ch++) {
            double dy = (double)g[r * u + ch];
            part[ch] += dy;
            part[u + ch] += dy * ((double)h[r * u + ch] - mean[ch]) * invstd[ch];
        }
    }
}

/* Batch norm of layer l backward, first pass: sg = sum(g), sgx = sum(g * xhat) per channel
 * over all edges (per block, reduced in block order); dweight, dbias; the coefficients of
 * the input gradient into the affine region. */
static void batchnorm_grad_sums(const cascade_layer *L, const OPSYM(cascade_bwd) *c, const ec_dims *d, int l,
                                int64_t edges, const real *h, const real *g, ec_work *w) {
    const edgeconv_cfg *cfg = L->cfg;
    int u = (int)cfg->units[l];
    int64_t blocks = ec_blocks_of(edges);
    double *aff = ec_affine(cfg, w, l);
    const double *mean = aff + 2 * u, *invstd = aff + 3 * u;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t r0 = b * EC_EDGE_BLOCK, rows = edges - r0 < EC_EDGE_BLOCK ? edges - r0 : EC_EDGE_BLOCK;
        grad_sum_rows(g + r0 * u, h + r0 * u, rows, u, mean, invstd, w->part + b * 2 * d->maxw);
    }
    bn_geom geom = ec_bn_geom(cfg, edges, l);
    for (int ch = 0; ch < u; ch++) {
        double sg = 0, sgx = 0;
        for (int64_t b = 0; b < blocks; b++) {
            sg += w->part[b * 2 * d->maxw + ch];
            sgx += w->part[b * 2 * d->maxw + u + ch];
        }
        OPSYM(bn_kernel_channel_grads)(&geom, c->training, ch, sg, sgx, c->param[ec_param(cfg, l, EC_BN_W)],
                                       invstd[ch], c->dparam[ec_param(cfg, l, EC_BN_W)],
                                       c->dparam[ec_param(cfg, l, EC_BN_B)], &aff[4 * u + ch], &aff[5 * u + ch],
                                       &aff[6 * u + ch]);
    }
}

/* g (rows x u): the gradient of the normalised activations -> of the activations h, with the
 * coefficients batchnorm_grad_sums left in the affine region. */
OP_SIMD_CLONES static void bn_input_grad_rows(const real *h, int64_t rows, int u, const double *aff, real *g) {
    const double *mean = aff + 2 * u, *invstd = aff + 3 * u, *scale = aff + 4 * u;
    const double *mean_g = aff + 5 * u, *mean_gx = aff + 6 * u;
    for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
        for (int ch = 0; ch < u; ch++) {
            double xhat = ((double)h[r * u + ch] - mean[ch]) * invstd[ch];
            g[r * u + ch] = (real)(scale[ch] * ((double)g[r * u + ch] - mean_g[ch] - xhat * mean_gx[ch]));
        }
    }
}

static void edgeconv_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const edgeconv_cfg *cfg = L->cfg;
    ec_dims d = OPSYM(ec_dims_of)(L);
    int n = c->n, last = cfg->n_layers - 1;
    int64_t edges = (int64_t)n * d.P * d.k, blocks = ec_blocks_of(edges);
    const real *saved = c->saved, *nbr = c->saved;
    ec_work w = ec_work_of(L, n, c->work);
    if (cfg->batchnorm) /* the maps forward used (work is shared between layers) */
        for (int l = 0; l <= last; l++)
            affine_from_saved(cfg, l, saved + bn_saved(L, n, l), c->param[ec_param(cfg, l, EC_BN_W)],
                              c->param[ec_param(cfg, l, EC_BN_B)], ec_affine(cfg, &w, l));
    real *g = w.g1, *g_next = w.g2;
    OPSYM(ec_aggregation_grad)(L, n, c->dout, c->out, &d, saved + OPSYM(ec_layer_output)(L, n, last),
                     cfg->batchnorm ? ec_affine(cfg, &w, last) : NULL, g);
    for (int l = last; l >= 0; l--) {
        int u = (int)cfg->units[l], w_in = l ? (int)cfg->units[l - 1] : 2 * d.F;
        const real *h = saved + OPSYM(ec_layer_output)(L, n, l), *W = c->param[ec_param(cfg, l, EC_W)];
        const real *h_prev = l ? saved + OPSYM(ec_layer_output)(L, n, l - 1) : NULL;
        const double *prev_map = l && cfg->batchnorm ? ec_affine(cfg, &w, l - 1) : NULL;
        const double *aff = ec_affine(cfg, &w, l);
        if (cfg->batchnorm) batchnorm_grad_sums(L, c, &d, l, edges, h, g, &w);
        real *dw = c->dparam[ec_param(cfg, l, EC_W)], *db = c->dparam[ec_param(cfg, l, EC_B)];
        int pass_on = l > 0; /* layer 0 passes on by first_layer_grads */
#pragma omp parallel for schedule(static) if (blocks > 1)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t r0 = b * EC_EDGE_BLOCK, rows = edges - r0 < EC_EDGE_BLOCK ? edges - r0 : EC_EDGE_BLOCK;
            real *gb = g + r0 * u;
            const real *hb = h + r0 * u;
            if (cfg->batchnorm) bn_input_grad_rows(hb, rows, u, aff, gb);
            OPSYM(ec_activation_grad)(cfg->act, hb, gb, rows * u);
            if (db) column_sums(gb, rows, u, w.part + b * 2 * d.maxw);
            if (dw && l) { /* the layer's input rows: the previous layer's output */
                const real *in = h_prev + r0 * w_in;
                if (prev_map) {
                    normalise_rows(h_prev + r0 * w_in, rows, w_in, prev_map, w.y + r0 * w_in);
                    in = w.y + r0 * w_in;
                }
                /* block's dW (u x w_in) = g^T (u x rows) in (rows x w_in) */
                OPSYM(op_gemm_serial)(1, 0, u, w_in, (int)rows, 1, gb, u, in, w_in, 0, w.dw_part + b * d.maxw * d.maxw,
                               w_in);
            }
            /* g_next (rows x w_in) = g (rows x u) W (u x w_in) */
            if (pass_on) OPSYM(op_gemm_serial)(0, 0, (int)rows, w_in, u, 1, gb, u, W, w_in, 0, g_next + r0 * w_in, w_in);
        }
        if (db) reduce_blocks(w.part, 2 * d.maxw, blocks, u, db);
        if (dw && l) reduce_blocks_real(w.dw_part, (int64_t)d.maxw * d.maxw, blocks, u * w_in, dw);
        if (!l && (dw || c->din[0])) first_layer_grads(cfg, &d, n, c->in[0], nbr, W, g, dw, c->din[0], &w);
        if (!pass_on) break;
        real *swap = g;
        g = g_next;
        g_next = swap;
    }
}

/* A fixed graph on the same coordinates (the same second input, features, k) as an earlier
 * edgeconv layer: the same neighbours, which lead its saved state (the book's model: ec2 takes
 * ec1's graph). */
static int edgeconv_shares_saved(const cascade_layer *L, const cascade_layer *earlier, unsigned same_inputs) {
    const edgeconv_cfg *a = L->cfg, *b = earlier->cfg;
    return a->graph != EC_GRAPH_DYNAMIC && b->graph != EC_GRAPH_DYNAMIC && (same_inputs & 2u) &&
           a->graph_lo == b->graph_lo && a->graph_hi == b->graph_hi && a->k == b->k;
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
    .shares_saved = edgeconv_shares_saved,
    .backward2 = OPSYM(edgeconv_backward2), /* without batch norm (infer sets no_backward2_reason with it) */
};
