/* maxpool, avgpool: torch.nn.functional.max_pool{1,2,3}d / avg_pool{1,2,3}d in floor mode,
 * avgpool with count_include_pad (torch's defaults). The input's rank picks the variant:
 *   in (n, C, L) | (n, C, H, W) | (n, C, D, H, W) -> out (n, C, out...),
 *   out = floor((in + 2 padding - size) / stride) + 1 per spatial axis.
 * One set of loops serves all three: 1d and 2d inputs are run as 3d with leading unit axes
 * (size 1, stride 1, padding 0). maxpool pads with -inf, so a window's max is over its
 * in-range elements; it saves the argmax (flat index within the input plane, as a real) for
 * backward, which routes each output gradient to that element (the first max on ties, a NaN
 * wins, as torch). */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"

#define POOL_AXES 3
#define POOL_MAX_PLANE 16777216 /* 2^24: larger argmax indices are not exact in float */

/* Geometry over 3 axes, resolved by infer from the input shape and the keys. */
typedef struct {
    int64_t channels;
    int64_t in[POOL_AXES], out[POOL_AXES], size[POOL_AXES], stride[POOL_AXES], pad[POOL_AXES];
    int64_t in_plane, out_plane; /* elements of one channel */
    int64_t window;              /* size product: avgpool's divisor (count_include_pad) */
} pool_geom;

typedef struct {
    int n_size, n_stride, n_pad; /* values given: 1 = same on every axis */
    long size[POOL_AXES], stride[POOL_AXES], pad[POOL_AXES];
    pool_geom g;
} pool_cfg;

static long pool_axis_value(const long *v, int n, int axis) { return v[n == 1 ? 0 : axis]; }

static cascade_status pool_configure(void *cfg, cascade_section *spec) {
    pool_cfg *c = cfg;
    const long big = 1L << 30;
    CASCADE_TRY(cascade_cfg_intlist(spec, "size", POOL_AXES, 1, big, c->size, &c->n_size));
    if (c->n_size == 0) return cascade_cfg_error(spec, NULL, "pooling needs `size`");
    CASCADE_TRY(cascade_cfg_intlist(spec, "stride", POOL_AXES, 1, big, c->stride, &c->n_stride));
    CASCADE_TRY(cascade_cfg_intlist(spec, "padding", POOL_AXES, 0, big, c->pad, &c->n_pad));
    if (c->n_stride == 0) { /* torch: stride defaults to the size */
        memcpy(c->stride, c->size, sizeof c->size);
        c->n_stride = c->n_size;
    } else if (c->n_stride > 1 && c->n_size > 1 && c->n_stride != c->n_size) {
        return cascade_cfg_error(spec, cascade_section_find(spec, "stride"),
                                 "%d values, but size has %d", c->n_stride, c->n_size);
    }
    int axes = c->n_size > c->n_stride ? c->n_size : c->n_stride;
    if (c->n_pad == 0) {
        c->n_pad = 1;
    } else if (c->n_pad > 1 && axes > 1 && c->n_pad != axes) {
        return cascade_cfg_error(spec, cascade_section_find(spec, "padding"),
                                 "%d values, but size/stride have %d", c->n_pad, axes);
    }
    if (c->n_pad > axes) axes = c->n_pad;
    for (int a = 0; a < axes; a++) {
        long p = pool_axis_value(c->pad, c->n_pad, a), k = pool_axis_value(c->size, c->n_size, a);
        if (p > k / 2)
            return cascade_cfg_error(spec, cascade_section_find(spec, "padding"),
                                     "padding %ld is more than half the pool size %ld "
                                     "(PyTorch requires padding <= size/2)", p, k);
    }
    return CASCADE_OK;
}

static cascade_status pool_infer(cascade_layer *L) {
    pool_cfg *c = L->cfg;
    pool_geom *g = &c->g;
    const cascade_shape *in = &L->in_shape[0];
    char buf[128];
    int axes = in->ndim - 1;
    if (axes < 1 || axes > POOL_AXES)
        return cascade_fail(CASCADE_EUSAGE, "%s needs (C, L), (C, H, W) or (C, D, H, W) per sample, "
                            "got %s", L->type, cascade_shape_str(in, buf, sizeof buf));
    const char *keys[] = {"size", "stride", "padding"};
    const int counts[] = {c->n_size, c->n_stride, c->n_pad};
    for (int k = 0; k < 3; k++)
        if (counts[k] != 1 && counts[k] != axes)
            return cascade_fail(CASCADE_EUSAGE, "`%s` has %d values, but input %s has %d spatial "
                                "axes", keys[k], counts[k], cascade_shape_str(in, buf, sizeof buf), axes);
    memset(g, 0, sizeof *g);
    g->channels = in->d[0];
    g->in_plane = g->out_plane = g->window = 1;
    L->out_shape = *in;
    for (int a = 0; a < POOL_AXES; a++) {
        int s = a - (POOL_AXES - axes); /* spatial axis of the input, < 0 for unit axes */
        if (s < 0) {
            g->in[a] = g->out[a] = g->size[a] = g->stride[a] = 1;
            continue;
        }
        g->in[a] = in->d[1 + s];
        g->size[a] = pool_axis_value(c->size, c->n_size, s);
        g->stride[a] = pool_axis_value(c->stride, c->n_stride, s);
        g->pad[a] = pool_axis_value(c->pad, c->n_pad, s);
        if (g->in[a] + 2 * g->pad[a] < g->size[a])
            return cascade_fail(CASCADE_EUSAGE, "pool size %lld is larger than spatial axis %d of "
                                "input %s (%lld with padding %lld on each side)",
                                (long long)g->size[a], s + 1, cascade_shape_str(in, buf, sizeof buf),
                                (long long)(g->in[a] + 2 * g->pad[a]), (long long)g->pad[a]);
        g->out[a] = (g->in[a] + 2 * g->pad[a] - g->size[a]) / g->stride[a] + 1;
        L->out_shape.d[1 + s] = g->out[a];
        g->in_plane *= g->in[a];
        g->out_plane *= g->out[a];
        g->window *= g->size[a];
    }
    if (strcmp(L->type, "maxpool") == 0) {
        if (g->in_plane > POOL_MAX_PLANE)
            return cascade_fail(CASCADE_EUSAGE, "maxpool input %s has %lld elements per channel; "
                                "at most %d are supported (argmax indices are stored as floats)",
                                cascade_shape_str(in, buf, sizeof buf), (long long)g->in_plane,
                                POOL_MAX_PLANE);
        L->saved_per_sample = g->channels * g->out_plane; /* argmax per output */
    }
    return CASCADE_OK;
}

/* Window of output element t of a plane, clipped to the input: lo[a] <= i < hi[a]. */
static inline void pool_window(const pool_geom *g, int64_t t, int64_t lo[POOL_AXES],
                               int64_t hi[POOL_AXES]) {
    for (int a = POOL_AXES - 1; a >= 0; a--) {
        int64_t o = t % g->out[a];
        t /= g->out[a];
        int64_t start = o * g->stride[a] - g->pad[a];
        lo[a] = start > 0 ? start : 0;
        hi[a] = start + g->size[a] < g->in[a] ? start + g->size[a] : g->in[a];
    }
}

/* Runs `body` for every in-range input index `idx` of the window lo..hi, in row-major order. */
#define POOL_WINDOW_LOOP(g, lo, hi, body)                                                  \
    for (int64_t i0 = lo[0]; i0 < hi[0]; i0++)                                             \
        for (int64_t i1 = lo[1]; i1 < hi[1]; i1++)                                         \
            for (int64_t i2 = lo[2]; i2 < hi[2]; i2++) {                                   \
                int64_t idx = (i0 * (g)->in[1] + i1) * (g)->in[2] + i2;                    \
                body;                                                                      \
            }

/* Loop over the planes q = (sample, channel) of the local geometry `g`. Planes are
 * independent: parallel over them, no shared writes, no thread-dependent sums. */
#define POOL_PLANES_LOOP(n)                                                                \
    int64_t planes = (int64_t)(n) * g->channels;                                           \
    _Pragma("omp parallel for if (planes * g->out_plane * g->window > 65536)")             \
    for (int64_t q = 0; q < planes; q++)

static void maxpool_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const pool_geom *g = &((const pool_cfg *)L->cfg)->g;
    POOL_PLANES_LOOP(c->n) {
        const real *x = c->in[0] + q * g->in_plane;
        real *y = c->out + q * g->out_plane, *arg = c->saved + q * g->out_plane;
        for (int64_t t = 0; t < g->out_plane; t++) {
            int64_t lo[POOL_AXES], hi[POOL_AXES];
            pool_window(g, t, lo, hi);
            /* torch: the first in-range element unless something beats -inf */
            int64_t best_idx = (lo[0] * g->in[1] + lo[1]) * g->in[2] + lo[2];
            real best = -INFINITY;
            POOL_WINDOW_LOOP(g, lo, hi, if (x[idx] > best || isnan(x[idx])) {
                best = x[idx];
                best_idx = idx;
            })
            y[t] = best;
            arg[t] = (real)best_idx;
        }
    }
}

static void maxpool_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const pool_geom *g = &((const pool_cfg *)L->cfg)->g;
    POOL_PLANES_LOOP(c->n) {
        real *dx = c->din[0] + q * g->in_plane;
        const real *dy = c->dout + q * g->out_plane, *arg = c->saved + q * g->out_plane;
        for (int64_t t = 0; t < g->out_plane; t++) dx[(int64_t)arg[t]] += dy[t];
    }
}

static void avgpool_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const pool_geom *g = &((const pool_cfg *)L->cfg)->g;
    /* floor mode keeps every window inside the padded input, so count_include_pad divides
     * by the full window size */
    POOL_PLANES_LOOP(c->n) {
        const real *x = c->in[0] + q * g->in_plane;
        real *y = c->out + q * g->out_plane;
        for (int64_t t = 0; t < g->out_plane; t++) {
            int64_t lo[POOL_AXES], hi[POOL_AXES];
            pool_window(g, t, lo, hi);
            double sum = 0;
            POOL_WINDOW_LOOP(g, lo, hi, sum += x[idx])
            y[t] = (real)(sum / (double)g->window);
        }
    }
}

static void avgpool_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const pool_geom *g = &((const pool_cfg *)L->cfg)->g;
    const real inv = (real)(1.0 / (double)g->window);
    POOL_PLANES_LOOP(c->n) {
        real *dx = c->din[0] + q * g->in_plane;
        const real *dy = c->dout + q * g->out_plane;
        for (int64_t t = 0; t < g->out_plane; t++) {
            int64_t lo[POOL_AXES], hi[POOL_AXES];
            pool_window(g, t, lo, hi);
            real share = dy[t] * inv;
            POOL_WINDOW_LOOP(g, lo, hi, dx[idx] += share)
        }
    }
}

/* Double backward (op_types.h): both pools are linear in the input given the argmax, so for
 * R = sum(u * din) the tangent is the forward on u (maxpool: u at the forward's saved argmax,
 * the element its backward routes to) and there is no second-order term. */
static void maxpool_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    const pool_geom *g = &((const pool_cfg *)L->cfg)->g;
    POOL_PLANES_LOOP(c->n) {
        const real *u = c->uin[0] + q * g->in_plane, *arg = c->saved + q * g->out_plane;
        real *uo = c->uout + q * g->out_plane;
        for (int64_t t = 0; t < g->out_plane; t++) uo[t] += u[(int64_t)arg[t]];
    }
}

static void avgpool_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    const pool_geom *g = &((const pool_cfg *)L->cfg)->g;
    POOL_PLANES_LOOP(c->n) {
        const real *u = c->uin[0] + q * g->in_plane;
        real *uo = c->uout + q * g->out_plane;
        for (int64_t t = 0; t < g->out_plane; t++) {
            int64_t lo[POOL_AXES], hi[POOL_AXES];
            pool_window(g, t, lo, hi);
            double sum = 0;
            POOL_WINDOW_LOOP(g, lo, hi, sum += u[idx])
            uo[t] += (real)(sum / (double)g->window);
        }
    }
}

#define POOL_OP(kind)                                                                      \
    const OPSYM(cascade_op) OPSYM(cascade_op_##kind) = {                                   \
        .type = #kind, .cfg_size = sizeof(pool_cfg), .min_inputs = 1, .max_inputs = 1,     \
        .configure = pool_configure, .infer = pool_infer, .forward = kind##_forward,       \
        .backward = kind##_backward, .backward2 = kind##_backward2};

POOL_OP(maxpool)
POOL_OP(avgpool)
