/* The step's gradient reduction, fast and exact (see reducer.h). */
#include "parallel/reducer.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/trace.h"
#include "cascade/xsum.h"

#define DIG CASCADE_XSUM_DIGITS
#define MAX_SLOTS 8   /* exact: micro-batch slots (8 floats = the 32 bytes of one digit vector) */
#define STAGE_DONE 4  /* bucket stages: 1 reduce (flat: allreduce; hierarchical: node reduce),
                       * 2 leaders' allreduce, 3 node broadcast, 4 done */

static cascade_status reducer_oom(cascade_reducer *r) {
    cascade_reducer_free(r);
    return cascade_fail(CASCADE_EINTERNAL, "out of memory for the gradient reduction");
}

/* Buckets tiling [0, n) in the configured order; the whole buffer as one when none given. */
static cascade_status copy_buckets(cascade_reducer *r) {
    const cascade_reducer_cfg *c = &r->cfg;
    int nb = c->n_buckets > 0 ? c->n_buckets : 1;
    r->b = calloc((size_t)nb, sizeof *r->b);
    if (!r->b) return reducer_oom(r);
    r->n_buckets = nb;
    int64_t covered = 0;
    for (int i = 0; i < nb; i++) {
        cascade_reducer_bucket *b = &r->b[i];
        b->lo = c->n_buckets > 0 ? c->bucket_lo[i] : 0;
        b->hi = c->n_buckets > 0 ? c->bucket_hi[i] : c->n;
        b->mark = c->n_buckets > 0 ? c->bucket_mark[i] : -1;
        b->req = MPI_REQUEST_NULL;
        snprintf(b->name, sizeof b->name, "bucket %d", i);
        covered += b->hi - b->lo;
        if ((b->hi - b->lo) * (c->exact ? DIG : 1) > INT_MAX) {
            cascade_reducer_free(r);
            return cascade_fail(CASCADE_EINTERNAL, "a gradient bucket of %lld values is too large for MPI",
                                (long long)(b->hi - b->lo));
        }
    }
    if (covered != c->n) {
        cascade_reducer_free(r);
        return cascade_fail(CASCADE_EINTERNAL, "gradient buckets cover %lld of %lld values", (long long)covered,
                            (long long)c->n);
    }
    return CASCADE_OK;
}

/* exact: the part of every rank's shard inside each bucket (reduce-scatter counts). */
static cascade_status shard_counts(cascade_reducer *r) {
    const cascade_shards *sh = r->cfg.shards;
    int size = r->topo->size;
    for (int i = 0; i < r->n_buckets; i++) {
        cascade_reducer_bucket *b = &r->b[i];
        if (!(b->recvcounts = malloc((size_t)size * sizeof(int)))) return reducer_oom(r);
        for (int q = 0; q < size; q++) {
            int64_t lo, hi;
            cascade_par_block(sh->n, q, size, &lo, &hi);
            int64_t a = lo > b->lo ? lo : b->lo, e = hi < b->hi ? hi : b->hi;
            b->recvcounts[q] = e > a ? (int)((e - a) * DIG) : 0;
            if (q == r->topo->rank) b->recv_off = e > a ? (a - sh->lo) * DIG : 0;
        }
    }
    return CASCADE_OK;
}

cascade_status cascade_reducer_init(cascade_reducer *r, const cascade_topo *topo, const cascade_reducer_cfg *cfg) {
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->topo = topo;
    const cascade_reducer_cfg *c = &r->cfg;
    int nd = c->n_doubles, multi = topo->size > 1;
    CASCADE_TRY(copy_buckets(r));
    if (!c->exact) {
        r->hier = multi && cascade_topo_hierarchical(topo);
        r->dsum = calloc((size_t)nd + 1, sizeof(double));
        r->recv = multi ? cascade_alloc((size_t)(c->n + 1) * sizeof(float), "gradient receive buffer") : NULL;
        if (!r->dsum || (multi && !r->recv)) return reducer_oom(r);
        return CASCADE_OK;
    }
    if (multi && (!c->shards || !c->shards->sharded || c->shards->n != c->n))
        return cascade_fail(CASCADE_EINTERNAL, "the exact reduction on %d ranks needs the gradient shards", topo->size);
    r->k_slots = c->max_local_mb < MAX_SLOTS ? (c->max_local_mb > 0 ? c->max_local_mb : 1) : MAX_SLOTS;
    r->dd = calloc((size_t)DIG * nd + 1, sizeof(int64_t));
    r->slots = cascade_alloc((size_t)r->k_slots * (size_t)(c->n + 1) * sizeof(float), "micro-batch gradients");
    int need_digits = multi || r->k_slots < c->max_local_mb;
    r->digits = need_digits ? cascade_alloc((size_t)DIG * (size_t)(c->n + 1) * sizeof(int64_t), "exact digits") : NULL;
    int64_t ns = multi ? c->shards->hi - c->shards->lo : 0;
    r->shard_digits = multi ? cascade_alloc((size_t)DIG * (size_t)(ns + 1) * sizeof(int64_t), "shard digits") : NULL;
    if (!r->dd || !r->slots || (need_digits && !r->digits) || (multi && !r->shard_digits)) return reducer_oom(r);
    return multi ? shard_counts(r) : CASCADE_OK;
}

void cascade_reducer_free(cascade_reducer *r) {
    for (int i = 0; r->b && i < r->n_buckets; i++) free(r->b[i].recvcounts);
    free(r->b);
    free(r->dsum);
    free(r->dd);
    cascade_free(r->recv);
    cascade_free(r->slots);
    cascade_free(r->digits);
    cascade_free(r->shard_digits);
    memset(r, 0, sizeof *r);
}

void cascade_reducer_begin(cascade_reducer *r) {
    for (int i = 0; i < r->n_buckets; i++) {
        r->b[i].started = r->b[i].stage = 0;
        r->b[i].req = MPI_REQUEST_NULL;
    }
    r->used = r->folded = 0;
    r->bad = 0;
    if (r->cfg.exact) {
        memset(r->dd, 0, ((size_t)DIG * (size_t)r->cfg.n_doubles + 1) * sizeof(int64_t));
    } else {
        memset(r->dsum, 0, (size_t)r->cfg.n_doubles * sizeof(double));
        memset(r->cfg.grads, 0, (size_t)r->cfg.n * sizeof(float));
    }
    r->running = 1;
}

float *cascade_reducer_mb_grads(cascade_reducer *r) {
    if (!r->cfg.exact) return r->cfg.grads;
    int64_t n = r->cfg.n, stride = n + 1;
    if (r->used == r->k_slots) { /* all slots hold micro-batches: fold them into the digits */
        double t0 = cascade_now();
        r->bad += cascade_xsum_fold_to_digits(r->digits, r->folded, r->slots, stride, r->used, 0, n);
        r->folded = 1;
        r->used = 0;
        r->exact_s += cascade_now() - t0;
        cascade_trace_add("exact", "fold micro-batches", t0, cascade_now());
    }
    float *g = r->slots + (int64_t)r->used++ * stride;
    memset(g, 0, (size_t)n * sizeof(float));
    return g;
}

void cascade_reducer_mb_done(cascade_reducer *r, const double *vals) {
    int nd = r->cfg.n_doubles;
    if (r->cfg.exact) r->dd[DIG * nd] += cascade_xsum_add_doubles(r->dd, vals, nd);
    else
        for (int i = 0; i < nd; i++) r->dsum[i] += vals[i];
}

/* ---- buckets ---- */

static int post(cascade_reducer *r, cascade_reducer_bucket *b) {
    const cascade_topo *t = r->topo;
    int cnt = (int)(b->hi - b->lo);
    float *g = r->cfg.grads + b->lo, *recv = r->recv ? r->recv + b->lo : NULL;
    /* (exact buckets are reduce-scattered in start(), never posted here) */
    if (!r->hier) return MPI_Iallreduce(g, recv, cnt, MPI_FLOAT, MPI_SUM, t->world, &b->req);
    switch (b->stage) {
    case 1: return MPI_Ireduce(g, t->node_rank == 0 ? recv : NULL, cnt, MPI_FLOAT, MPI_SUM, 0, t->node, &b->req);
    case 2: return MPI_Iallreduce(recv, g, cnt, MPI_FLOAT, MPI_SUM, t->leaders, &b->req);
    default: return MPI_Ibcast(g, cnt, MPI_FLOAT, 0, t->node_bcast, &b->req);
    }
}

/* The stage after `stage` for this rank (non-leaders skip the leaders' allreduce). */
static int next_stage(const cascade_reducer *r, int stage) {
    if (r->cfg.exact || !r->hier || stage == 3) return STAGE_DONE;
    return stage == 1 && r->topo->node_rank == 0 ? 2 : 3;
}

/* Collectives on one communicator must be issued in the same order on every rank: a bucket
 * posts a stage only after the bucket before it has. */
static int may_post(const cascade_reducer *r, int i) {
    if (i == 0) return 1;
    const cascade_reducer_bucket *p = &r->b[i - 1], *b = &r->b[i];
    return p->stage > b->stage || (p->stage == b->stage && p->req != MPI_REQUEST_NULL);
}

/* A bucket moves on to `stage`; once done, its reduction goes into the timeline. */
static void set_stage(cascade_reducer *r, cascade_reducer_bucket *b, int stage) {
    b->stage = stage;
    if (stage == STAGE_DONE && cascade_trace_on())
        cascade_trace_add(r->cfg.exact ? "reduce-scatter" : "allreduce", b->name, b->t_start, cascade_now());
}

static int progress(cascade_reducer *r) {
    int rc = MPI_SUCCESS;
    for (int i = 0; i < r->n_buckets && rc == MPI_SUCCESS; i++) {
        cascade_reducer_bucket *b = &r->b[i];
        if (!b->started || b->stage == STAGE_DONE) continue;
        if (b->req != MPI_REQUEST_NULL) {
            int done = 0;
            if ((rc = MPI_Test(&b->req, &done, MPI_STATUS_IGNORE)) != MPI_SUCCESS || !done) continue;
            set_stage(r, b, next_stage(r, b->stage));
        }
        if (b->stage != STAGE_DONE && b->req == MPI_REQUEST_NULL && may_post(r, i)) rc = post(r, b);
    }
    return rc;
}

static int start(cascade_reducer *r, cascade_reducer_bucket *b) {
    if (r->cfg.exact) { /* this bucket's micro-batch slots (and earlier folds) into digits */
        double t0 = cascade_now();
        r->bad += cascade_xsum_fold_to_digits(r->digits, r->folded, r->slots, r->cfg.n + 1, r->used, b->lo, b->hi);
        r->exact_s += cascade_now() - t0;
        cascade_trace_add("exact", "fold to digits", t0, cascade_now());
    }
    b->started = 1;
    b->stage = 1;
    b->t_start = cascade_now();
    if (!r->cfg.exact) return MPI_SUCCESS;
    /* exact: a blocking reduce-scatter here (Open MPI's non-blocking one, libnbc, reduces to
     * one rank and scatters, many times slower for these 32-byte digits; measured) */
    double t0 = cascade_now();
    int rc = MPI_Reduce_scatter(r->digits + DIG * b->lo, r->shard_digits + b->recv_off, b->recvcounts, MPI_INT64_T,
                                MPI_SUM, r->topo->world);
    r->wait_s += cascade_now() - t0;
    set_stage(r, b, STAGE_DONE);
    return rc;
}

void cascade_reducer_hook(void *reducer, int mark) {
    cascade_reducer *r = reducer;
    if (!r->running || r->topo->size == 1) return;
    for (int i = 0; i < r->n_buckets; i++)
        if (!r->b[i].started && mark <= r->b[i].mark && (r->hook_rc = start(r, &r->b[i])) != MPI_SUCCESS) return;
    int rc = progress(r);
    if (rc != MPI_SUCCESS) r->hook_rc = rc;
}

void cascade_reducer_poll(void *reducer, int mark) {
    (void)mark;
    cascade_reducer *r = reducer;
    if (!r->running || r->topo->size == 1) return;
    int rc = progress(r);
    if (rc != MPI_SUCCESS) r->hook_rc = rc;
}

/* Starts what is left, then waits until every bucket is done. */
static int wait_buckets(cascade_reducer *r) {
    int rc = r->hook_rc;
    r->hook_rc = MPI_SUCCESS;
    for (int i = 0; i < r->n_buckets && rc == MPI_SUCCESS; i++)
        if (!r->b[i].started) rc = start(r, &r->b[i]);
    double t0 = cascade_now();
    for (int i = 0; i < r->n_buckets && rc == MPI_SUCCESS;) {
        cascade_reducer_bucket *b = &r->b[i];
        if ((rc = progress(r)) != MPI_SUCCESS) break;
        if (b->stage == STAGE_DONE) {
            i++;
            continue;
        }
        if (b->req != MPI_REQUEST_NULL && (rc = MPI_Wait(&b->req, MPI_STATUS_IGNORE)) == MPI_SUCCESS)
            set_stage(r, b, next_stage(r, b->stage));
    }
    r->wait_s += cascade_now() - t0;
    cascade_trace_add("wait", "wait for gradient sums", t0, cascade_now());
    return rc;
}

static int all_finite(const float *v, int64_t n) {
    int ok = 1;
#pragma omp parallel for reduction(& : ok) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) ok &= isfinite(v[i]) != 0;
    return ok;
}

static cascade_status finish_fast(cascade_reducer *r, double *sums, int *nonfinite, float **grads) {
    int nd = r->cfg.n_doubles, rc = MPI_SUCCESS;
    *grads = r->cfg.grads;
    if (r->topo->size > 1) {
        rc = wait_buckets(r);
        double t0 = cascade_now();
        if (rc == MPI_SUCCESS) rc = MPI_Allreduce(MPI_IN_PLACE, r->dsum, nd, MPI_DOUBLE, MPI_SUM, r->topo->world);
        r->wait_s += cascade_now() - t0;
        if (!r->hier) *grads = r->recv;
    }
    if (rc != MPI_SUCCESS) return cascade_fail(CASCADE_EINTERNAL, "rank %d: the gradient allreduce failed", r->topo->rank);
    memcpy(sums, r->dsum, (size_t)nd * sizeof(double));
    int fin = all_finite(*grads, r->cfg.n);
    for (int i = 0; i < nd; i++) fin &= isfinite(sums[i]) != 0;
    *nonfinite = !fin;
    return CASCADE_OK;
}

static cascade_status finish_exact(cascade_reducer *r, double *sums, int *nonfinite) {
    int nd = r->cfg.n_doubles, rc = MPI_SUCCESS;
    int64_t n = r->cfg.n;
    const cascade_shards *sh = r->cfg.shards;
    if (r->topo->size == 1) {
        double t0 = cascade_now();
        r->bad += cascade_xsum_fold_to_floats(r->folded ? r->digits : NULL, r->slots, n + 1, r->used, 0, n,
                                              r->cfg.grads);
        r->exact_s += cascade_now() - t0;
    } else {
        rc = wait_buckets(r);
        double t0 = cascade_now();
        if (rc == MPI_SUCCESS) cascade_xsum_digits_to_floats(r->shard_digits, r->cfg.grads + sh->lo, sh->hi - sh->lo);
        r->exact_s += cascade_now() - t0;
    }
    r->dd[DIG * nd] += r->bad;
    double t0 = cascade_now();
    if (rc == MPI_SUCCESS && r->topo->size > 1)
        rc = MPI_Allreduce(MPI_IN_PLACE, r->dd, DIG * nd + 1, MPI_INT64_T, MPI_SUM, r->topo->world);
    r->wait_s += cascade_now() - t0;
    if (rc != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "rank %d: the exact gradient reduce-scatter failed", r->topo->rank);
    cascade_xsum_to_doubles(r->dd, sums, nd);
    *nonfinite = r->dd[DIG * nd] != 0;
    return CASCADE_OK;
}

cascade_status cascade_reducer_finish(cascade_reducer *r, double *sums, int *nonfinite, float **grads,
                                      int64_t *range_lo, int64_t *range_hi) {
    r->running = 0;
    *range_lo = 0, *range_hi = r->cfg.n;
    if (!r->cfg.exact) return finish_fast(r, sums, nonfinite, grads);
    *grads = r->cfg.grads;
    if (r->topo->size > 1) *range_lo = r->cfg.shards->lo, *range_hi = r->cfg.shards->hi;
    return finish_exact(r, sums, nonfinite);
}
