/* Layer setup shared by the graph builder and the op tests. */
#ifndef CASCADE_NN_LAYER_H
#define CASCADE_NN_LAYER_H

#include "nn/op.h"

/* Configures L (L->full must be set) from its section, rejects unknown keys, infers the
 * output shape and parameters. Errors name the layer, its type and the input shapes. */
cascade_status cascade_layer_setup(cascade_layer *L, const cascade_op *op, cascade_section *spec,
                                   int n_in, const cascade_shape *in_shapes);
void cascade_layer_release(cascade_layer *L);
/* Number of floats in the layer's trainable (1) or buffer (0) parameters. */
int64_t cascade_layer_param_count(const cascade_layer *L, int trainable);

#endif
