/* Internal to the convolution ops (conv.c, conv_winograd.c, conv_transpose.c; separable2d.c
 * and hexconv.c run their convolutions through conv.c): geometry derived by infer and the
 * Winograd block kernels. Compiled in both precisions like the ops (OPSYM names). */
#ifndef CASCADE_NN_OPS_CONV_H
#define CASCADE_NN_OPS_CONV_H

#include <omp.h>
#include <string.h>

#include "nn/op.h"

#define CONV_AXES 3
enum {
    TARGET_COLS = 1296, /* GEMM columns per block of samples (16 samples of 9x9) */
    WINO_COLS = 200,    /* Winograd tile columns per block (16 samples of 9x9) */
    WINO_MIN_CIN = 8,   /* fewer input channels: too short GEMMs, im2col is faster */
    MIN_BLOCKS = 4,     /* blocks per call at least (when n allows), for threads on small batches */
    MAX_SLOTS = 256     /* threads on blocks at once */
};

/* Geometry derived by infer, shapes padded to CONV_AXES axes. Precision-independent: a layer
 * set up by the float op also runs the double one (finite-difference tests). */
typedef struct {
    int cin, cout, cin_g, cout_g;
    int in[CONV_AXES], out[CONV_AXES], k[CONV_AXES], s[CONV_AXES], d[CONV_AXES], p[CONV_AXES];
    int64_t in_px, out_px; /* pixels per channel */
    int kprod, kg;         /* taps; GEMM inner size per group = cin_g * kprod */
    int64_t rows;          /* col rows = cin * kprod */
    int groups, block;     /* block: most samples per block */
    int slots;             /* scratch slots = most threads working on blocks at once */
    int64_t slot;          /* floats per slot */
    int64_t part;          /* floats of one block's weight gradient */
    int64_t fixed;         /* floats before the slots in the work buffer (Winograd weights) */
    int pointwise;         /* 1x1, stride 1, no padding: col of one sample = its input */
    /* Winograd F(2x2, 3x3) path (3x3, stride 1, dilation 1, one group): output tiles of 2x2 */
    int wino, tiles_h, tiles_w;
    int64_t tiles;         /* per sample */
    int pad_h, pad_w;      /* padded image plane in a slot: (2 * tiles_h + 2, 2 * tiles_w + 2) */
    int hex_radius;        /* > 0: hexconv's gather (hex_patches) replaces the rectangular im2col */
} conv_geom;

/* hexconv.c: im2col (to_img = 0) / col2im (to_img = 1, adds into x) between m samples
 * x (m, Cin, H, W) and col [Cin * n_cells, m*H*W] over hexagonal neighbourhoods. */
void OPSYM(hex_patches)(const conv_geom *g, real *x, int m, real *col, int to_img);

/* A convolution's keys and geometry (conv.c's op cfg; separable2d holds two). */
typedef struct {
    int nsp; /* spatial axes */
    long filters, groups;
    long kernel[CONV_AXES], stride[CONV_AXES], dilation[CONV_AXES];
    long pad_lo[CONV_AXES], pad_hi[CONV_AXES]; /* per spatial axis (first nsp entries) */
    int same, bias;
    int spectral_norm; /* conv1d/2d/3d: weight / sigma (spectral.h) */
    conv_geom g;
} conv_cfg;

/* Appends a trainable parameter initialised U(-bound, bound). */
void OPSYM(conv_add_param)(cascade_layer *L, const char *name, int ndim, const int64_t *dims, double bound);
/* `key` = one number for every spatial axis or a comma list of one per axis (absent: dflt). */
cascade_status OPSYM(conv_axes_key)(cascade_section *spec, const char *key, int nsp, long dflt, long min,
                                    long *out);
/* padding = valid | same | N | N,N,... into c->pad_lo/pad_hi (needs c->nsp, kernel, stride,
 * dilation); `same` as torch: total dilation*(k-1), the odd extra at the end, stride 1 only. */
cascade_status OPSYM(conv_padding_key)(cascade_section *spec, conv_cfg *c);
/* c->g from the keys in c and the per-sample input (C, spatial...); sets *out_shape. Errors
 * (CASCADE_EUSAGE) name the shapes. Scratch sizes come from conv_scratch. */
cascade_status OPSYM(conv_geometry)(conv_cfg *c, const cascade_shape *in, const char *type,
                                    cascade_shape *out_shape);
/* Blocks, slots and the work floats (per sample, fixed) that conv_run_* need, from the shape
 * fields of g (cin, cout, groups, cin_g, cout_g, in/out_px, kprod, kg, rows, pointwise, wino). */
void OPSYM(conv_scratch)(conv_geom *g, int64_t *work_per_sample, int64_t *work_fixed);
/* n samples: out (n, Cout, out...) = conv(in (n, Cin, in...)) + bias (may be NULL). */
void OPSYM(conv_run_forward)(const conv_geom *g, int n, const real *in, real *out, const real *w,
                             const real *bias, real *work);
/* out += conv(in), no bias: the tangent (Jacobian-vector product) of the double backward. */
void OPSYM(conv_run_forward_add)(const conv_geom *g, int n, const real *in, real *out, const real *w,
                                 real *work);
/* Accumulates dx (input gradient), dw, db; each may be NULL. */
void OPSYM(conv_run_backward)(const conv_geom *g, int n, const real *in, const real *dout, real *dx,
                              const real *w, real *dw, real *db, real *work);
/* Double backward (op_types.h) with tangent u (NULL: zero): uout += conv(u) without bias,
 * dw (may be NULL) += the weight gradient of (in = u, dout). Linear in the input: no hin. */
void OPSYM(conv_run_backward2)(const conv_geom *g, int n, const real *u, const real *dout, real *uout,
                               const real *w, real *dw, real *work);

/* Winograd F(2x2, 3x3), per block of m samples (see conv_winograd.c).
 * u [16, Cout, Cin]: the transformed weights G w G^T, from wino_weights. */
void OPSYM(wino_weights)(const conv_geom *g, const real *w, real *u);
/* Floats of scratch for a block of m samples: v [16, Cin, m*tiles], z [16, Cout, m*tiles], a
 * padded image plane per sample (interleaved) and 16 rows of tiles. */
static inline int64_t wino_slot(const conv_geom *g, int m) {
    return 16 * (int64_t)(g->cin + g->cout) * m * g->tiles + (int64_t)g->pad_h * g->pad_w * m + 16 * g->tiles_w;
}
/* x (m, Cin, H, W) -> y (m, Cout, Ho, Wo) + bias (may be NULL); add: y += (bias NULL). */
void OPSYM(wino_forward_block)(const conv_geom *g, const real *x, real *y, const real *u, const real *bias,
                               int add, int m, real *slot);
/* du (when not NULL) = the block's gradient of u; dx (when not NULL) += input gradient. */
void OPSYM(wino_backward_block)(const conv_geom *g, const real *x, const real *dy, real *dx, const real *u,
                                real *du, int m, real *slot);
/* dw [Cout, Cin, 3, 3] += G^T du G. */
void OPSYM(wino_weight_grad)(const conv_geom *g, const real *du, real *dw);

/* Shared with conv_transpose.c. */
/* Starts a geometry: no axes yet (conv_geom_axis adds them). */
static inline void conv_geom_init(conv_geom *g, int cin, int cout, int groups) {
    memset(g, 0, sizeof *g);
    g->cin = cin;
    g->cout = cout;
    g->groups = groups;
    g->cin_g = cin / groups;
    g->cout_g = cout / groups;
    g->in_px = g->out_px = 1;
    g->kprod = 1;
    g->pointwise = 1;
}

/* Axis a: image size `in`, output size `out`, kernel, stride, dilation, leading padding. */
static inline void conv_geom_axis(conv_geom *g, int a, int in, int out, int k, int s, int d, int p) {
    g->in[a] = in;
    g->out[a] = out;
    g->k[a] = k;
    g->s[a] = s;
    g->d[a] = d;
    g->p[a] = p;
    g->in_px *= in;
    g->out_px *= out;
    g->kprod *= k;
}

/* `key` = one number for every spatial axis or a comma list of one per axis (absent: dflt). */
cascade_status OPSYM(conv_axes_key)(cascade_section *spec, const char *key, int nsp, long dflt, long min,
                                    long *out);
/* The keys filters and kernel (both required) and stride [1]; `type` for the messages. */
cascade_status OPSYM(conv_size_keys)(cascade_section *spec, const char *type, int nsp, long *filters,
                                     long *kernel, long *stride);
/* Appends a trainable parameter initialised U(-bound, bound). */
void OPSYM(conv_add_param)(cascade_layer *L, const char *name, int ndim, const int64_t *dims, double bound);
/* m samples: x (m, Cin, in...) <-> col [rows, m*P], channel by channel: im2col (to_img = 0,
 * x only read) or col2im (to_img = 1: adds col into x; col is scratch and gets clobbered). */
void OPSYM(conv_patches)(const conv_geom *g, real *x, int m, real *col, int to_img);
/* db[c] += sum of dout (n, channels, P) over samples and pixels, thread-count independent. */
void OPSYM(conv_bias_grad)(const real *dout, int n, int channels, int64_t P, real *db);
/* parts [nblocks, part]: the blocks' weight gradients summed into the first, in block order. */
void OPSYM(conv_sum_parts)(real *parts, int64_t part, int nblocks);

/* The partition of n samples into blocks depends on n and the shapes only: at most g->block
 * samples per block and at least MIN_BLOCKS blocks (when n allows), so small batches still
 * spread over threads. Block b holds samples [first, first + count). */
static inline int block_count(const conv_geom *g, int n) {
    int nb = (n + g->block - 1) / g->block, least = n < MIN_BLOCKS ? n : MIN_BLOCKS;
    return nb > least ? nb : least;
}

static inline void block_range(int n, int nblocks, int b, int *first, int *count) {
    *first = (int)((int64_t)b * n / nblocks);
    *count = (int)((int64_t)(b + 1) * n / nblocks) - *first;
}

/* Threads working on blocks at once: one per scratch slot at most. Every GEMM inside a block
 * is one single-threaded call (op_gemm_serial), so which thread runs a block does not matter. */
static inline int block_team(const conv_geom *g, int nblocks) {
    int t = omp_get_max_threads();
    if (t > g->slots) t = g->slots;
    if (t > nblocks) t = nblocks;
    return t < 1 ? 1 : t; /* n = 0 */
}

#endif
