/* conv1d_transpose, conv2d_transpose: torch.nn.ConvTranspose1d/2d (groups 1, dilation 1).
 * in (n, Cin, L...) -> out (n, Cout, O...), O = (L - 1) stride - 2 padding + kernel +
 * output_padding per spatial axis; weight [Cin, Cout, k...], bias [Cout].
 *
 * A transposed convolution is the adjoint of the convolution from out to in with the same
 * weight, kernel, stride and padding, so it runs on conv.c's geometry and im2col/col2im with
 * the roles swapped: the conv "image" is our output (Cout channels, O pixels), the conv
 * "output" our input (Cin channels, L pixels), and W [Cin, Cout*kprod] is that conv's weight.
 * output_padding < stride makes the conv's output size exactly L. For a block of m samples,
 * with x gathered to [Cin, m*L]:
 *   forward   col [Cout*kprod, m*L] = W^T x;  out = bias + col2im(col)
 *   backward  dcol = im2col(dout);  dW [Cin, Cout*kprod] = x dcol^T;  din += W dcol
 * Blocks, threads and thread-count independence as conv.c (every GEMM whole on one thread,
 * one weight gradient per block added in block order; col2im writes each sample from one
 * thread). Nothing is saved from forward. */
#include <limits.h>
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/conv.h"

typedef struct {
    int nsp; /* spatial axes */
    long filters;
    long kernel[CONV_AXES], stride[CONV_AXES], pad[CONV_AXES], outpad[CONV_AXES];
    int bias;
    /* conv geometry of the adjoint convolution: cin = our Cout, cout = our Cin, in = our
     * output pixels, out = our input pixels */
    conv_geom g;
} tconv_cfg;

static cascade_status tconv_configure(tconv_cfg *c, cascade_section *spec, int nsp) {
    static const char *const types[] = {"", "conv1d_transpose", "conv2d_transpose"};
    c->nsp = nsp;
    CASCADE_TRY(OPSYM(conv_size_keys)(spec, types[nsp], nsp, &c->filters, c->kernel, c->stride));
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "padding", nsp, 0, 0, c->pad));
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "output_padding", nsp, 0, 0, c->outpad));
    for (int i = 0; i < nsp; i++)
        if (c->outpad[i] >= c->stride[i]) /* torch: output padding must be smaller than stride */
            return cascade_cfg_error(spec, cascade_section_find(spec, "output_padding"),
                                     "output_padding %ld must be smaller than stride %ld (spatial axis %d)",
                                     c->outpad[i], c->stride[i], i);
    return cascade_cfg_bool(spec, "bias", 1, &c->bias);
}

static cascade_status tconv1d_configure(void *c, cascade_section *s) { return tconv_configure(c, s, 1); }
static cascade_status tconv2d_configure(void *c, cascade_section *s) { return tconv_configure(c, s, 2); }

static cascade_status tconv_infer(cascade_layer *L) {
    static const char *const axes_text[] = {"", "length", "height, width"};
    tconv_cfg *c = L->cfg;
    conv_geom *g = &c->g;
    const cascade_shape *in = &L->in_shape[0];
    char buf[96];
    if (in->ndim != c->nsp + 1)
        return cascade_fail(CASCADE_EUSAGE, "%s expects a per-sample input (channels, %s), got %s",
                            L->type, axes_text[c->nsp], cascade_shape_str(in, buf, sizeof buf));
    conv_geom_init(g, (int)c->filters, (int)in->d[0], 1);
    g->pointwise = 0; /* unused here */
    int64_t out_dims[1 + CONV_AXES] = {c->filters};
    for (int a = 0; a < CONV_AXES; a++) {
        int i = a - (CONV_AXES - c->nsp); /* spatial axis of the layer, < 0: padding axis */
        if (i < 0) {
            conv_geom_axis(g, a, 1, 1, 1, 1, 1, 0);
            continue;
        }
        int64_t size = in->d[1 + i];
        int64_t out = (size - 1) * c->stride[i] - 2 * c->pad[i] + c->kernel[i] + c->outpad[i];
        if (out < 1 || out > INT_MAX / 2)
            return cascade_fail(CASCADE_EUSAGE,
                                "output size (%lld - 1) * stride %ld - 2 * padding %ld + kernel %ld + "
                                "output_padding %ld = %lld on spatial axis %d of input %s is %s",
                                (long long)size, c->stride[i], c->pad[i], c->kernel[i], c->outpad[i],
                                (long long)out, i, cascade_shape_str(in, buf, sizeof buf),
                                out < 1 ? "not positive" : "too large");
        /* the adjoint convolution reads our output (its image) and writes our input */
        conv_geom_axis(g, a, (int)out, (int)size, (int)c->kernel[i], (int)c->stride[i], 1, (int)c->pad[i]);
        out_dims[1 + i] = out;
    }
    g->kg = g->cin * g->kprod;
    g->rows = g->kg;
    if (g->rows > INT_MAX || g->out_px > INT_MAX / 2 || g->in_px > INT_MAX / 2)
        return cascade_fail(CASCADE_EUSAGE, "transposed convolution too large: %lld x %lld column matrix "
                            "per sample for input %s", (long long)g->rows, (long long)g->out_px,
                            cascade_shape_str(in, buf, sizeof buf));
    L->out_shape = cascade_shape_make(1 + c->nsp, out_dims);

    /* torch's fan_in of the weight [Cin, Cout, k...] is size(1) * prod(k) = Cout * kprod */
    int64_t wdims[2 + CONV_AXES] = {g->cout, g->cin};
    for (int i = 0; i < c->nsp; i++) wdims[2 + i] = c->kernel[i];
    double bound = 1.0 / sqrt((double)g->kg);
    OPSYM(conv_add_param)(L, "weight", 2 + c->nsp, wdims, bound);
    if (c->bias) OPSYM(conv_add_param)(L, "bias", 1, (int64_t[]){g->cin}, bound);

    /* Scratch: a slot per thread (col [rows, m*L] and tmp [Cin, m*L] of one block), and one
     * weight gradient [Cin, rows] per block (at most n/block + 1 + MIN_BLOCKS blocks). */
    g->slots = omp_get_max_threads() < MAX_SLOTS ? omp_get_max_threads() : MAX_SLOTS;
    g->block = g->out_px >= TARGET_COLS ? 1 : (int)(TARGET_COLS / g->out_px);
    g->slot = g->block * (g->rows + g->cout) * g->out_px;
    g->part = (int64_t)g->cout * g->rows;
    L->saved_per_sample = L->saved_fixed = 0;
    L->work_per_sample = (g->part + g->block - 1) / g->block;
    L->work_fixed = g->slots * g->slot + (1 + MIN_BLOCKS) * g->part;
    return CASCADE_OK;
}

/* m samples x (m, C, P) -> xs [C, m*P]: the samples side by side (one sample: x itself). */
static const real *gather(const real *x, int m, int channels, int64_t P, real *tmp) {
    if (m == 1) return x;
    int64_t ld = m * P;
    for (int s = 0; s < m; s++)
        for (int ch = 0; ch < channels; ch++)
            memcpy(tmp + ch * ld + s * P, x + ((int64_t)s * channels + ch) * P, (size_t)P * sizeof(real));
    return tmp;
}

/* m samples: x (m, Cin, L...) -> y (m, Cout, O...), or y += without bias (add: the tangent
 * of the double backward). */
static void forward_block(const conv_geom *g, const real *x, real *y, const real *w, const real *bias,
                          int add, int m, real *col, real *tmp) {
    int64_t P = g->out_px, Q = g->in_px;
    int ld = (int)(m * P);
    const real *xs = gather(x, m, g->cout, P, tmp);
    OPSYM(op_gemm_serial)(1, 0, (int)g->rows, ld, g->cout, 1, w, (int)g->rows, xs, ld, 0, col, ld);
    for (int s = 0; s < m && !add; s++)
        for (int co = 0; co < g->cin; co++) {
            real b = bias ? bias[co] : 0, *o = y + ((int64_t)s * g->cin + co) * Q;
            for (int64_t i = 0; i < Q; i++) o[i] = b;
        }
    OPSYM(conv_patches)(g, y, m, col, 1); /* col2im: adds */
}

/* m samples: dw_part (when not NULL) = the block's weight gradient [Cin, rows];
 * dx (when not NULL) += W im2col(dy). */
static void backward_block(const conv_geom *g, const real *x, const real *dy, real *dx, const real *w,
                           real *dw_part, int m, real *col, real *tmp) {
    int64_t P = g->out_px;
    int ld = (int)(m * P), rows = (int)g->rows;
    OPSYM(conv_patches)(g, (real *)dy, m, col, 0); /* im2col: dy only read */
    if (dw_part) {
        const real *xs = gather(x, m, g->cout, P, tmp);
        OPSYM(op_gemm_serial)(0, 1, g->cout, rows, ld, 1, xs, ld, col, ld, 0, dw_part, rows);
    }
    if (!dx) return;
    if (m == 1) {
        OPSYM(op_gemm_serial)(0, 0, g->cout, ld, rows, 1, w, rows, col, ld, 1, dx, ld);
        return;
    }
    OPSYM(op_gemm_serial)(0, 0, g->cout, ld, rows, 1, w, rows, col, ld, 0, tmp, ld);
    for (int s = 0; s < m; s++)
        for (int ci = 0; ci < g->cout; ci++) {
            real *o = dx + ((int64_t)s * g->cout + ci) * P;
            const real *t = tmp + (int64_t)ci * ld + s * P;
#pragma omp simd
            for (int64_t i = 0; i < P; i++) o[i] += t[i];
        }
}

/* Runs forward (dy == NULL: y = the output, or y += without bias when add) or backward (y
 * unused; dx, parts may be NULL) of n samples block by block, a thread per block with its own
 * scratch slot. */
static void tconv_blocks(const conv_geom *g, int n, const real *x, real *y, const real *dy, real *dx,
                         const real *w, const real *bias, int add, real *parts, real *work) {
    int64_t in_n = g->cout * g->out_px, out_n = g->cin * g->in_px;
    int nblocks = block_count(g, n), team = block_team(g, nblocks);
#pragma omp parallel num_threads(team) if (team > 1)
    {
        real *col = work + omp_get_thread_num() * g->slot, *tmp = col + g->block * g->rows * g->out_px;
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < nblocks; b++) {
            int s0, m;
            block_range(n, nblocks, b, &s0, &m);
            if (!dy)
                forward_block(g, x + s0 * in_n, y + s0 * out_n, w, bias, add, m, col, tmp);
            else
                backward_block(g, x + s0 * in_n, dy + s0 * out_n, dx ? dx + s0 * in_n : NULL, w,
                               parts ? parts + b * g->part : NULL, m, col, tmp);
        }
    }
}

static void tconv_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const tconv_cfg *cfg = L->cfg;
    tconv_blocks(&cfg->g, c->n, c->in[0], c->out, NULL, NULL, c->param[0], cfg->bias ? c->param[1] : NULL, 0,
                 NULL, c->work);
}

static void tconv_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const tconv_cfg *cfg = L->cfg;
    const conv_geom *g = &cfg->g;
    real *dx = c->din[0], *dw = c->dparam[0], *db = cfg->bias ? c->dparam[1] : NULL;
    if (db) OPSYM(conv_bias_grad)(c->dout, c->n, g->cin, g->in_px, db);
    if (!dx && !dw) return;
    real *parts = dw ? c->work + g->slots * g->slot : NULL; /* one weight gradient per block */
    tconv_blocks(g, c->n, c->in[0], NULL, c->dout, dx, c->param[0], NULL, 0, parts, c->work);
    if (!dw || c->n == 0) return; /* no blocks: no partial gradients */
    OPSYM(conv_sum_parts)(parts, g->part, block_count(g, c->n));
    for (int64_t i = 0; i < g->part; i++) dw[i] += parts[i]; /* same layout [Cin, Cout*kprod] */
}

/* Double backward (op_types.h): linear in the input and in dout, bilinear with the weight, so
 * for R = sum(u * din) the tangent is the forward on u without bias, dW += the weight
 * gradient of (in = u, dout), and there is no second-order term in the input. */
static void tconv_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const tconv_cfg *cfg = L->cfg;
    const conv_geom *g = &cfg->g;
    if (!c->uin[0]) return;
    tconv_blocks(g, c->n, c->uin[0], c->uout, NULL, NULL, c->param[0], NULL, 1, NULL, c->work);
    real *dw = c->dparam[0];
    if (!dw || c->n == 0) return;
    real *parts = c->work + g->slots * g->slot;
    tconv_blocks(g, c->n, c->uin[0], NULL, c->dout, NULL, c->param[0], NULL, 0, parts, c->work);
    OPSYM(conv_sum_parts)(parts, g->part, block_count(g, c->n));
    for (int64_t i = 0; i < g->part; i++) dw[i] += parts[i];
}

#define TCONV_OP(nd)                                                                       \
    const OPSYM(cascade_op) OPSYM(cascade_op_conv##nd##d_transpose) = {                    \
        .type = "conv" #nd "d_transpose", .cfg_size = sizeof(tconv_cfg), .min_inputs = 1,  \
        .max_inputs = 1, .configure = tconv##nd##d_configure, .infer = tconv_infer,        \
        .forward = tconv_forward, .backward = tconv_backward, .backward2 = tconv_backward2};

TCONV_OP(1)
TCONV_OP(2)
