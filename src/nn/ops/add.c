/* add: elementwise sum of 2..8 inputs of identical shape (torch: a + b + ...).
 *   in_k (n, ...) -> out (n, ...); backward passes dout to every input. */
#include <stdio.h>
#include <string.h>

#include "nn/op.h"

static cascade_status add_infer(cascade_layer *L) {
    for (int k = 1; k < L->n_in; k++) {
        if (!cascade_shape_equal(&L->in_shape[k], &L->in_shape[0])) {
            char a[128], b[128];
            return cascade_fail(CASCADE_EUSAGE, "add needs inputs of identical shape, but input %d "
                                "is %s and input 1 is %s", k + 1,
                                cascade_shape_str(&L->in_shape[k], a, sizeof a),
                                cascade_shape_str(&L->in_shape[0], b, sizeof b));
        }
    }
    L->out_shape = L->in_shape[0];
    return CASCADE_OK;
}

static void add_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    int64_t total = (int64_t)c->n * op_numel(&L->out_shape);
    real *y = c->out;
    memcpy(y, c->in[0], (size_t)total * sizeof(real));
    for (int k = 1; k < L->n_in; k++) {
        const real *x = c->in[k];
#pragma omp parallel for if (total > 65536)
        for (int64_t i = 0; i < total; i++) y[i] += x[i];
    }
}

static void add_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    int64_t total = (int64_t)c->n * op_numel(&L->out_shape);
    for (int k = 0; k < L->n_in; k++) {
        real *dx = c->din[k];
        if (!dx) continue;
#pragma omp parallel for if (total > 65536)
        for (int64_t i = 0; i < total; i++) dx[i] += c->dout[i];
    }
}

/* Double backward (op_types.h): linear, so the tangent is the sum of the inputs' tangents
 * (NULL ones are zero); no second-order term. */
static void add_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    int64_t total = (int64_t)c->n * op_numel(&L->out_shape);
    real *uo = c->uout;
    for (int k = 0; k < L->n_in; k++) {
        const real *u = c->uin[k];
        if (!u) continue;
#pragma omp parallel for if (total > 65536)
        for (int64_t i = 0; i < total; i++) uo[i] += u[i];
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_add) = {
    .type = "add",
    .cfg_size = 0,
    .min_inputs = 2,
    .max_inputs = CASCADE_MAX_INPUTS,
    .configure = NULL,
    .infer = add_infer,
    .forward = add_forward,
    .backward = add_backward,
    .backward2 = add_backward2,
};
