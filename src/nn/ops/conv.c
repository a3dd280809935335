/* conv1d, conv2d, conv3d: torch.nn.Conv1d/2d/3d with zero padding.
 * in (n, Cin, spatial...) -> out (n, Cout, spatial_out...); weight [Cout, Cin/groups, k...],
 * bias [Cout]. One code path for 1 to 3 spatial axes: shapes are padded to 3 axes with leading
 * axes of size 1 (kernel 1, stride 1, no padding), so conv1d on (C, L) runs as (C, 1, 1, L).
 *
 * Compute: im2col + GEMM over blocks of samples. For a block of m samples, col [Cin*kprod, m*P]
 * (P = output pixels per sample) has rows (c, kz, ky, kx) and columns (sample, pixel); per
 * group g
 *   tmp_g [Cout/g, m*P] = W_g [Cout/g, Kg] col_g [Kg, m*P]        (Kg = Cin/groups * kprod)
 * and tmp is scattered to (m, Cout, P) with the bias. Backward: dout is gathered to
 * [Cout, m*P]; the block's weight gradient dW_g^T = col_g dout_g^T; dcol_g = W_g^T dout_g, then
 * col2im adds into din. Blocks hold up to TARGET_COLS / P samples (one GEMM over 16 images of
 * 9x9 runs at near-peak speed, one per image at half of it) and one sample for large images;
 * a 1x1 convolution with stride 1 and no padding reads a lone sample's input directly.
 * conv2d with a 3x3 kernel, stride 1, dilation 1, one group and >= 8 input channels takes the
 * Winograd F(2x2, 3x3) path instead (conv_winograd.c: 16 GEMMs with 2.25x fewer products, same
 * blocks and threads), measured faster for every such shape tried, from 8 channels up.
 *
 * Threads: blocks run in parallel, each thread in its own scratch slot (sized at setup for
 * omp_get_max_threads(), reused block after block so it stays in cache), with single-threaded
 * GEMMs (op_gemm_serial) inside the OpenMP region: OpenBLAS 0.3.21 gives different bits for
 * different thread counts (gemm.c). A lone block (n = 1) thus runs on one thread.
 *
 * Thread-count independence: the block partition depends only on n and the shapes; every GEMM
 * runs whole on one thread; the weight gradient is one partial per block, added in block
 * order; the bias gradient per channel in sample order; col2im writes each image channel from
 * one loop in a fixed order. tests/unit/test_conv.c and test_threads.c check it bitwise.
 * Nothing is kept from forward (saved = 0): backward recomputes im2col (or the Winograd input
 * transform), which keeps memory at one block's columns per thread; keeping the transformed
 * input for backward was measured slower (forward then writes it to memory out of cache).
 *
 * separable2d and hexconv run through the same code via conv.h: conv_geometry (keys -> geom),
 * conv_scratch (work sizes), conv_run_forward/backward (the blocked im2col + GEMM); hexconv
 * sets geom.hex_radius and patches() then calls its gather (hex_patches) instead of im2col. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <tgmath.h>

#include <omp.h>

#include "nn/op.h"
#include "nn/ops/conv.h"
#include "nn/ops/spectral.h"

/* ---------------------------------------------------------------- keys */

cascade_status OPSYM(conv_axes_key)(cascade_section *spec, const char *key, int nsp, long dflt, long min,
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

cascade_status OPSYM(conv_padding_key)(cascade_section *spec, conv_cfg *c) {
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
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "padding", c->nsp, 0, 0, c->pad_lo));
    memcpy(c->pad_hi, c->pad_lo, sizeof c->pad_hi);
    return CASCADE_OK;
}

cascade_status OPSYM(conv_size_keys)(cascade_section *spec, const char *type, int nsp, long *filters,
                                     long *kernel, long *stride) {
    CASCADE_TRY(cascade_cfg_int(spec, "filters", 0, 1, 1L << 24, filters));
    if (*filters == 0) return cascade_cfg_error(spec, NULL, "%s needs `filters`", type);
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "kernel", nsp, 0, 1, kernel));
    if (kernel[0] == 0) return cascade_cfg_error(spec, NULL, "%s needs `kernel`", type);
    return OPSYM(conv_axes_key)(spec, "stride", nsp, 1, 1, stride);
}

static cascade_status conv_configure(conv_cfg *c, cascade_section *spec, int nsp) {
    static const char *const types[] = {"", "conv1d", "conv2d", "conv3d"};
    c->nsp = nsp;
    CASCADE_TRY(OPSYM(conv_size_keys)(spec, types[nsp], nsp, &c->filters, c->kernel, c->stride));
    CASCADE_TRY(OPSYM(conv_axes_key)(spec, "dilation", nsp, 1, 1, c->dilation));
    CASCADE_TRY(OPSYM(conv_padding_key)(spec, c));
    CASCADE_TRY(cascade_cfg_int(spec, "groups", 1, 1, 1L << 24, &c->groups));
    if (c->filters % c->groups)
        return cascade_cfg_error(spec, cascade_section_find(spec, "groups"),
                                 "filters = %ld is not divisible by groups = %ld", c->filters, c->groups);
    CASCADE_TRY(cascade_cfg_bool(spec, "spectral_norm", 0, &c->spectral_norm));
    return cascade_cfg_bool(spec, "bias", 1, &c->bias);
}

static cascade_status conv1d_configure(void *c, cascade_section *s) { return conv_configure(c, s, 1); }
static cascade_status conv2d_configure(void *c, cascade_section *s) { return conv_configure(c, s, 2); }
static cascade_status conv3d_configure(void *c, cascade_section *s) { return conv_configure(c, s, 3); }

/* ---------------------------------------------------------------- shapes */

void OPSYM(conv_add_param)(cascade_layer *L, const char *name, int ndim, const int64_t *dims, double bound) {
    cascade_param_desc *p = &L->params[L->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->shape = cascade_shape_make(ndim, dims);
    p->trainable = 1;
    p->init = CASCADE_INIT_UNIFORM;
    p->init_bound = bound;
}

cascade_status OPSYM(conv_geometry)(conv_cfg *c, const cascade_shape *in, const char *type,
                                    cascade_shape *out_shape) {
    static const char *const axes_text[] = {"", "length", "height, width", "depth, height, width"};
    conv_geom *g = &c->g;
    char buf[96];
    if (in->ndim != c->nsp + 1)
        return cascade_fail(CASCADE_EUSAGE, "%s expects a per-sample input (channels, %s), got %s",
                            type, axes_text[c->nsp], cascade_shape_str(in, buf, sizeof buf));
    if (in->d[0] % c->groups)
        return cascade_fail(CASCADE_EUSAGE, "input channels %lld (input %s) are not divisible by groups = %ld",
                            (long long)in->d[0], cascade_shape_str(in, buf, sizeof buf), c->groups);
    conv_geom_init(g, (int)in->d[0], (int)c->filters, (int)c->groups);
    int64_t out_dims[1 + CONV_AXES] = {g->cout};
    for (int a = 0; a < CONV_AXES; a++) {
        int i = a - (CONV_AXES - c->nsp); /* spatial axis of the layer, < 0: padding axis */
        if (i < 0) {
            conv_geom_axis(g, a, 1, 1, 1, 1, 1, 0);
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
        conv_geom_axis(g, a, (int)size, (int)((padded - span) / c->stride[i] + 1), (int)c->kernel[i],
                       (int)c->stride[i], (int)c->dilation[i], (int)c->pad_lo[i]);
        g->pointwise &= g->k[a] == 1 && g->s[a] == 1 && c->pad_lo[i] == 0 && c->pad_hi[i] == 0;
        out_dims[1 + i] = g->out[a];
    }
    g->kg = g->cin_g * g->kprod;
    g->rows = (int64_t)g->cin * g->kprod;
    if (g->rows > INT_MAX || g->out_px > INT_MAX / 2)
        return cascade_fail(CASCADE_EUSAGE, "convolution too large: %lld x %lld im2col matrix per sample",
                            (long long)g->rows, (long long)g->out_px);
    *out_shape = cascade_shape_make(1 + c->nsp, out_dims);
    g->wino = c->nsp == 2 && g->k[1] == 3 && g->k[2] == 3 && g->s[1] == 1 && g->s[2] == 1 && g->d[1] == 1 &&
              g->d[2] == 1 && g->groups == 1 && g->cin >= WINO_MIN_CIN;
    return CASCADE_OK;
}

static cascade_status conv_infer(cascade_layer *L) {
    conv_cfg *c = L->cfg;
    conv_geom *g = &c->g;
    CASCADE_TRY(OPSYM(conv_geometry)(c, &L->in_shape[0], L->type, &L->out_shape));

    int64_t wdims[2 + CONV_AXES] = {g->cout, g->cin_g};
    for (int i = 0; i < c->nsp; i++) wdims[2 + i] = c->kernel[i];
    double bound = 1.0 / sqrt((double)g->kg); /* torch: kaiming_uniform(a=sqrt(5)) */
    OPSYM(conv_add_param)(L, "weight", 2 + c->nsp, wdims, bound);
    if (c->bias) OPSYM(conv_add_param)(L, "bias", 1, (int64_t[]){g->cout}, bound);

    L->saved_per_sample = L->saved_fixed = 0;
    OPSYM(conv_scratch)(g, &L->work_per_sample, &L->work_fixed);
    if (c->spectral_norm) OPSYM(sn_setup)(L, g->cout, g->kg); /* after the scratch: G at its end */
    return CASCADE_OK;
}

void OPSYM(conv_scratch)(conv_geom *g, int64_t *work_per_sample, int64_t *work_fixed) {
    int64_t per_sample = (g->rows + g->cout) * g->out_px;
    /* Scratch: a slot per thread (col + tmp of one block, reused block after block so it stays
     * in cache; one sample needs no tmp and a pointwise one no col either), and one weight
     * gradient per block (at most n/block + 1 + MIN_BLOCKS blocks, see block_count). */
    g->slots = omp_get_max_threads() < MAX_SLOTS ? omp_get_max_threads() : MAX_SLOTS;
    if (g->wino) {
        g->tiles_h = (g->out[1] + 1) / 2;
        g->tiles_w = (g->out[2] + 1) / 2;
        g->tiles = (int64_t)g->tiles_h * g->tiles_w;
        g->pad_h = 2 * g->tiles_h + 2;
        g->pad_w = 2 * g->tiles_w + 2;
        g->block = g->tiles >= WINO_COLS ? 1 : (int)(WINO_COLS / g->tiles);
        g->slot = wino_slot(g, g->block);
        g->part = g->fixed = 16 * (int64_t)g->cout * g->cin; /* gradient of u; u */
    } else {
        g->block = g->out_px >= TARGET_COLS ? 1 : (int)(TARGET_COLS / g->out_px);
        g->slot = g->block > 1 ? g->block * per_sample : g->pointwise ? 0 : g->rows * g->out_px;
        g->part = (int64_t)g->cout * g->kg;
    }
    *work_per_sample = (g->part + g->block - 1) / g->block;
    *work_fixed = g->fixed + g->slots * g->slot + (1 + MIN_BLOCKS) * g->part;
}

/* ---------------------------------------------------------------- im2col / col2im */

/* Output indices o in [lo, hi) of one axis whose input index o*s - p + k*d is inside [0, in). */
static inline void inside_range(int in, int out, int s, int d, int p, int k, int *lo, int *hi) {
    int first = p - k * d, last = in - 1 + p - k * d;
    if (s == 1) {
        *lo = first <= 0 ? 0 : first;
        *hi = last < 0 ? 0 : last + 1;
    } else {
        *lo = first <= 0 ? 0 : (first + s - 1) / s;
        *hi = last < 0 ? 0 : last / s + 1;
    }
    if (*hi > out) *hi = out;
    if (*lo > *hi) *lo = *hi;
}

static void zero(real *v, int64_t n) {
    if (n > 0) memset(v, 0, (size_t)n * sizeof(real));
}

/* Zeroes columns [0, xlo) and [xhi, width) of rows [ylo, yhi) (strided: usually one column,
 * where a call to memset per row would cost more than the store). */
static void zero_columns(real *o, int width, int ylo, int yhi, int xlo, int xhi) {
    for (int ox = 0; ox < width; ox++) {
        if (ox == xlo) ox = xhi; /* skip the columns inside the image */
        if (ox >= width) break;
        for (int oy = ylo; oy < yhi; oy++) o[(int64_t)oy * width + ox] = 0;
    }
}

/* One output plane of one tap: o [out[1], out[2]] <-> image plane `im`, where output (oy, ox)
 * reads image index base + oy * s[1] * in[2] + ox * s[2] for oy in [ylo, yhi), ox in
 * [xlo, xhi) and padding elsewhere. to_img = 0 copies into o (zeros for padding); to_img = 1
 * adds o into the image (col2im; o is scratch and gets zeroed where it reads padding). */
static void patch_plane(const conv_geom *g, real *o, real *im, int64_t base, int ylo, int yhi, int xlo,
                        int xhi, int to_img) {
    const int *in = g->in, *out = g->out, *s = g->s;
    if (!to_img) {
        zero(o, (int64_t)ylo * out[2]);
        zero(o + (int64_t)yhi * out[2], (int64_t)(out[1] - yhi) * out[2]);
    }
    if (s[1] == 1 && s[2] == 1 && out[2] == in[2]) {
        /* rows as wide as the image (padding `same`): outputs q in [q0, q1) read image base + q,
         * one contiguous stretch; the columns outside [xlo, xhi) in between wrap around to the
         * neighbouring row and are zeroed */
        int64_t q0 = (int64_t)ylo * out[2] + xlo, q1 = (int64_t)(yhi - 1) * out[2] + xhi;
        if (to_img) {
            zero_columns(o, out[2], ylo, yhi, xlo, xhi);
#pragma omp simd
            for (int64_t q = q0; q < q1; q++) im[base + q] += o[q];
        } else {
#pragma omp simd
            for (int64_t q = q0; q < q1; q++) o[q] = im[base + q];
            zero_columns(o, out[2], ylo, yhi, xlo, xhi);
        }
        return;
    }
    for (int oy = ylo; oy < yhi; oy++) {
        real *r = o + (int64_t)oy * out[2];
        int64_t b = base + (int64_t)oy * s[1] * in[2];
        if (to_img) {
#pragma omp simd
            for (int ox = xlo; ox < xhi; ox++) im[b + (int64_t)ox * s[2]] += r[ox];
            continue;
        }
        zero(r, xlo);
#pragma omp simd
        for (int ox = xlo; ox < xhi; ox++) r[ox] = im[b + (int64_t)ox * s[2]];
        zero(r + xhi, out[2] - xhi);
    }
}

/* Between channel c of m images (the first at img, the next img_step further) and the kprod
 * rows of col for c (row stride ld; sample s at column s*P): im2col (to_img = 0) or col2im
 * (to_img = 1). Tap by tap, sample after sample: each row is written front to back. */
static void patch_rows(const conv_geom *g, real *img, int64_t img_step, int m, real *col, int64_t ld,
                       int to_img) {
    const int *in = g->in, *out = g->out, *s = g->s, *d = g->d, *p = g->p;
    int64_t plane = (int64_t)out[1] * out[2];
    real *row = col;
    int zlo, zhi, ylo, yhi, xlo, xhi;
    for (int kz = 0; kz < g->k[0]; kz++) {
        inside_range(in[0], out[0], s[0], d[0], p[0], kz, &zlo, &zhi);
        for (int ky = 0; ky < g->k[1]; ky++) {
            inside_range(in[1], out[1], s[1], d[1], p[1], ky, &ylo, &yhi);
            for (int kx = 0; kx < g->k[2]; kx++, row += ld) {
                inside_range(in[2], out[2], s[2], d[2], p[2], kx, &xlo, &xhi);
                int z1 = ylo == yhi || xlo == xhi ? zlo : zhi; /* planes [zlo, z1) read the image */
                for (int smp = 0; smp < m; smp++) {
                    for (int oz = 0; oz < out[0]; oz++) {
                        real *o = row + smp * g->out_px + oz * plane;
                        if (oz < zlo || oz >= z1) {
                            if (!to_img) zero(o, plane);
                            continue;
                        }
                        int64_t base = ((int64_t)(oz * s[0] - p[0] + kz * d[0]) * in[1] - p[1] + ky * d[1]) * in[2] -
                                       p[2] + kx * d[2];
                        patch_plane(g, o, img + smp * img_step, base, ylo, yhi, xlo, xhi, to_img);
                    }
                }
            }
        }
    }
}

/* m samples: x (m, Cin, in...) <-> col [rows, m*P], channel by channel (hexconv: its gather). */
void OPSYM(conv_patches)(const conv_geom *g, real *x, int m, real *col, int to_img) {
    if (g->hex_radius) {
        OPSYM(hex_patches)(g, x, m, col, to_img);
        return;
    }
    int64_t ld = m * g->out_px;
    for (int ch = 0; ch < g->cin; ch++)
        patch_rows(g, x + ch * g->in_px, g->cin * g->in_px, m, col + ch * g->kprod * ld, ld, to_img);
}

/* ---------------------------------------------------------------- blocks of samples */

/* m samples: x (m, Cin, in...) -> y (m, Cout, out...), or y += (add, then bias is NULL: the
 * tangent of the double backward). col [rows, m*P] and tmp [Cout, m*P] are scratch; for
 * m == 1 the GEMM writes y directly and tmp is unused. */
static void forward_block(const conv_geom *g, const real *x, real *y, const real *w, const real *bias,
                          int add, int m, real *col, real *tmp) {
    int64_t P = g->out_px;
    int ld = (int)(m * P);
    const real *cols = col;
    if (m == 1 && g->pointwise)
        cols = x;
    else
        OPSYM(conv_patches)(g, (real *)x, m, col, 0); /* to_img = 0: x only read */
    real *dst = m == 1 ? y : tmp;
    if (m == 1 && bias)
        for (int co = 0; co < g->cout; co++)
            for (int64_t i = 0; i < P; i++) y[co * P + i] = bias[co];
    for (int grp = 0; grp < g->groups; grp++)
        OPSYM(op_gemm_serial)(0, 0, g->cout_g, ld, g->kg, 1, w + (int64_t)grp * g->cout_g * g->kg, g->kg,
                       cols + (int64_t)grp * g->kg * ld, ld, m == 1 && (bias || add) ? 1 : 0,
                       dst + (int64_t)grp * g->cout_g * ld, ld);
    if (m == 1) return;
    for (int s = 0; s < m; s++)
        for (int co = 0; co < g->cout; co++) {
            real b = bias ? bias[co] : 0, *o = y + ((int64_t)s * g->cout + co) * P;
            const real *t = tmp + (int64_t)co * ld + s * P;
            if (add) {
#pragma omp simd
                for (int64_t i = 0; i < P; i++) o[i] += t[i];
                continue;
            }
#pragma omp simd
            for (int64_t i = 0; i < P; i++) o[i] = t[i] + b;
        }
}

/* m samples: dwt (when not NULL) = the block's weight gradient, per group transposed
 * [Kg, Cout/g] (col dout^T: the faster GEMM shape for few filters); din += col2im(W^T dout)
 * when dx. */
static void backward_block(const conv_geom *g, const real *x, const real *dy, real *dx, const real *w,
                           real *dwt, int m, real *col, real *tmp) {
    int64_t P = g->out_px;
    int ld = (int)(m * P);
    const real *dys = dy; /* [Cout, m*P] */
    if (m > 1) {
        for (int s = 0; s < m; s++)
            for (int co = 0; co < g->cout; co++)
                memcpy(tmp + (int64_t)co * ld + s * P, dy + ((int64_t)s * g->cout + co) * P, (size_t)P * sizeof(real));
        dys = tmp;
    }
    int direct = m == 1 && g->pointwise; /* col is x itself */
    if (dwt) {
        const real *cols = direct ? x : col;
        if (!direct) OPSYM(conv_patches)(g, (real *)x, m, col, 0);
        for (int grp = 0; grp < g->groups; grp++)
            OPSYM(op_gemm_serial)(0, 1, g->kg, g->cout_g, ld, 1, cols + (int64_t)grp * g->kg * ld, ld,
                           dys + (int64_t)grp * g->cout_g * ld, ld, 0,
                           dwt + (int64_t)grp * g->cout_g * g->kg, g->cout_g);
    }
    if (!dx) return;
    real *dcol = direct ? dx : col; /* direct: accumulate into dx (beta 1) */
    for (int grp = 0; grp < g->groups; grp++)
        OPSYM(op_gemm_serial)(1, 0, g->kg, ld, g->cout_g, 1, w + (int64_t)grp * g->cout_g * g->kg, g->kg,
                       dys + (int64_t)grp * g->cout_g * ld, ld, direct ? 1 : 0,
                       dcol + (int64_t)grp * g->kg * ld, ld);
    if (!direct) OPSYM(conv_patches)(g, dx, m, col, 1);
}

/* db[co] += sum of dout (n, channels, P) over samples and pixels: per channel in sample
 * order, in double (vector lanes: the order is fixed by the code, not by the thread count);
 * channels in chunks, samples streamed through. */
void OPSYM(conv_bias_grad)(const real *dout, int n, int channels, int64_t P, real *db) {
    enum { CHUNK = 256 };
    int64_t out_n = channels * P;
#pragma omp parallel for schedule(static) if (channels > CHUNK && (int64_t)n * out_n > 65536)
    for (int c0 = 0; c0 < channels; c0 += CHUNK) {
        int c1 = c0 + CHUNK < channels ? c0 + CHUNK : channels;
        double acc[CHUNK] = {0};
        for (int s = 0; s < n; s++)
            for (int co = c0; co < c1; co++) {
                const real *gy = dout + s * out_n + co * P;
                double sum = 0;
#pragma omp simd reduction(+ : sum)
                for (int64_t i = 0; i < P; i++) sum += gy[i];
                acc[co - c0] += sum;
            }
        for (int co = c0; co < c1; co++) db[co] += (real)acc[co - c0];
    }
}

/* The blocks' gradients parts [nblocks, part] summed into the first, in block order. */
void OPSYM(conv_sum_parts)(real *parts, int64_t part, int nblocks) {
    enum { SPAN = 4096 };
#pragma omp parallel for schedule(static) if (part * nblocks > 65536)
    for (int64_t i0 = 0; i0 < part; i0 += SPAN) {
        int64_t i1 = i0 + SPAN < part ? i0 + SPAN : part;
        for (int b = 1; b < nblocks; b++) {
            const real *pb = parts + b * part;
#pragma omp simd
            for (int64_t i = i0; i < i1; i++) parts[i] += pb[i];
        }
    }
}

/* ---------------------------------------------------------------- forward / backward */

/* out = conv(in) + bias, or out += conv(in) (add; bias NULL). */
static void run_forward(const conv_geom *g, int n, const real *in, real *out, const real *w, const real *bias,
                        int add, real *work) {
    int64_t in_n = g->cin * g->in_px, out_n = g->cout * g->out_px;
    real *u = work; /* Winograd weights */
    if (g->wino) OPSYM(wino_weights)(g, w, u);
    int nblocks = block_count(g, n), team = block_team(g, nblocks);
#pragma omp parallel num_threads(team) if (team > 1)
    {
        real *col = work + g->fixed + omp_get_thread_num() * g->slot;
        real *tmp = col + g->block * g->rows * g->out_px;
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < nblocks; b++) {
            int s0, m;
            block_range(n, nblocks, b, &s0, &m);
            const real *x = in + s0 * in_n;
            real *y = out + s0 * out_n;
            if (g->wino)
                OPSYM(wino_forward_block)(g, x, y, u, bias, add, m, col);
            else
                forward_block(g, x, y, w, bias, add, m, col, tmp);
        }
    }
}

void OPSYM(conv_run_forward)(const conv_geom *g, int n, const real *in, real *out, const real *w,
                             const real *bias, real *work) {
    run_forward(g, n, in, out, w, bias, 0, work);
}

void OPSYM(conv_run_forward_add)(const conv_geom *g, int n, const real *in, real *out, const real *w,
                                 real *work) {
    run_forward(g, n, in, out, w, NULL, 1, work);
}

static void conv_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const conv_cfg *cfg = L->cfg;
    const real *w = cfg->spectral_norm ? OPSYM(sn_forward)(L, c->param, c->saved) : c->param[0];
    OPSYM(conv_run_forward)(&cfg->g, c->n, c->in[0], c->out, w, cfg->bias ? c->param[1] : NULL, c->work);
}

void OPSYM(conv_run_backward)(const conv_geom *g, int n, const real *in, const real *dout, real *dx,
                              const real *w, real *dw, real *db, real *work) {
    int64_t in_n = g->cin * g->in_px, out_n = g->cout * g->out_px, P = g->out_px;
    if (db) OPSYM(conv_bias_grad)(dout, n, g->cout, P, db);
    if (!dx && !dw) return;
    real *u = work; /* Winograd weights */
    if (g->wino) OPSYM(wino_weights)(g, w, u);
    int nblocks = block_count(g, n), team = block_team(g, nblocks);
    real *parts = work + g->fixed + g->slots * g->slot; /* one weight gradient per block */
#pragma omp parallel num_threads(team) if (team > 1)
    {
        real *col = work + g->fixed + omp_get_thread_num() * g->slot, *tmp = col + g->block * g->rows * P;
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < nblocks; b++) {
            int s0, m;
            block_range(n, nblocks, b, &s0, &m);
            const real *x = in + s0 * in_n, *gy = dout + s0 * out_n;
            real *gx = dx ? dx + s0 * in_n : NULL, *part = dw ? parts + b * g->part : NULL;
            if (g->wino)
                OPSYM(wino_backward_block)(g, x, gy, gx, u, part, m, col);
            else
                backward_block(g, x, gy, gx, w, part, m, col, tmp);
        }
    }
    if (!dw) return;
    OPSYM(conv_sum_parts)(parts, g->part, nblocks);
    if (g->wino) {
        OPSYM(wino_weight_grad)(g, parts, dw);
        return;
    }
    /* dW[grp, co, k] += part[grp, k, co] */
    int64_t gsize = (int64_t)g->cout_g * g->kg;
    for (int64_t i = 0; i < gsize * g->groups; i++)
        dw[i] += parts[i / gsize * gsize + i % g->kg * g->cout_g + i % gsize / g->kg];
}

static void conv_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const conv_cfg *cfg = L->cfg;
    int sn = cfg->spectral_norm;
    real *dw = sn && c->dparam[0] ? OPSYM(sn_grad_buffer)(L, c->n, c->work) : c->dparam[0];
    OPSYM(conv_run_backward)(&cfg->g, c->n, c->in[0], c->dout, c->din[0], sn ? c->saved : c->param[0], dw,
                             cfg->bias ? c->dparam[1] : NULL, c->work);
    if (sn && dw) OPSYM(sn_grad)(L, c->param, c->saved, dw, c->dparam[0]);
}

/* Double backward (op_types.h): the backward is linear in dout and in the input, din =
 * W^T-conv(dout), so for R = sum(u * din) the tangent is the forward on u without bias,
 * dW += the weight gradient of (in = u, dout), and there is no second-order term in the input. */
void OPSYM(conv_run_backward2)(const conv_geom *g, int n, const real *u, const real *dout, real *uout,
                               const real *w, real *dw, real *work) {
    if (!u) return; /* zero tangent */
    OPSYM(conv_run_forward_add)(g, n, u, uout, w, work);
    if (dw) OPSYM(conv_run_backward)(g, n, u, dout, NULL, w, dw, NULL, work);
}

static void conv_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const conv_cfg *cfg = L->cfg;
    int sn = cfg->spectral_norm;
    real *dw = sn && c->dparam[0] && c->uin[0] ? OPSYM(sn_grad_buffer)(L, c->n, c->work) : c->dparam[0];
    OPSYM(conv_run_backward2)(&cfg->g, c->n, c->uin[0], c->dout, c->uout, sn ? c->saved : c->param[0], dw, c->work);
    if (sn && dw && c->uin[0]) OPSYM(sn_grad)(L, c->param, c->saved, dw, c->dparam[0]);
}

static void conv_begin_update(const cascade_layer *L, real *const *param) {
    if (((const conv_cfg *)L->cfg)->spectral_norm) OPSYM(sn_begin_update)(L, param);
}

#define CONV_OP(nd)                                                                        \
    const OPSYM(cascade_op) OPSYM(cascade_op_conv##nd##d) = {                              \
        .type = "conv" #nd "d", .cfg_size = sizeof(conv_cfg), .min_inputs = 1,            \
        .max_inputs = 1, .configure = conv##nd##d_configure, .infer = conv_infer,          \
        .forward = conv_forward, .backward = conv_backward, .backward2 = conv_backward2,     \
        .begin_update = conv_begin_update};

CONV_OP(1)
CONV_OP(2)
CONV_OP(3)
