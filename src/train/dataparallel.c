/* Wiring a net to src/parallel for training: its optimizer shards, its gradient reducer (the
 * buckets follow the net's layers, which src/parallel knows nothing of), the sharded optimizer
 * update and the per-rank timers of metrics.jsonl. Shared by every kind of training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/trace.h"
#include "core/region.h"
#include "train/session.h"

cascade_status cascade_net_shards(const cascade_job *job, const cascade_net *net, MPI_Comm comm, cascade_shards *sh) {
    return cascade_shards_init(sh, comm, net->n_params, job->zero || job->deterministic);
}

/* The layer-wise optimizers' tensors: every trainable parameter of the net, adapted unless
 * 1-D (biases, norm scales and shifts; cascade_opt_tensor) — or all with adapt_biases. */
static cascade_status net_tensors(cascade_optimizer *opt, const cascade_net *net) {
    int n = 0;
    for (int l = 0; l < net->n_layers; l++)
        for (int p = 0; p < net->layers[l].n_params; p++) n += net->layers[l].params[p].trainable;
    if (n == 0) return CASCADE_OK; /* nothing to optimise: the whole (empty) buffer */
    cascade_opt_tensor *t = malloc((size_t)n * sizeof *t);
    if (!t) return cascade_fail(CASCADE_EINTERNAL, "out of memory for %d parameter tensors", n);
    n = 0;
    for (int l = 0; l < net->n_layers; l++)
        for (int p = 0; p < net->layers[l].n_params; p++) {
            const cascade_param_desc *d = &net->layers[l].params[p];
            if (!d->trainable) continue;
            t[n++] = (cascade_opt_tensor){net->param_off[l][p], cascade_shape_numel(&d->shape),
                                          d->shape.ndim > 1 || opt->cfg.adapt_biases};
        }
    cascade_status st = cascade_optimizer_set_tensors(opt, t, n);
    free(t);
    return st;
}

cascade_status cascade_shard_optimizer(cascade_optimizer *opt, const cascade_job *job, int which,
                                       const cascade_net *net, const cascade_shards *sh) {
    const cascade_opt_cfg *cfg = &job->opt[which];
    CASCADE_TRY(cascade_optimizer_init(opt, cfg, sh->hi - sh->lo));
    opt->offset = sh->lo;
    opt->sharded = sh->sharded;
    cascade_status st = cascade_optimizer_norm_words(opt) ? net_tensors(opt, net) : CASCADE_OK;
    if (st) {
        cascade_optimizer_free(opt);
        return st;
    }
    if (cfg->lr_scaling != LR_SCALING_NONE)
        cascade_log("%s%slr %g x %g (%s, batch %ld / reference %ld) = %g\n", cfg->net, cfg->net[0] ? ": " : "",
                    cfg->lr, cfg->lr_scale, cascade_lr_scaling_name(cfg->lr_scaling), job->batch,
                    cfg->reference_batch, cfg->lr * cfg->lr_scale);
    return CASCADE_OK;
}

cascade_status cascade_shard_update(cascade_optimizer *opt, const cascade_shards *sh, float *params,
                                    const float *grads, double lr) {
    double t0 = cascade_now();
    /* lars/lamb: per-tensor norms summed over the shards (exact integer sums) before the update */
    int64_t words = cascade_optimizer_norm_words(opt);
    if (words) {
        cascade_region_begin("optimizer", "norms", sh->hi - sh->lo, 0);
        int64_t *partial = cascade_optimizer_norm_partials(opt, params + sh->lo, grads + sh->lo, 0, sh->hi - sh->lo);
        cascade_region_end();
        if (sh->sharded) CASCADE_TRY(cascade_par_sum_int64(sh->comm, partial, words));
    }
    if (cascade_region_begin("optimizer", "update", sh->hi - sh->lo, 1))
        cascade_optimizer_update(opt, params + sh->lo, grads + sh->lo, 0, sh->hi - sh->lo, lr);
    cascade_region_end();
    double t1 = cascade_now();
    cascade_trace_add("optimizer", "optimizer update", t0, t1);
    cascade_status st = cascade_shards_allgather(sh, params);
    cascade_trace_add("allgather", "parameter allgather", t1, cascade_now());
    return st;
}

double cascade_optimizer_bytes(const cascade_optimizer *opt) {
    return (double)opt->n_states * (double)opt->n * sizeof(float);
}

/* Bucket ranges [lo, hi) in reverse layer order with the layer index at which each is ready;
 * the first bucket is small (1/8 of the limit) so that communication starts early. Returns
 * the count, 0 when the layers' ranges do not tile [0, n_params) (then: one bucket). */
static int layer_buckets(const cascade_net *net, double bucket_mb, int64_t *lo, int64_t *hi, int *mark) {
    int n = 0;
    int64_t limit = (int64_t)(bucket_mb * 1048576.0 / sizeof(float));
    if (limit > net->n_params / 4) limit = net->n_params / 4; /* at least ~4, so small models overlap too */
    if (limit < 1) limit = 1;
    int64_t cur_hi = -1, cur_lo = -1;
    for (int l = net->n_layers - 1; l >= 0; l--) {
        int64_t a = -1, b = -1; /* this layer's trainable range */
        for (int p = 0; p < net->layers[l].n_params; p++) {
            if (!net->layers[l].params[p].trainable) continue;
            int64_t o = net->param_off[l][p], e = o + cascade_shape_numel(&net->layers[l].params[p].shape);
            if (a < 0 || o < a) a = o;
            if (e > b) b = e;
        }
        if (a < 0) continue;
        if (cur_hi < 0) cur_hi = b;
        cur_lo = a;
        mark[n] = l;
        if (cur_hi - cur_lo >= (n == 0 ? (limit + 7) / 8 : limit)) {
            lo[n] = cur_lo, hi[n] = cur_hi, n++;
            cur_hi = -1;
        }
    }
    if (cur_hi >= 0) lo[n] = cur_lo, hi[n] = cur_hi, n++;
    for (int i = 0; i < n; i++) /* tiling: bucket i ends where bucket i - 1 starts */
        if (hi[i] != (i ? lo[i - 1] : net->n_params) || (i == n - 1 && lo[i] != 0)) return 0;
    return n;
}

cascade_status cascade_net_reducer(cascade_net *net, const cascade_topo *topo, const cascade_job *job, int n_doubles,
                                   const cascade_shards *shards, cascade_reducer *red) {
    int L = net->n_layers > 0 ? net->n_layers : 1;
    int64_t *lo = malloc((size_t)L * sizeof(int64_t)), *hi = malloc((size_t)L * sizeof(int64_t));
    int *mark = malloc((size_t)L * sizeof(int));
    if (!lo || !hi || !mark) {
        free(lo), free(hi), free(mark);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for gradient buckets");
    }
    int64_t nmb = job->batch / job->micro_batch;
    cascade_reducer_cfg cfg = {.exact = job->deterministic, .n = net->n_params, .grads = net->grads,
                               .n_doubles = n_doubles, .max_local_mb = (int)((nmb + topo->size - 1) / topo->size),
                               .n_buckets = layer_buckets(net, job->bucket_mb, lo, hi, mark),
                               .bucket_lo = lo, .bucket_hi = hi, .bucket_mark = mark, .shards = shards};
    cascade_status st = cascade_reducer_init(red, topo, &cfg);
    free(lo), free(hi), free(mark);
    return st;
}

cascade_status cascade_timers_json(MPI_Comm comm, const double t[CASCADE_TIMERS], char *buf, size_t n) {
    static const char *const names[CASCADE_TIMERS] = {"input", "compute", "comm_wait", "exact_sum", "optimizer"};
    double max[CASCADE_TIMERS], mean[CASCADE_TIMERS];
    CASCADE_TRY(cascade_par_max_mean(comm, t, CASCADE_TIMERS, max, mean));
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < CASCADE_TIMERS && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, ",\"%s_s\":%.5f,\"%s_max_s\":%.5f,\"%s_mean_s\":%.5f", names[i], t[i],
                              names[i], max[i], names[i], mean[i]);
    return CASCADE_OK;
}
