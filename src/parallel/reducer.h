/* The gradient reduction of one training step, for every kind of training step.
 *
 *   cascade_reducer_begin(r)                       a new step
 *   for each local micro-batch:
 *     net->grads = cascade_reducer_mb_grads(r)     backward accumulates there
 *     (run.after_backward = cascade_reducer_hook, hook_ctx = r, on the final backward of the
 *      last local micro-batch: buckets start as soon as backward has finished them)
 *     cascade_reducer_mb_done(r, doubles)          its loss / statistics into the step's sums
 *   cascade_reducer_finish(r, sums, &nonfinite, &grads)
 *
 * fast:  micro-batches accumulate in float in one buffer; buckets (reverse layer order, a small
 *        first one) are summed with non-blocking allreduces (parallel/allreduce.h, progressed
 *        by the hooks; CASCADE_ALLREDUCE=mpi: MPI_Iallreduce) into a separate receive buffer, or
 *        hierarchically (node reduce -> leaders' allreduce -> node broadcast) when several
 *        nodes have several ranks; the doubles with one allreduce. Every rank gets all sums.
 * exact: every micro-batch's gradients go to their own slot. Per bucket: the largest float
 *        exponent of every value over the local slots, agreed on by all ranks with a
 *        non-blocking 1-byte maximum allreduce (parallel/allreduce.h); then each value's
 *        terms are rounded to a fixed point relative to it and summed as one int64
 *        (cascade/xsum.h: exact and order-independent), and the int64 sums are
 *        reduce-scattered to the ranks owning them by recursive halving (O(log P) messages
 *        per rank; integer sums, so the tree's order does not matter), progressed by the
 *        hooks; each rank converts only its ZeRO shard back to floats. The doubles (few) are summed exactly (4 x 48-bit digits) with one
 *        small allreduce. The sums do not depend on the rank count, the deal or the threads. */
#ifndef CASCADE_PARALLEL_REDUCER_H
#define CASCADE_PARALLEL_REDUCER_H

#include "parallel/allreduce.h"
#include "parallel/parallel.h"

typedef struct {
    int exact;
    int64_t n;                /* floats in the gradient buffer */
    float *grads;             /* the net's gradient buffer (not owned): fast accumulation, exact result */
    int n_doubles;            /* doubles per micro-batch summed along (loss, batch-norm statistics) */
    int max_local_mb;         /* most micro-batches a rank gets per step (exact: slots) */
    /* buckets tile [0, n): bucket b = [lo[b], hi[b]), ready once backward has passed mark[b]
     * (marks decrease with b); NULL / 0: one bucket */
    int n_buckets;
    const int64_t *bucket_lo, *bucket_hi;
    const int *bucket_mark;
    const cascade_shards *shards; /* exact: where each rank's sums arrive */
} cascade_reducer_cfg;

typedef struct {
    int64_t lo, hi;
    int mark, started, stage;
    MPI_Request req;  /* fast: the stage's collective when it is MPI's */
    cascade_allreduce_op op; /* fast: the stage's allreduce when it is cascade's own (own_active);
                              * exact: the exponents' allreduce, then the sums' reduce-scatter */
    int own_active;
    int64_t *bounds;  /* exact: [size + 1] where each rank's shard starts in the bucket (offsets from lo) */
    double t_start;   /* when it started (the timeline's bucket event) */
    char name[24];    /* "bucket B (N floats)"-style label for the timeline */
} cascade_reducer_bucket;

typedef struct {
    cascade_reducer_cfg cfg;
    const cascade_topo *topo;
    int hier;                /* fast: two-level reduction */
    int n_buckets;
    cascade_reducer_bucket *b;
    int64_t *bucket_lo, *bucket_hi;
    int *bucket_mark;
    float *recv;             /* fast: receive buffer (flat: the sums; hierarchical: leaders' node sums) */
    int own;                 /* fast: allreduces by parallel/allreduce.h (default), not MPI_Iallreduce */
    float *scratch;          /* fast, own: [n] the allreduces' scratch */
    double *dsum;            /* fast: the step's doubles [n_doubles + 1], then their allreduce's scratch */
    cascade_allreduce_op dsum_op; /* fast: the doubles' allreduce, progressed with the buckets */
    int dsum_active;
    int64_t *dd;             /* exact: digits of the doubles and, last, the bad-term count */
    float *slots;            /* exact: k_slots buffers of n + 1 floats, one per local micro-batch */
    int k_slots, used, too_many;
    uint8_t *emax;           /* exact, several ranks: [n] every value's largest exponent (agreed) */
    uint8_t *emax_tmp;       /* exact, several ranks: [n] its allreduce's scratch */
    int64_t *fixed;          /* exact, several ranks: [n] the local fixed-point sums; after the
                              * reduce-scatter this rank's shard holds the global ones */
    int64_t *fixed_tmp;      /* exact, several ranks: [n] the reduce-scatter's scratch */
    int64_t bad;
    int running;             /* inside a step with buckets being started */
    int hook_rc;             /* an MPI error inside a hook (which returns nothing), for finish */
    double wait_s, exact_s;  /* seconds waiting for reductions / in exact-sum work, since reset */
} cascade_reducer;

cascade_status cascade_reducer_init(cascade_reducer *r, const cascade_topo *topo, const cascade_reducer_cfg *cfg);
void cascade_reducer_free(cascade_reducer *r);
void cascade_reducer_begin(cascade_reducer *r);
/* The zeroed (exact) or accumulating (fast) buffer for the next micro-batch's backward. */
float *cascade_reducer_mb_grads(cascade_reducer *r);
void cascade_reducer_mb_done(cascade_reducer *r, const double *vals);
/* cascade_run.after_backward: backward has finished everything down to `mark` in the final
 * pass of the step: start the buckets that are ready, progress the others. */
void cascade_reducer_hook(void *reducer, int mark);
/* cascade_run.after_forward (and any time): progress pending requests only. */
void cascade_reducer_poll(void *reducer, int mark);
/* Waits for everything: sums = the step's summed doubles; nonfinite = a NaN/Inf or out-of-range
 * term anywhere (the same on every rank); *grads = the summed gradients, valid on
 * [range_lo, range_hi) (exact: this rank's shard; fast: all). */
cascade_status cascade_reducer_finish(cascade_reducer *r, double *sums, int *nonfinite, float **grads,
                                      int64_t *range_lo, int64_t *range_hi);

#endif
