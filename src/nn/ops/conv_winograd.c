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
                const real *r0 = pd + 2 * ty * w, *r1 = r0 + w, *r2 = r1 + w, *r3 = r2 + w;
                real *o = v + ci * nt + ty * tw;
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) {
                    int c = 2 * tx;
                    real t00, t10, t20, t30, t01, t11, t21, t31, t02, t12, t22, t32, t03, t13, t23, t33;
                    BT(r0[c], r1[c], r2[c], r3[c], t00, t10, t20, t30);
                    BT(r0[c + 1], r1[c + 1], r2[c + 1], r3[c + 1], t01, t11, t21, t31);
                    BT(r0[c + 2], r1[c + 2], r2[c + 2], r3[c + 2], t02, t12, t22, t32);
                    BT(r0[c + 3], r1[c + 3], r2[c + 3], r3[c + 3], t03, t13, t23, t33);
                    BT(t00, t01, t02, t03, o[tx], o[vs + tx], o[2 * vs + tx], o[3 * vs + tx]);
                    BT(t10, t11, t12, t13, o[4 * vs + tx], o[5 * vs + tx], o[6 * vs + tx], o[7 * vs + tx]);
                    BT(t20, t21, t22, t23, o[8 * vs + tx], o[9 * vs + tx], o[10 * vs + tx], o[11 * vs + tx]);
                    BT(t30, t31, t32, t33, o[12 * vs + tx], o[13 * vs + tx], o[14 * vs + tx], o[15 * vs + tx]);
                }
            }
            continue;
        }
        /* lanes: the samples */
        interleave(img, g->cin * g->in_px, g->in[2], m, rows, cols, pd, w, g->p[1], g->p[2]);
        for (int t = 0; t < g->tiles; t++) {
            const real *d = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
            real *o = v + ci * nt + t * m;
#define D(i, j) d[(i) * wm + (j) * m + s]
#pragma omp simd
            for (int s = 0; s < m; s++) {
                real t00, t10, t20, t30, t01, t11, t21, t31, t02, t12, t22, t32, t03, t13, t23, t33;
                BT(D(0, 0), D(1, 0), D(2, 0), D(3, 0), t00, t10, t20, t30);
                BT(D(0, 1), D(1, 1), D(2, 1), D(3, 1), t01, t11, t21, t31);
                BT(D(0, 2), D(1, 2), D(2, 2), D(3, 2), t02, t12, t22, t32);
                BT(D(0, 3), D(1, 3), D(2, 3), D(3, 3), t03, t13, t23, t33);
                BT(t00, t01, t02, t03, o[s], o[vs + s], o[2 * vs + s], o[3 * vs + s]);
                BT(t10, t11, t12, t13, o[4 * vs + s], o[5 * vs + s], o[6 * vs + s], o[7 * vs + s]);
                BT(t20, t21, t22, t23, o[8 * vs + s], o[9 * vs + s], o[10 * vs + s], o[11 * vs + s]);
                BT(t30, t31, t32, t33, o[12 * vs + s], o[13 * vs + s], o[14 * vs + s], o[15 * vs + s]);
            }
#undef D
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

/* y (m, Cout, Ho, Wo) = A^T z A per tile + bias, through pd (4 * tiles * m floats). */
static void output_transform(const conv_geom *g, const real *z, int m, real *y, const real *bias, real *pd) {
    int64_t nt = m * g->tiles, zs = g->cout * nt, w = 2 * g->tiles_w, wm = w * m;
    int ho = g->out[1], wo = g->out[2], tw = g->tiles_w;
    for (int co = 0; co < g->cout; co++) {
        real *o = y + co * g->out_px, b = bias ? bias[co] : 0;
        const real *zc = z + co * nt;
        if (m == 1) { /* lanes: the tiles of a row, two output rows at a time through pd */
            real *row0 = pd, *row1 = pd + w;
            for (int ty = 0; ty < g->tiles_h; ty++) {
                const real *zt = zc + ty * tw;
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) {
                    real a00, a10, a01, a11, a02, a12, a03, a13;
                    AT(zt[tx], zt[4 * zs + tx], zt[8 * zs + tx], zt[12 * zs + tx], a00, a10);
                    AT(zt[zs + tx], zt[5 * zs + tx], zt[9 * zs + tx], zt[13 * zs + tx], a01, a11);
                    AT(zt[2 * zs + tx], zt[6 * zs + tx], zt[10 * zs + tx], zt[14 * zs + tx], a02, a12);
                    AT(zt[3 * zs + tx], zt[7 * zs + tx], zt[11 * zs + tx], zt[15 * zs + tx], a03, a13);
                    AT(a00, a01, a02, a03, row0[2 * tx], row0[2 * tx + 1]);
                    AT(a10, a11, a12, a13, row1[2 * tx], row1[2 * tx + 1]);
                }
                real *y0 = o + (int64_t)2 * ty * wo;
#pragma omp simd
                for (int ox = 0; ox < wo; ox++) y0[ox] = row0[ox] + b;
                if (2 * ty + 1 < ho)
#pragma omp simd
                    for (int ox = 0; ox < wo; ox++) y0[wo + ox] = row1[ox] + b;
            }
            continue;
        }
        /* lanes: the samples, into the interleaved output plane pd (2 * tiles_h, 2 * tiles_w) */
        for (int t = 0; t < g->tiles; t++) {
            const real *zt = zc + t * m;
            real *q = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
#pragma omp simd
            for (int s = 0; s < m; s++) {
                real a00, a10, a01, a11, a02, a12, a03, a13;
                AT(zt[s], zt[4 * zs + s], zt[8 * zs + s], zt[12 * zs + s], a00, a10);
                AT(zt[zs + s], zt[5 * zs + s], zt[9 * zs + s], zt[13 * zs + s], a01, a11);
                AT(zt[2 * zs + s], zt[6 * zs + s], zt[10 * zs + s], zt[14 * zs + s], a02, a12);
                AT(zt[3 * zs + s], zt[7 * zs + s], zt[11 * zs + s], zt[15 * zs + s], a03, a13);
                AT(a00, a01, a02, a03, q[s], q[m + s]);
                AT(a10, a11, a12, a13, q[wm + s], q[wm + m + s]);
            }
        }
        deinterleave(pd, w, 0, 0, m, ho, wo, o, g->cout * g->out_px, wo, b, 0);
    }
}

void OPSYM(wino_forward_block)(const conv_geom *g, const real *x, real *y, const real *u, const real *bias,
                               int m, real *slot) {
    int64_t nt = m * g->tiles, zs = g->cout * nt;
    real *v = slot, *z = v + 16 * g->cin * nt, *pd = z + 16 * zs;
    input_transform(g, x, m, v, pd);
    for (int xi = 0; xi < 16; xi++)
        OPSYM(op_gemm)(0, 0, g->cout, (int)nt, g->cin, 1, u + (int64_t)xi * g->cout * g->cin, g->cin,
                       v + xi * g->cin * nt, (int)nt, 0, z + xi * zs, (int)nt);
    output_transform(g, z, m, y, bias, pd);
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
                const real *e0 = pd + 2 * ty * w, *e1 = e0 + w;
                real *o = zc + ty * tw;
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) {
                    real t00, t10, t20, t30, t01, t11, t21, t31;
                    A2(e0[2 * tx], e1[2 * tx], t00, t10, t20, t30);
                    A2(e0[2 * tx + 1], e1[2 * tx + 1], t01, t11, t21, t31);
                    A2(t00, t01, o[tx], o[zs + tx], o[2 * zs + tx], o[3 * zs + tx]);
                    A2(t10, t11, o[4 * zs + tx], o[5 * zs + tx], o[6 * zs + tx], o[7 * zs + tx]);
                    A2(t20, t21, o[8 * zs + tx], o[9 * zs + tx], o[10 * zs + tx], o[11 * zs + tx]);
                    A2(t30, t31, o[12 * zs + tx], o[13 * zs + tx], o[14 * zs + tx], o[15 * zs + tx]);
                }
            }
            continue;
        }
        /* lanes: the samples */
        interleave(gy, g->cout * g->out_px, wo, m, ho, wo, pd, w, 0, 0);
        for (int t = 0; t < g->tiles; t++) {
            const real *e = pd + (2 * (t / tw) * w + 2 * (t % tw)) * m;
            real *o = zc + t * m;
#pragma omp simd
            for (int s = 0; s < m; s++) {
                real t00, t10, t20, t30, t01, t11, t21, t31;
                A2(e[s], e[wm + s], t00, t10, t20, t30);
                A2(e[m + s], e[wm + m + s], t01, t11, t21, t31);
                A2(t00, t01, o[s], o[zs + s], o[2 * zs + s], o[3 * zs + s]);
                A2(t10, t11, o[4 * zs + s], o[5 * zs + s], o[6 * zs + s], o[7 * zs + s]);
                A2(t20, t21, o[8 * zs + s], o[9 * zs + s], o[10 * zs + s], o[11 * zs + s]);
                A2(t30, t31, o[12 * zs + s], o[13 * zs + s], o[14 * zs + s], o[15 * zs + s]);
            }
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
#pragma omp simd
                for (int tx = 0; tx < tw; tx++) {
                    real t00, t10, t20, t30, t01, t11, t21, t31, t02, t12, t22, t32, t03, t13, t23, t33;
                    B4(e[tx], e[4 * vs + tx], e[8 * vs + tx], e[12 * vs + tx], t00, t10, t20, t30);
                    B4(e[vs + tx], e[5 * vs + tx], e[9 * vs + tx], e[13 * vs + tx], t01, t11, t21, t31);
                    B4(e[2 * vs + tx], e[6 * vs + tx], e[10 * vs + tx], e[14 * vs + tx], t02, t12, t22, t32);
                    B4(e[3 * vs + tx], e[7 * vs + tx], e[11 * vs + tx], e[15 * vs + tx], t03, t13, t23, t33);
                    B4(t00, t01, t02, t03, q[tx], q[tw + tx], q[2 * tw + tx], q[3 * tw + tx]);
                    B4(t10, t11, t12, t13, q[4 * tw + tx], q[5 * tw + tx], q[6 * tw + tx], q[7 * tw + tx]);
                    B4(t20, t21, t22, t23, q[8 * tw + tx], q[9 * tw + tx], q[10 * tw + tx], q[11 * tw + tx]);
                    B4(t30, t31, t32, t33, q[12 * tw + tx], q[13 * tw + tx], q[14 * tw + tx], q[15 * tw + tx]);
                }
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
#define D(i, j) d[(i) * wm + (j) * m + s]
#pragma omp simd
                for (int s = 0; s < m; s++) {
                    real t00, t10, t20, t30, t01, t11, t21, t31, t02, t12, t22, t32, t03, t13, t23, t33;
                    real u0, u1, u2, u3;
                    B4(e[s], e[4 * vs + s], e[8 * vs + s], e[12 * vs + s], t00, t10, t20, t30);
                    B4(e[vs + s], e[5 * vs + s], e[9 * vs + s], e[13 * vs + s], t01, t11, t21, t31);
                    B4(e[2 * vs + s], e[6 * vs + s], e[10 * vs + s], e[14 * vs + s], t02, t12, t22, t32);
                    B4(e[3 * vs + s], e[7 * vs + s], e[11 * vs + s], e[15 * vs + s], t03, t13, t23, t33);
                    B4(t00, t01, t02, t03, u0, u1, u2, u3);
                    D(0, 0) += u0, D(0, 1) += u1, D(0, 2) += u2, D(0, 3) += u3;
                    B4(t10, t11, t12, t13, u0, u1, u2, u3);
                    D(1, 0) += u0, D(1, 1) += u1, D(1, 2) += u2, D(1, 3) += u3;
                    B4(t20, t21, t22, t23, u0, u1, u2, u3);
                    D(2, 0) += u0, D(2, 1) += u1, D(2, 2) += u2, D(2, 3) += u3;
                    B4(t30, t31, t32, t33, u0, u1, u2, u3);
                    D(3, 0) += u0, D(3, 1) += u1, D(3, 2) += u2, D(3, 3) += u3;
                }
#undef D
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
            OPSYM(op_gemm)(0, 1, g->cout, g->cin, (int)nt, 1, z + xi * zs, (int)nt, v + xi * vs, (int)nt, 0,
                           du + (int64_t)xi * g->cout * g->cin, g->cin);
    }
    if (!dx) return;
    for (int xi = 0; xi < 16; xi++)
        OPSYM(op_gemm)(1, 0, g->cin, (int)nt, g->cout, 1, u + (int64_t)xi * g->cout * g->cin, g->cin, z + xi * zs,
                       (int)nt, 0, v + xi * vs, (int)nt);
    input_grad(g, v, m, dx, pd, q);
}
