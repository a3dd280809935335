/* `cascade explain`: what a trained supervised model looks at. Layer activations, filters,
 * input-space attributions (saliency, input x gradient, integrated gradients, DeconvNet, guided
 * backprop, class activation maps, LRP) for chosen samples of a data file, and inputs that
 * maximise a unit (actmax), written to DIR/explain.h5 (CONTRACT "Explanations") with PNG
 * heatmaps. */
#ifndef CASCADE_EXPLAIN_EXPLAIN_H
#define CASCADE_EXPLAIN_EXPLAIN_H

#include <mpi.h>

#include "cascade/core.h"
#include "cascade/h5io.h"
#include "io/png.h"
#include "nn/graph.h"

typedef enum {
    EXPLAIN_ACTIVATIONS,
    EXPLAIN_FILTERS,
    EXPLAIN_SALIENCY,
    EXPLAIN_INPUTXGRAD,
    EXPLAIN_INTEGRATED,
    EXPLAIN_CAM,
    EXPLAIN_GRADCAM,
    EXPLAIN_DECONVNET,
    EXPLAIN_GUIDED,
    EXPLAIN_GUIDED_GRADCAM,
    EXPLAIN_ACTMAX,
    EXPLAIN_LRP
} cascade_explain_method;

/* actmax objectives (cascade_actmax_objective_names: "neuron", "channel", "layer") */
enum { ACTMAX_NEURON, ACTMAX_CHANNEL, ACTMAX_LAYER };
extern const char *const cascade_actmax_objective_names[];

typedef struct {
    const char *ckpt;     /* checkpoint or run directory */
    const char *data;     /* data file (NULL: the run's validation data) */
    const char *out_dir;  /* DIR: DIR/explain.h5 and pictures */
    const char *method;   /* name as on the command line */
    const char *index;    /* "I" or "A:B" (half-open, as Python); NULL: "0" */
    int64_t target;       /* output element whose gradient is explained; actmax: the first unit/channel */
    int64_t target_count; /* actmax: objectives target .. target + count - 1 (--target A:B); else 1 */
    const char *layer;    /* activations/filters: one layer (NULL: all / the first conv or dense) */
    int steps;            /* integrated: Riemann steps */
    int baseline_mean;    /* integrated: 1 = mean over the chosen samples, 0 = zeros */
    int pictures;         /* write PNG heatmaps */
    /* actmax */
    int objective;        /* ACTMAX_* */
    double step_size, l2, blur, noise;
    int jitter;
    uint64_t seed;
    /* lrp */
    const char *rule;     /* NULL: composite */
    double epsilon, alpha, beta;
    /* --evaluate: pixel flipping of the attribution */
    int evaluate;
    int flip_steps;       /* 0: every pixel, at most 100 steps */
    double flip_value;    /* [0] */
    /* --mask NAME[=V,...]: fraction of |attribution| inside a per-sample region of the data file */
    const char *mask;
} cascade_explain_opts;

/* Method names accepted now, for help texts: "activations, filters, saliency, ...". */
extern const char cascade_explain_methods[];

/* Parses a method name. Methods of the CONTRACT still to come, and unknown names, are
 * CASCADE_EUSAGE errors (the latter list the known ones). */
cascade_status cascade_explain_parse_method(const char *name, cascade_explain_method *out);

/* Parses "--index": "I" or "A:B" (A <= I < B) against n samples of `file`. */
cascade_status cascade_explain_parse_index(const char *text, int64_t n, const char *file, int64_t *first,
                                           int64_t *count);

/* Runs the whole command: opens the model and data, computes, writes DIR/explain.h5 and pictures. */
cascade_status cascade_explain(const cascade_explain_opts *o, MPI_Comm comm);

/* ---- computations (explain/attribution.c); x is the net input as the net sees it ---- */

/* Pixel flipping (explain/flipping.c): for n samples x with attributions attr (both (n, x
 * shape)), S = output element `target` as the pixels (positions; with channels = 1 the first
 * axis of x is channels, removed together) are set to `value` most relevant first, in `steps`
 * equal groups (0 or more than the pixels: one pixel a step): curve[k] = mean over samples of
 * S(x) - S(x^(k)), k = 0..steps; random_curve the same for a random order (Philox from seed).
 * Eval mode, in chunks of net->max_n. */
cascade_status cascade_explain_flipping(cascade_net *net, const float *x, int64_t n, const cascade_shape *xshape,
                                        int channels, const float *attr, int64_t target, int steps, float value,
                                        uint64_t seed, double *curve, double *random_curve);
/* Area over the perturbation curve: the mean of curve[0..steps]. */
double cascade_explain_aopc(const double *curve, int steps);

/* Gradient of output element `target` w.r.t. the input for n samples x (n, x shape), in chunks
 * of net->max_n (the net must be prepared with input gradients): grad (n, x shape), and the
 * output element's values in value (n) when not NULL. Eval mode. */
cascade_status cascade_explain_gradient(cascade_net *net, const float *x, int64_t n, int64_t target, float *grad,
                                        double *value);

/* The same with relu's backward replaced by a rule (CASCADE_RELU_DECONVNET, _GUIDED). */
cascade_status cascade_explain_gradient_rule(cascade_net *net, const float *x, int64_t n, int64_t target,
                                             int relu_rule, float *grad, double *value);

/* Integrated Gradients with the midpoint Riemann sum over `steps` points α = (k + ½)/steps:
 * attr = (x − baseline) ⊙ mean_k ∂S/∂x(baseline + α_k (x − baseline)). baseline: one sample
 * (x shape) used for all. value / base_value (n, optional): S at x and at the baseline. */
cascade_status cascade_explain_integrated(cascade_net *net, const float *x, int64_t n, const float *baseline,
                                          int64_t target, int steps, float *attr, double *value, double *base_value);

/* PNG heatmaps (io/png.h), under the names explain has always used. */
static inline cascade_status cascade_explain_png(const char *path, const float *map, int64_t h, int64_t w, int scale) {
    return cascade_png_heatmap(path, map, h, w, scale);
}
static inline cascade_status cascade_explain_png_hex(const char *path, const float *map, int64_t h, int64_t w,
                                                     int scale) {
    return cascade_png_heatmap_hex(path, map, h, w, scale);
}

/* ---- attribution inside a region (explain/mask.c): --mask NAME[=V[,V...]] ---- */

#define CASCADE_MASK_MAX_VALUES 16
typedef struct {
    char name[256];        /* data set of the data file, (N, pixel shape) */
    int n_values;          /* 0: the region is where the data set is nonzero */
    double values[CASCADE_MASK_MAX_VALUES]; /* else: where it equals one of these */
} cascade_mask_spec;

typedef struct {
    double fraction, chance; /* means over the samples used */
    int64_t used;            /* samples with a non-empty region and a nonzero attribution */
} cascade_mask_summary;

/* Parses "NAME" or "NAME=V[,V...]" (CASCADE_EUSAGE naming the text). */
cascade_status cascade_mask_parse(const char *text, cascade_mask_spec *out);
/* Per sample i of attr (n, C, P) and labels (n, P): fraction[i] = sum over region pixels of
 * sum_c |attr| / the same over all pixels (NaN for an empty region or an all-zero attribution),
 * area[i] = region pixels / P (the fraction a uniform attribution would have: chance). */
void cascade_mask_fractions(const float *attr, const float *labels, const cascade_mask_spec *spec, int64_t n,
                            int64_t C, int64_t P, double *fraction, double *area);
/* Means of fraction and area over the samples whose fraction is finite. */
cascade_mask_summary cascade_mask_summarise(const double *fraction, const double *area, int64_t n);
/* Reads rows [first, first + n) of the mask data set of `file` (n_file samples) as floats into
 * *labels (allocated). It must be (n_file, pixel shape): x's shape without the channel axis for
 * the channels layout, else x's shape; errors (CASCADE_EDATA) name the file, data set and both
 * shapes. Collective over comm. */
cascade_status cascade_explain_mask_read(const char *file, const cascade_mask_spec *spec, int64_t n_file,
                                         const cascade_shape *xshape, int channels, int64_t first, int64_t n,
                                         MPI_Comm comm, float **labels);
/* Computes the fractions of attr (n, x shape) and writes `mask_fraction`, `mask_area` (n) and
 * root attrs mask, mask_fraction, mask_chance, mask_samples to w; logs the summary. */
cascade_status cascade_explain_mask_write(cascade_h5writer *w, const char *spec_text, const cascade_mask_spec *spec,
                                          const float *labels, const cascade_shape *xshape, int channels, int64_t n,
                                          const float *attr, int rank);

/* ---- activation maximisation (explain/actmax.c) ---- */

typedef struct {
    int node;            /* graph node whose output is maximised (a layer's output node) */
    int objective;       /* ACTMAX_NEURON (a[target]), _CHANNEL (mean of channel target), _LAYER (mean) */
    int steps;           /* gradient-ascent steps */
    double step_size;    /* x += step_size * g / rms(g) */
    double l2;           /* after each step x *= 1 - l2 */
    double blur;         /* > 0: Gaussian blur of this width (cells) over the spatial axes after each step */
    double noise;        /* start: noise * N(0, 1) from Philox (seed, objective target) */
    int jitter;          /* > 0: the gradient is taken at x rolled by up to ±jitter cells per spatial axis */
    uint64_t seed;
} cascade_actmax_opts;

/* Checks the options against the net (node shape, targets in range); errors name the flag. */
cascade_status cascade_explain_actmax_check(const cascade_net *net, const cascade_actmax_opts *o,
                                            const int64_t *targets, int64_t n_obj);
/* One row per objective (targets[r]): x (n_obj, x shape) the maximiser, history (n_obj, steps + 1)
 * the objective before each step and at the end. The net must be prepared for input gradients. */
cascade_status cascade_explain_actmax(cascade_net *net, const cascade_actmax_opts *o, const int64_t *targets,
                                      int64_t n_obj, float *x, double *history);

/* ---- layer-wise relevance propagation (explain/lrp.c) ---- */

/* Rules (cascade_lrp_rule_names): z, epsilon, zplus (= alphabeta 1, 0), alphabeta, w2, flat,
 * composite (flat on layers reading x, epsilon on dense, alpha1-beta0 on convolutions). */
enum { LRP_Z, LRP_EPSILON, LRP_ZPLUS, LRP_ALPHABETA, LRP_W2, LRP_FLAT, LRP_COMPOSITE };
extern const char *const cascade_lrp_rule_names[];
typedef struct {
    int rule;                    /* LRP_* */
    double epsilon, alpha, beta; /* epsilon rule (and composite's dense layers); alphabeta */
} cascade_lrp_opts;

cascade_status cascade_lrp_parse_rule(const char *name, int *rule);
/* Every layer up to the output has a rule under o (errors name the layer and why). */
cascade_status cascade_explain_lrp_check(const cascade_net *net, const cascade_lrp_opts *o);
/* Relevance of output element `target`, S = output[target], redistributed to the input: rel
 * (n, x shape); value (n, optional) = S. sent / received (net->n_layers each, optional): per
 * layer, the relevance it passed to its inputs and the relevance that reached its output,
 * summed over the samples (a linear layer folded into its batchnorm reports 0, the batchnorm
 * both). The net must be prepared (cascade_net_prepare). */
cascade_status cascade_explain_lrp(cascade_net *net, const cascade_lrp_opts *o, const float *x, int64_t n,
                                   int64_t target, float *rel, double *value, double *sent, double *received);

/* ---- class activation maps (explain/cam.c); maps are (n, spatial of the layer) ---- */

/* Grad-CAM of layer node `node` ((K, spatial...) output): ReLU(sum_k alpha_k A_k) with alpha_k
 * the spatial mean of dS/dA_k. The net must be prepared for backward. */
cascade_status cascade_explain_gradcam(cascade_net *net, int node, const float *x, int64_t n, int64_t target,
                                       float *map, double *value);
/* CAM for a net ending in node -> globalavgpool -> dense (layer index `dense`):
 * sum_k W[target,k] A_k + b_target, whose spatial mean is the logit (value). */
cascade_status cascade_explain_cam(cascade_net *net, int node, int dense, const float *x, int64_t n, int64_t target,
                                   float *map, double *value);
void cascade_explain_upsample(const float *in, int64_t h, int64_t w, int64_t H, int64_t W, float *out);

#endif
