/* Topology, the block partition, agreement, small collectives, gathers and ZeRO-1 shards
 * (see parallel.h). */
#include "parallel/parallel.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "parallel/allreduce.h"

#define AGREE_TAG 32766  /* the ranks' agreement (called between, never during, the reductions) */
#define SHARDS_TAG 32767 /* the shards' allgather (the reducer's tags are below; never in flight together) */

static cascade_status mpi_failed(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return cascade_fail(CASCADE_EINTERNAL, "%s failed: %s", what, msg);
}

int cascade_par_rank(MPI_Comm comm) {
    int r = 0;
    MPI_Comm_rank(comm, &r);
    return r;
}

int cascade_par_size(MPI_Comm comm) {
    int n = 1;
    MPI_Comm_size(comm, &n);
    return n;
}

/* ---- topology ---- */

cascade_status cascade_topo_init(cascade_topo *t, MPI_Comm world) {
    memset(t, 0, sizeof *t);
    t->world = world;
    t->node = t->node_bcast = t->leaders = MPI_COMM_NULL;
    t->rank = cascade_par_rank(world);
    t->size = cascade_par_size(world);
    const char *fake = getenv("CASCADE_RANKS_PER_NODE");
    int per = fake ? atoi(fake) : 0, rc;
    if (per > 0)
        rc = MPI_Comm_split(world, t->rank / per, t->rank, &t->node);
    else
        rc = MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &t->node);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(t->node, &t->node_bcast);
    if (rc == MPI_SUCCESS) {
        t->node_rank = cascade_par_rank(t->node);
        t->node_size = cascade_par_size(t->node);
        rc = MPI_Comm_split(world, t->node_rank == 0 ? 0 : MPI_UNDEFINED, t->rank, &t->leaders);
    }
    int leader = t->node_rank == 0;
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(&leader, &t->n_nodes, 1, MPI_INT, MPI_SUM, world);
    if (rc != MPI_SUCCESS) {
        cascade_topo_free(t);
        return mpi_failed(rc, "finding the node-local communicators");
    }
    return CASCADE_OK;
}

void cascade_topo_free(cascade_topo *t) {
    if (t->node != MPI_COMM_NULL) MPI_Comm_free(&t->node);
    if (t->node_bcast != MPI_COMM_NULL) MPI_Comm_free(&t->node_bcast);
    if (t->leaders != MPI_COMM_NULL) MPI_Comm_free(&t->leaders);
}

int cascade_topo_hierarchical(const cascade_topo *t) { return t->n_nodes > 1 && t->n_nodes < t->size; }

/* ---- partition ---- */

void cascade_par_block(int64_t n, int r, int size, int64_t *lo, int64_t *hi) {
    *lo = n * r / size;
    *hi = n * (r + 1) / size;
}

void cascade_par_chunk_rows(int64_t n, int64_t chunk, int r, int size, int64_t *lo, int64_t *hi) {
    int64_t c0, c1;
    cascade_par_block((n + chunk - 1) / chunk, r, size, &c0, &c1);
    *lo = c0 * chunk < n ? c0 * chunk : n;
    *hi = c1 * chunk < n ? c1 * chunk : n;
}

/* ---- agreement ---- */

cascade_status cascade_par_agree(MPI_Comm comm, cascade_status local, int *stop, int *nonfinite, const char *what) {
    /* status codes are 0..75 (cascade_status): a byte each, maximum over the ranks */
    uint8_t v[3] = {(uint8_t)local, stop && *stop, nonfinite && *nonfinite};
    int rc = cascade_allreduce_max_small(comm, v, 3, AGREE_TAG), all[3] = {v[0], v[1], v[2]};
    if (rc != MPI_SUCCESS) return local ? local : mpi_failed(rc, "agreeing on the ranks' status");
    if (stop) *stop = all[1];
    if (nonfinite) *nonfinite = all[2];
    if (local) return local;
    if (all[0])
        return cascade_fail((cascade_status)all[0], "rank %d stops because another rank failed %s (status %d)",
                            cascade_par_rank(comm), what, all[0]);
    return CASCADE_OK;
}

/* ---- small collectives ---- */

cascade_status cascade_par_sum_int64(MPI_Comm comm, int64_t *v, int64_t n) {
    if (n > INT_MAX) return cascade_fail(CASCADE_EINTERNAL, "an integer sum of %lld values is too large for MPI", (long long)n);
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_INT64_T, MPI_SUM, comm);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "the exact integer sum over ranks");
}

cascade_status cascade_par_xor_u32(MPI_Comm comm, uint32_t *v, int n) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT32_T, MPI_BXOR, comm);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "combining checksums over ranks");
}

cascade_status cascade_par_bcast(MPI_Comm comm, void *buf, size_t bytes) {
    if (bytes > INT_MAX) return cascade_fail(CASCADE_EINTERNAL, "a broadcast of %zu bytes is too large for MPI", bytes);
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, comm);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "broadcasting rank 0's values");
}

cascade_status cascade_par_barrier(MPI_Comm comm) {
    int rc = MPI_Barrier(comm);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "the barrier");
}

cascade_status cascade_par_max_mean(MPI_Comm comm, const double *v, int n, double *max, double *mean) {
    int rc = MPI_Allreduce(v, max, n, MPI_DOUBLE, MPI_MAX, comm);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(v, mean, n, MPI_DOUBLE, MPI_SUM, comm);
    if (rc != MPI_SUCCESS) return mpi_failed(rc, "reducing the timers over ranks");
    int size = cascade_par_size(comm);
    for (int i = 0; i < n; i++) mean[i] /= size;
    return CASCADE_OK;
}

/* ---- gathers ---- */

/* counts/displs (in elements) of every rank's block for an allgatherv, checked against int. */
static cascade_status block_counts(int size, int64_t n, int64_t chunk, int64_t unit, int **counts, int **displs) {
    *counts = malloc((size_t)size * sizeof(int));
    *displs = malloc((size_t)size * sizeof(int));
    if (!*counts || !*displs) {
        free(*counts), free(*displs);
        *counts = *displs = NULL;
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for %d ranks' counts", size);
    }
    if (n * unit > INT_MAX) {
        free(*counts), free(*displs);
        *counts = *displs = NULL;
        return cascade_fail(CASCADE_EINTERNAL, "a gather of %lld floats is too large for one MPI call",
                            (long long)(n * unit));
    }
    for (int r = 0; r < size; r++) {
        int64_t lo, hi;
        if (chunk > 0) cascade_par_chunk_rows(n, chunk, r, size, &lo, &hi);
        else cascade_par_block(n, r, size, &lo, &hi);
        (*displs)[r] = (int)(lo * unit);
        (*counts)[r] = (int)((hi - lo) * unit);
    }
    return CASCADE_OK;
}

cascade_status cascade_par_gather_rows(MPI_Comm comm, float *rows, int64_t n, int64_t chunk, int64_t row_len) {
    int size = cascade_par_size(comm), *counts, *displs;
    if (size == 1) return CASCADE_OK;
    cascade_status st = block_counts(size, n, chunk, row_len, &counts, &displs);
    /* every rank must enter the collective or none: agree on the set-up first */
    CASCADE_TRY(cascade_par_agree(comm, st, NULL, NULL, "preparing a gather"));
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rows, counts, displs, MPI_FLOAT, comm);
    free(counts);
    free(displs);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "gathering the ranks' rows");
}

/* ---- ZeRO-1 shards ---- */

cascade_status cascade_shards_init(cascade_shards *s, MPI_Comm comm, int64_t n, int sharded) {
    memset(s, 0, sizeof *s);
    s->comm = comm;
    s->rank = cascade_par_rank(comm);
    s->size = cascade_par_size(comm);
    s->n = n;
    s->sharded = sharded && s->size > 1;
    s->lo = 0, s->hi = n;
    if (!s->sharded) return CASCADE_OK;
    cascade_par_block(n, s->rank, s->size, &s->lo, &s->hi);
    if (!(s->bounds = malloc(((size_t)s->size + 1) * sizeof *s->bounds)))
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for the ZeRO-1 shards");
    for (int r = 0; r < s->size; r++) {
        int64_t hi;
        cascade_par_block(n, r, s->size, &s->bounds[r], &hi);
    }
    s->bounds[s->size] = n;
    return CASCADE_OK;
}

void cascade_shards_free(cascade_shards *s) {
    free(s->bounds);
    s->bounds = NULL;
}

cascade_status cascade_shards_allgather(const cascade_shards *s, float *buf) {
    if (!s->sharded) return CASCADE_OK;
    cascade_allreduce_op op;
    int rc = cascade_allgather_start(&op, CASCADE_RED_SUM_F32, buf, s->n, s->bounds, s->comm, SHARDS_TAG);
    if (rc == MPI_SUCCESS) rc = cascade_allreduce_wait(&op);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "the ZeRO-1 allgather of parameters");
}

/* ---- node-shared memory ---- */

/* The smallest set worth a window (CASCADE_SHMEM_MIN_BYTES, default 64 KiB). */
static size_t shmem_min_bytes(void) {
    const char *env = getenv("CASCADE_SHMEM_MIN_BYTES");
    return env && *env ? (size_t)strtoull(env, NULL, 10) : (size_t)65536;
}

/* Open MPI backs a shared window with a file in /dev/shm: a window larger than its free space
 * would be a SIGBUS at the first touch (containers often mount 64 MB), not an error. */
static int shm_room(size_t bytes) {
    struct statvfs v;
    if (statvfs("/dev/shm", &v) != 0) return 1; /* no /dev/shm: the MPI library decides */
    return (double)v.f_bavail * (double)v.f_frsize >= (double)bytes + 16.0 * 1048576.0;
}

/* 1 on every rank of t->node when every rank wants the window and all of them share memory
 * with each other (a fake node of CASCADE_RANKS_PER_NODE may span machines): agreed over the
 * node, so that ranks with different environments still take the same path. */
static int node_can_share(const cascade_topo *t, int want) {
    MPI_Comm shm = MPI_COMM_NULL;
    int ok = 0, all = 0;
    if (MPI_Comm_split_type(t->node, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shm) == MPI_SUCCESS) {
        ok = want && cascade_par_size(shm) == t->node_size;
        MPI_Comm_free(&shm);
    }
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, t->node) != MPI_SUCCESS) return 0;
    return all;
}

/* The window of bytes on node rank 0, mapped by all; 1 when every rank of the node has it. A
 * window that only some ranks got is left alone (its free would wait for the others). */
static int shmem_window(const cascade_topo *t, size_t bytes, cascade_shmem *m) {
    void *mine = NULL;
    MPI_Aint size = 0;
    int disp = 0, ok, all = 0;
    ok = MPI_Win_allocate_shared(t->node_rank == 0 ? (MPI_Aint)bytes : 0, (int)sizeof(float), MPI_INFO_NULL, t->node,
                                 &mine, &m->win) == MPI_SUCCESS;
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, t->node) != MPI_SUCCESS || !all) return 0;
    ok = MPI_Win_set_errhandler(m->win, MPI_ERRORS_RETURN) == MPI_SUCCESS &&
         MPI_Win_shared_query(m->win, 0, &size, &disp, &m->base) == MPI_SUCCESS && (size_t)size >= bytes &&
         MPI_Win_lock_all(MPI_MODE_NOCHECK, m->win) == MPI_SUCCESS; /* one passive epoch: loads and stores */
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, t->node) == MPI_SUCCESS && all) return 1;
    if (ok) MPI_Win_unlock_all(m->win);
    MPI_Win_free(&m->win); /* every rank has the window: collective free */
    m->base = NULL;
    return 0;
}

cascade_status cascade_shmem_alloc(const cascade_topo *t, size_t bytes, cascade_shmem *m) {
    memset(m, 0, sizeof *m);
    m->bytes = bytes;
    m->win = MPI_WIN_NULL;
    m->node = MPI_COMM_NULL;
    if (t && t->node_size > 1 && node_can_share(t, bytes > 0 && bytes >= shmem_min_bytes() && shm_room(bytes)) &&
        shmem_window(t, bytes, m)) {
        m->shared = 1;
        m->node = t->node;
        m->node_rank = t->node_rank;
        m->node_size = t->node_size;
        return CASCADE_OK;
    }
    m->win = MPI_WIN_NULL;
    m->node_size = 1;
    m->base = cascade_alloc(bytes, "data"); /* private: every rank its own copy */
    return m->base ? CASCADE_OK : CASCADE_EINTERNAL;
}

void cascade_shmem_rows(const cascade_shmem *m, int64_t n, int64_t *lo, int64_t *hi) {
    if (m->shared)
        cascade_par_block(n, m->node_rank, m->node_size, lo, hi);
    else
        *lo = 0, *hi = n;
}

cascade_status cascade_shmem_sync(const cascade_shmem *m) {
    if (!m->shared) return CASCADE_OK;
    /* unified memory model: sync, barrier, sync orders the stores before it against the loads after it */
    int rc = MPI_Win_sync(m->win);
    if (rc == MPI_SUCCESS) rc = MPI_Barrier(m->node);
    if (rc == MPI_SUCCESS) rc = MPI_Win_sync(m->win);
    return rc == MPI_SUCCESS ? CASCADE_OK : mpi_failed(rc, "synchronising the node's shared data");
}

void cascade_shmem_free(cascade_shmem *m) {
    if (m->shared) {
        MPI_Win_unlock_all(m->win);
        MPI_Win_free(&m->win);
    } else {
        cascade_free(m->base);
    }
    memset(m, 0, sizeof *m);
}
