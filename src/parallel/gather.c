/* Exact sums of the ranks' partial results and gathers of compact per-sample values to
 * rank 0 (see gather.h). */
#include "parallel/gather.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/parallel.h"

#define DIG CASCADE_XSUM_DIGITS
#define MAX_SUMS 64
#define CARRY_EVERY (1 << 14) /* terms per digit before a carry: |digit| stays below 2^63 */

static cascade_status mpi_failed(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return cascade_fail(CASCADE_EINTERNAL, "%s failed: %s", what, msg);
}

/* Carries so every digit but the top is in [0, 2^48): the value is unchanged, and the ranks'
 * digits can be added (up to 2^15 ranks) without overflow. */
static void carry(cascade_xacc *a) {
    for (int k = 0; k < DIG - 1; k++) {
        int64_t c = a->d[k] >> 48; /* arithmetic shift: floor division */
        a->d[k] -= c * (int64_t)(1LL << 48);
        a->d[k + 1] += c;
    }
    a->pending = 0;
}

void cascade_xacc_add(cascade_xacc *a, double v) {
    a->bad += cascade_xsum_add_doubles(a->d, &v, 1);
    if (++a->pending == CARRY_EVERY) carry(a);
}

cascade_status cascade_par_xacc_sum(MPI_Comm comm, cascade_xacc *a, int n, double *out) {
    if (n > MAX_SUMS) return cascade_fail(CASCADE_EINTERNAL, "%d exact sums at once (at most %d)", n, MAX_SUMS);
    int64_t buf[MAX_SUMS * (DIG + 1)];
    for (int i = 0; i < n; i++) {
        carry(&a[i]);
        memcpy(buf + i * (DIG + 1), a[i].d, sizeof a[i].d);
        buf[i * (DIG + 1) + DIG] = a[i].bad;
    }
    CASCADE_TRY(cascade_par_sum_int64(comm, buf, (int64_t)n * (DIG + 1)));
    for (int i = 0; i < n; i++) {
        const int64_t *d = buf + i * (DIG + 1);
        if (d[DIG]) out[i] = NAN;
        else cascade_xsum_to_doubles(d, &out[i], 1);
    }
    return CASCADE_OK;
}

cascade_status cascade_par_total(MPI_Comm comm, cascade_status local, int64_t count, int64_t *total) {
    CASCADE_TRY(cascade_par_agree(comm, local, NULL, NULL, "before summing the ranks' row counts"));
    *total = count;
    return cascade_par_sum_int64(comm, total, 1);
}

/* The gather: every rank's (count, offset) to rank 0, then one MPI_Gatherv placing rank r's
 * elements at offset r (offset < 0 on every rank: in rank order, one after another). */
static cascade_status gather(MPI_Comm comm, cascade_status local, const void *send, int64_t count, int64_t offset,
                             size_t elem_bytes, void *recv) {
    int size = cascade_par_size(comm), rank = cascade_par_rank(comm);
    char *at = (char *)recv + (offset > 0 ? (size_t)offset * elem_bytes : 0);
    if (size == 1) {
        if (!local && count && at != send) memcpy(at, send, (size_t)count * elem_bytes);
        return local;
    }
    int *counts = NULL, *displs = NULL;
    int64_t *all = NULL, mine2[2] = {count, offset};
    if (!local && rank == 0) {
        counts = malloc((size_t)size * sizeof(int));
        displs = malloc((size_t)size * sizeof(int));
        all = malloc((size_t)size * 2 * sizeof(int64_t));
        if (!counts || !displs || !all) local = cascade_fail(CASCADE_EINTERNAL, "out of memory for %d ranks' counts", size);
    }
    cascade_status st = cascade_par_agree(comm, local, NULL, NULL, "preparing a gather to rank 0");
    int rc = MPI_SUCCESS;
    if (!st) rc = MPI_Gather(mine2, 2, MPI_INT64_T, all, 2, MPI_INT64_T, 0, comm);
    if (!st && rc != MPI_SUCCESS) st = mpi_failed(rc, "gathering the ranks' row counts");
    cascade_status mine = CASCADE_OK; /* rank 0: do the counts fit MPI's int? */
    if (!st && rank == 0) {
        int64_t next = 0;
        for (int r = 0; r < size; r++) {
            int64_t off = all[2 * r + 1] < 0 ? next : all[2 * r + 1];
            if (off + all[2 * r] > INT_MAX) {
                mine = cascade_fail(CASCADE_EINTERNAL, "a gather of %lld values to rank 0 is too large for one MPI call",
                                    (long long)(off + all[2 * r]));
                break;
            }
            counts[r] = (int)all[2 * r], displs[r] = (int)off;
            next = off + all[2 * r];
        }
    }
    if (!st) st = cascade_par_agree(comm, mine, NULL, NULL, "sizing a gather to rank 0");
    MPI_Datatype type = MPI_DATATYPE_NULL;
    if (!st && (rc = MPI_Type_contiguous((int)elem_bytes, MPI_BYTE, &type)) == MPI_SUCCESS) rc = MPI_Type_commit(&type);
    if (!st && rc == MPI_SUCCESS)
        rc = MPI_Gatherv(rank == 0 && send == at ? MPI_IN_PLACE : send, (int)count, type, recv, counts, displs, type,
                         0, comm);
    if (!st && rc != MPI_SUCCESS) st = mpi_failed(rc, "gathering per-sample values to rank 0");
    if (type != MPI_DATATYPE_NULL) MPI_Type_free(&type);
    free(counts), free(displs), free(all);
    return st;
}

cascade_status cascade_par_gather_root(MPI_Comm comm, cascade_status local, const void *send, int64_t count,
                                       size_t elem_bytes, void *recv) {
    return gather(comm, local, send, count, -1, elem_bytes, recv);
}

cascade_status cascade_par_gather_root_at(MPI_Comm comm, cascade_status local, const void *send, int64_t count,
                                          int64_t offset, size_t elem_bytes, void *recv) {
    return gather(comm, local, send, count, offset < 0 ? 0 : offset, elem_bytes, recv);
}

cascade_status cascade_par_counts(MPI_Comm comm, cascade_status local, int64_t count, int64_t *before,
                                  int64_t *total, int64_t *most) {
    int size = cascade_par_size(comm), rank = cascade_par_rank(comm);
    int64_t *v = calloc((size_t)size, sizeof(int64_t));
    if (!v && !local) local = cascade_fail(CASCADE_EINTERNAL, "out of memory for %d ranks' counts", size);
    CASCADE_TRY(cascade_par_agree(comm, local, NULL, NULL, "before sharing the ranks' counts"));
    v[rank] = count;
    cascade_status st = cascade_par_sum_int64(comm, v, size);
    *before = *total = *most = 0;
    for (int r = 0; !st && r < size; r++) {
        if (r < rank) *before += v[r];
        *total += v[r];
        if (v[r] > *most) *most = v[r];
    }
    free(v);
    return st;
}
