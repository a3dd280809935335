/* The step's gradient reduction, fast and exact (see reducer.h). */
#include "parallel/reducer.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/trace.h"
#include "cascade/xsum.h"
#include "core/region.h"

#define DIG CASCADE_XSUM_DIGITS
#define OWN_TAG0 16384 /* fast buckets' own allreduces: tags OWN_TAG0 + bucket (MPI guarantees 32767) */
#define OWN_TAGS (32766 - OWN_TAG0) /* 32766, 32767: parallel.c's agreement and shards' allgather */
#define EXP_TAG0 0     /* exact buckets: the exponents' allreduce, then the sums' reduce-scatter */
#define RS_TAG0 8192
#define EXACT_TAGS (RS_TAG0 - EXP_TAG0)
#define DSUM_TAG (OWN_TAG0 - 1) /* fast: the doubles' allreduce (the exact tags are not in use then) */
#define STAGE_DONE 4  /* bucket stages: 1 reduce (flat: allreduce; hierarchical: node reduce),
                       * 2 leaders' allreduce, 3 node broadcast, 4 done; exact: 1 exponents'
                       * allreduce, 2 exchange of the fixed-point sums, 4 done */
#define MAX_TERMS (1 << 16) /* exact: micro-batches per step (the fixed-point sums' range) */

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
        if (b->hi - b->lo > INT_MAX) {
            cascade_reducer_free(r);
            return cascade_fail(CASCADE_EINTERNAL, "a gradient bucket of %lld values is too large for MPI",
                                (long long)(b->hi - b->lo));
        }
    }
    if (c->exact && nb > EXACT_TAGS) { /* the reductions' tags: MPI guarantees 32767 */
        cascade_reducer_free(r);
        return cascade_fail(CASCADE_EINTERNAL, "%d gradient buckets: at most %d in deterministic mode", nb,
                            EXACT_TAGS);
    }
    if (covered != c->n) {
        cascade_reducer_free(r);
        return cascade_fail(CASCADE_EINTERNAL, "gradient buckets cover %lld of %lld values", (long long)covered,
                            (long long)c->n);
    }
    return CASCADE_OK;
}

/* exact: where rank q's shard starts inside bucket b, as an offset from b->lo (q = size: the end). */
static int64_t shard_start(const cascade_reducer *r, const cascade_reducer_bucket *b, int q) {
    int64_t lo, hi;
    cascade_par_block(r->cfg.shards->n, q < r->topo->size ? q : r->topo->size - 1, r->topo->size, &lo, &hi);
    int64_t a = q < r->topo->size ? lo : hi;
    return (a < b->lo ? b->lo : a > b->hi ? b->hi : a) - b->lo;
}

/* exact, several ranks: the buffers of the exponents, the fixed-point sums, their reductions'
 * scratch, and every bucket's shard bounds for the reduce-scatter. */
static cascade_status exact_buffers(cascade_reducer *r) {
    const cascade_reducer_cfg *c = &r->cfg;
    int size = r->topo->size;
    r->emax = cascade_alloc((size_t)c->n + 1, "largest exponents");
    r->emax_tmp = cascade_alloc((size_t)c->n + 1, "largest exponents scratch");
    r->fixed = cascade_alloc((size_t)(c->n + 1) * sizeof(int64_t), "fixed-point sums");
    r->fixed_tmp = cascade_alloc((size_t)(c->n + 1) * sizeof(int64_t), "fixed-point sums scratch");
    if (!r->emax || !r->emax_tmp || !r->fixed || !r->fixed_tmp) return reducer_oom(r);
    for (int i = 0; i < r->n_buckets; i++) {
        cascade_reducer_bucket *b = &r->b[i];
        if (!(b->bounds = malloc(((size_t)size + 1) * sizeof(int64_t)))) return reducer_oom(r);
        for (int q = 0; q <= size; q++) b->bounds[q] = shard_start(r, b, q);
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
        r->dsum = calloc(2 * ((size_t)nd + 1), sizeof(double)); /* the sums, then their allreduce's scratch */
        r->recv = multi ? cascade_alloc((size_t)(c->n + 1) * sizeof(float), "gradient receive buffer") : NULL;
        if (!r->dsum || (multi && !r->recv)) return reducer_oom(r);
        const char *algo = getenv("CASCADE_ALLREDUCE");
        r->own = multi && !(algo && strcmp(algo, "mpi") == 0) && r->n_buckets < OWN_TAGS;
        if (r->own && !(r->scratch = cascade_alloc((size_t)(c->n + 1) * sizeof(float), "allreduce scratch")))
            return reducer_oom(r);
        return CASCADE_OK;
    }
    if (multi && (!c->shards || !c->shards->sharded || c->shards->n != c->n))
        return cascade_fail(CASCADE_EINTERNAL, "the exact reduction on %d ranks needs the gradient shards", topo->size);
    r->k_slots = c->max_local_mb > 0 ? c->max_local_mb : 1;
    if ((int64_t)r->k_slots * topo->size > MAX_TERMS) {
        cascade_reducer_free(r);
        return cascade_fail(CASCADE_EINTERNAL, "deterministic mode sums at most %d micro-batches per step exactly",
                            MAX_TERMS);
    }
    r->dd = calloc((size_t)DIG * nd + 1, sizeof(int64_t));
    r->slots = cascade_alloc((size_t)r->k_slots * (size_t)(c->n + 1) * sizeof(float), "micro-batch gradients");
    if (!r->dd || !r->slots) return reducer_oom(r);
    return multi ? exact_buffers(r) : CASCADE_OK;
}

void cascade_reducer_free(cascade_reducer *r) {
    for (int i = 0; r->b && i < r->n_buckets; i++) free(r->b[i].bounds);
    free(r->b);
    free(r->dsum);
    free(r->dd);
    cascade_free(r->recv);
    cascade_free(r->scratch);
    cascade_free(r->slots);
    cascade_free(r->emax);
    cascade_free(r->emax_tmp);
    cascade_free(r->fixed);
    cascade_free(r->fixed_tmp);
    memset(r, 0, sizeof *r);
}

void cascade_reducer_begin(cascade_reducer *r) {
    for (int i = 0; i < r->n_buckets; i++) {
        r->b[i].started = r->b[i].stage = r->b[i].own_active = 0;
        r->b[i].req = MPI_REQUEST_NULL;
    }
    r->used = r->too_many = 0;
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
    if (r->used == r->k_slots) { /* more micro-batches than configured: finish fails */
        r->too_many = 1;
        r->used--;
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

/* The allreduce of `send` into `sum` (bucket b's floats) over comm: cascade's own or MPI's. */
static int allreduce(cascade_reducer *r, cascade_reducer_bucket *b, const float *send, float *sum, MPI_Comm comm) {
    if (!r->own) return MPI_Iallreduce(send, sum, (int)(b->hi - b->lo), MPI_FLOAT, MPI_SUM, comm, &b->req);
    b->own_active = 1;
    return cascade_allreduce_start(&b->op, send, sum, r->scratch + b->lo, b->hi - b->lo, comm,
                                   OWN_TAG0 + (int)(b - r->b));
}

static int posted(const cascade_reducer_bucket *b) { return b->req != MPI_REQUEST_NULL || b->own_active; }

static int post(cascade_reducer *r, cascade_reducer_bucket *b) {
    const cascade_topo *t = r->topo;
    int cnt = (int)(b->hi - b->lo);
    float *g = r->cfg.grads + b->lo, *recv = r->recv ? r->recv + b->lo : NULL;
    /* (exact buckets are reduce-scattered in start(), never posted here) */
    if (!r->hier) return allreduce(r, b, g, recv, t->world);
    switch (b->stage) {
    case 1: return MPI_Ireduce(g, t->node_rank == 0 ? recv : NULL, cnt, MPI_FLOAT, MPI_SUM, 0, t->node, &b->req);
    case 2: return allreduce(r, b, recv, g, t->leaders);
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
    return p->stage > b->stage || (p->stage == b->stage && posted(p));
}

/* A bucket moves on to `stage`; once done, its reduction goes into the timeline. */
static void set_stage(cascade_reducer *r, cascade_reducer_bucket *b, int stage) {
    b->stage = stage;
    if (stage == STAGE_DONE && cascade_trace_on())
        cascade_trace_add(r->cfg.exact ? "reduce-scatter" : "allreduce", b->name, b->t_start, cascade_now());
}

/* exact: bucket b's largest exponents are agreed: its terms into fixed-point sums, then
 * their reduce-scatter to the shard owners (integer sums: any order gives the same bits). */
static int exchange(cascade_reducer *r, cascade_reducer_bucket *b) {
    double t0 = cascade_now();
    cascade_region_begin("exact fixed", b->name, b->hi - b->lo, 0);
    cascade_xsum_fold_fixed(r->fixed, r->emax, r->slots, r->cfg.n + 1, r->used, b->lo, b->hi);
    cascade_region_end();
    r->exact_s += cascade_now() - t0;
    cascade_trace_add("exact", "fold to fixed point", t0, cascade_now());
    b->stage = 2;
    b->own_active = 1;
    return cascade_reduce_scatter_start(&b->op, CASCADE_RED_SUM_I64, r->fixed + b->lo, r->fixed_tmp + b->lo,
                                        b->hi - b->lo, b->bounds, r->topo->world, RS_TAG0 + (int)(b - r->b));
}

/* *done: the bucket's pending requests have completed (wait: blocks until they have; none
 * pending yet: not done). */
static int complete(cascade_reducer_bucket *b, int wait, int *done) {
    *done = 0;
    if (b->own_active) {
        int rc = wait ? cascade_allreduce_wait(&b->op) : cascade_allreduce_test(&b->op, done);
        if (wait) *done = 1;
        if (*done) b->own_active = 0;
        return rc;
    }
    if (b->req == MPI_REQUEST_NULL) return MPI_SUCCESS;
    *done = wait;
    return wait ? MPI_Wait(&b->req, MPI_STATUS_IGNORE) : MPI_Test(&b->req, done, MPI_STATUS_IGNORE);
}

/* The bucket's stage has completed: on to the next (exact: the exchange after the exponents). */
static int advance(cascade_reducer *r, cascade_reducer_bucket *b) {
    if (r->cfg.exact && b->stage == 1) return exchange(r, b);
    set_stage(r, b, next_stage(r, b->stage));
    return MPI_SUCCESS;
}

static int progress(cascade_reducer *r) {
    int rc = MPI_SUCCESS;
    if (r->dsum_active) {
        int done;
        rc = cascade_allreduce_test(&r->dsum_op, &done);
        if (done) r->dsum_active = 0;
    }
    for (int i = 0; i < r->n_buckets && rc == MPI_SUCCESS; i++) {
        cascade_reducer_bucket *b = &r->b[i];
        if (!b->started || b->stage == STAGE_DONE) continue;
        int done;
        if ((rc = complete(b, 0, &done)) == MPI_SUCCESS && done) rc = advance(r, b);
        if (rc == MPI_SUCCESS && !r->cfg.exact && b->stage != STAGE_DONE && !posted(b) && may_post(r, i))
            rc = post(r, b);
    }
    return rc;
}

/* Backward has finished the bucket (fast: posted by progress; exact: its local largest
 * exponents, then their allreduce — buckets start in order, so every rank issues these
 * collectives in the same order). */
static int start(cascade_reducer *r, cascade_reducer_bucket *b) {
    b->started = 1;
    b->stage = 1;
    b->t_start = cascade_now();
    if (!r->cfg.exact) return MPI_SUCCESS;
    cascade_region_begin("exact exponents", b->name, b->hi - b->lo, 0);
    r->bad += cascade_xsum_max_exponents(r->emax, 0, r->slots, r->cfg.n + 1, r->used, b->lo, b->hi);
    cascade_region_end();
    r->exact_s += cascade_now() - b->t_start;
    cascade_trace_add("exact", "largest exponents", b->t_start, cascade_now());
    b->own_active = 1;
    return cascade_allreduce_start_kind(&b->op, CASCADE_RED_MAX_U8, r->emax + b->lo, r->emax_tmp + b->lo,
                                        b->hi - b->lo, r->topo->world, EXP_TAG0 + (int)(b - r->b));
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

/* Starts what is left, then waits until every bucket is done: a round of the first unfinished
 * bucket at a time, and after each every bucket progressed, so the buckets' rounds overlap
 * instead of one bucket's whole reduction after another's. */
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
        if (b->own_active) { /* one more round of it; progress() then moves every bucket on */
            rc = cascade_allreduce_wait_some(&b->op);
            continue;
        }
        int done;
        if ((rc = complete(b, 1, &done)) == MPI_SUCCESS && done) rc = advance(r, b);
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
        /* the doubles (complete once the last micro-batch is done) along with the buckets' last rounds */
        r->dsum_active = 1;
        rc = cascade_allreduce_start_kind(&r->dsum_op, CASCADE_RED_SUM_F64, r->dsum, r->dsum + nd + 1, nd,
                                          r->topo->world, DSUM_TAG);
        if (rc == MPI_SUCCESS) rc = wait_buckets(r);
        double t0 = cascade_now();
        if (rc == MPI_SUCCESS) rc = cascade_allreduce_wait(&r->dsum_op);
        r->dsum_active = 0;
        r->wait_s += cascade_now() - t0;
        if (!r->hier) *grads = r->recv;
    }
    if (rc != MPI_SUCCESS) return cascade_fail(CASCADE_EINTERNAL, "rank %d: the gradient allreduce failed", r->topo->rank);
    memcpy(sums, r->dsum, (size_t)nd * sizeof(double));
    cascade_region_begin("finite", "grads", r->cfg.n, 0);
    int fin = all_finite(*grads, r->cfg.n);
    cascade_region_end();
    for (int i = 0; i < nd; i++) fin &= isfinite(sums[i]) != 0;
    *nonfinite = !fin;
    return CASCADE_OK;
}

/* exact: this rank's shard of the sums (all of them on one rank) into cfg.grads; a sum
 * beyond float's range counts as a non-finite term. */
static int finish_exact_grads(cascade_reducer *r) {
    int64_t n = r->cfg.n;
    if (r->topo->size == 1) {
        double t0 = cascade_now();
        cascade_region_begin("exact fold", "all", n, 0);
        r->bad += cascade_xsum_fold_fixed_to_floats(r->slots, n + 1, r->used, 0, n, r->cfg.grads);
        cascade_region_end();
        r->exact_s += cascade_now() - t0;
        cascade_trace_add("exact", "fold to floats", t0, cascade_now());
        return MPI_SUCCESS;
    }
    int rc = wait_buckets(r);
    if (rc != MPI_SUCCESS) return rc;
    const cascade_shards *sh = r->cfg.shards;
    int64_t ns = sh->hi - sh->lo;
    double t0 = cascade_now();
    cascade_region_begin("exact floats", "shard", ns, 0);
    r->bad += cascade_xsum_fixed_to_floats(r->fixed + sh->lo, NULL, 0, 0, r->emax + sh->lo, r->cfg.grads + sh->lo, ns);
    cascade_region_end();
    r->exact_s += cascade_now() - t0;
    cascade_trace_add("exact", "shard sums to floats", t0, cascade_now());
    return MPI_SUCCESS;
}

static cascade_status finish_exact(cascade_reducer *r, double *sums, int *nonfinite) {
    int nd = r->cfg.n_doubles, rc = finish_exact_grads(r);
    r->dd[DIG * nd] += r->bad;
    double t0 = cascade_now();
    if (rc == MPI_SUCCESS && r->topo->size > 1)
        rc = MPI_Allreduce(MPI_IN_PLACE, r->dd, DIG * nd + 1, MPI_INT64_T, MPI_SUM, r->topo->world);
    r->wait_s += cascade_now() - t0;
    if (rc != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "rank %d: the exact gradient reduction failed", r->topo->rank);
    if (r->too_many)
        return cascade_fail(CASCADE_EINTERNAL, "more micro-batches in a step than the %d configured", r->k_slots);
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
