/* Winograd F(2x2, 3x3) for conv2d with a 3x3 kernel, stride 1, dilation 1 and one group
 * (Lavin & Gray 2016): per 2x2 output tile, y = A^T [(G w G^T) . (B^T d B)] A over the 4x4
 * input tile d, 16 products per tile and channel pair instead of 36. Per block of m samples
 * with T = tiles per sample and NT = m*T tile columns (column t*m + s for tile t of sample s):
 *   v [16, Cin, NT] = B^T d B          (input transform, from a zero-padded copy of each plane)
 *   z [16, Cout, NT] = u[xi] v[xi]      (16 GEMMs, u [16, Cout, Cin] = G w G^T)
 *   y = A^T z A                         (output transform, tiles clipped to the output, + bias)
 * Backward is the exact adjoint of the same formula: z = A dy A^T (dy zero past the output),
 * du[xi] = z[xi] v[xi]^T, dv[xi] = u[xi]^T z[xi], din += B dv B^T (overlapping tiles added in a
 * fixed order), dw = G^T du G. Only additions and halvings, so in float the result stays within
 * a few ulps of the direct sum (tests/torch/ref_conv.py checks 1e-5 normwise against torch).
 *
 * The transforms run vectorised over the samples of a block (planes interleaved sample-minor,
 * so the vector lanes are samples: small images have rows of only a few tiles), and over the
 * tiles of a row for a block of one sample (large images). */
#include <string.h>

#include "nn/ops/conv.h"

/* 1-D transforms of F(2, 3): B^T (4 -> 4), A^T (4 -> 2), A (2 -> 4), B (4 -> 4), applied to the
 * rows and columns of the tiles. */
#define BT(d0, d1, d2, d3, o0, o1, o2, o3) (o0 = (d0) - (d2), o1 = (d1) + (d2), o2 = (d2) - (d1), o3 = (d1) - (d3))
#define AT(m0, m1, m2, m3, o0, o1) (o0 = (m0) + (m1) + (m2), o1 = (m1) - (m2) - (m3))
#define A2(e0, e1, o0, o1, o2, o3) (o0 = (e0), o1 = (e0) + (e1), o2 = (e0) - (e1), o3 = -(e1))
#define B4(e0, e1, e2, e3, o0, o1, o2, o3) (o0 = (e0), o1 = (e1) - (e2) + (e3), o2 = (e1) + (e2) - (e0), o3 = -(e3))

/* One tile each, elements addressed by strides so that the loops below can run their vector
 * lanes over the tiles of a row (one sample) or over the samples of a block (interleaved).
 * Written out without loops and always inlined (they exceed the default inlining limits) so
 * that the compiler vectorises the caller's loop. */
#define TILE_FN static inline __attribute__((always_inline)) void

/* o[xi * os] = (B^T d B)[xi] for the 4x4 tile d(i, j) = d[i * rs + j * cs]. */
TILE_FN input_tile(const real *d, int64_t rs, int64_t cs, real *o, int64_t os) {
    real t00, t10, t20, t30, t01, t11, t21, t31, t02, t12, t22, t32, t03, t13, t23, t33;
    const real *d0 = d, *d1 = d + rs, *d2 = d + 2 * rs, *d3 = d + 3 * rs;
    BT(d0[0], d1[0], d2[0], d3[0], t00, t10, t20, t30);
    BT(d0[cs], d1[cs], d2[cs], d3[cs], t01, t11, t21, t31);
    BT(d0[2 * cs], d1[2 * cs], d2[2 * cs], d3[2 * cs], t02, t12, t22, t32);
    BT(d0[3 * cs], d1[3 * cs], d2[3 * cs], d3[3 * cs], t03, t13, t23, t33);
    BT(t00, t01, t02, t03, o[0], o[os], o[2 * os], o[3 * os]);
    BT(t10, t11, t12, t13, o[4 * os], o[5 * os], o[6 * os], o[7 * os]);
    BT(t20, t21, t22, t23, o[8 * os], o[9 * os], o[10 * os], o[11 * os]);
    BT(t30, t31, t32, t33, o[12 * os], o[13 * os], o[14 * os], o[15 * os]);
}

/* The 2x2 outputs q(i, j) = q[i * rs + j * cs] of A^T z A, z[xi] = z[xi * zs]. */
TILE_FN output_tile(const real *z, int64_t zs, real *q, int64_t rs, int64_t cs) {
    real a00, a10, a01, a11, a02, a12, a03, a13;
    AT(z[0], z[4 * zs], z[8 * zs], z[12 * zs], a00, a10);
    AT(z[zs], z[5 * zs], z[9 * zs], z[13 * zs], a01, a11);
    AT(z[2 * zs], z[6 * zs], z[10 * zs], z[14 * zs], a02, a12);
    AT(z[3 * zs], z[7 * zs], z[11 * zs], z[15 * zs], a03, a13);
    AT(a00, a01, a02, a03, q[0], q[cs]);
    AT(a10, a11, a12, a13, q[rs], q[rs + cs]);
}

/* o[xi * os] = (A e A^T)[xi] for the 2x2 gradient tile e(i, j) = e[i * rs + j * cs]. */
TILE_FN grad_tile(const real *e, int64_t rs, int64_t cs, real *o, int64_t os) {
    real t00, t10, t20, t30, t01, t11, t21, t31;
    A2(e[0], e[rs], t00, t10, t20, t30);
    A2(e[cs], e[rs + cs], t01, t11, t21, t31);
    A2(t00, t01, o[0], o[os], o[2 * os], o[3 * os]);
    A2(t10, t11, o[4 * os], o[5 * os], o[6 * os], o[7 * os]);
    A2(t20, t21, o[8 * os], o[9 * os], o[10 * os], o[11 * os]);
    A2(t30, t31, o[12 * os], o[13 * os], o[14 * os], o[15 * os]);
}

/* d(i, j) = d[i * rs + j * cs] += (B e B^T)(i, j) for e[xi] = e[xi * es]. */
TILE_FN input_grad_tile(const real *e, int64_t es, real *d, int64_t rs, int64_t cs) {
    real t00, t10, t20, t30, t01, t11, t21, t31, t02, t12, t22, t32, t03, t13, t23, t33, u0, u1, u2, u3;
    B4(e[0], e[4 * es], e[8 * es], e[12 * es], t00, t10, t20, t30);
    B4(e[es], e[5 * es], e[9 * es], e[13 * es], t01, t11, t21, t31);
    B4(e[2 * es], e[6 * es], e[10 * es], e[14 * es], t02, t12, t22, t32);
    B4(e[3 * es], e[7 * es], e[11 * es], e[15 * es], t03, t13, t23, t33);
    real *d1 = d + rs, *d2 = d + 2 * rs, *d3 = d + 3 * rs;
    B4(t00, t01, t02, t03, u0, u1, u2, u3);
    d[0] += u0, d[cs] += u1, d[2 * cs] += u2, d[3 * cs] += u3;
    B4(t10, t11, t12, t13, u0, u1, u2, u3);
    d1[0] += u0, d1[cs] += u1, d1[2 * cs] += u2, d1[3 * cs] += u3;
    B4(t20, t21, t22, t23, u0, u1, u2, u3);
    d2[0] += u0, d2[cs] += u1, d2[2 * cs] += u2, d2[3 * cs] += u3;
    B4(t30, t31, t32, t33, u0, u1, u2, u3);
    d3[0] += u0, d3[cs] += u1, d3[2 * cs] += u2, d3[3 * cs] += u3;
}

/* Copies rows of w floats (short: no call to memcpy) from src (stride ss) to dst (stride ds). */
static void copy_rows(real *dst, int64_t ds, const real *src, int64_t ss, int rows, int w) {
    for (int r = 0; r < rows; r++, dst += ds, src += ss)
#pragma omp simd
        for (int i = 0; i < w; i++) dst[i] = src[i];
}

/* Rows and columns of the padded image that hold the image (clipped to the tiles' reach). */
static void image_span(const conv_geom *g, int *rows, int *cols) {
    int h = g->in[1], w = g->in[2], py = g->p[1], px = g->p[2];
    *rows = h + py <= g->pad_h ? h : g->pad_h - py;
    *cols = w + px <= g->pad_w ? w : g->pad_w - px;
}

/* Copies image plane img (H, W) into pd (pad_h, pad_w) at the padding offset; the rest of pd
 * is zero (zeroed once by the caller, never written). */
static void pad_plane(const conv_geom *g, const real *img, real *pd) {
    int rows, cols;
    image_span(g, &rows, &cols);
    copy_rows(pd + (int64_t)g->p[1] * g->pad_w + g->p[2], g->pad_w, img, g->in[2], rows, cols);
}

/* Interleaves m planes, sample-minor: p[((r0 + r) * w + c0 + c) * m + s] = src[s * step +
 * r * stride + c] for r < rows, c < cols. */
static void interleave(const real *src, int64_t step, int64_t stride, int m, int rows, int cols, real *p,
                       int64_t w, int r0, int c0) {
    for (int s = 0; s < m; s++) /* reading each plane front to back; p is small, in cache */
        for (int r = 0; r < rows; r++) {
            real *o = p + ((int64_t)(r0 + r) * w + c0) * m + s;
            const real *i = src + s * step + (int64_t)r * stride;
            for (int c = 0; c < cols; c++) o[(int64_t)c * m] = i[c];
        }
}

/* The inverse: dst[s * step + r * stride + c] = p[...] + b, or += p[...] when add. */
static void deinterleave(const real *p, int64_t w, int r0, int c0, int m, int rows, int cols, real *dst,
                         int64_t step, int64_t stride, real b, int add) {
    for (int s = 0; s < m; s++)
        for (int r = 0; r < rows; r++) {
            const real *i = p + ((int64_t)(r0 + r) * w + c0) * m + s;
            real *o = dst + s * step + (int64_t)r * stride;
            if (add)
                for (int c = 0; c < cols; c++) o[c] += i[(int64_t)c * m];
            else
                for (int c = 0; c < cols; c++) o[c] = i[(int64_t)c * m] + b;
        }
}

/* v [16, Cin, NT] = B^T d B for m samples of x (m, Cin, H, W); pd: pad_h * pad_w * m floats. */
static void input_transform(const conv_geom *g, const real *x, int m, real *v, real *pd) {
    int64_t nt = m * g->tiles, vs = g->cin * nt, w = g->pad_w, wm = w * m;
    int tw = g->tiles_w, rows, cols;
    image_span(g, &rows, &cols);
    memset(pd, 0, (size_t)(g->pad_h * wm) * sizeof(real)); /* the border stays zero */
    for (int ci = 0; ci < g->cin; ci++) {
        const real *img = x + ci * g->in_px;
        if (m == 1) { /* lanes: the tiles of a row */
            pad_plane(g, img, pd);
            for (int ty = 0; ty < g->tiles_h; ty++) {
                const real *r0 = pd + 2 * ty * w;
                real *o = v + ci * nt + ty * tw;
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) input_tile(r0 + 2 * tx, w, 1, o + tx, vs);
            }
            continue;
        }
        /* lanes: the samples */
        interleave(img, g->cin * g->in_px, g->in[2], m, rows, cols, pd, w, g->p[1], g->p[2]);
        for (int t = 0; t < g->tiles; t++) {
            const real *d = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
            real *o = v + ci * nt + t * m;
#pragma omp simd
            for (int s = 0; s < m; s++) input_tile(d + s, wm, m, o + s, vs);
        }
    }
}

void OPSYM(wino_weights)(const conv_geom *g, const real *w, real *u) {
    int64_t us = (int64_t)g->cout * g->cin;
    for (int co = 0; co < g->cout; co++)
        for (int ci = 0; ci < g->cin; ci++) {
            const real *k = w + ((int64_t)co * g->cin + ci) * 9;
            real t[4][3];
            for (int j = 0; j < 3; j++) {
                t[0][j] = k[j];
                t[1][j] = (k[j] + k[3 + j] + k[6 + j]) / 2;
                t[2][j] = (k[j] - k[3 + j] + k[6 + j]) / 2;
                t[3][j] = k[6 + j];
            }
            real *uc = u + (int64_t)co * g->cin + ci;
            for (int i = 0; i < 4; i++) {
                uc[(4 * i + 0) * us] = t[i][0];
                uc[(4 * i + 1) * us] = (t[i][0] + t[i][1] + t[i][2]) / 2;
                uc[(4 * i + 2) * us] = (t[i][0] - t[i][1] + t[i][2]) / 2;
                uc[(4 * i + 3) * us] = t[i][2];
            }
        }
}

void OPSYM(wino_weight_grad)(const conv_geom *g, const real *du, real *dw) {
    int64_t us = (int64_t)g->cout * g->cin;
    for (int co = 0; co < g->cout; co++)
        for (int ci = 0; ci < g->cin; ci++) {
            const real *d = du + (int64_t)co * g->cin + ci;
            real t[3][4]; /* G^T du */
            for (int j = 0; j < 4; j++) {
                real d0 = d[j * us], d1 = d[(4 + j) * us], d2 = d[(8 + j) * us], d3 = d[(12 + j) * us];
                t[0][j] = d0 + (d1 + d2) / 2;
                t[1][j] = (d1 - d2) / 2;
                t[2][j] = (d1 + d2) / 2 + d3;
            }
            real *k = dw + ((int64_t)co * g->cin + ci) * 9;
            for (int i = 0; i < 3; i++) {
                k[3 * i + 0] += t[i][0] + (t[i][1] + t[i][2]) / 2;
                k[3 * i + 1] += (t[i][1] - t[i][2]) / 2;
                k[3 * i + 2] += (t[i][1] + t[i][2]) / 2 + t[i][3];
            }
        }
}

/* y (m, Cout, Ho, Wo) = A^T z A per tile + bias, or y += A^T z A (add), through pd
 * (4 * tiles * m floats). */
static void output_transform(const conv_geom *g, const real *z, int m, real *y, const real *bias, int add,
                             real *pd) {
    int64_t nt = m * g->tiles, zs = g->cout * nt, w = 2 * g->tiles_w, wm = w * m;
    int ho = g->out[1], wo = g->out[2], tw = g->tiles_w;
    for (int co = 0; co < g->cout; co++) {
        real *o = y + co * g->out_px, b = bias ? bias[co] : 0;
        const real *zc = z + co * nt;
        if (m == 1) { /* lanes: the tiles of a row, two output rows at a time through pd */
            real *row0 = pd, *row1 = pd + w; /* w = 2 * tiles_w */
            for (int ty = 0; ty < g->tiles_h; ty++) {
                const real *zt = zc + ty * tw;
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) output_tile(zt + tx, zs, row0 + 2 * tx, w, 1);
                real *y0 = o + (int64_t)2 * ty * wo;
                int rows = 2 * ty + 1 < ho ? 2 : 1;
                for (int r = 0; r < rows; r++) {
                    real *yr = y0 + r * wo;
                    const real *src = r ? row1 : row0;
                    if (add)
#pragma omp simd
                        for (int ox = 0; ox < wo; ox++) yr[ox] += src[ox];
                    else
#pragma omp simd
                        for (int ox = 0; ox < wo; ox++) yr[ox] = src[ox] + b;
                }
            }
            continue;
        }
        /* lanes: the samples, into the interleaved output plane pd (2 * tiles_h, 2 * tiles_w) */
        for (int t = 0; t < g->tiles; t++) {
            const real *zt = zc + t * m;
            real *q = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
#pragma omp simd
            for (int s = 0; s < m; s++) output_tile(zt + s, zs, q + s, wm, m);
        }
        deinterleave(pd, w, 0, 0, m, ho, wo, o, g->cout * g->out_px, wo, b, add);
    }
}

void OPSYM(wino_forward_block)(const conv_geom *g, const real *x, real *y, const real *u, const real *bias,
                               int add, int m, real *slot) {
    int64_t nt = m * g->tiles, zs = g->cout * nt;
    real *v = slot, *z = v + 16 * g->cin * nt, *pd = z + 16 * zs;
    input_transform(g, x, m, v, pd);
    for (int xi = 0; xi < 16; xi++)
        OPSYM(op_gemm_serial)(0, 0, g->cout, (int)nt, g->cin, 1, u + (int64_t)xi * g->cout * g->cin, g->cin,
                       v + xi * g->cin * nt, (int)nt, 0, z + xi * zs, (int)nt);
    output_transform(g, z, m, y, bias, add, pd);
}

/* z [16, Cout, NT] = A dy A^T per tile, dy zero past the output: copied into pd, a plane of
 * 2*tiles_h rows of 2*tiles_w (interleaved for m > 1). */
static void grad_transform(const conv_geom *g, const real *dy, int m, real *z, real *pd) {
    int64_t nt = m * g->tiles, zs = g->cout * nt, w = 2 * g->tiles_w, wm = w * m;
    int ho = g->out[1], wo = g->out[2], tw = g->tiles_w;
    memset(pd, 0, (size_t)(2 * g->tiles_h * wm) * sizeof(real)); /* the zeros past the output stay */
    for (int co = 0; co < g->cout; co++) {
        const real *gy = dy + co * g->out_px;
        real *zc = z + co * nt;
        if (m == 1) { /* lanes: the tiles of a row */
            copy_rows(pd, w, gy, wo, ho, wo);
            for (int ty = 0; ty < g->tiles_h; ty++) {
                const real *e0 = pd + 2 * ty * w;
                real *o = zc + ty * tw;
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) grad_tile(e0 + 2 * tx, w, 1, o + tx, zs);
            }
            continue;
        }
        /* lanes: the samples */
        interleave(gy, g->cout * g->out_px, wo, m, ho, wo, pd, w, 0, 0);
        for (int t = 0; t < g->tiles; t++) {
            const real *e = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
            real *o = zc + t * m;
#pragma omp simd
            for (int s = 0; s < m; s++) grad_tile(e + s, wm, m, o + s, zs);
        }
    }
}

/* dx (m, Cin, H, W) += B dv B^T per tile: the tiles, overlapping by two rows and columns, are
 * added in a fixed order into the padded plane pd (interleaved for m > 1), which is then added
 * into dx. For m == 1 a row of tiles goes through q [16, tiles_w] (row i, column j of each
 * tile's 4x4 result at q[4i + j]). */
static void input_grad(const conv_geom *g, const real *dv, int m, real *dx, real *pd, real *q) {
    int64_t nt = m * g->tiles, vs = g->cin * nt, w = g->pad_w, wm = w * m;
    int tw = g->tiles_w, rows, cols;
    image_span(g, &rows, &cols);
    for (int ci = 0; ci < g->cin; ci++) {
        memset(pd, 0, (size_t)(g->pad_h * wm) * sizeof(real));
        const real *ec = dv + ci * nt;
        if (m == 1) { /* lanes: the tiles of a row */
            for (int ty = 0; ty < g->tiles_h; ty++) {
                const real *e = ec + ty * tw;
                memset(q, 0, (size_t)16 * tw * sizeof(real));
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) input_grad_tile(e + tx, vs, q + tx, 4 * tw, tw);
                for (int i = 0; i < 4; i++) {
                    /* the right half of each tile lands on the next tile's left half */
                    real *r = pd + (int64_t)(2 * ty + i) * w;
                    const real *c0 = q + 4 * i * tw, *c1 = c0 + tw, *c2 = c1 + tw, *c3 = c2 + tw;
                    r[0] += c0[0];
                    r[1] += c1[0];
#pragma omp simd
                    for (int tx = 1; tx < tw; tx++) {
                        r[2 * tx] += c0[tx] + c2[tx - 1];
                        r[2 * tx + 1] += c1[tx] + c3[tx - 1];
                    }
                    r[2 * tw] += c2[tw - 1];
                    r[2 * tw + 1] += c3[tw - 1];
                }
            }
        } else { /* lanes: the samples */
            for (int t = 0; t < g->tiles; t++) {
                const real *e = ec + t * m;
                real *d = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
#pragma omp simd
                for (int s = 0; s < m; s++) input_grad_tile(e + s, vs, d + s, wm, m);
            }
        }
        deinterleave(pd, w, g->p[1], g->p[2], m, rows, cols, dx + ci * g->in_px, g->cin * g->in_px, g->in[2], 0, 1);
    }
}

void OPSYM(wino_backward_block)(const conv_geom *g, const real *x, const real *dy, real *dx, const real *u,
                                real *du, int m, real *slot) {
    int64_t nt = m * g->tiles, zs = g->cout * nt, vs = g->cin * nt;
    real *v = slot, *z = v + 16 * vs, *pd = z + 16 * zs, *q = pd + (int64_t)g->pad_h * g->pad_w * m;
    grad_transform(g, dy, m, z, pd);
    if (du) {
        input_transform(g, x, m, v, pd);
        for (int xi = 0; xi < 16; xi++)
            OPSYM(op_gemm_serial)(0, 1, g->cout, g->cin, (int)nt, 1, z + xi * zs, (int)nt, v + xi * vs, (int)nt, 0,
                           du + (int64_t)xi * g->cout * g->cin, g->cin);
    }
    if (!dx) return;
    for (int xi = 0; xi < 16; xi++)
        OPSYM(op_gemm_serial)(1, 0, g->cin, (int)nt, g->cout, 1, u + (int64_t)xi * g->cout * g->cin, g->cin, z + xi * zs,
                       (int)nt, 0, v + xi * vs, (int)nt);
    input_grad(g, v, m, dx, pd, q);
}
