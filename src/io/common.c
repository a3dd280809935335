/* The parts of the I/O layer that need no HDF5 (shared by the HDF5 build and the SMPI build's
 * synthetic input, src/io/smpi/): agreement on an I/O status, finiteness checks, name lists,
 * checkpoint metadata. */
#include <math.h>
#include <stdio.h>

#include "io/fsops.h"
#include "cascade/h5io.h"

cascade_status h5_agree(MPI_Comm comm, cascade_status local) {
    int size, rank;
    if (comm == MPI_COMM_NULL) return local; /* this process alone, no MPI (h5io.h) */
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS || MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "HDF5 layer: invalid MPI communicator");
    if (size == 1) return local;
    int mine = local != CASCADE_OK ? rank : size, first = size;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "HDF5 layer: MPI_Allreduce of the I/O status failed");
    if (first == size) return CASCADE_OK;
    int code = (int)local;
    char msg[1536];
    snprintf(msg, sizeof msg, "%s", rank == first ? cascade_errmsg() : "");
    if (MPI_Bcast(&code, 1, MPI_INT, first, comm) != MPI_SUCCESS ||
        MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "HDF5 layer: MPI_Bcast of an I/O error failed");
    if (first != 0) return cascade_fail((cascade_status)code, "rank %d: %s", first, msg);
    return cascade_fail((cascade_status)code, "%s", msg);
}

void cascade_h5_names_free(cascade_h5_names *names) {
    if (!names) return;
    for (int i = 0; i < names->count; i++) cascade_free(names->names[i]);
    cascade_free(names->names);
    names->names = NULL;
    names->count = 0;
}

cascade_status cascade_h5_check_finite(const char *file, const char *dataset, const float *data,
                                       int64_t n_rows, int64_t row_numel, int64_t first_row,
                                       const int64_t *rows) {
    int64_t total = n_rows * row_numel;
    for (int64_t i = 0; i < total; i++) {
        if (isfinite(data[i])) continue;
        int64_t local = i / row_numel, row = rows ? rows[local] : first_row + local;
        const char *what = isnan(data[i]) ? "NaN" : data[i] > 0 ? "+Inf" : "-Inf";
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' holds %s at row %lld (element %lld of "
                            "the %lld in a row)", file, dataset, what, (long long)row,
                            (long long)(i % row_numel), (long long)row_numel);
    }
    return CASCADE_OK;
}

void cascade_ckpt_meta_free(cascade_ckpt_meta *meta) {
    if (!meta) return;
    cascade_free(meta->job);
    meta->job = NULL;
}
