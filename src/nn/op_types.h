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
} OPT_SYM(cascade_op);

/* Registry (src/nn/ops/registry.c, generated from ops.def). NULL when unknown. */
const OPT_SYM(cascade_op) *OPT_SYM(cascade_op_find)(const char *type);
/* Comma-separated list of known types, for error messages. */
const char *cascade_op_types(void);

