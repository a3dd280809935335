/* The op table. Every layer type registers one (src/nn/ops/<type>.c, forward and backward
 * side by side); the graph never switches on type names.
 *
 * Ops and losses are compiled twice: in float (the engine) and, with CASCADE_REAL_DOUBLE, in
 * double for the finite-difference tests. Inside op files use `real`, OPSYM(), <tgmath.h>
 * functions and op_gemm() so both builds come from the same source. */
#ifndef CASCADE_NN_OP_H
#define CASCADE_NN_OP_H

#include "cascade/config.h"
#include "cascade/core.h"

#ifdef CASCADE_REAL_DOUBLE
typedef double real;
#define OPSYM(x) x##_f64
#define REAL_MAX 1.79769313486231570815e+308
#else
typedef float real;
#define OPSYM(x) x
#define REAL_MAX 3.40282346638528859812e+38F
#endif

#define CASCADE_MAX_INPUTS 8
#define CASCADE_MAX_PARAMS 32 /* edgeconv with batch norm: 6 per MLP layer */

enum { CASCADE_INIT_ZEROS, CASCADE_INIT_ONES, CASCADE_INIT_UNIFORM, CASCADE_INIT_CONSTANT /* = init_bound */ };

/* How relu's backward passes a gradient: the true derivative; DeconvNet (only where the
 * gradient is positive); guided backpropagation (where the gradient and the input are positive). */
enum { CASCADE_RELU_GRADIENT = 0, CASCADE_RELU_DECONVNET = 1, CASCADE_RELU_GUIDED = 2 };

/* A parameter or buffer of a layer, in PyTorch's layout and name. */
typedef struct {
    char name[32];        /* weight, bias, running_mean, ... */
    cascade_shape shape;  /* PyTorch layout, e.g. dense weight [out, in] */
    int trainable;        /* 0: buffer (running statistics): no gradient, not optimised */
    int init;             /* CASCADE_INIT_* */
    double init_bound;    /* UNIFORM: U(-bound, bound), PyTorch's 1/sqrt(fan_in); CONSTANT: the value */
} cascade_param_desc;

/* One node of a net. Filled by the graph builder (names, inputs, shapes) and by the op's
 * configure (cfg) and infer (out_shape, params, saved/work sizes). Type-independent. */
typedef struct cascade_layer {
    const struct cascade_op *op; /* float table; tests look up the double one by type */
    const char *type;
    char name[64];   /* layer name within its net: "conv1" */
    char full[128];  /* "model.conv1" for messages and checkpoints */
    int n_in;
    cascade_shape in_shape[CASCADE_MAX_INPUTS]; /* per sample, no batch axis */
    cascade_shape out_shape;
    void *cfg;       /* op-owned config, op->cfg_size bytes, zeroed before configure */
    int n_params;
    cascade_param_desc params[CASCADE_MAX_PARAMS];
    /* floats kept from forward for backward, and scratch, for a call on n samples:
     * per_sample * n + fixed */
    int64_t saved_per_sample, saved_fixed;
    int64_t work_per_sample, work_fixed;
    /* more scratch that only backward2 uses, after the work above (allocated for nets
     * prepared with want_input_grads = 2 only, so training without a gradient penalty does
     * not pay for it): per_sample * n + fixed */
    int64_t work2_per_sample, work2_fixed;
    /* running statistics (batchnorm): doubles a training forward exports per call when the
     * caller collects them (c->stats), averaged over a step and applied with apply_stats */
    int64_t stat_count;
    /* set by infer when this configuration has no double backward although the op has one
     * (edgeconv with batch norm): why, for the error naming the layer */
    const char *no_backward2_reason;
    uint64_t seed;     /* job seed, for ops that draw random numbers (dropout) */
    uint32_t layer_id; /* distinct per layer within a job, for random streams */
} cascade_layer;

#define OPT_REAL real
#define OPT_SYM(x) OPSYM(x)
#include "nn/op_types.h"
#undef OPT_REAL
#undef OPT_SYM
#if defined(CASCADE_OP_BOTH_PRECISIONS) && !defined(CASCADE_REAL_DOUBLE)
/* Tests see the double-precision structures and registry too. */
#define OPT_REAL double
#define OPT_SYM(x) x##_f64
#include "nn/op_types.h"
#undef OPT_REAL
#undef OPT_SYM
#endif

/* C = alpha * op(A) op(B) + beta * C, row-major (cblas), in `real`, the same bits for any
 * thread count (gemm.c): op_gemm splits C into panels fixed by the shape and runs them on the
 * threads; op_gemm_serial is one single-threaded call, for callers that run their own fixed
 * blocks on the threads. */
void OPSYM(op_gemm)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                    int lda, const real *b, int ldb, real beta, real *c, int ldc);
void OPSYM(op_gemm_serial)(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a,
                           int lda, const real *b, int ldb, real beta, real *c, int ldc);

/* Hot element loops of ops, built twice on x86-64 and chosen when the program loads: for
 * AVX2 (8 floats a vector instead of SSE2's 4) and the baseline. Without FMA (which -mavx2
 * does not enable) every operation rounds exactly as in the baseline, so the two give the
 * same bits — as long as the loop has no reduction across vector lanes (sums over a
 * contiguous axis would be re-associated by the vector width). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#define OP_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OP_SIMD_CLONES
#endif

/* Helpers for ops. */
static inline int64_t op_numel(const cascade_shape *s) { return cascade_shape_numel(s); }

#endif
