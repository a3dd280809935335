/* A non-blocking float sum over a communicator that the caller progresses (the gradient
 * reducer's hooks call cascade_allreduce_test between layers of backward), written with
 * point-to-point messages so that its progress and overlap are the same under every MPI
 * (SimGrid's SMPI included, whose MPI_Iallreduce exchanges all buffers with all ranks).
 *
 * Algorithms (Thakur, Rabenseifner & Gropp 2005): ranks beyond the largest power of two
 * pof2 <= size first fold their buffer into a partner (and get the result back at the end);
 * among the pof2 ranks:
 *   - recursive doubling for small buffers: log2(pof2) rounds, each exchanging and adding
 *     the whole buffer (both partners compute a + b: the same bits);
 *   - Rabenseifner for large ones: a reduce-scatter by recursive halving (each element summed
 *     on one rank only), then an allgather by recursive doubling: 2 log2(pof2) rounds moving
 *     about 2 n floats in all instead of n log2(pof2).
 * Either way every rank ends with the same bits; the value is a float sum in some tree
 * order (fast mode: not rank-count invariant; deterministic mode does not use this). */
#ifndef CASCADE_PARALLEL_ALLREDUCE_H
#define CASCADE_PARALLEL_ALLREDUCE_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
    MPI_Comm comm;
    int rank, size, pof2, rem, vrank; /* vrank: index among the pof2 ranks, -1 when folded out */
    int tag, halving;                 /* halving: Rabenseifner, else recursive doubling */
    float *buf, *tmp;                 /* buf: the sum (in place); tmp: count floats of scratch */
    int64_t count;
    int phase, mask;
    int64_t b0, b1;                   /* halving: the blocks this rank holds (of pof2) */
    int64_t add_lo, add_hi;           /* elements to add from tmp when the round completes */
    MPI_Request req[2];
} cascade_allreduce_op;

/* Buffers larger than this many bytes use Rabenseifner's algorithm. */
#define CASCADE_ALLREDUCE_HALVING_BYTES 65536

/* Starts the sum of `send` (count floats; may equal buf) over comm into buf, with tmp as
 * scratch (count floats, not touched by the caller until done) and message tag `tag` (the
 * operations in flight on one communicator need distinct tags). MPI error code. */
int cascade_allreduce_start(cascade_allreduce_op *op, const float *send, float *buf, float *tmp, int64_t count,
                            MPI_Comm comm, int tag);
/* Advances as far as the messages that have arrived allow; *done once buf holds the sum. */
int cascade_allreduce_test(cascade_allreduce_op *op, int *done);
/* Blocks until done. */
int cascade_allreduce_wait(cascade_allreduce_op *op);

#endif
