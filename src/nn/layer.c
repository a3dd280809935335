/* Layer setup shared by the graph builder and the op tests: configure from the layer's
 * section, reject unknown keys, infer shapes and parameters. */
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"

cascade_status cascade_layer_setup(cascade_layer *L, const cascade_op *op, cascade_section *spec,
                                   int n_in, const cascade_shape *in_shapes) {
    char buf[128];
    L->op = op;
    L->type = op->type;
    if (n_in < op->min_inputs || n_in > op->max_inputs) {
        if (op->min_inputs == op->max_inputs)
            return cascade_fail(CASCADE_EUSAGE, "layer %s (%s) takes %d input(s), got %d", L->full,
                                op->type, op->min_inputs, n_in);
        return cascade_fail(CASCADE_EUSAGE, "layer %s (%s) takes %d to %d inputs, got %d", L->full,
                            op->type, op->min_inputs, op->max_inputs, n_in);
    }
    L->n_in = n_in;
    for (int i = 0; i < n_in; i++) L->in_shape[i] = in_shapes[i];
    L->cfg = cascade_alloc(op->cfg_size ? op->cfg_size : 1, "layer config");
    if (!L->cfg) return CASCADE_EINTERNAL;
    cascade_section empty = {.name = L->full, .file = "<default>"};
    if (!spec) spec = &empty; /* defaults only, e.g. an `activation =` node */
    if (op->configure) CASCADE_TRY(op->configure(L->cfg, spec));
    CASCADE_TRY(cascade_cfg_check_unused(spec));
    cascade_status st = op->infer(L);
    if (st != CASCADE_OK) {
        char shapes[512] = "";
        for (int i = 0; i < n_in; i++) {
            strncat(shapes, i ? ", " : "", sizeof shapes - strlen(shapes) - 1);
            strncat(shapes, cascade_shape_str(&in_shapes[i], buf, sizeof buf),
                    sizeof shapes - strlen(shapes) - 1);
        }
        cascade_error_context("layer %s (%s) with input shape %s: ", L->full, op->type, shapes);
        return st;
    }
    for (int i = 0; i < L->out_shape.ndim; i++)
        if (L->out_shape.d[i] <= 0)
            return cascade_fail(CASCADE_EUSAGE, "layer %s (%s): output shape %s is empty", L->full,
                                op->type, cascade_shape_str(&L->out_shape, buf, sizeof buf));
    return CASCADE_OK;
}

void cascade_layer_release(cascade_layer *L) {
    cascade_free(L->cfg);
    L->cfg = NULL;
}

int64_t cascade_layer_param_count(const cascade_layer *L, int trainable) {
    int64_t n = 0;
    for (int i = 0; i < L->n_params; i++)
        if (L->params[i].trainable == trainable) n += cascade_shape_numel(&L->params[i].shape);
    return n;
}
