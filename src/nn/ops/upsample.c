/* upsample: torch.nn.functional.interpolate(x, scale_factor=scale, mode) with integer scale
 * factors >= 1 (one for every spatial axis or one per axis). The input's rank picks 1-D
 * (C, L), 2-D (C, H, W) or 3-D (C, D, H, W); out = in * scale per spatial axis.
 *   nearest   torch's 'nearest': output o reads input floor(o / scale)
 *   bilinear  torch's linear / bilinear / trilinear for 1/2/3-D, align_corners=False: source
 *             position (o + 0.5) / scale - 0.5, clamped at 0, between inputs i0 = floor and
 *             i1 = min(i0 + 1, in - 1) with weights 1 - f and f (f = position - i0)
 * Every output is a weighted sum of at most 2 input taps per axis (nearest: 1 tap of weight
 * 1); forward gathers them, backward scatters the exact adjoint. Shapes run as 3-D with
 * leading unit axes (scale 1: one tap of weight 1). Threads over (sample, channel) planes:
 * each plane of the input gradient is written by one thread in a fixed order. */
#include <string.h>

#include "nn/op.h"

#define UP_AXES 3

enum { UP_NEAREST, UP_BILINEAR };

typedef struct {
    int n_scale; /* values given: 1 = the same for every axis */
    long scale[UP_AXES];
    int mode;
    int64_t in[UP_AXES], out[UP_AXES], s[UP_AXES]; /* resolved by infer, 3 axes */
    int64_t in_plane, out_plane, channels;
} up_cfg;

static cascade_status up_configure(void *cfg, cascade_section *spec) {
    static const char *const modes[] = {"nearest", "bilinear", NULL};
    up_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_intlist(spec, "scale", UP_AXES, 1, 1L << 16, c->scale, &c->n_scale));
    if (c->n_scale == 0) {
        c->n_scale = 1;
        c->scale[0] = 2;
    }
    return cascade_cfg_enum(spec, "mode", modes, UP_NEAREST, &c->mode);
}

static cascade_status up_infer(cascade_layer *L) {
    up_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    char buf[128];
    int axes = in->ndim - 1;
    if (axes < 1 || axes > UP_AXES)
        return cascade_fail(CASCADE_EUSAGE, "upsample needs (C, L), (C, H, W) or (C, D, H, W) per sample, "
                            "got %s", cascade_shape_str(in, buf, sizeof buf));
    if (c->n_scale != 1 && c->n_scale != axes)
        return cascade_fail(CASCADE_EUSAGE, "`scale` has %d values, but input %s has %d spatial axes",
                            c->n_scale, cascade_shape_str(in, buf, sizeof buf), axes);
    c->channels = in->d[0];
    c->in_plane = c->out_plane = 1;
    L->out_shape = *in;
    for (int a = 0; a < UP_AXES; a++) {
        int i = a - (UP_AXES - axes); /* spatial axis of the input, < 0 for unit axes */
        c->s[a] = i < 0 ? 1 : c->scale[c->n_scale == 1 ? 0 : i];
        c->in[a] = i < 0 ? 1 : in->d[1 + i];
        c->out[a] = c->in[a] * c->s[a];
        if (i >= 0) L->out_shape.d[1 + i] = c->out[a];
        c->in_plane *= c->in[a];
        c->out_plane *= c->out[a];
    }
    if (c->out_plane > (1LL << 31))
        return cascade_fail(CASCADE_EUSAGE, "upsampled input %s has %lld elements per channel, more "
                            "than 2^31", cascade_shape_str(in, buf, sizeof buf), (long long)c->out_plane);
    return CASCADE_OK;
}

/* Input taps of output index o on axis a: idx[0..n) with weights w. */
static int up_taps(const up_cfg *c, int a, int64_t o, int64_t idx[2], real w[2]) {
    int64_t s = c->s[a];
    if (c->mode == UP_NEAREST || s == 1) {
        idx[0] = o / s;
        w[0] = 1;
        return 1;
    }
    double src = ((double)o + 0.5) / (double)s - 0.5;
    if (src < 0) src = 0;
    int64_t i0 = (int64_t)src;
    idx[0] = i0;
    idx[1] = i0 < c->in[a] - 1 ? i0 + 1 : i0;
    w[1] = (real)(src - (double)i0);
    w[0] = 1 - w[1];
    return 2;
}

enum { UP_GATHER, UP_SCATTER, UP_GATHER_ADD };

/* One channel plane: y [out...] = taps of x [in...] (UP_GATHER), y += taps of x
 * (UP_GATHER_ADD, the tangent of the double backward), or x += adjoint scatter of y
 * (UP_SCATTER). */
static void up_plane(const up_cfg *c, real *x, real *y, int mode) {
    int adjoint = mode == UP_SCATTER;
    int64_t iz[2], iy[2], ix[2];
    real wz[2], wy[2], wx[2];
    real *o = y;
    for (int64_t oz = 0; oz < c->out[0]; oz++) {
        int nz = up_taps(c, 0, oz, iz, wz);
        for (int64_t oy = 0; oy < c->out[1]; oy++) {
            int ny = up_taps(c, 1, oy, iy, wy);
            for (int64_t ox = 0; ox < c->out[2]; ox++, o++) {
                int nx = up_taps(c, 2, ox, ix, wx);
                real sum = 0;
                for (int a = 0; a < nz; a++)
                    for (int b = 0; b < ny; b++) {
                        real *row = x + (iz[a] * c->in[1] + iy[b]) * c->in[2];
                        real wzy = wz[a] * wy[b];
                        for (int d = 0; d < nx; d++) {
                            if (adjoint)
                                row[ix[d]] += wzy * wx[d] * *o;
                            else
                                sum += wzy * wx[d] * row[ix[d]];
                        }
                    }
                if (mode == UP_GATHER)
                    *o = sum;
                else if (mode == UP_GATHER_ADD)
                    *o += sum;
            }
        }
    }
}

static void up_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    const up_cfg *u = L->cfg;
    int64_t planes = c->n * u->channels;
#pragma omp parallel for schedule(static) if (planes * u->out_plane > 32768)
    for (int64_t p = 0; p < planes; p++)
        up_plane(u, (real *)c->in[0] + p * u->in_plane, c->out + p * u->out_plane, UP_GATHER); /* x only read */
}

static void up_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    const up_cfg *u = L->cfg;
    if (!c->din[0]) return;
    int64_t planes = c->n * u->channels;
#pragma omp parallel for schedule(static) if (planes * u->out_plane > 32768)
    for (int64_t p = 0; p < planes; p++)
        up_plane(u, c->din[0] + p * u->in_plane, (real *)c->dout + p * u->out_plane, UP_SCATTER); /* dout read */
}

/* Double backward (op_types.h): linear, so the tangent is the forward on u; no second-order
 * term. */
static void up_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    const up_cfg *u = L->cfg;
    if (!c->uin[0]) return;
    int64_t planes = c->n * u->channels;
#pragma omp parallel for schedule(static) if (planes * u->out_plane > 32768)
    for (int64_t p = 0; p < planes; p++)
        up_plane(u, (real *)c->uin[0] + p * u->in_plane, c->uout + p * u->out_plane, UP_GATHER_ADD); /* u read */
}

const OPSYM(cascade_op) OPSYM(cascade_op_upsample) = {
    .type = "upsample", .cfg_size = sizeof(up_cfg), .min_inputs = 1, .max_inputs = 1,
    .configure = up_configure, .infer = up_infer, .forward = up_forward, .backward = up_backward,
    .backward2 = up_backward2};
