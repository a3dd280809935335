/* Where the rows of a data set sit in its file, for reading them without HDF5 (the streaming
 * prefetch thread, src/data/stream.c: HDF5 is not thread-safe, so a background thread may
 * only pread() the bytes). */
#ifndef CASCADE_IO_RAWROWS_H
#define CASCADE_IO_RAWROWS_H

#include "cascade/h5io.h"

typedef struct {
    int ok;            /* 1: contiguous, allocated, in this file, little-endian float32 */
    int64_t offset;    /* byte offset of row 0 in the file */
    int64_t row_bytes; /* bytes per row (4 x elements per sample) */
} cascade_h5_raw;

/* The layout of `dataset` (rows along axis 0). ok = 0 (no error) for chunked, compressed,
 * compact, external or unallocated storage and for any element type but float32 stored
 * little-endian on a little-endian host: those are read through HDF5. Local; every rank of
 * the file calls it in the same order. */
cascade_status cascade_h5_raw_rows(cascade_h5file *f, const char *dataset, cascade_h5_raw *out);

#endif
