/* conv1d, conv2d, conv3d: torch.nn.Conv1d/2d/3d with zero padding.
 * in (n, Cin, spatial...) -> out (n, Cout, spatial_out...); weight [Cout, Cin/groups, k...],
 * bias [Cout]. One code path for 1 to 3 spatial axes: shapes are padded to 3 axes with leading
 * axes of size 1 (kernel 1, stride 1, no padding), so conv1d on (C, L) runs as (C, 1, 1, L).
 *
 * Compute: im2col + GEMM. For a block of m samples, col [Cin*kprod, m*P] (P = output pixels
 * per sample) has rows (c, kz, ky, kx) and columns (sample, pixel); per group g
 *   tmp_g [Cout/g, m*P] = W_g [Cout/g, Kg] col_g [Kg, m*P]        (Kg = Cin/groups * kprod)
 * and tmp is scattered to (m, Cout, P) with the bias. Backward: dout is gathered to
 * [Cout, m*P]; dW_g += dout_g col_g^T; dcol_g = W_g^T dout_g, then col2im adds into din.
 *
 * Two regimes, chosen from the shapes alone:
 *  - batched (one sample's col + tmp <= BATCHED_MAX floats, i.e. small images): blocks of
 *    ~TARGET_COLS columns, because one GEMM over a block of samples runs far faster than one
 *    per 9x9 image. Blocks run in parallel (one thread each, BLAS single-threaded inside an
 *    OpenMP region), each in its own part of the work buffer (declared per sample); the
 *    weight gradient is one partial per block, summed in block order afterwards.
 *  - per sample (large images): samples one after another, im2col/col2im parallel over
 *    channels, multi-threaded BLAS, dW accumulated sample by sample (GEMM beta = 1).
 *    1x1 convolutions with stride 1 and no padding read the input directly (no im2col).
 *
 * Thread-count independence: the block partition depends only on n and the shapes. Each
 * output and gradient element is reduced in a fixed order: GEMM inner sums run inside one
 * BLAS call (OpenBLAS splits M and N between threads, never K), dW partials are added in block
 * order, the bias gradient per channel in sample order. tests/unit/test_conv.c checks that
 * 1 and 2 threads give bitwise identical results in both regimes.
 * Nothing is kept from forward (saved = 0): backward recomputes im2col, which costs little
 * next to the GEMMs and keeps memory at one block's columns per sample. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <tgmath.h>

#include "nn/op.h"

#define CONV_AXES 3
enum {
    BATCHED_MAX = 65536, /* floats of col + tmp per sample up to which samples are batched */
    TARGET_COLS = 1296   /* GEMM columns per block in the batched regime (16 samples of 9x9) */
};

/* Geometry derived by infer, shapes padded to CONV_AXES axes. */
typedef struct {
    int cin, cout, cin_g, cout_g;
    int in[CONV_AXES], out[CONV_AXES], k[CONV_AXES], s[CONV_AXES], d[CONV_AXES], p[CONV_AXES];
    int64_t in_px, out_px; /* pixels per channel */
    int kprod, kg;         /* taps; GEMM inner size per group = cin_g * kprod */
    int64_t rows;          /* col rows = cin * kprod */
    int batched, block;    /* regime; nominal samples per block */
    int pointwise;         /* 1x1, stride 1, no padding: col of one sample = its input */
} conv_geom;

typedef struct {
    int nsp; /* spatial axes */
    long filters, groups;
    long kernel[CONV_AXES], stride[CONV_AXES], dilation[CONV_AXES];
    long pad_lo[CONV_AXES], pad_hi[CONV_AXES]; /* per spatial axis (first nsp entries) */
    int same, bias;
    conv_geom g;
} conv_cfg;

/* ---------------------------------------------------------------- keys */

/* `key` = one number for every spatial axis or a comma list of one per axis. */
static cascade_status axes_key(cascade_section *spec, const char *key, int nsp, long dflt, long min,
                               long *out) {
    long v[16];
    int n;
    CASCADE_TRY(cascade_cfg_intlist(spec, key, 16, min, 1L << 20, v, &n));
    if (n != 0 && n != 1 && n != nsp)
        return cascade_cfg_error(spec, cascade_section_find(spec, key),
                                 "needs one number or a comma list of %d (one per spatial axis), got %d",
                                 nsp, n);
    for (int i = 0; i < nsp; i++) out[i] = n == 0 ? dflt : v[n == 1 ? 0 : i];
    return CASCADE_OK;
}

/* padding = valid | same | N | N,N,...; `same` as torch: total dilation*(k-1), the odd extra
 * at the end, stride 1 only. */
static cascade_status padding_key(cascade_section *spec, conv_cfg *c) {
    const cascade_kv *kv = cascade_section_peek(spec, "padding");
    const char *v = kv ? kv->value : "valid";
    int same = strcasecmp(v, "same") == 0;
    if (same || strcasecmp(v, "valid") == 0) {
        kv = cascade_section_find(spec, "padding");
        c->same = same;
        for (int i = 0; i < c->nsp; i++) {
            if (same && c->stride[i] != 1)
                return cascade_cfg_error(spec, kv, "padding = same needs stride 1 on every axis (as "
                                         "PyTorch), but stride is %ld on spatial axis %d",
                                         c->stride[i], i);
            long total = same ? c->dilation[i] * (c->kernel[i] - 1) : 0;
            c->pad_lo[i] = total / 2;
            c->pad_hi[i] = total - total / 2;
        }
        return CASCADE_OK;
    }
    if (isalpha((unsigned char)v[0]))
        return cascade_cfg_error(spec, cascade_section_find(spec, "padding"),
                                 "expected valid, same, or one non-negative size or a comma list of "
                                 "%d (one per spatial axis)", c->nsp);
    CASCADE_TRY(axes_key(spec, "padding", c->nsp, 0, 0, c->pad_lo));
    memcpy(c->pad_hi, c->pad_lo, sizeof c->pad_hi);
    return CASCADE_OK;
}

static cascade_status conv_configure(conv_cfg *c, cascade_section *spec, int nsp) {
    c->nsp = nsp;
    CASCADE_TRY(cascade_cfg_int(spec, "filters", 0, 1, 1L << 24, &c->filters));
    if (c->filters == 0) return cascade_cfg_error(spec, NULL, "conv%dd needs `filters`", nsp);
    CASCADE_TRY(axes_key(spec, "kernel", nsp, 0, 1, c->kernel));
    if (c->kernel[0] == 0) return cascade_cfg_error(spec, NULL, "conv%dd needs `kernel`", nsp);
    CASCADE_TRY(axes_key(spec, "stride", nsp, 1, 1, c->stride));
    CASCADE_TRY(axes_key(spec, "dilation", nsp, 1, 1, c->dilation));
    CASCADE_TRY(padding_key(spec, c));
    CASCADE_TRY(cascade_cfg_int(spec, "groups", 1, 1, 1L << 24, &c->groups));
    if (c->filters % c->groups)
        return cascade_cfg_error(spec, cascade_section_find(spec, "groups"),
                                 "filters = %ld is not divisible by groups = %ld", c->filters, c->groups);
    return cascade_cfg_bool(spec, "bias", 1, &c->bias);
}

static cascade_status conv1d_configure(void *c, cascade_section *s) { return conv_configure(c, s, 1); }
static cascade_status conv2d_configure(void *c, cascade_section *s) { return conv_configure(c, s, 2); }
static cascade_status conv3d_configure(void *c, cascade_section *s) { return conv_configure(c, s, 3); }

/* ---------------------------------------------------------------- shapes */

static void add_param(cascade_layer *L, const char *name, int ndim, const int64_t *dims, double bound) {
    cascade_param_desc *p = &L->params[L->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->shape = cascade_shape_make(ndim, dims);
    p->trainable = 1;
    p->init = CASCADE_INIT_UNIFORM;
    p->init_bound = bound;
}

static cascade_status conv_infer(cascade_layer *L) {
    static const char *const axes_text[] = {"", "length", "height, width", "depth, height, width"};
    conv_cfg *c = L->cfg;
    conv_geom *g = &c->g;
    const cascade_shape *in = &L->in_shape[0];
    char buf[96];
    if (in->ndim != c->nsp + 1)
        return cascade_fail(CASCADE_EUSAGE, "%s expects a per-sample input (channels, %s), got %s",
                            L->type, axes_text[c->nsp], cascade_shape_str(in, buf, sizeof buf));
    if (in->d[0] % c->groups)
        return cascade_fail(CASCADE_EUSAGE, "input channels %lld (input %s) are not divisible by groups = %ld",
                            (long long)in->d[0], cascade_shape_str(in, buf, sizeof buf), c->groups);
    memset(g, 0, sizeof *g);
    g->cin = (int)in->d[0];
    g->cout = (int)c->filters;
    g->cin_g = (int)(g->cin / c->groups);
    g->cout_g = (int)(g->cout / c->groups);
    g->in_px = g->out_px = 1;
    g->kprod = 1;
    g->pointwise = 1;
    int64_t out_dims[1 + CONV_AXES] = {g->cout};
    for (int a = 0; a < CONV_AXES; a++) {
        int i = a - (CONV_AXES - c->nsp); /* spatial axis of the layer, < 0: padding axis */
        if (i < 0) {
            g->in[a] = g->out[a] = g->k[a] = g->s[a] = g->d[a] = 1;
            continue;
        }
        int64_t size = in->d[1 + i], padded = size + c->pad_lo[i] + c->pad_hi[i];
        int64_t span = c->dilation[i] * (c->kernel[i] - 1) + 1;
        if (padded < span)
            return cascade_fail(CASCADE_EUSAGE,
                                "kernel %ld with dilation %ld spans %lld, more than the padded input %lld "
                                "(size %lld + padding %ld + %ld) on spatial axis %d of input %s",
                                c->kernel[i], c->dilation[i], (long long)span, (long long)padded,
                                (long long)size, c->pad_lo[i], c->pad_hi[i], i,
                                cascade_shape_str(in, buf, sizeof buf));
        g->in[a] = (int)size;
        g->out[a] = (int)((padded - span) / c->stride[i] + 1);
        g->k[a] = (int)c->kernel[i];
        g->s[a] = (int)c->stride[i];
        g->d[a] = (int)c->dilation[i];
        g->p[a] = (int)c->pad_lo[i];
        g->pointwise &= g->k[a] == 1 && g->s[a] == 1 && c->pad_lo[i] == 0 && c->pad_hi[i] == 0;
        out_dims[1 + i] = g->out[a];
        g->in_px *= g->in[a];
        g->out_px *= g->out[a];
        g->kprod *= g->k[a];
    }
    g->kg = g->cin_g * g->kprod;
    g->rows = (int64_t)g->cin * g->kprod;
    int64_t per_sample = (g->rows + g->cout) * g->out_px;
    if (g->rows > INT_MAX || g->out_px > INT_MAX / 2)
        return cascade_fail(CASCADE_EUSAGE, "convolution too large: %lld x %lld im2col matrix per sample",
                            (long long)g->rows, (long long)g->out_px);
    L->out_shape = cascade_shape_make(1 + c->nsp, out_dims);

    int64_t wdims[2 + CONV_AXES] = {g->cout, g->cin_g};
    for (int i = 0; i < c->nsp; i++) wdims[2 + i] = c->kernel[i];
    double bound = 1.0 / sqrt((double)g->kg); /* torch: kaiming_uniform(a=sqrt(5)) */
    add_param(L, "weight", 2 + c->nsp, wdims, bound);
    if (c->bias) add_param(L, "bias", 1, (int64_t[]){g->cout}, bound);

    int64_t wsize = (int64_t)g->cout * g->kg;
    g->batched = per_sample <= BATCHED_MAX;
    L->saved_per_sample = L->saved_fixed = 0;
    if (g->batched) {
        g->block = g->out_px >= TARGET_COLS ? 1 : (int)(TARGET_COLS / g->out_px);
        /* every sample's col + tmp, and one dW partial per block (<= n/block + 1 blocks) */
        L->work_per_sample = per_sample + (wsize + g->block - 1) / g->block;
        L->work_fixed = wsize;
    } else {
        g->block = 1;
        L->work_per_sample = 0;
        L->work_fixed = g->pointwise ? 0 : g->rows * g->out_px;
    }
    return CASCADE_OK;
}

/* ---------------------------------------------------------------- im2col / col2im */

/* Between one channel of an image (in...) and its kprod rows of col (row stride ld, P
 * columns from `col`): to_img = 0 copies patches into the rows (zeros where the kernel reads
 * padding), to_img = 1 adds the rows back into the image (col2im). */
static void patch_rows(const conv_geom *g, real *img, real *col, int64_t ld, int to_img) {
    const int *in = g->in, *out = g->out, *s = g->s, *d = g->d, *p = g->p;
    real *row = col;
    for (int kz = 0; kz < g->k[0]; kz++)
        for (int ky = 0; ky < g->k[1]; ky++)
            for (int kx = 0; kx < g->k[2]; kx++, row += ld) {
                /* output columns [lo, hi) read input columns inside the image */
                int first = p[2] - kx * d[2], last = in[2] - 1 + p[2] - kx * d[2];
                int lo = first <= 0 ? 0 : (first + s[2] - 1) / s[2];
                int hi = last < 0 ? 0 : last / s[2] + 1;
                if (hi > out[2]) hi = out[2];
                if (lo > hi) lo = hi;
                for (int oz = 0; oz < out[0]; oz++) {
                    int iz = oz * s[0] - p[0] + kz * d[0];
                    for (int oy = 0; oy < out[1]; oy++) {
                        int iy = oy * s[1] - p[1] + ky * d[1];
                        real *o = row + ((int64_t)oz * out[1] + oy) * out[2];
                        if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1]) {
                            if (!to_img) memset(o, 0, (size_t)out[2] * sizeof(real));
                            continue;
                        }
                        /* image index of output column ox: base + ox * s[2] */
                        int64_t base = ((int64_t)iz * in[1] + iy) * in[2] - first;
                        if (to_img) {
                            if (s[2] == 1)
                                for (int ox = lo; ox < hi; ox++) img[base + ox] += o[ox];
                            else
                                for (int ox = lo; ox < hi; ox++) img[base + (int64_t)ox * s[2]] += o[ox];
                            continue;
                        }
                        for (int ox = 0; ox < lo; ox++) o[ox] = 0;
                        if (s[2] == 1)
                            memcpy(o + lo, img + base + lo, (size_t)(hi - lo) * sizeof(real));
                        else
                            for (int ox = lo; ox < hi; ox++) o[ox] = img[base + (int64_t)ox * s[2]];
                        for (int ox = hi; ox < out[2]; ox++) o[ox] = 0;
                    }
                }
            }
}

/* All (sample, channel) pairs of m samples: x (m, Cin, in...) <-> col [rows, m*P]. Each pair
 * touches only its own image channel, so col2im is race-free and its order fixed. */
static void patches(const conv_geom *g, real *x, int m, real *col, int to_img, int par) {
    int64_t ld = m * g->out_px, pairs = (int64_t)m * g->cin;
#pragma omp parallel for schedule(static) if (par && pairs > 1)
    for (int64_t t = 0; t < pairs; t++) {
        int64_t sample = t / g->cin, ch = t % g->cin;
        patch_rows(g, x + t * g->in_px, col + ch * g->kprod * ld + sample * g->out_px, ld, to_img);
    }
}

/* ---------------------------------------------------------------- blocks of samples */

/* m samples: x (m, Cin, in...) -> y (m, Cout, out...). col [rows, m*P] and tmp [Cout, m*P]
 * are scratch; for m == 1 the GEMM writes y directly and tmp is unused. */
static void forward_block(const conv_geom *g, const real *x, real *y, const real *w, const real *bias,
                          int m, real *col, real *tmp, int par) {
    int64_t P = g->out_px;
    int ld = (int)(m * P);
    const real *cols = col;
    if (m == 1 && g->pointwise)
        cols = x;
    else
        patches(g, (real *)x, m, col, 0, par); /* to_img = 0: x only read */
    real *dst = m == 1 ? y : tmp;
    if (m == 1 && bias)
        for (int co = 0; co < g->cout; co++)
            for (int64_t i = 0; i < P; i++) y[co * P + i] = bias[co];
    for (int grp = 0; grp < g->cout / g->cout_g; grp++)
        OPSYM(op_gemm)(0, 0, g->cout_g, ld, g->kg, 1, w + (int64_t)grp * g->cout_g * g->kg, g->kg,
                       cols + (int64_t)grp * g->kg * ld, ld, m == 1 && bias ? 1 : 0,
                       dst + (int64_t)grp * g->cout_g * ld, ld);
    if (m == 1) return;
    for (int s = 0; s < m; s++)
        for (int co = 0; co < g->cout; co++) {
            real b = bias ? bias[co] : 0, *o = y + ((int64_t)s * g->cout + co) * P;
            const real *t = tmp + co * ld + s * P;
            for (int64_t i = 0; i < P; i++) o[i] = t[i] + b;
        }
}

/* m samples: dW (dw_beta * dW + dout col^T) when dw, din += col2im(W^T dout) when dx. */
static void backward_block(const conv_geom *g, const real *x, const real *dy, real *dx, const real *w,
                           real *dw, real dw_beta, int m, real *col, real *tmp, int par) {
    int64_t P = g->out_px;
    int ld = (int)(m * P), ngroups = g->cout / g->cout_g;
    const real *dys = dy; /* [Cout, m*P] */
    if (m > 1) {
        for (int s = 0; s < m; s++)
            for (int co = 0; co < g->cout; co++)
                memcpy(tmp + co * ld + s * P, dy + ((int64_t)s * g->cout + co) * P, (size_t)P * sizeof(real));
        dys = tmp;
    }
    int direct = m == 1 && g->pointwise; /* col is x itself */
    if (dw) {
        const real *cols = direct ? x : col;
        if (!direct) patches(g, (real *)x, m, col, 0, par);
        for (int grp = 0; grp < ngroups; grp++)
            OPSYM(op_gemm)(0, 1, g->cout_g, g->kg, ld, 1, dys + (int64_t)grp * g->cout_g * ld, ld,
                           cols + (int64_t)grp * g->kg * ld, ld, dw_beta,
                           dw + (int64_t)grp * g->cout_g * g->kg, g->kg);
    }
    if (!dx) return;
    real *dcol = direct ? dx : col; /* direct: accumulate into dx (beta 1) */
    for (int grp = 0; grp < ngroups; grp++)
        OPSYM(op_gemm)(1, 0, g->kg, ld, g->cout_g, 1, w + (int64_t)grp * g->cout_g * g->kg, g->kg,
                       dys + (int64_t)grp * g->cout_g * ld, ld, direct ? 1 : 0,
                       dcol + (int64_t)grp * g->kg * ld, ld);
    if (!direct) patches(g, dx, m, col, 1, par);
}

/* Block b of nblocks over n samples: samples [first, first + count). */
static void block_range(int n, int nblocks, int b, int *first, int *count) {
    *first = (int)((int64_t)b * n / nblocks);
    *count = (int)((int64_t)(b + 1) * n / nblocks) - *first;
}

static int block_count(const conv_geom *g, int n) { return (n + g->block - 1) / g->block; }

/* ---------------------------------------------------------------- forward / backward */

static void conv_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const conv_cfg *cfg = L->cfg;
    const conv_geom *g = &cfg->g;
    const real *bias = cfg->bias ? c->param[1] : NULL;
    int64_t in_n = g->cin * g->in_px, out_n = g->cout * g->out_px;
    if (!g->batched) {
        for (int s = 0; s < c->n; s++)
            forward_block(g, c->in[0] + s * in_n, c->out + s * out_n, c->param[0], bias, 1, c->work,
                          NULL, 1);
        return;
    }
    int nblocks = block_count(g, c->n);
    int64_t region = (g->rows + g->cout) * g->out_px; /* per sample */
#pragma omp parallel for schedule(dynamic, 1) if (nblocks > 1)
    for (int b = 0; b < nblocks; b++) {
        int s0, m;
        block_range(c->n, nblocks, b, &s0, &m);
        real *col = c->work + s0 * region;
        forward_block(g, c->in[0] + s0 * in_n, c->out + s0 * out_n, c->param[0], bias, m, col,
                      col + m * g->rows * g->out_px, nblocks == 1);
    }
}

static void conv_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const conv_cfg *cfg = L->cfg;
    const conv_geom *g = &cfg->g;
    int64_t in_n = g->cin * g->in_px, out_n = g->cout * g->out_px, P = g->out_px;
    real *dx = c->din[0], *dw = c->dparam[0], *db = cfg->bias ? c->dparam[1] : NULL;
    if (db) {
        /* per channel in sample order, double accumulator */
#pragma omp parallel for schedule(static) if ((int64_t)c->n * out_n > 65536)
        for (int co = 0; co < g->cout; co++) {
            double acc = 0;
            for (int s = 0; s < c->n; s++) {
                const real *gy = c->dout + s * out_n + co * P;
                for (int64_t i = 0; i < P; i++) acc += gy[i];
            }
            db[co] += (real)acc;
        }
    }
    if (!dx && !dw) return;
    if (!g->batched) {
        for (int s = 0; s < c->n; s++)
            backward_block(g, c->in[0] + s * in_n, c->dout + s * out_n, dx ? dx + s * in_n : NULL,
                           c->param[0], dw, 1, 1, c->work, NULL, 1);
        return;
    }
    int nblocks = block_count(g, c->n);
    int64_t region = (g->rows + g->cout) * P, wsize = (int64_t)g->cout * g->kg;
    real *parts = c->work + c->n * region; /* one dW partial per block */
#pragma omp parallel for schedule(dynamic, 1) if (nblocks > 1)
    for (int b = 0; b < nblocks; b++) {
        int s0, m;
        block_range(c->n, nblocks, b, &s0, &m);
        real *col = c->work + s0 * region;
        backward_block(g, c->in[0] + s0 * in_n, c->dout + s0 * out_n, dx ? dx + s0 * in_n : NULL,
                       c->param[0], dw ? parts + b * wsize : NULL, 0, m, col,
                       col + m * g->rows * P, nblocks == 1);
    }
    if (!dw) return;
#pragma omp parallel for schedule(static) if (wsize * nblocks > 65536)
    for (int64_t i = 0; i < wsize; i++) {
        real acc = parts[i];
        for (int b = 1; b < nblocks; b++) acc += parts[b * wsize + i];
        dw[i] += acc;
    }
}

#define CONV_OP(nd)                                                                        \
    const OPSYM(cascade_op) OPSYM(cascade_op_conv##nd##d) = {                              \
        .type = "conv" #nd "d", .cfg_size = sizeof(conv_cfg), .min_inputs = 1,            \
        .max_inputs = 1, .configure = conv##nd##d_configure, .infer = conv_infer,          \
        .forward = conv_forward, .backward = conv_backward};

CONV_OP(1)
CONV_OP(2)
CONV_OP(3)
