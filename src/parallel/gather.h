/* Evaluation at scale: each rank holds its own rows (a contiguous block, blocks in rank
 * order) and the ranks combine partial results instead of gathering the outputs (issue 20).
 *   - exact sums (cascade_xacc): sums of per-sample terms that are the same bits whatever the
 *     rank count, the order or the grouping of the terms (cascade/xsum.h digits);
 *   - gathers to rank 0 of compact per-sample values (a score, a residual) for the metrics
 *     that need all samples in order (ROC AUC, quantiles).
 * Collective functions follow parallel.h: all ranks call them, a failure becomes a status on
 * every rank. */
#ifndef CASCADE_PARALLEL_GATHER_H
#define CASCADE_PARALLEL_GATHER_H

#include <mpi.h>
#include <stddef.h>

#include "cascade/core.h"
#include "cascade/xsum.h"

/* One exact sum: terms added on any rank in any order; cascade_par_xacc_sum combines the
 * ranks' digits with an integer sum, so the result is rounded once from the exact sum. */
typedef struct {
    int64_t d[CASCADE_XSUM_DIGITS]; /* the digits (xsum.h) */
    int64_t pending;                /* terms since the last carry propagation */
    int64_t bad;                    /* NaN/Inf or out-of-range terms: the sum is NaN */
} cascade_xacc;

/* Not collective. A zeroed cascade_xacc is an empty sum. */
void cascade_xacc_add(cascade_xacc *a, double v);
/* Sums a[0..n) over the ranks into out[0..n) on every rank (NaN where a term was not
 * finite); a and out may be the same call's only arrays. */
cascade_status cascade_par_xacc_sum(MPI_Comm comm, cascade_xacc *a, int n, double *out);

/* The total of every rank's `count`, on every rank (to size rank 0's buffer). `local` is
 * this rank's status so far: all ranks agree on it first, so none waits in a collective
 * another has left. */
cascade_status cascade_par_total(MPI_Comm comm, cascade_status local, int64_t count, int64_t *total);
/* Every rank's `count` elements of elem_bytes each, concatenated in rank order into recv on
 * rank 0 (room for the total; recv may be NULL elsewhere). `local` as above. Rank 0's
 * elements come first: with send == recv on rank 0 they are already in place. */
cascade_status cascade_par_gather_root(MPI_Comm comm, cascade_status local, const void *send, int64_t count,
                                       size_t elem_bytes, void *recv);
/* The same with this rank's elements placed at element `offset` of recv (offsets chosen by
 * the caller, e.g. a round of several: each rank sends a bounded piece per call). In place on
 * rank 0 when send == recv + offset there. */
cascade_status cascade_par_gather_root_at(MPI_Comm comm, cascade_status local, const void *send, int64_t count,
                                          int64_t offset, size_t elem_bytes, void *recv);
/* Every rank's `count`: the sum over the ranks before this one (its offset in rank order), the
 * total and the largest, on every rank. */
cascade_status cascade_par_counts(MPI_Comm comm, cascade_status local, int64_t count, int64_t *before,
                                  int64_t *total, int64_t *most);

#endif
