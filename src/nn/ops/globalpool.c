/* globalavgpool, globalmaxpool: mean / max over all non-channel axes,
 *   in (n, C, ...) -> out (n, C)
 * (torch: x.flatten(2).mean(2) / x.flatten(2).max(2).values, i.e. adaptive pooling to 1).
 * globalmaxpool saves the argmax (flat index within the channel's plane, as a real) and
 * routes the gradient there: the first max on ties, a NaN wins, as torch's max pooling. */
#include <string.h>
#include <tgmath.h>

#include "nn/op.h"

#define GLOBALPOOL_MAX_PLANE 16777216 /* 2^24: larger argmax indices are not exact in float */

static cascade_status globalpool_infer(cascade_layer *L) {
    const cascade_shape *in = &L->in_shape[0];
    char buf[128];
    if (in->ndim < 2)
        return cascade_fail(CASCADE_EUSAGE, "%s needs (C, ...) with at least one axis after the "
                            "channels per sample, got %s", L->type, cascade_shape_str(in, buf, sizeof buf));
    int64_t plane = op_numel(in) / in->d[0];
    if (plane > GLOBALPOOL_MAX_PLANE)
        return cascade_fail(CASCADE_EUSAGE, "%s input %s has %lld elements per channel; at most %d "
                            "are supported", L->type, cascade_shape_str(in, buf, sizeof buf),
                            (long long)plane, GLOBALPOOL_MAX_PLANE);
    L->out_shape = cascade_shape_make(1, in->d);
    if (strcmp(L->type, "globalmaxpool") == 0) L->saved_per_sample = in->d[0]; /* argmax per channel */
    return CASCADE_OK;
}

/* planes = n * C rows of `plane` elements; one output per row. Rows are independent. */
#define GLOBALPOOL_ROWS(L, n)                                                              \
    const int64_t rows = (int64_t)(n) * (L)->in_shape[0].d[0];                             \
    const int64_t plane = op_numel(&(L)->in_shape[0]) / (L)->in_shape[0].d[0];             \
    _Pragma("omp parallel for if (rows * plane > 65536)")                                  \
    for (int64_t r = 0; r < rows; r++)

static void globalavgpool_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    GLOBALPOOL_ROWS(L, c->n) {
        const real *x = c->in[0] + r * plane;
        double sum = 0; /* a wide accumulator: planes can be large */
        for (int64_t i = 0; i < plane; i++) sum += x[i];
        c->out[r] = (real)(sum / (double)plane);
    }
}

static void globalavgpool_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    GLOBALPOOL_ROWS(L, c->n) {
        real *dx = c->din[0] + r * plane;
        real share = (real)((double)c->dout[r] / (double)plane);
        for (int64_t i = 0; i < plane; i++) dx[i] += share;
    }
}

static void globalmaxpool_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    GLOBALPOOL_ROWS(L, c->n) {
        const real *x = c->in[0] + r * plane;
        int64_t best_idx = 0;
        real best = -INFINITY;
        for (int64_t i = 0; i < plane; i++)
            if (x[i] > best || isnan(x[i])) {
                best = x[i];
                best_idx = i;
            }
        c->out[r] = best;
        c->saved[r] = (real)best_idx;
    }
}

static void globalmaxpool_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    const int64_t rows = (int64_t)c->n * L->in_shape[0].d[0];
    const int64_t plane = op_numel(&L->in_shape[0]) / L->in_shape[0].d[0];
    for (int64_t r = 0; r < rows; r++) c->din[0][r * plane + (int64_t)c->saved[r]] += c->dout[r];
}

/* Double backward (op_types.h): linear in the input (given the argmax), so the tangent is
 * the forward on u — globalmaxpool: u at the saved argmax — and there is no second-order term. */
static void globalavgpool_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    GLOBALPOOL_ROWS(L, c->n) {
        const real *u = c->uin[0] + r * plane;
        double sum = 0;
        for (int64_t i = 0; i < plane; i++) sum += u[i];
        c->uout[r] += (real)(sum / (double)plane);
    }
}

static void globalmaxpool_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    const int64_t rows = (int64_t)c->n * L->in_shape[0].d[0];
    const int64_t plane = op_numel(&L->in_shape[0]) / L->in_shape[0].d[0];
    for (int64_t r = 0; r < rows; r++) c->uout[r] += c->uin[0][r * plane + (int64_t)c->saved[r]];
}

#define GLOBALPOOL_OP(kind)                                                                \
    const OPSYM(cascade_op) OPSYM(cascade_op_##kind) = {                                   \
        .type = #kind, .cfg_size = 0, .min_inputs = 1, .max_inputs = 1, .configure = NULL, \
        .infer = globalpool_infer, .forward = kind##_forward, .backward = kind##_backward, \
        .backward2 = kind##_backward2};

GLOBALPOOL_OP(globalavgpool)
GLOBALPOOL_OP(globalmaxpool)
