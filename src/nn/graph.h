/* A net: a DAG of layers built once from its [NET.LAYER] sections, topologically ordered,
 * with flat parameter / gradient / buffer arrays and activations from one arena sized for
 * the largest micro-batch. Free of MPI and HDF5. */
#ifndef CASCADE_NN_GRAPH_H
#define CASCADE_NN_GRAPH_H

#include "nn/layer.h"

#define CASCADE_MAX_EXTERNAL 4

/* Node references: >= 0 a layer index; < 0 an external input -(1 + k). */
typedef struct {
    char name[64];
    int n_layers;
    cascade_layer *layers;              /* topological order */
    int (*inputs)[CASCADE_MAX_INPUTS];  /* per layer: node references */
    int output;                         /* layer index of the net output (last in file order) */
    int *peer;                          /* per layer: the earlier layer whose saved state its
                                         * forward reuses (op->shares_saved), -1 none */

    int n_ext;
    char ext_names[CASCADE_MAX_EXTERNAL][8]; /* "x", "z", "c" */
    cascade_shape ext_shapes[CASCADE_MAX_EXTERNAL];

    /* flat buffers; layer l's parameter p lives at param_off[l][p] in params/grads (trainable)
     * or in buffers (running statistics) */
    int64_t n_params, n_buffers;
    float *params, *grads, *buffers;
    int64_t (*param_off)[CASCADE_MAX_PARAMS];
    /* running-statistics exports of a training forward (collect_stats): layer l's at
     * stats + stat_off[l], n_stats doubles in all */
    int64_t n_stats, *stat_off;
    double *stats;

    /* execution state for up to max_n samples */
    int max_n;
    cascade_arena arena;
    float **act, **dact, **saved; /* per layer */
    float **tangent, **hess;      /* per layer, double backward only (want_input_grads = 2):
                                   * dR/d(dact) and the second-order adjoints dR/d(act) */
    float *work;
    float *dext[CASCADE_MAX_EXTERNAL]; /* gradient w.r.t. external inputs, when requested */
    int want_dext;
} cascade_net;

/* Section of one layer as the graph sees it (the job owns the sections). */
typedef struct {
    cascade_section *section; /* keys: type, input, activation + the op's keys */
    const char *name;         /* layer name ("conv1") */
} cascade_layer_ref;

/* Builds the net `name` from its layer sections in file order. `input` defaults to the
 * previous layer (the first layer: the first external input); `activation = A` appends an
 * activation node that later references to this layer see. Errors name the layer, its
 * file:line, the missing input or the cycle, and the shapes. */
cascade_status cascade_net_build(cascade_net *net, const char *name, const cascade_layer_ref *refs,
                                 int n_refs, int n_ext, const char *const *ext_names,
                                 const cascade_shape *ext_shapes, uint64_t seed);
void cascade_net_free(cascade_net *net);
/* PyTorch-default initialisation from Philox streams keyed by (seed, layer index). */
void cascade_net_init_params(cascade_net *net, uint64_t seed);
/* Allocates activations for micro-batches of up to max_n samples (once). want_input_grads:
 * 0 none, 1 gradients w.r.t. the external inputs (net->dext), 2 also the buffers of the
 * double backward (cascade_net_backward2). */
cascade_status cascade_net_prepare(cascade_net *net, int max_n, int want_input_grads);
const cascade_shape *cascade_net_out_shape(const cascade_net *net);
float *cascade_net_output(const cascade_net *net);

typedef struct {
    int n;
    int training, update_stats;
    int collect_stats; /* export running statistics to net->stats instead of updating */
    const float *ext[CASCADE_MAX_EXTERNAL];
    const int64_t *sample_ids;
    uint64_t step;
    /* optional: called after each layer's backward with its index (decreasing), e.g. to
     * start reducing gradients that are final */
    void (*after_backward)(void *ctx, int layer);
    void (*after_forward)(void *ctx, int layer); /* optional: after each layer's forward, e.g.
                                                   * to progress pending communication */
    void *hook_ctx;
    int relu_rule; /* CASCADE_RELU_*: backward through relu for introspection */
    int no_param_grads; /* backward: input gradients only, net->grads untouched */
} cascade_run;

void cascade_net_forward(cascade_net *net, const cascade_run *run);
/* dout: gradient w.r.t. the net output (n, out_shape). Gradients ACCUMULATE into net->grads;
 * input gradients (if prepared with want_input_grads) are overwritten into net->dext. */
void cascade_net_backward(cascade_net *net, const cascade_run *run, const float *dout);
/* The same from an inner node: dnode (n, node's out_shape) is the gradient w.r.t. layer
 * `node`'s output (activation maximisation); only layers up to `node` run backward. */
void cascade_net_backward_from(cascade_net *net, const cascade_run *run, int node, const float *dnode);
/* Double backward, for a penalty R on the input gradient dext[ext] of the last backward
 * (run on the same samples after cascade_net_forward; typically with no_param_grads): given
 * v = dR/d(dext[ext]) (n, ext shape), ACCUMULATES dR/dparams into net->grads, exactly —
 * through every layer's backward2 and then an ordinary backward of the second-order
 * adjoints. Other external inputs get zero tangents. Needs want_input_grads = 2 and
 * cascade_net_check_backward2. Leaves net->dact holding those adjoints. */
void cascade_net_backward2(cascade_net *net, const cascade_run *run, int ext, const float *v);
/* The same with tangents v[e] (NULL: zero) on several external inputs at once. */
void cascade_net_backward2_multi(cascade_net *net, const cascade_run *run, const float *const *v);
/* Backward from gradients at several layers (a net with several outputs): douts[k] is the
 * gradient with respect to layers[k]'s output; gradients ACCUMULATE into net->grads. */
void cascade_net_backward_seeds(cascade_net *net, const cascade_run *run, int n, const int *layers,
                                const float *const *douts);
/* OK when every layer has a double backward; else a usage error naming the first layer
 * that has none and why (e.g. batch norm). `what` says who needs it ("a wgan-gp critic"). */
cascade_status cascade_net_check_backward2(const cascade_net *net, const char *what);
/* Before each optimizer update of the net: every layer's begin_update (the power iteration of
 * spectral normalisation). Identical on every rank (it reads only parameters and buffers). */
void cascade_net_begin_update(cascade_net *net);
/* Applies the mean (over a step's forward calls) of collected statistics: mean_stats holds
 * n_stats doubles laid out as net->stats. */
void cascade_net_apply_stats(cascade_net *net, const double *mean_stats);
/* Finds a layer by name (the user-visible name, not activation nodes); -1 if absent. */
int cascade_net_find(const cascade_net *net, const char *layer);
/* One-line-per-layer summary (name, type, output shape, parameter count) into buf. */
void cascade_net_summary(const cascade_net *net, char *buf, size_t n);

#endif
