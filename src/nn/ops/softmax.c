/* softmax (torch.softmax(x, dim=axis)) along one axis of the (N, ...) tensor; axis counts the
 * batch axis as torch's dim does (default 1 = channels; negative counts from the end). The
 * batch axis itself is rejected: it would mix samples across micro-batches. Shape preserved.
 * Forward subtracts the maximum for stability and sums in double; backward uses the saved
 * output: dx = y * (g - sum(g * y)) along the axis. Each line along the axis is independent,
 * so OpenMP over lines gives results independent of the thread count. */
#include <tgmath.h>

#include "nn/op.h"

typedef struct {
    int configured; /* 0 when used as `activation = softmax` (no keys): axis 1 */
    long axis;
} softmax_cfg;

static cascade_status softmax_configure(void *cfg, cascade_section *spec) {
    softmax_cfg *c = cfg;
    c->configured = 1;
    CASCADE_TRY(cascade_cfg_int(spec, "axis", 1, -(CASCADE_MAX_DIMS + 1), CASCADE_MAX_DIMS, &c->axis));
    if (c->axis == 0)
        return cascade_cfg_error(spec, cascade_section_peek(spec, "axis"),
                                 "softmax over the batch axis (0) is not supported");
    return CASCADE_OK;
}

/* Per-sample axis index (0-based, without the batch axis), or -1 when out of range. */
static int softmax_axis(const cascade_layer *L) {
    const softmax_cfg *c = L->cfg;
    long axis = c->configured ? c->axis : 1;
    long rank = L->in_shape[0].ndim + 1; /* with the batch axis */
    if (axis < 0) axis += rank;
    return axis >= 1 && axis < rank ? (int)axis - 1 : -1;
}

static cascade_status softmax_infer(cascade_layer *L) {
    const softmax_cfg *c = L->cfg;
    if (softmax_axis(L) < 0)
        return cascade_fail(CASCADE_EUSAGE,
                            "softmax axis %ld is not a non-batch axis of a tensor with %d axes "
                            "(batch included)",
                            c->configured ? c->axis : 1L, L->in_shape[0].ndim + 1);
    L->out_shape = L->in_shape[0];
    return CASCADE_OK;
}

/* lines = n * (axes before), len = the axis, inner = (axes after): element (o, k, j) at
 * (o * len + k) * inner + j. */
static void softmax_dims(const cascade_layer *L, int n, int64_t *lines, int64_t *len, int64_t *inner) {
    const cascade_shape *s = &L->in_shape[0];
    int axis = softmax_axis(L);
    int64_t outer = n;
    *inner = 1;
    for (int d = 0; d < axis; d++) outer *= s->d[d];
    for (int d = axis + 1; d < s->ndim; d++) *inner *= s->d[d];
    *len = s->d[axis];
    *lines = outer * *inner;
}

static void softmax_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    int64_t lines, len, inner;
    softmax_dims(L, c->n, &lines, &len, &inner);
#pragma omp parallel for if (lines * len > 65536)
    for (int64_t line = 0; line < lines; line++) {
        int64_t base = (line / inner) * len * inner + line % inner;
        const real *x = c->in[0] + base;
        real *y = c->out + base;
        real mx = -REAL_MAX;
        for (int64_t k = 0; k < len; k++) mx = x[k * inner] > mx ? x[k * inner] : mx;
        double sum = 0;
        for (int64_t k = 0; k < len; k++) {
            y[k * inner] = exp(x[k * inner] - mx);
            sum += (double)y[k * inner];
        }
        real inv = (real)(1 / sum);
        for (int64_t k = 0; k < len; k++) y[k * inner] *= inv;
    }
}

static void softmax_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    int64_t lines, len, inner;
    softmax_dims(L, c->n, &lines, &len, &inner);
#pragma omp parallel for if (lines * len > 65536)
    for (int64_t line = 0; line < lines; line++) {
        int64_t base = (line / inner) * len * inner + line % inner;
        const real *y = c->out + base, *g = c->dout + base;
        real *dx = c->din[0] + base;
        double dot = 0;
        for (int64_t k = 0; k < len; k++) dot += (double)g[k * inner] * (double)y[k * inner];
        for (int64_t k = 0; k < len; k++) dx[k * inner] += y[k * inner] * (g[k * inner] - (real)dot);
    }
}

/* Double backward (op_types.h): the backward reads the output only, dx = y (g - <g, y>) along
 * the axis, so for R = sum(u * dx) = <u y, g> - <u, y> <g, y>:
 *   uout = dR/dg = y (u - <u, y>)              (the forward's Jacobian on u)
 *   hout = dR/dy = u g - u <g, y> - g <u, y>   (through y, the executor's seeded backward
 *                                              then takes it to the input) */
static void softmax_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    int64_t lines, len, inner;
    softmax_dims(L, c->n, &lines, &len, &inner);
#pragma omp parallel for if (lines * len > 65536)
    for (int64_t line = 0; line < lines; line++) {
        int64_t base = (line / inner) * len * inner + line % inner;
        const real *y = c->out + base, *g = c->dout + base, *u = c->uin[0] + base;
        real *uo = c->uout + base, *h = c->hout + base;
        double gy = 0, uy = 0;
        for (int64_t k = 0; k < len; k++) {
            gy += (double)g[k * inner] * (double)y[k * inner];
            uy += (double)u[k * inner] * (double)y[k * inner];
        }
        for (int64_t k = 0; k < len; k++) {
            double yk = (double)y[k * inner], uk = (double)u[k * inner], gk = (double)g[k * inner];
            uo[k * inner] += (real)(yk * (uk - uy));
            h[k * inner] += (real)(uk * (gk - gy) - gk * uy);
        }
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_softmax) = {
    .type = "softmax",
    .cfg_size = sizeof(softmax_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = softmax_configure,
    .infer = softmax_infer,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .backward2 = softmax_backward2,
};
