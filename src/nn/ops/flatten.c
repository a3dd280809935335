/* flatten: each sample to one axis (torch.flatten(x, start_dim=1)).
 *   in (n, d1, ..., dk) -> out (n, d1*...*dk)
 * A reshape with a fixed target: forward, backward and backward2 are reshape's (reshape.c). */
#include "nn/op.h"

void OPSYM(reshape_forward)(const cascade_layer *L, const OPSYM(cascade_fwd) *c);
void OPSYM(reshape_backward)(const cascade_layer *L, const OPSYM(cascade_bwd) *c);
void OPSYM(reshape_backward2)(const cascade_layer *L, const OPSYM(cascade_bwd2) *c);

static cascade_status flatten_infer(cascade_layer *L) {
    L->out_shape = cascade_shape_make(1, (int64_t[]){op_numel(&L->in_shape[0])});
    return CASCADE_OK;
}

const OPSYM(cascade_op) OPSYM(cascade_op_flatten) = {
    .type = "flatten",
    .cfg_size = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = NULL,
    .infer = flatten_infer,
    .forward = OPSYM(reshape_forward),
    .backward = OPSYM(reshape_backward),
    .backward2 = OPSYM(reshape_backward2),
};
