/* src/parallel: ALL communication of cascade (DESIGN.md). Training and the apps ask this
 * layer for partitions, agreements, shards and gathers instead of doing the arithmetic or
 * calling MPI themselves; the gradient reductions are in parallel/reducer.h.
 *
 * Every function returning cascade_status is collective on its communicator unless noted:
 * all ranks call it, and an MPI error becomes a status with a message on every rank. */
#ifndef CASCADE_PARALLEL_H
#define CASCADE_PARALLEL_H

#include <mpi.h>

#include "cascade/core.h"

/* ---- topology ---- */

/* Where the ranks are. With CASCADE_RANKS_PER_NODE=k in the environment consecutive ranks
 * form fake nodes of k (so the hierarchical paths are testable on one machine); otherwise a
 * node is the ranks sharing memory (MPI_Comm_split_type SHARED). */
typedef struct {
    MPI_Comm world;      /* the job's communicator (not owned) */
    int rank, size;
    MPI_Comm node;       /* the ranks of this node (owned) */
    MPI_Comm node_bcast; /* a duplicate of `node` for broadcasts: reductions and broadcasts of
                          * different buckets may then be issued in different orders */
    int node_rank, node_size;
    MPI_Comm leaders;    /* node_rank 0 of every node; MPI_COMM_NULL on the other ranks */
    int n_nodes;
} cascade_topo;

cascade_status cascade_topo_init(cascade_topo *t, MPI_Comm world);
void cascade_topo_free(cascade_topo *t);
/* Several nodes, at least one with several ranks: the two-level reduction pays off. */
int cascade_topo_hierarchical(const cascade_topo *t);

/* Not collective: this rank's number and the rank count of comm. */
int cascade_par_rank(MPI_Comm comm);
int cascade_par_size(MPI_Comm comm);

/* ---- the one block partition ---- */

/* Block r of `size` over [0, n): [n r / size, n (r + 1) / size). Blocks are contiguous, in rank
 * order, cover [0, n) exactly and differ in size by at most one. Used for the micro-batches
 * of a step, ZeRO-1 shards and chunks of evaluation/generation. */
void cascade_par_block(int64_t n, int r, int size, int64_t *lo, int64_t *hi);
/* Rows [lo, hi) of rank r when n rows are cut into chunks of `chunk` rows (the last may be
 * shorter) and the chunks are dealt in blocks: every row is computed in the same chunk
 * whatever the rank count. */
void cascade_par_chunk_rows(int64_t n, int64_t chunk, int r, int size, int64_t *lo, int64_t *hi);

/* ---- agreement ---- */

/* One small maximum over the ranks of (status, stop, nonfinite) — three bytes, by
 * cascade_allreduce_max_small (log_16 P rounds; it runs every step): a failure, a stop request or a
 * non-finite value on any rank is seen by all, so no rank waits in a collective the others
 * have left. stop and nonfinite (may be NULL) go in as this rank's flags and come out as
 * "any rank". Returns the local status when set, else a failure naming another rank's status
 * (`what` says what was being done), else CASCADE_OK. */
cascade_status cascade_par_agree(MPI_Comm comm, cascade_status local, int *stop, int *nonfinite, const char *what);

/* ---- small collectives ---- */

/* Integer sums in place (exact digits, cascade/xsum.h). */
cascade_status cascade_par_sum_int64(MPI_Comm comm, int64_t *v, int64_t n);
/* Bitwise XOR in place (checksums of parts combined, cascade_crc32c_shift). */
cascade_status cascade_par_xor_u32(MPI_Comm comm, uint32_t *v, int n);
/* Rank 0's bytes to every rank. */
cascade_status cascade_par_bcast(MPI_Comm comm, void *buf, size_t bytes);
cascade_status cascade_par_barrier(MPI_Comm comm);
/* Per-rank values (e.g. timers) as their maximum and mean over the ranks, on every rank. */
cascade_status cascade_par_max_mean(MPI_Comm comm, const double *v, int n, double *max, double *mean);

/* ---- gathers ---- */

/* rows (n rows of row_len floats, the same buffer on every rank) holds this rank's rows of
 * cascade_par_chunk_rows(n, chunk); afterwards every rank holds all n rows (allgatherv). */
cascade_status cascade_par_gather_rows(MPI_Comm comm, float *rows, int64_t n, int64_t chunk, int64_t row_len);

/* ---- ZeRO-1 shards ---- */

/* A flat buffer of n floats whose optimizer update is split over the ranks: rank r owns
 * block r of n (cascade_par_block); unsharded, every rank owns [0, n). */
typedef struct {
    MPI_Comm comm;
    int rank, size, sharded;
    int64_t n, lo, hi;    /* this rank's range */
    int64_t *bounds;      /* [size + 1] where every rank's range starts, for the allgather */
} cascade_shards;

cascade_status cascade_shards_init(cascade_shards *s, MPI_Comm comm, int64_t n, int sharded);
void cascade_shards_free(cascade_shards *s);
/* After each rank updated its range of buf: every rank gets all of buf (no-op unsharded), by
 * cascade's own allgather (parallel/allreduce.h: O(log P) rounds; MPI_Allgatherv's ring
 * takes P - 1, which at 256 ranks was most of the deterministic step's parameter update). */
cascade_status cascade_shards_allgather(const cascade_shards *s, float *buf);

/* ---- node-shared memory ---- */

/* `bytes` held once per node: an MPI-3 shared window (MPI_Win_allocate_shared on the node
 * communicator; node rank 0 allocates all of it, every rank of the node maps it), or private
 * memory when sharing cannot pay or cannot work: t NULL, a node of one rank, fewer bytes than
 * CASCADE_SHMEM_MIN_BYTES (environment; default 64 KiB, 0 = always share), or ranks of the
 * node that cannot share memory (a fake node across machines, no shared windows, too little
 * free space in /dev/shm, which backs Open MPI's windows). */
typedef struct {
    void *base;    /* `bytes`, 64-byte aligned when private */
    size_t bytes;
    int shared;    /* 1: the node's one copy; 0: this rank's own */
    MPI_Win win;   /* shared only */
    MPI_Comm node; /* not owned; shared only */
    int node_rank, node_size;
} cascade_shmem;

/* Collective over the node (every rank gets the same `shared`); a failure is agreed over the
 * node. Private fallback: zeroed memory. */
cascade_status cascade_shmem_alloc(const cascade_topo *t, size_t bytes, cascade_shmem *m);
/* Rows [lo, hi) of n this rank writes: its block over the node's ranks when shared, all
 * when private (not collective). */
void cascade_shmem_rows(const cascade_shmem *m, int64_t n, int64_t *lo, int64_t *hi);
/* Every write of every rank of the node before the call is seen by every rank after it
 * (memory sync and node barrier). Collective over the node when shared, else a no-op. */
cascade_status cascade_shmem_sync(const cascade_shmem *m);
/* Collective over the node when shared. */
void cascade_shmem_free(cascade_shmem *m);

#endif
