/* permute: reorders the axes of each sample (torch.permute(x, order) on (n, ...) tensors).
 * `order` counts the batch axis as torch does and must start with 0: `order = 0, 2, 1`
 * turns (n, P, F) into (n, F, P).
 *   in (n, d_1, ..., d_r) -> out (n, d_order[1], ..., d_order[r])
 * Forward gathers every output element from its input position; backward scatters the
 * output gradient back (a permutation: each input element is read exactly once). */
#include <stdio.h>
#include <string.h>

#include "nn/op.h"

typedef struct {
    int ndim;                        /* entries of `order`, batch axis included */
    long order[CASCADE_MAX_DIMS + 1];
} permute_cfg;

static cascade_status permute_configure(void *cfg, cascade_section *spec) {
    permute_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_intlist(spec, "order", CASCADE_MAX_DIMS + 1, 0, CASCADE_MAX_DIMS, c->order,
                                    &c->ndim));
    cascade_kv *kv = cascade_section_find(spec, "order");
    if (c->ndim == 0) return cascade_cfg_error(spec, NULL, "permute needs `order` (e.g. order = 0, 2, 1)");
    if (c->order[0] != 0)
        return cascade_cfg_error(spec, kv, "order must start with 0, the batch axis (torch.permute "
                                 "convention on (N, ...) tensors): samples cannot be permuted");
    int seen[CASCADE_MAX_DIMS + 1] = {0};
    for (int i = 0; i < c->ndim; i++) {
        if (c->order[i] >= c->ndim || seen[c->order[i]]++)
            return cascade_cfg_error(spec, kv, "order must be a permutation of 0..%d (each axis once)",
                                     c->ndim - 1);
    }
    return CASCADE_OK;
}

static cascade_status permute_infer(cascade_layer *L) {
    const permute_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    if (in->ndim + 1 != c->ndim) {
        char buf[128];
        return cascade_fail(CASCADE_EUSAGE, "permute order has %d axes but the input %s has %d "
                            "(with the batch axis)", c->ndim, cascade_shape_str(in, buf, sizeof buf),
                            in->ndim + 1);
    }
    L->out_shape.ndim = in->ndim;
    for (int i = 0; i < in->ndim; i++) L->out_shape.d[i] = in->d[c->order[i + 1] - 1];
    return CASCADE_OK;
}

/* For output axis a (per sample), the input stride it walks: in_stride[order[a+1]-1]. */
static void permute_strides(const cascade_layer *L, int64_t *stride_of_out_axis) {
    const permute_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    int64_t in_stride[CASCADE_MAX_DIMS];
    int64_t s = 1;
    for (int i = in->ndim - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= in->d[i];
    }
    for (int a = 0; a < in->ndim; a++) stride_of_out_axis[a] = in_stride[c->order[a + 1] - 1];
}

enum { PERMUTE_FORWARD, PERMUTE_BACKWARD, PERMUTE_TANGENT };

/* Walks the output of one sample in row-major order with the matching input offset;
 * forward: out[o] = in[i]; backward: din[i] += dout[o]; tangent: uout[o] += u[i]. */
static void permute_sample(const cascade_layer *L, const int64_t *stride, const real *src, real *dst,
                           int mode) {
    const cascade_shape *os = &L->out_shape;
    int nd = os->ndim;
    int64_t idx[CASCADE_MAX_DIMS] = {0}, total = op_numel(os), off = 0;
    for (int64_t o = 0; o < total; o++) {
        if (mode == PERMUTE_BACKWARD)
            dst[off] += src[o];
        else if (mode == PERMUTE_TANGENT)
            dst[o] += src[off];
        else
            dst[o] = src[off];
        for (int a = nd - 1; a >= 0; a--) { /* odometer increment, keeping off in step */
            off += stride[a];
            if (++idx[a] < os->d[a]) break;
            off -= stride[a] * os->d[a];
            idx[a] = 0;
        }
    }
}

static void permute_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    int64_t stride[CASCADE_MAX_DIMS], per = op_numel(&L->out_shape);
    permute_strides(L, stride);
#pragma omp parallel for if ((int64_t)c->n * per > 65536)
    for (int s = 0; s < c->n; s++) permute_sample(L, stride, c->in[0] + s * per, c->out + s * per, PERMUTE_FORWARD);
}

static void permute_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    int64_t stride[CASCADE_MAX_DIMS], per = op_numel(&L->out_shape);
    permute_strides(L, stride);
#pragma omp parallel for if ((int64_t)c->n * per > 65536)
    for (int s = 0; s < c->n; s++)
        permute_sample(L, stride, c->dout + s * per, c->din[0] + s * per, PERMUTE_BACKWARD);
}

/* Double backward (op_types.h): linear, so the tangent is the forward on u; no second-order
 * term. */
static void permute_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    int64_t stride[CASCADE_MAX_DIMS], per = op_numel(&L->out_shape);
    permute_strides(L, stride);
#pragma omp parallel for if ((int64_t)c->n * per > 65536)
    for (int s = 0; s < c->n; s++)
        permute_sample(L, stride, c->uin[0] + s * per, c->uout + s * per, PERMUTE_TANGENT);
}

const OPSYM(cascade_op) OPSYM(cascade_op_permute) = {
    .type = "permute",
    .cfg_size = sizeof(permute_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = permute_configure,
    .infer = permute_infer,
    .forward = permute_forward,
    .backward = permute_backward,
    .backward2 = permute_backward2,
};
