/* Typed op structures, included by nn/op.h once per precision with OPT_REAL (float or
 * double) and OPT_SYM(x) (x or x##_f64) defined. No include guard on purpose. */
/* Forward call on n samples laid out contiguously (n, shape...). */
typedef struct OPT_SYM(cascade_fwd) {
    int n;
    int training;                       /* 1: training mode (BN batch stats, dropout on) */
    int update_stats;                   /* 1: update running statistics (BN) in place */
    double *stats;                      /* non-NULL (training): export L->stat_count statistics
                                         * of this call instead of updating in place */
    const OPT_REAL *in[CASCADE_MAX_INPUTS]; /* (n, in_shape[k]) */
    OPT_REAL *out;                          /* (n, out_shape) */
    OPT_REAL *param[CASCADE_MAX_PARAMS];    /* as L->params; buffers may be written (running stats) */
    OPT_REAL *saved;                        /* saved_per_sample*n + saved_fixed, kept for backward */
    OPT_REAL *work;                         /* work_per_sample*n + work_fixed, scratch */
    const OPT_REAL *peer_saved;             /* non-NULL: the saved state of an earlier layer
                                             * (op->shares_saved) from this forward pass, to take
                                             * what both would compute; NULL: compute it */
    const int64_t *sample_ids;          /* n global sample ids (random streams), NULL outside training */
    uint64_t step;                      /* optimiser step (random streams) */
} OPT_SYM(cascade_fwd);

/* Backward: gradients are ACCUMULATED (+=) into din and dparam; either may be NULL
 * (input needs no gradient; buffer). The executor zeroes them when needed. */
typedef struct OPT_SYM(cascade_bwd) {
    int n;
    int training;
    const OPT_REAL *in[CASCADE_MAX_INPUTS];
    const OPT_REAL *out;
    const OPT_REAL *dout;                 /* (n, out_shape) */
    OPT_REAL *din[CASCADE_MAX_INPUTS];
    const OPT_REAL *param[CASCADE_MAX_PARAMS];
    OPT_REAL *dparam[CASCADE_MAX_PARAMS];
    const OPT_REAL *saved;
    OPT_REAL *work;
    const int64_t *sample_ids;
    uint64_t step;
    int relu_rule; /* introspection: CASCADE_RELU_* (how relu passes gradients back) */
} OPT_SYM(cascade_bwd);

/* Double backward (the exact WGAN-GP gradient penalty). An op's backward is linear in dout:
 *   din[k] = B_k(dout; in, param).
 * For a scalar R of the input gradients with tangents uin[k] = dR/d(din[k]), an op's
 * backward2 ACCUMULATES (+=) the derivatives of R through B:
 *   uout    += dR/d(dout)  = J uin, the Jacobian-vector product of forward (no bias term)
 *   dparam  += dR/d(param) through B (NULL: not wanted)
 *   hin[k]  += dR/d(in[k]) through B — second-order terms, zero for ops linear in their
 *              input (NULL: not wanted)
 *   hout    += dR/d(out) through B, for backwards that read the forward output (tanh, ...)
 * uin[k] NULL means a zero tangent (an input that is not differentiated, e.g. a condition).
 * Forward and backward have run on the same samples (in, out, saved, dout are theirs). */
typedef struct OPT_SYM(cascade_bwd2) {
    int n;
    int training;                            /* as forward's: dropout's mask */
    const OPT_REAL *in[CASCADE_MAX_INPUTS];
    const OPT_REAL *out;
    const OPT_REAL *dout;                    /* the upstream gradient of the first backward */
    const OPT_REAL *param[CASCADE_MAX_PARAMS];
    const OPT_REAL *saved;
    OPT_REAL *work;                          /* work + work2 sizes of the layer, scratch */
    const OPT_REAL *uin[CASCADE_MAX_INPUTS]; /* (n, in_shape[k]) or NULL */
    OPT_REAL *uout;                          /* (n, out_shape) */
    OPT_REAL *dparam[CASCADE_MAX_PARAMS];
    OPT_REAL *hin[CASCADE_MAX_INPUTS];
    OPT_REAL *hout;
    const int64_t *sample_ids;               /* as forward's (random streams) */
    uint64_t step;
} OPT_SYM(cascade_bwd2);

typedef struct OPT_SYM(cascade_op) {
    const char *type;           /* job-file `type =` */
    size_t cfg_size;
    int min_inputs, max_inputs;
    /* Parses the op's own keys from its section (type/input/activation are the graph's).
     * Errors via cascade_cfg_*: they name file:line and key. May be NULL (no keys). */
    cascade_status (*configure)(void *cfg, cascade_section *spec);
    /* From L->in_shape/n_in: sets out_shape, params, saved/work sizes. Errors name shapes
     * (the graph prefixes the layer name). */
    cascade_status (*infer)(cascade_layer *L);
    void (*forward)(const cascade_layer *L, const OPT_SYM(cascade_fwd) *c);
    void (*backward)(const cascade_layer *L, const OPT_SYM(cascade_bwd) *c);
    /* Optional (layers with stat_count > 0): updates the running statistics in param[] from
     * the mean of the statistics exported by a step's forward calls. */
    void (*apply_stats)(const cascade_layer *L, OPT_REAL *const *param, const double *mean_stats);
    /* Optional: double backward (above); ops without it cannot be in a WGAN-GP critic.
     * work holds the op's work size plus L->work2 (per sample * n + fixed). */
    void (*backward2)(const cascade_layer *L, const OPT_SYM(cascade_bwd2) *c);
    /* Optional: once before every optimizer update of the net (training), e.g. the power
     * iteration of spectral normalisation on the layer's buffers. */
    void (*begin_update)(const cascade_layer *L, OPT_REAL *const *param);
    /* Optional: 1 when L's forward can take part of its saved state from `earlier` (a layer
     * of the same type that runs before it on the same samples) instead of computing it, e.g.
     * the kNN graph of two edgeconv layers on the same coordinates; same_inputs has bit k set
     * when input k of both is the same node. The executor then passes earlier's saved as
     * peer_saved; the result must be the same as computing it. */
    int (*shares_saved)(const cascade_layer *L, const cascade_layer *earlier, unsigned same_inputs);
    /* Why an op has no backward2, for the error naming the layer (NULL: the generic text). */
    const char *no_backward2_reason;
} OPT_SYM(cascade_op);

/* Registry (src/nn/ops/registry.c, generated from ops.def). NULL when unknown. */
const OPT_SYM(cascade_op) *OPT_SYM(cascade_op_find)(const char *type);
/* Comma-separated list of known types, for error messages. */
const char *cascade_op_types(void);

