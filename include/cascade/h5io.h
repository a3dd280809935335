/* cascade HDF5 layer: data-set reading, output files and checkpoints (CONTRACT.md
 * "Checkpoint", "Data sets"). Knows nothing of layers: paths, shapes and float arrays only.
 *
 * Parallel HDF5 (MPI-IO driver). Every file is opened on a communicator (MPI_COMM_SELF for
 * one process; MPI must be initialised). Files opened for reading may also be opened on
 * MPI_COMM_NULL: this process alone through POSIX I/O (the sec2 driver) with no MPI call at
 * all, so MPI need not be initialised (the inference API, cascade/model.h). Functions that take a file or writer are COLLECTIVE
 * over its communicator: every rank calls them in the same order with the same names, shapes
 * and attribute values; only the data selection (rows, offset/count) differs per rank and may
 * be empty. Errors are agreed by all ranks: when one rank fails, every rank returns the same
 * code and message (prefixed "rank R: " when R is not rank 0), so no rank hangs.
 *
 * Errors name the file, the data set and the shapes: CASCADE_EIO for open/read/write, a missing
 * or non-HDF5 or truncated file; CASCADE_EDATA for schema problems (missing data set, rank or
 * shape, length mismatch, NaN/Inf, unsupported type). HDF5's own error printing is off. */
#ifndef CASCADE_H5IO_H
#define CASCADE_H5IO_H

#include <mpi.h>
#include <stdint.h>

#include "cascade/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- files opened for reading (input data sets and checkpoints) ---- */
typedef struct cascade_h5file cascade_h5file;

/* Opens `path` read-only on `comm`. CASCADE_EIO: missing file, not an HDF5 file, truncated. */
cascade_status cascade_h5_open(const char *path, MPI_Comm comm, cascade_h5file **out);
/* The same for a file every rank reads alike (input data: the same data sets in the same
 * order; only the rows differ): its metadata is read by one rank and broadcast
 * (H5Pset_all_coll_metadata_ops), so the Local functions below become collective on it. */
cascade_status cascade_h5_open_data(const char *path, MPI_Comm comm, cascade_h5file **out);
/* Collective; NULL is ignored. */
void cascade_h5_close(cascade_h5file *f);
const char *cascade_h5_filename(const cascade_h5file *f);

typedef enum { CASCADE_H5_FLOAT, CASCADE_H5_INT, CASCADE_H5_UINT, CASCADE_H5_OTHER } cascade_h5_class;
typedef enum { CASCADE_H5_NONE, CASCADE_H5_GROUP, CASCADE_H5_DATASET } cascade_h5_kind;

typedef struct {
    char name[256];             /* as asked for, e.g. "time" or "/params/model/out/weight" */
    cascade_shape shape;        /* full shape, axis 0 = samples for data sets; ndim 0 = scalar */
    cascade_h5_class type_class;
    int type_bytes;             /* size of one element in the file */
} cascade_h5_info;

/* Shape and element type of a data set. Missing -> CASCADE_EDATA naming the file and the data
 * set and listing what the parent group holds; rank > CASCADE_MAX_DIMS -> CASCADE_EDATA. */
cascade_status cascade_h5_info_of(cascade_h5file *f, const char *dataset, cascade_h5_info *info);
/* Refuses (CASCADE_EDATA, naming file, data set and shape) a data set whose data are not all
 * in the file: never written (no storage allocated), chunks never written (they would read as
 * zeros), contiguous storage smaller than the shape or reaching past the end of the file.
 * Unwritten parts of an allocated contiguous data set cannot be told from data. Local, from
 * metadata only (every rank gets the same answer). */
cascade_status cascade_h5_check_stored(cascade_h5file *f, const char *dataset);
/* Bounds reads of variable-length string attributes (a checkpoint's `job`) to `seconds`
 * (0, the default: unbounded): libhdf5 1.10 can loop forever on a corrupt file there. When
 * one takes longer, the process prints what it was reading and exits with 4 (SIGALRM; for
 * programs that use no alarm of their own: the CLI sets 60 s). */
void cascade_h5_set_watchdog(unsigned seconds);
/* What `path` is ("/a/b/c" or "c"); CASCADE_H5_NONE when absent (or on error). Local. */
cascade_h5_kind cascade_h5_kind_of(cascade_h5file *f, const char *path);

/* Rows (samples along axis 0) as float32; HDF5 converts int and double elements.
 * `out` holds count * (elements per row) floats. Integer and float classes only. */
cascade_status cascade_h5_read_rows(cascade_h5file *f, const char *dataset, int64_t start,
                                    int64_t count, float *out);
/* Rows at strictly increasing indices rows[0..n) (one H5Dread of a union of hyperslabs;
 * consecutive runs are merged), in that order into `out`. n may be 0. */
cascade_status cascade_h5_read_rows_at(cascade_h5file *f, const char *dataset, const int64_t *rows,
                                       int64_t n, float *out);
/* A whole float array with its shape checked against `expected` (error names the path, the
 * expected and the found shape), or the flat part [offset, offset+count) of it (count may
 * be 0) — e.g. a ZeRO-1 shard (expected may be NULL there: no shape check). Needs nothing but
 * the data set (no attributes), so parameters written from a PyTorch state_dict load. */
cascade_status cascade_h5_read_floats(cascade_h5file *f, const char *path,
                                      const cascade_shape *expected, float *out);
cascade_status cascade_h5_read_floats_part(cascade_h5file *f, const char *path,
                                           const cascade_shape *expected, int64_t offset,
                                           int64_t count, float *out);

/* CASCADE_EDATA naming file, data set, the first bad row (file row: rows[i] when rows is
 * given, else first_row + i), the element within the row and the value (NaN, +Inf, -Inf).
 * data holds n_rows * row_numel floats. Pure check, no I/O, not collective. */
cascade_status cascade_h5_check_finite(const char *file, const char *dataset, const float *data,
                                       int64_t n_rows, int64_t row_numel, int64_t first_row,
                                       const int64_t *rows);

/* Names in a group (sorted), or of the attributes of an object ("/" = root). Free with
 * cascade_h5_names_free. Missing group -> CASCADE_EDATA. Local. */
typedef struct {
    int count;
    char **names;
} cascade_h5_names;
cascade_status cascade_h5_children(cascade_h5file *f, const char *group, cascade_h5_names *out);
cascade_status cascade_h5_attr_names(cascade_h5file *f, const char *object, cascade_h5_names *out);
void cascade_h5_names_free(cascade_h5_names *names);

/* Attributes of an object ("/" for the root). Missing attribute or wrong class ->
 * CASCADE_EDATA. Strings may be variable or fixed length; *text is allocated (cascade_free).
 * cascade_h5_attr_text formats any attribute for display (arrays as "[a, b, ...]"). Local. */
int cascade_h5_attr_exists(cascade_h5file *f, const char *object, const char *name);
cascade_status cascade_h5_attr_string(cascade_h5file *f, const char *object, const char *name,
                                      char **text);
cascade_status cascade_h5_attr_int(cascade_h5file *f, const char *object, const char *name,
                                   int64_t *value);
cascade_status cascade_h5_attr_double(cascade_h5file *f, const char *object, const char *name,
                                      double *value);
/* An integer array attribute: at most cap values into values, how many into *count (a
 * longer one is CASCADE_EDATA). */
cascade_status cascade_h5_attr_ints(cascade_h5file *f, const char *object, const char *name,
                                    int64_t *values, int64_t cap, int64_t *count);
cascade_status cascade_h5_attr_text(cascade_h5file *f, const char *object, const char *name,
                                    char **text);

/* ---- files written atomically: PATH.tmp, renamed to PATH on commit ---- */
typedef struct cascade_h5writer cascade_h5writer;

/* Creates `path`.tmp (truncating a stale one). The final name appears only at commit. */
cascade_status cascade_h5w_create(const char *path, MPI_Comm comm, cascade_h5writer **out);
/* A float32 array at `path` ("/params/model/conv1/weight"; intermediate groups created) with
 * the full `shape`; this rank writes the flat part [offset, offset+count) of it from `data`
 * (count may be 0 for ranks that own nothing; the parts of all ranks should cover the array). */
cascade_status cascade_h5w_write_floats(cascade_h5writer *w, const char *path,
                                        const cascade_shape *shape, const float *data,
                                        int64_t offset, int64_t count);
/* A chunked float32 data set of rows, full shape (N, ...), written later in row ranges. */
cascade_status cascade_h5w_create_rows(cascade_h5writer *w, const char *path,
                                       const cascade_shape *shape);
/* This rank's rows [start, start+count) (count may be 0). */
cascade_status cascade_h5w_write_rows(cascade_h5writer *w, const char *path, int64_t start,
                                      int64_t count, const float *data);
/* Element types for row data sets beyond float32 (labels). */
typedef enum { CASCADE_H5_F32, CASCADE_H5_I32, CASCADE_H5_U8 } cascade_h5_elem;
/* Rows of `type`, optionally compressed (shuffle + deflate 4; collective writes only). */
cascade_status cascade_h5w_create_rows_typed(cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                             cascade_h5_elem type, int compress);
cascade_status cascade_h5w_write_rows_typed(cascade_h5writer *w, const char *path, int64_t start, int64_t count,
                                            const void *data, cascade_h5_elem type);
/* Attributes on an existing object ("/" = root, a group or a data set); groups that do not
 * exist yet are created. Strings are variable-length UTF-8 (h5py reads them as str). */
cascade_status cascade_h5w_attr_int(cascade_h5writer *w, const char *object, const char *name,
                                    int64_t value);
cascade_status cascade_h5w_attr_double(cascade_h5writer *w, const char *object, const char *name,
                                       double value);
cascade_status cascade_h5w_attr_string(cascade_h5writer *w, const char *object, const char *name,
                                       const char *value);
/* A 1-D int64 array attribute of `count` values (h5py reads a numpy array). */
cascade_status cascade_h5w_attr_ints(cascade_h5writer *w, const char *object, const char *name,
                                     const int64_t *values, int64_t count);
/* Flushes and closes, fsyncs, renames PATH.tmp -> PATH (rank 0), frees w (also on error). */
cascade_status cascade_h5w_commit(cascade_h5writer *w);
/* Closes and removes PATH.tmp, frees w. For error paths; NULL is ignored. */
void cascade_h5w_abort(cascade_h5writer *w);
const char *cascade_h5w_filename(const cascade_h5writer *w); /* the .tmp being written */

/* ---- checkpoints (CONTRACT.md "Checkpoint") ---- */
#define CASCADE_CKPT_FORMAT "cascade-checkpoint"
#define CASCADE_CKPT_VERSION 1
/* uint32 attribute of every data set: CRC-32C of its float32 little-endian bytes (docs/hdf5.md) */
#define CASCADE_CKPT_CRC_ATTR "crc32c"

typedef struct {
    int64_t version, step, epoch, samples_seen, world_size, seed;
    char *job; /* full INI text; allocated by the reader (cascade_ckpt_meta_free) */
} cascade_ckpt_meta;

/* Creates `dir` if missing (RUNDIR/checkpoints) and starts dir/name.tmp (name like
 * "step-00000500.h5"). Write with the cascade_h5w_* calls, then finish. */
cascade_status cascade_ckpt_begin(const char *dir, const char *name, MPI_Comm comm,
                                  cascade_h5writer **out);
/* Root attributes: format, version (set here), step, epoch, samples_seen, world_size, seed, job. */
cascade_status cascade_ckpt_write_meta(cascade_h5writer *w, const cascade_ckpt_meta *meta);
/* Commit (close, fsync, rename), then LATEST atomically (LATEST.tmp, fsync, rename, fsync of
 * the directory) names the file. Frees w. */
cascade_status cascade_ckpt_finish(cascade_h5writer *w);
/* Names checkpoint `name` (already finished) in dir/BEST, atomically; collective. */
cascade_status cascade_ckpt_mark_best(const char *dir, const char *name, MPI_Comm comm);
/* Deletes complete step-*.h5 older than the newest `keep` (by step number), never the ones
 * LATEST and BEST name, and stale step-*.h5.tmp / LATEST.tmp / BEST.tmp from interrupted
 * writes. keep <= 0 keeps all complete files. Rank 0 acts, all ranks return its status. */
cascade_status cascade_ckpt_keep_last(const char *dir, int keep, MPI_Comm comm);

/* A checkpoint file, a RUNDIR (-> RUNDIR/checkpoints/LATEST), a checkpoints dir (-> dir/LATEST)
 * or a LATEST / BEST file (-> the checkpoint it names, beside it), resolved to a file path. Local. */
cascade_status cascade_ckpt_resolve(const char *file_or_dir, char *path, size_t cap);
/* Resolves and verifies (cascade_ckpt_select without fallback), then opens read-only. */
cascade_status cascade_ckpt_open(const char *file_or_dir, MPI_Comm comm, cascade_h5file **out);
/* Resolves file_or_dir (as cascade_ckpt_resolve) and verifies the checkpoint on rank 0 before
 * libhdf5 parses it: its size and CRC-32C against the record LATEST / BEST keep, then every data
 * set's crc32c attribute and finiteness. A damaged file is CASCADE_EDATA naming it; with
 * `fallback` (--resume auto) the newest intact older step-*.h5 beside it is chosen instead,
 * with a warning naming the damaged one and why. The chosen file's path on every rank. */
cascade_status cascade_ckpt_select(const char *file_or_dir, int fallback, MPI_Comm comm, char *path, size_t cap);
/* Opens a path cascade_ckpt_select returned (verified already) read-only. */
cascade_status cascade_ckpt_open_selected(const char *path, MPI_Comm comm, cascade_h5file **out);
/* An integer attribute that must lie in [lo, hi]: CASCADE_EDATA naming the attribute otherwise. */
cascade_status cascade_ckpt_attr_int_in(cascade_h5file *f, const char *object, const char *name, int64_t lo,
                                        int64_t hi, int64_t *value);
/* Reads the root attributes; CASCADE_EDATA when the file is not a cascade checkpoint (e.g.
 * parameters written from a PyTorch state_dict: use those with --init) or of another version. */
cascade_status cascade_ckpt_read_meta(cascade_h5file *f, cascade_ckpt_meta *meta);
void cascade_ckpt_meta_free(cascade_ckpt_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
