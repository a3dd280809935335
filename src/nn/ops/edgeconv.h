/* edgeconv's configuration, call shapes and the helpers its two source files share:
 * edgeconv.c (keys, shapes, kNN, the fused forward and backward) and edgeconv_grad2.c (the
 * double backward, without batch norm). Compiled in both precisions (OPSYM). */
#ifndef CASCADE_NN_OPS_EDGECONV_H
#define CASCADE_NN_OPS_EDGECONV_H

#include "nn/op.h"

#define EC_MAX_LAYERS 8
#define EC_BN_MOMENTUM 0.1
#define EC_BN_EPS 1e-5
#define EC_EDGE_BLOCK 2048 /* edges per block of the fused edge MLP */
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

/* Edge e = (s*P + i)*k + t: its sample's first point and its two end points (rows of x). */
static inline void ec_edge_ends(const ec_dims *d, const real *nbr, int64_t e, int64_t *pi, int64_t *pj) {
    int64_t pk = (int64_t)d->P * d->k, s = e / pk;
    *pi = s * d->P + (e % pk) / d->k;
    *pj = s * d->P + (int64_t)nbr[e];
}

/* Blocks of EC_EDGE_BLOCK edges (the unit of work of the edge MLP). */
static inline int64_t ec_blocks_of(int64_t edges) { return (edges + EC_EDGE_BLOCK - 1) / EC_EDGE_BLOCK; }

/* The shapes of calls on layer L. */
ec_dims OPSYM(ec_dims_of)(const cascade_layer *L);

/* Offset in saved of layer l's activations on all edges of n samples. */
int64_t OPSYM(ec_layer_output)(const cascade_layer *L, int n, int l);

/* g *= act'(pre-activation), from the activation's output h. */
void OPSYM(ec_activation_grad)(int act, const real *h, real *g, int64_t count);

/* The last MLP output's gradient g (edges x U) from dout (n, P, U); map: the last layer's
 * batch-norm map, NULL without. */
void OPSYM(ec_aggregation_grad)(const cascade_layer *L, int n, const real *dout, const real *out, const ec_dims *d,
                                const real *h, const double *map, real *g);

/* The op's double backward (edgeconv_grad2.c). */
void OPSYM(edgeconv_backward2)(const cascade_layer *L, const OPSYM(cascade_bwd2) *c);

#endif
