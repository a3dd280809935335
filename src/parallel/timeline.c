/* Gathers the ranks' timelines into one trace file (see timeline.h). */
#include "parallel/timeline.h"

#include <stdlib.h>
#include <string.h>

#include "cascade/trace.h"
#include "io/fsops.h"

/* Rank 0: the trace document around the ranks' event lists, written atomically. */
static cascade_status write_document(const char *path, const char *events, size_t len) {
    static const char head[] = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", tail[] = "\n]}\n";
    char *doc = malloc(sizeof head + len + sizeof tail);
    if (!doc) return cascade_fail(CASCADE_EINTERNAL, "out of memory writing the timeline %s", path);
    memcpy(doc, head, sizeof head - 1);
    memcpy(doc + sizeof head - 1, events, len);
    memcpy(doc + sizeof head - 1 + len, tail, sizeof tail); /* with the terminating 0 */
    char dir[4096];
    const char *name = fs_split(path, dir, sizeof dir);
    cascade_status st = fs_write_atomic(dir, name, doc);
    if (st) cascade_error_context("writing the timeline: ");
    free(doc);
    return st;
}

cascade_status cascade_timeline_write(const char *path, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    double first = cascade_trace_first_wall(), origin = first;
    int rc = MPI_Allreduce(&first, &origin, 1, MPI_DOUBLE, MPI_MIN, comm);
    size_t len = 0;
    char *mine = rc == MPI_SUCCESS ? cascade_trace_json(rank, origin, &len) : NULL;
    cascade_trace_stop();
    /* lengths first: a rank without its JSON (out of memory) sends -1 and everyone fails */
    long long my_len = mine && len < 0x7fffffff ? (long long)len : -1, *lens = NULL;
    int *counts = NULL, *displs = NULL, ok = 1;
    char *all = NULL;
    if (rank == 0) {
        lens = malloc((size_t)size * sizeof *lens);
        counts = malloc((size_t)size * sizeof *counts);
        displs = malloc((size_t)size * sizeof *displs);
        ok = lens && counts && displs;
    }
    if (rc == MPI_SUCCESS) rc = MPI_Gather(&my_len, 1, MPI_LONG_LONG, lens, 1, MPI_LONG_LONG, 0, comm);
    long long total = 0;
    for (int r = 0; rank == 0 && ok && rc == MPI_SUCCESS && r < size; r++) {
        if (lens[r] < 0 || total + lens[r] + 2 > 0x7fffffff) ok = 0;
        else displs[r] = (int)total, counts[r] = (int)lens[r], total += lens[r] + (r + 1 < size ? 2 : 0);
    }
    if (rank == 0 && ok && !(all = malloc((size_t)total + 1))) ok = 0;
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    if (rc == MPI_SUCCESS && ok)
        rc = MPI_Gatherv(mine, (int)my_len, MPI_CHAR, all, counts, displs, MPI_CHAR, 0, comm);
    cascade_status st = CASCADE_OK;
    if (rc != MPI_SUCCESS) st = cascade_fail(CASCADE_EINTERNAL, "rank %d: gathering the timeline failed", rank);
    else if (!ok) st = cascade_fail(CASCADE_EINTERNAL, "the timeline %s is too large or out of memory", path);
    if (!st && rank == 0) {
        for (int r = 0; r + 1 < size; r++) memcpy(all + displs[r] + counts[r], ",\n", 2);
        st = write_document(path, all, (size_t)total);
    }
    int bad = st != CASCADE_OK, any = 0; /* every rank returns rank 0's outcome */
    if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS || (any && !bad))
        st = cascade_fail(CASCADE_EIO, "writing the timeline %s failed on another rank", path);
    free(mine);
    free(lens);
    free(counts);
    free(displs);
    free(all);
    return st;
}
