/* Forward and backward execution of a net over one micro-batch. Activations, their
 * gradients, saved state and scratch come from one arena sized once (no malloc per step). */
#include <stdlib.h>
#include <string.h>

#include "cascade/trace.h"
#include "core/region.h"
#include "nn/graph.h"

static int64_t per_call(int64_t per_sample, int64_t fixed, int n) { return per_sample * n + fixed; }

cascade_status cascade_net_prepare(cascade_net *net, int max_n, int want_input_grads) {
    if (net->act && net->max_n >= max_n && net->want_dext >= want_input_grads) return CASCADE_OK;
    free(net->act);
    free(net->dact);
    free(net->saved);
    free(net->tangent);
    free(net->hess);
    net->tangent = net->hess = NULL;
    cascade_arena_free(&net->arena);
    int L = net->n_layers;
    int dbl = want_input_grads >= 2;
    net->act = calloc((size_t)L, sizeof(float *));
    net->dact = calloc((size_t)L, sizeof(float *));
    net->saved = calloc((size_t)L, sizeof(float *));
    if (dbl) {
        net->tangent = calloc((size_t)L, sizeof(float *));
        net->hess = calloc((size_t)L, sizeof(float *));
    }
    if (!net->act || !net->dact || !net->saved || (dbl && (!net->tangent || !net->hess)))
        return cascade_fail(CASCADE_EINTERNAL, "out of memory preparing net %s", net->name);
    size_t bytes = 0, work = 0;
    for (int l = 0; l < L; l++) {
        const cascade_layer *ly = &net->layers[l];
        size_t out = (size_t)max_n * (size_t)cascade_shape_numel(&ly->out_shape);
        bytes += (dbl ? 4 : 2) * ((out * sizeof(float) + 63) / 64 * 64);
        bytes += ((size_t)per_call(ly->saved_per_sample, ly->saved_fixed, max_n) * sizeof(float) + 127) / 64 * 64;
        size_t w = (size_t)per_call(ly->work_per_sample, ly->work_fixed, max_n);
        if (dbl) w += (size_t)per_call(ly->work2_per_sample, ly->work2_fixed, max_n);
        if (w > work) work = w;
    }
    bytes += (work * sizeof(float) + 127) / 64 * 64;
    if (want_input_grads)
        for (int e = 0; e < net->n_ext; e++)
            bytes += ((size_t)max_n * (size_t)cascade_shape_numel(&net->ext_shapes[e]) * sizeof(float) + 127) / 64 * 64;
    CASCADE_TRY(cascade_arena_init(&net->arena, bytes + 4096));
    for (int l = 0; l < L; l++) {
        const cascade_layer *ly = &net->layers[l];
        size_t out = (size_t)max_n * (size_t)cascade_shape_numel(&ly->out_shape);
        net->act[l] = cascade_arena_alloc(&net->arena, out * sizeof(float));
        net->dact[l] = cascade_arena_alloc(&net->arena, out * sizeof(float));
        net->saved[l] = cascade_arena_alloc(
            &net->arena, (size_t)per_call(ly->saved_per_sample, ly->saved_fixed, max_n) * sizeof(float) + 64);
        if (!net->act[l] || !net->dact[l] || !net->saved[l]) return CASCADE_EINTERNAL;
        if (dbl) {
            net->tangent[l] = cascade_arena_alloc(&net->arena, out * sizeof(float));
            net->hess[l] = cascade_arena_alloc(&net->arena, out * sizeof(float));
            if (!net->tangent[l] || !net->hess[l]) return CASCADE_EINTERNAL;
        }
    }
    net->work = cascade_arena_alloc(&net->arena, work * sizeof(float) + 64);
    if (!net->work) return CASCADE_EINTERNAL;
    for (int e = 0; e < CASCADE_MAX_EXTERNAL; e++) net->dext[e] = NULL;
    if (want_input_grads)
        for (int e = 0; e < net->n_ext; e++) {
            net->dext[e] = cascade_arena_alloc(
                &net->arena, (size_t)max_n * (size_t)cascade_shape_numel(&net->ext_shapes[e]) * sizeof(float) + 64);
            if (!net->dext[e]) return CASCADE_EINTERNAL;
        }
    net->max_n = max_n;
    net->want_dext = want_input_grads;
    return CASCADE_OK;
}

static const float *node_value(const cascade_net *net, const cascade_run *run, int ref) {
    return ref >= 0 ? net->act[ref] : run->ext[-ref - 1];
}

void cascade_net_forward(cascade_net *net, const cascade_run *run) {
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        cascade_fwd c = {0};
        c.n = run->n;
        c.training = run->training;
        c.update_stats = run->update_stats;
        c.stats = run->collect_stats && L->stat_count ? net->stats + net->stat_off[l] : NULL;
        for (int k = 0; k < L->n_in; k++) c.in[k] = node_value(net, run, net->inputs[l][k]);
        c.out = net->act[l];
        for (int p = 0; p < L->n_params; p++)
            c.param[p] = (L->params[p].trainable ? net->params : net->buffers) + net->param_off[l][p];
        c.saved = net->saved[l];
        c.work = net->work;
        c.peer_saved = net->peer && net->peer[l] >= 0 ? net->saved[net->peer[l]] : NULL;
        c.sample_ids = run->sample_ids;
        c.step = run->step;
        double t0 = cascade_trace_on() ? cascade_now() : 0;
        if (cascade_region_begin("forward", L->full, c.n, 1)) L->op->forward(L, &c);
        cascade_region_end();
        if (t0) cascade_trace_add("forward", L->full, t0, cascade_now());
        if (run->after_forward) run->after_forward(run->hook_ctx, l);
    }
}

static size_t act_bytes(const cascade_net *net, int l, int n) {
    return (size_t)n * (size_t)cascade_shape_numel(&net->layers[l].out_shape) * sizeof(float);
}

/* The reverse sweep from the gradients already in net->dact (from the output layer down). */
static void backward_sweep(cascade_net *net, const cascade_run *run, int top) {
    int n = run->n;
    if (net->want_dext)
        for (int e = 0; e < net->n_ext; e++)
            memset(net->dext[e], 0, (size_t)n * (size_t)cascade_shape_numel(&net->ext_shapes[e]) * sizeof(float));
    for (int l = top; l >= 0; l--) {
        const cascade_layer *L = &net->layers[l];
        cascade_bwd c = {0};
        c.n = n;
        c.training = run->training;
        for (int k = 0; k < L->n_in; k++) {
            int r = net->inputs[l][k];
            c.in[k] = node_value(net, run, r);
            c.din[k] = r >= 0 ? net->dact[r] : (net->want_dext ? net->dext[-r - 1] : NULL);
        }
        c.out = net->act[l];
        c.dout = net->dact[l];
        for (int p = 0; p < L->n_params; p++) {
            int64_t off = net->param_off[l][p];
            if (L->params[p].trainable) {
                c.param[p] = net->params + off;
                c.dparam[p] = run->no_param_grads ? NULL : net->grads + off;
            } else {
                c.param[p] = net->buffers + off;
            }
        }
        c.saved = net->saved[l];
        c.work = net->work;
        c.sample_ids = run->sample_ids;
        c.step = run->step;
        c.relu_rule = run->relu_rule;
        double t0 = cascade_trace_on() ? cascade_now() : 0;
        if (cascade_region_begin("backward", L->full, c.n, 1)) L->op->backward(L, &c);
        cascade_region_end();
        if (t0) cascade_trace_add("backward", L->full, t0, cascade_now());
        if (run->after_backward) run->after_backward(run->hook_ctx, l);
    }
}

void cascade_net_backward_seeds(cascade_net *net, const cascade_run *run, int n, const int *layers,
                                 const float *const *douts) {
    for (int l = 0; l < net->n_layers; l++) memset(net->dact[l], 0, act_bytes(net, l, run->n));
    int top = 0;
    for (int k = 0; k < n; k++) {
        float *d = net->dact[layers[k]];
        size_t cnt = act_bytes(net, layers[k], run->n) / sizeof(float);
        for (size_t i = 0; i < cnt; i++) d[i] += douts[k][i];
        if (layers[k] > top) top = layers[k];
    }
    backward_sweep(net, run, top);
}

void cascade_net_backward(cascade_net *net, const cascade_run *run, const float *dout) {
    for (int l = 0; l < net->n_layers; l++) memset(net->dact[l], 0, act_bytes(net, l, run->n));
    memcpy(net->dact[net->output], dout, act_bytes(net, net->output, run->n));
    backward_sweep(net, run, net->output);
}

void cascade_net_backward_from(cascade_net *net, const cascade_run *run, int node, const float *dnode) {
    for (int l = 0; l < net->n_layers; l++) memset(net->dact[l], 0, act_bytes(net, l, run->n));
    memcpy(net->dact[node], dnode, act_bytes(net, node, run->n));
    backward_sweep(net, run, node); /* layers after `node` in topological order cannot influence it */
}

cascade_status cascade_net_check_backward2(const cascade_net *net, const char *what) {
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        if (L->op->backward2 && !L->no_backward2_reason) continue;
        const char *reason = L->no_backward2_reason ? L->no_backward2_reason : L->op->no_backward2_reason;
        return cascade_fail(CASCADE_EUSAGE, "%s: layer %s (type %s) cannot be in %s: %s", net->name, L->full, L->type,
                            what, reason ? reason
                                         : "it has no double backward (the exact gradient penalty "
                                           "differentiates every layer's backward pass)");
    }
    return CASCADE_OK;
}

void cascade_net_backward2(cascade_net *net, const cascade_run *run, int ext, const float *v) {
    const float *vs[CASCADE_MAX_EXTERNAL] = {0};
    vs[ext] = v;
    cascade_net_backward2_multi(net, run, vs);
}

void cascade_net_backward2_multi(cascade_net *net, const cascade_run *run, const float *const *v) {
    int n = run->n;
    for (int l = 0; l < net->n_layers; l++) {
        memset(net->tangent[l], 0, act_bytes(net, l, n));
        memset(net->hess[l], 0, act_bytes(net, l, n));
    }
    /* tangents in forward order: a layer's tangent is final once its inputs' are */
    for (int l = 0; l <= net->output; l++) {
        const cascade_layer *L = &net->layers[l];
        cascade_bwd2 c = {0};
        c.n = n;
        c.training = run->training;
        c.sample_ids = run->sample_ids;
        c.step = run->step;
        for (int k = 0; k < L->n_in; k++) {
            int r = net->inputs[l][k];
            c.in[k] = node_value(net, run, r);
            c.uin[k] = r >= 0 ? net->tangent[r] : v[-r - 1];
            c.hin[k] = r >= 0 ? net->hess[r] : NULL;
        }
        c.out = net->act[l];
        c.dout = net->dact[l];
        for (int p = 0; p < L->n_params; p++) {
            int64_t off = net->param_off[l][p];
            if (L->params[p].trainable) {
                c.param[p] = net->params + off;
                c.dparam[p] = net->grads + off;
            } else {
                c.param[p] = net->buffers + off;
            }
        }
        c.saved = net->saved[l];
        c.work = net->work;
        c.uout = net->tangent[l];
        c.hout = net->hess[l];
        double t0 = cascade_trace_on() ? cascade_now() : 0;
        if (cascade_region_begin("backward2", L->full, c.n, 1)) L->op->backward2(L, &c);
        cascade_region_end();
        if (t0) cascade_trace_add("backward2", L->full, t0, cascade_now());
    }
    /* the second-order adjoints flow back through the forward graph: an ordinary backward
     * seeded at every layer (the first backward's gradients are no longer needed) */
    float **first = net->dact;
    net->dact = net->hess;
    net->hess = first;
    cascade_run seeded = *run;
    seeded.no_param_grads = 0;
    seeded.relu_rule = CASCADE_RELU_GRADIENT;
    backward_sweep(net, &seeded, net->output);
}

void cascade_net_apply_stats(cascade_net *net, const double *mean_stats) {
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        if (!L->stat_count || !L->op->apply_stats) continue;
        float *param[CASCADE_MAX_PARAMS];
        for (int p = 0; p < L->n_params; p++)
            param[p] = (L->params[p].trainable ? net->params : net->buffers) + net->param_off[l][p];
        L->op->apply_stats(L, param, mean_stats + net->stat_off[l]);
    }
}

void cascade_net_begin_update(cascade_net *net) {
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        if (!L->op->begin_update) continue;
        float *param[CASCADE_MAX_PARAMS];
        for (int p = 0; p < L->n_params; p++)
            param[p] = (L->params[p].trainable ? net->params : net->buffers) + net->param_off[l][p];
        L->op->begin_update(L, param);
    }
}
