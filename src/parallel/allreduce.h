/* Non-blocking reductions over a communicator that the caller progresses (the gradient
 * reducer's hooks call cascade_allreduce_test between layers of backward), written with
 * point-to-point messages so that their progress and overlap are the same under every MPI
 * (SimGrid's SMPI included, whose MPI_Iallreduce exchanges all buffers with all ranks).
 *
 * Algorithms (Thakur, Rabenseifner & Gropp 2005): ranks beyond the largest power of two
 * pof2 <= size first fold their buffer into a partner (and get their result back at the
 * end); among the pof2 ranks:
 *   - recursive doubling for small buffers: log2(pof2) rounds, each exchanging and combining
 *     the whole buffer (both partners compute op(a, b): the same bits);
 *   - Rabenseifner for large ones: a reduce-scatter by recursive halving (each element
 *     combined on one rank only), then an allgather by recursive doubling: 2 log2(pof2)
 *     rounds moving about 2 n values in all instead of n log2(pof2). Generalised to radix r
 *     (recursive multiplying, as MPICH's "recexch"): each round splits the held blocks in r
 *     and exchanges with r - 1 partners at once, so the rounds drop to 2 log_r(pof2) for the
 *     same bytes. Rounds cost latency and, since the reducer advances a reduction only
 *     between layers, a layer each: fewer rounds overlap better. Radix up to
 *     CASCADE_ALLREDUCE_RADIX (environment: 2, 4, 8 or 16; default 16, 2 = the binary algorithm).
 * A reduce-scatter is the halving part alone, with the blocks where the caller wants them
 * (rank q gets [bounds[q], bounds[q + 1]) of the result): log_r(pof2) rounds plus the fold
 * and unfold, O(r log_r P) messages per rank instead of P - 1.
 * The operations:
 *   - float and double sums: in some tree order (fast mode: not rank-count invariant), the
 *     same bits on every rank;
 *   - uint8 maxima and int64 sums: exact, so any order gives the same bits (deterministic
 *     mode: the largest exponents and the fixed-point sums, cascade/xsum.h). int64 sums wrap
 *     modulo 2^64, which is associative too: the result is exact whenever it fits. */
#ifndef CASCADE_PARALLEL_ALLREDUCE_H
#define CASCADE_PARALLEL_ALLREDUCE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CASCADE_RED_SUM_F32, CASCADE_RED_MAX_U8, CASCADE_RED_SUM_I64, CASCADE_RED_SUM_F64 } cascade_red_kind;

#define CASCADE_ALLREDUCE_MAX_RADIX 16 /* partners per round of the halving and gathering rounds */
#define CASCADE_ALLREDUCE_MAX_ROUNDS 32

typedef struct {
    MPI_Comm comm;
    int rank, size, pof2, rem, vrank; /* vrank: index among the pof2 ranks, -1 when folded out */
    int tag, halving, scatter;        /* halving: Rabenseifner, else recursive doubling; scatter: stop after halving */
    int gather_only;                  /* allgather: the gathering rounds alone */
    cascade_red_kind kind;
    MPI_Datatype type;
    size_t esize;
    char *buf, *tmp;                  /* buf: the result (in place); tmp: count values of scratch */
    const int64_t *bounds;            /* scatter: [size + 1] where each rank's part of buf starts */
    int64_t count;
    int phase, mask;                  /* mask: recursive doubling's partner bit */
    int n_rounds, round;              /* halving: rounds of radix[t] partners, blocks of width[t] */
    int radix[CASCADE_ALLREDUCE_MAX_ROUNDS];
    int64_t width[CASCADE_ALLREDUCE_MAX_ROUNDS];
    int64_t b0, b1;                   /* halving: the blocks this rank holds (of pof2) */
    int64_t add_lo, add_hi;           /* when the round completes: buf[add_lo, add_hi) combined with */
    int n_add;                        /* n_add received copies at tmp + k (add_hi - add_lo) */
    MPI_Request req[2 * (CASCADE_ALLREDUCE_MAX_RADIX - 1)];
} cascade_allreduce_op;

/* Buffers larger than this many bytes use Rabenseifner's algorithm. */
#define CASCADE_ALLREDUCE_HALVING_BYTES 65536

/* Starts the float sum of `send` (count floats; may equal buf) over comm into buf, with tmp
 * as scratch (count floats, not touched by the caller until done) and message tag `tag`
 * (the operations in flight on one communicator need distinct tags). MPI error code. */
int cascade_allreduce_start(cascade_allreduce_op *op, const float *send, float *buf, float *tmp, int64_t count,
                            MPI_Comm comm, int tag);
/* The same for any kind, in place in buf (count values; tmp as many). */
int cascade_allreduce_start_kind(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp,
                                 int64_t count, MPI_Comm comm, int tag);
/* Starts a reduce-scatter in place: afterwards this rank's part [bounds[rank], bounds[rank+1])
 * of buf holds the reduction over all ranks (the rest of buf is scratch). bounds: size + 1
 * non-decreasing offsets from 0 to count, alive until done. */
int cascade_reduce_scatter_start(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, void *tmp,
                                 int64_t count, const int64_t *bounds, MPI_Comm comm, int tag);
/* Starts an allgather in place: this rank's part [bounds[rank], bounds[rank+1]) of buf to
 * every rank (recursive multiplying, O(log P) rounds; a ring would take P - 1). */
int cascade_allgather_start(cascade_allreduce_op *op, cascade_red_kind kind, void *buf, int64_t count,
                            const int64_t *bounds, MPI_Comm comm, int tag);
/* Advances as far as the messages that have arrived allow; *done once buf holds the result. */
int cascade_allreduce_test(cascade_allreduce_op *op, int *done);
/* Blocks until done. */
int cascade_allreduce_wait(cascade_allreduce_op *op);
/* Blocking maximum of n <= 16 bytes over comm (every rank gets it), in log_16(P) rounds. */
int cascade_allreduce_max_small(MPI_Comm comm, uint8_t *v, int n, int tag);
/* Blocks until at least one more message of the op has arrived (or it is done). */
int cascade_allreduce_wait_some(cascade_allreduce_op *op);

#endif
