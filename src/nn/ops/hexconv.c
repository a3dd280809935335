/* hexconv: convolution with hexagonal kernels on the offset-coordinate station grid of the
 * airshower data set (CONTRACT): station [r][c] sits at x = (c - 4 + (r mod 2)/2)·spacing,
 * y = (r - 4)·spacing·√3/2, i.e. odd rows are shifted right by half a spacing ("odd-r"), so a
 * cell's neighbours depend on its row parity.
 * in (n, Cin, H, W) -> out (n, filters, H, W), stride 1, zero outside the grid (any H, W).
 * weight [filters, Cin, n_cells], bias [filters], n_cells = 3R(R+1) + 1 (R = radius: 7, 19).
 *
 * Kernel cells are axial offsets (dq, dr) with hex distance max(|dq|, |dr|, |dq + dr|) <= R,
 * dr along the rows (+1 = next row), dq along a row. In the plane, cell (dq, dr) lies at
 * x = dq + dr/2, y = dr·√3/2 (in spacings). Cell order: by ring (distance), then by angle
 * counterclockwise from +x (east) — atan2(y, x) in [0, 2π):
 *   0: (0,0)
 *   1..6:  (1,0) E, (0,1) NE, (-1,1) NW, (-1,0) W, (0,-1) SW, (1,-1) SE
 *   7..18: (2,0), (1,1), (0,2), (-1,2), (-2,2), (-2,1), (-2,0), (-1,-1), (0,-2), (1,-2),
 *          (2,-2), (2,-1)
 * so a rotation by 60° moves cell i of ring k to the next k-th cell of its ring.
 * Offset (row, col) <-> axial: q = col - floor(row/2), r = row; the neighbour of (row, col) at
 * (dq, dr) is (row + dr, col + dq + floor((row + dr)/2) - floor(row/2)).
 *
 * Compute: conv.c's blocks of samples, threads and GEMMs (conv_run_forward/backward) with
 * this file's gather (hex_patches, which conv.c calls for hex_radius > 0) as the im2col:
 * col [Cin*n_cells, m*H*W], row (c, cell), column (sample, pixel) holds x[c] at the cell's
 * neighbour or 0 outside the grid; out = W col + bias with W [filters, Cin*n_cells] = the
 * weight as stored. Backward: conv.c's GEMMs, col2im = the same gather adding back. */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"
#include "nn/ops/conv.h"

enum { HEX_MAX_RADIUS = 8 };

typedef struct {
    long filters, radius;
    int bias;
    conv_geom g;
} hex_cfg;

static int hex_cell_count(int radius) { return 3 * radius * (radius + 1) + 1; }

/* The axial offsets (dq, dr) of the cells in the documented order: each ring walked
 * counterclockwise from its east corner (k, 0). */
static void hex_cells(int radius, int (*cell)[2]) {
    static const int dir[6][2] = {{1, 0}, {0, 1}, {-1, 1}, {-1, 0}, {0, -1}, {1, -1}}; /* E NE NW W SW SE */
    int n = 0;
    cell[n][0] = cell[n][1] = 0;
    n++;
    for (int k = 1; k <= radius; k++) {
        int q = k, r = 0;
        for (int side = 0; side < 6; side++)
            for (int step = 0; step < k; step++, n++) {
                cell[n][0] = q;
                cell[n][1] = r;
                q += dir[(side + 2) % 6][0];
                r += dir[(side + 2) % 6][1];
            }
    }
}

/* im2col (to_img = 0) / col2im (to_img = 1, adds into x) for m samples (conv.c's patches). */
void OPSYM(hex_patches)(const conv_geom *g, real *x, int m, real *col, int to_img) {
    int cell[1 + 3 * HEX_MAX_RADIUS * (HEX_MAX_RADIUS + 1)][2];
    hex_cells(g->hex_radius, cell);
    int H = g->out[1], W = g->out[2];
    int64_t P = g->out_px, ld = m * P;
    for (int ch = 0; ch < g->cin; ch++)
        for (int k = 0; k < g->kprod; k++) {
            int dq = cell[k][0], dr = cell[k][1];
            real *row = col + ((int64_t)ch * g->kprod + k) * ld;
            for (int s = 0; s < m; s++) {
                real *img = x + ((int64_t)s * g->cin + ch) * g->in_px;
                for (int r = 0; r < H; r++) {
                    real *o = row + s * P + (int64_t)r * W;
                    int rr = r + dr;
                    if (rr < 0 || rr >= H) {
                        if (!to_img) memset(o, 0, (size_t)W * sizeof(real));
                        continue;
                    }
                    int shift = dq + (rr >> 1) - (r >> 1); /* rr, r >= 0: >> is floor */
                    int lo = shift < 0 ? -shift : 0, hi = shift > 0 ? W - shift : W;
                    if (hi < lo) hi = lo;
                    real *src = img + (int64_t)rr * W + shift;
                    if (to_img) {
#pragma omp simd
                        for (int c = lo; c < hi; c++) src[c] += o[c];
                        continue;
                    }
                    for (int c = 0; c < lo; c++) o[c] = 0;
#pragma omp simd
                    for (int c = lo; c < hi; c++) o[c] = src[c];
                    for (int c = hi; c < W; c++) o[c] = 0;
                }
            }
        }
}

static cascade_status hex_configure(void *cfg, cascade_section *spec) {
    hex_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_int(spec, "filters", 0, 1, 1L << 24, &c->filters));
    if (c->filters == 0) return cascade_cfg_error(spec, NULL, "hexconv needs `filters`");
    CASCADE_TRY(cascade_cfg_int(spec, "radius", 1, 1, HEX_MAX_RADIUS, &c->radius));
    return cascade_cfg_bool(spec, "bias", 1, &c->bias);
}

static cascade_status hex_infer(cascade_layer *L) {
    hex_cfg *c = L->cfg;
    conv_geom *g = &c->g;
    const cascade_shape *in = &L->in_shape[0];
    char buf[96];
    if (in->ndim != 3)
        return cascade_fail(CASCADE_EUSAGE,
                            "hexconv expects a per-sample input (channels, rows, columns) on the offset "
                            "station grid, got %s", cascade_shape_str(in, buf, sizeof buf));
    int ncells = hex_cell_count((int)c->radius);
    if (in->d[0] * ncells > (1L << 30) || in->d[1] * in->d[2] > (1L << 30))
        return cascade_fail(CASCADE_EUSAGE, "hexconv too large: input %s with %d kernel cells",
                            cascade_shape_str(in, buf, sizeof buf), ncells);
    memset(g, 0, sizeof *g);
    g->cin = g->cin_g = (int)in->d[0];
    g->cout = g->cout_g = (int)c->filters;
    g->groups = 1;
    for (int a = 0; a < CONV_AXES; a++) {
        g->in[a] = g->out[a] = a == 0 ? 1 : (int)in->d[a];
        g->k[a] = g->s[a] = g->d[a] = 1;
    }
    g->in_px = g->out_px = in->d[1] * in->d[2];
    g->kprod = ncells;
    g->kg = g->cin * ncells;
    g->rows = g->kg;
    g->hex_radius = (int)c->radius;
    L->out_shape = cascade_shape_make(3, (int64_t[]){c->filters, in->d[1], in->d[2]});
    double bound = 1.0 / sqrt((double)g->kg); /* torch conv init, fan_in = Cin * n_cells */
    OPSYM(conv_add_param)(L, "weight", 3, (int64_t[]){c->filters, in->d[0], ncells}, bound);
    if (c->bias) OPSYM(conv_add_param)(L, "bias", 1, (int64_t[]){c->filters}, bound);
    L->saved_per_sample = L->saved_fixed = 0;
    OPSYM(conv_scratch)(g, &L->work_per_sample, &L->work_fixed);
    return CASCADE_OK;
}

static void hex_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const hex_cfg *cfg = L->cfg;
    OPSYM(conv_run_forward)(&cfg->g, c->n, c->in[0], c->out, c->param[0], cfg->bias ? c->param[1] : NULL,
                            c->work);
}

static void hex_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const hex_cfg *cfg = L->cfg;
    OPSYM(conv_run_backward)(&cfg->g, c->n, c->in[0], c->dout, c->din[0], c->param[0], c->dparam[0],
                             cfg->bias ? c->dparam[1] : NULL, c->work);
}

/* Double backward (op_types.h): as conv.c's, the gather only changes the patches. */
static void hex_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const hex_cfg *cfg = L->cfg;
    OPSYM(conv_run_backward2)(&cfg->g, c->n, c->uin[0], c->dout, c->uout, c->param[0], c->dparam[0], c->work);
}

const OPSYM(cascade_op) OPSYM(cascade_op_hexconv) = {
    .type = "hexconv",
    .cfg_size = sizeof(hex_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = hex_configure,
    .infer = hex_infer,
    .forward = hex_forward,
    .backward = hex_backward,
    .backward2 = hex_backward2,
};
