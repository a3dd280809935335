/* concat: 2..8 inputs joined along `axis` (torch.cat(xs, dim=axis) on (n, ...) tensors:
 * axis counts the batch axis, 1 = channels, negative counts from the end; the batch axis
 * itself cannot be joined per sample). All other axes must match.
 *   in_k (n, ..., a_k, ...) -> out (n, ..., sum a_k, ...)
 * Seen per sample, each input is `outer` rows of chunk_k = a_k * inner contiguous elements;
 * an output row is the input rows one after the other. */
#include <stdio.h>
#include <string.h>

#include "nn/op.h"

typedef struct {
    long axis;    /* as given (torch dim of the (n, ...) tensor) */
    int sample_axis; /* resolved by infer: axis within the per-sample shape */
} concat_cfg;

static cascade_status concat_configure(void *cfg, cascade_section *spec) {
    concat_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_int(spec, "axis", 1, -(CASCADE_MAX_DIMS + 1), CASCADE_MAX_DIMS, &c->axis));
    if (c->axis == 0)
        return cascade_cfg_error(spec, cascade_section_find(spec, "axis"),
                                 "axis 0 is the batch axis; concat joins samples' axes (1 = channels)");
    return CASCADE_OK;
}

static cascade_status concat_infer(cascade_layer *L) {
    concat_cfg *c = L->cfg;
    const cascade_shape *first = &L->in_shape[0];
    char a[128], b[128];
    int ndim = first->ndim;
    long axis = c->axis < 0 ? c->axis + ndim + 1 : c->axis; /* torch dim with the batch axis */
    if (axis < 1 || axis > ndim)
        return cascade_fail(CASCADE_EUSAGE, "concat axis %ld is %s for inputs %s (%d axes with the "
                            "batch axis)", c->axis, axis == 0 ? "the batch axis" : "out of range",
                            cascade_shape_str(first, a, sizeof a), ndim + 1);
    c->sample_axis = (int)axis - 1;
    L->out_shape = *first;
    for (int k = 1; k < L->n_in; k++) {
        const cascade_shape *s = &L->in_shape[k];
        int same = s->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = i == c->sample_axis || s->d[i] == first->d[i];
        if (!same)
            return cascade_fail(CASCADE_EUSAGE, "concat along axis %ld needs the other axes to match, "
                                "but input %d is %s and input 1 is %s", c->axis, k + 1,
                                cascade_shape_str(s, a, sizeof a), cascade_shape_str(first, b, sizeof b));
        L->out_shape.d[c->sample_axis] += s->d[c->sample_axis];
    }
    return CASCADE_OK;
}

/* rows = n * (product of the per-sample axes before the joined one) */
static int64_t concat_rows(const cascade_layer *L, int n) {
    int64_t rows = n;
    for (int i = 0; i < ((const concat_cfg *)L->cfg)->sample_axis; i++) rows *= L->out_shape.d[i];
    return rows;
}

static void concat_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    int64_t rows = concat_rows(L, c->n), out_row = op_numel(&L->out_shape) * c->n / rows;
    int64_t offset = 0;
    for (int k = 0; k < L->n_in; k++) {
        int64_t chunk = op_numel(&L->in_shape[k]) * c->n / rows;
#pragma omp parallel for if (rows * chunk > 65536)
        for (int64_t r = 0; r < rows; r++)
            memcpy(c->out + r * out_row + offset, c->in[k] + r * chunk, (size_t)chunk * sizeof(real));
        offset += chunk;
    }
}

static void concat_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    int64_t rows = concat_rows(L, c->n), out_row = op_numel(&L->out_shape) * c->n / rows;
    int64_t offset = 0;
    for (int k = 0; k < L->n_in; k++) {
        int64_t chunk = op_numel(&L->in_shape[k]) * c->n / rows;
        real *dx = c->din[k];
        if (dx) {
#pragma omp parallel for if (rows * chunk > 65536)
            for (int64_t r = 0; r < rows; r++) {
                const real *g = c->dout + r * out_row + offset;
                for (int64_t i = 0; i < chunk; i++) dx[r * chunk + i] += g[i];
            }
        }
        offset += chunk;
    }
}

/* Double backward (op_types.h): linear, so the tangent is the concatenation of the inputs'
 * tangents (NULL ones are zero: their chunks of uout get nothing); no second-order term. */
static void concat_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    int64_t rows = concat_rows(L, c->n), out_row = op_numel(&L->out_shape) * c->n / rows;
    int64_t offset = 0;
    for (int k = 0; k < L->n_in; k++) {
        int64_t chunk = op_numel(&L->in_shape[k]) * c->n / rows;
        const real *u = c->uin[k];
        if (u) {
#pragma omp parallel for if (rows * chunk > 65536)
            for (int64_t r = 0; r < rows; r++) {
                real *uo = c->uout + r * out_row + offset;
                for (int64_t i = 0; i < chunk; i++) uo[i] += u[r * chunk + i];
            }
        }
        offset += chunk;
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_concat) = {
    .type = "concat",
    .cfg_size = sizeof(concat_cfg),
    .min_inputs = 2,
    .max_inputs = CASCADE_MAX_INPUTS,
    .configure = concat_configure,
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .backward2 = concat_backward2,
};
