/* dropout (torch.nn.Dropout): training keeps each value with probability 1 - rate and scales
 * the kept ones by 1 / (1 - rate); eval (and rate = 0) is the identity. Shape preserved.
 *
 * The mask comes from Philox keyed by (job seed, CASCADE_RNG_DROPOUT ^ layer_id << 8) with
 * counter a = optimiser step, b = global sample id * 2^20 + element / 4 (one draw gives the
 * uniforms of 4 consecutive elements; blocks beyond 2^20 spill into the high bits of a). So
 * a sample's mask depends only on (seed, layer, step, global sample id, element): never on
 * the rank, the micro-batch size or the sample's position in it. Backward recomputes the
 * mask from the same counters instead of saving it. */
#include <tgmath.h>

#include "nn/op.h"

typedef struct {
    double rate;
} dropout_cfg;

static cascade_status dropout_configure(void *cfg, cascade_section *spec) {
    dropout_cfg *c = cfg;
    const cascade_kv *kv = cascade_section_peek(spec, "rate");
    if (!kv) return cascade_cfg_error(spec, NULL, "dropout needs `rate` (0 <= rate < 1)");
    CASCADE_TRY(cascade_cfg_double(spec, "rate", 0, 0, 1, &c->rate));
    /* rate = 1 would drop everything and scale by 1/0 */
    if (c->rate >= 1) return cascade_cfg_error(spec, kv, "must be below 1 (0 <= rate < 1)");
    return CASCADE_OK;
}

static cascade_status dropout_infer(cascade_layer *L) {
    L->out_shape = L->in_shape[0];
    return CASCADE_OK;
}

/* Applies the mask of one sample: y[e] = x[e] * scale if kept, else 0 (for e < elems). */
static void dropout_sample(const cascade_layer *L, uint64_t step, int64_t sample_id, int64_t elems,
                           const real *x, real *y, int accumulate) {
    double rate = ((const dropout_cfg *)L->cfg)->rate;
    real scale = (real)(1.0 / (1.0 - rate));
    uint32_t purpose = (uint32_t)CASCADE_RNG_DROPOUT ^ (L->layer_id << 8);
    for (int64_t block = 0; block * 4 < elems; block++) {
        uint32_t r[4];
        uint64_t a = step | ((uint64_t)block >> 20) << 40;
        uint64_t b = ((uint64_t)sample_id << 20) | ((uint64_t)block & 0xFFFFF);
        cascade_philox(L->seed, purpose, a, b, r);
        for (int k = 0; k < 4 && block * 4 + k < elems; k++) {
            int64_t e = block * 4 + k;
            real v = (double)cascade_u01f(r[k]) >= rate ? x[e] * scale : 0;
            if (accumulate)
                y[e] += v;
            else
                y[e] = v;
        }
    }
}

/* forward: y = mask(x); backward: din += mask(dout); backward2: uout += mask(u) (the mask is
 * linear). */
static void dropout_apply(const cascade_layer *L, int n, int training, const int64_t *sample_ids,
                          uint64_t step, const real *x, real *y, int accumulate) {
    int64_t elems = op_numel(&L->out_shape);
    double rate = ((const dropout_cfg *)L->cfg)->rate;
    if (!training || rate == 0) {
        int64_t total = (int64_t)n * elems;
        for (int64_t i = 0; i < total; i++) y[i] = accumulate ? y[i] + x[i] : x[i];
        return;
    }
#pragma omp parallel for if ((int64_t)n * elems > 65536)
    for (int i = 0; i < n; i++) {
        int64_t id = sample_ids ? sample_ids[i] : i; /* no ids (op tests): position = id */
        dropout_sample(L, step, id, elems, x + (int64_t)i * elems, y + (int64_t)i * elems, accumulate);
    }
}

static void dropout_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    dropout_apply(L, c->n, c->training, c->sample_ids, c->step, c->in[0], c->out, 0);
}

static void dropout_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    dropout_apply(L, c->n, c->training, c->sample_ids, c->step, c->dout, c->din[0], 1);
}

/* Double backward (op_types.h): linear given the mask, so the tangent is the mask applied to
 * u (recomputed from the same counters as forward); no second-order term. */
static void dropout_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    dropout_apply(L, c->n, c->training, c->sample_ids, c->step, c->uin[0], c->uout, 1);
}

const OPSYM(cascade_op) OPSYM(cascade_op_dropout) = {
    .type = "dropout",
    .cfg_size = sizeof(dropout_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = dropout_configure,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .backward2 = dropout_backward2,
};
