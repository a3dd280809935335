/* reshape: each sample to the per-sample `shape` (torch.reshape(x, (n, *shape))); one entry
 * may be -1 (inferred from the element count, as torch).
 *   in (n, ...) -> out (n, shape...), same element count per sample.
 * Row-major data is unchanged, so forward copies and backward accumulates. */
#include <stdio.h>
#include <string.h>

#include "nn/op.h"

#define RESHAPE_MAX_DIMS (CASCADE_MAX_DIMS - 1) /* the batch axis takes one */

typedef struct {
    int ndim;
    long dims[RESHAPE_MAX_DIMS];
} reshape_cfg;

static cascade_status reshape_configure(void *cfg, cascade_section *spec) {
    reshape_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_intlist(spec, "shape", RESHAPE_MAX_DIMS, -1, 1L << 40, c->dims, &c->ndim));
    if (c->ndim == 0) return cascade_cfg_error(spec, NULL, "reshape needs `shape`");
    int inferred = 0;
    for (int i = 0; i < c->ndim; i++) {
        if (c->dims[i] == 0)
            return cascade_cfg_error(spec, cascade_section_find(spec, "shape"),
                                     "sizes must be positive (or one -1)");
        if (c->dims[i] == -1 && inferred++)
            return cascade_cfg_error(spec, cascade_section_find(spec, "shape"),
                                     "only one size may be -1");
    }
    return CASCADE_OK;
}

/* "(4,-1)" */
static void reshape_target_str(const reshape_cfg *c, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < c->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%ld" : "%ld", c->dims[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
}

static cascade_status reshape_infer(cascade_layer *L) {
    const reshape_cfg *c = L->cfg;
    int64_t count = op_numel(&L->in_shape[0]), known = 1;
    int free_axis = -1, overflow = 0;
    for (int i = 0; i < c->ndim; i++) {
        if (c->dims[i] == -1)
            free_axis = i;
        else
            overflow |= __builtin_mul_overflow(known, (int64_t)c->dims[i], &known);
    }
    if (overflow || (free_axis >= 0 ? count % known != 0 : known != count)) {
        char from[128], to[128];
        reshape_target_str(c, to, sizeof to);
        return cascade_fail(CASCADE_EUSAGE, "cannot reshape %s (%lld elements per sample) to %s "
                            "(%s%lld elements)", cascade_shape_str(&L->in_shape[0], from, sizeof from),
                            (long long)count, to, free_axis >= 0 ? "a multiple of " : "",
                            (long long)known);
    }
    L->out_shape.ndim = c->ndim;
    for (int i = 0; i < c->ndim; i++) L->out_shape.d[i] = i == free_axis ? count / known : c->dims[i];
    return CASCADE_OK;
}

/* Shared with flatten (flatten.c): the data of a sample does not move. */
void OPSYM(reshape_forward)(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    memcpy(c->out, c->in[0], (size_t)(c->n * op_numel(&L->out_shape)) * sizeof(real));
}

void OPSYM(reshape_backward)(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    int64_t total = (int64_t)c->n * op_numel(&L->out_shape);
    real *dx = c->din[0];
#pragma omp parallel for if (total > 65536)
    for (int64_t i = 0; i < total; i++) dx[i] += c->dout[i];
}

/* Double backward (op_types.h): linear, so the tangent is the forward on u (the same data);
 * no parameters, no second-order term. */
void OPSYM(reshape_backward2)(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    int64_t total = (int64_t)c->n * op_numel(&L->out_shape);
    const real *u = c->uin[0];
    real *uo = c->uout;
#pragma omp parallel for if (total > 65536)
    for (int64_t i = 0; i < total; i++) uo[i] += u[i];
}

const OPSYM(cascade_op) OPSYM(cascade_op_reshape) = {
    .type = "reshape",
    .cfg_size = sizeof(reshape_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = reshape_configure,
    .infer = reshape_infer,
    .forward = OPSYM(reshape_forward),
    .backward = OPSYM(reshape_backward),
    .backward2 = OPSYM(reshape_backward2),
};
