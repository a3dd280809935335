/* Internals shared by the HDF5 layer (src/io): error capture, rank agreement, selections. */
#ifndef CASCADE_IO_H5UTIL_H
#define CASCADE_IO_H5UTIL_H

#include <hdf5.h>
#include <limits.h>

#include "cascade/h5io.h"
#include "io/fsops.h"

struct cascade_h5file {
    hid_t id;
    MPI_Comm comm;
    int rank, size;
    char path[PATH_MAX];
};

struct cascade_h5writer {
    hid_t id;
    MPI_Comm comm;
    int rank, size;
    char path[PATH_MAX];    /* final name */
    char tmp[PATH_MAX + 8]; /* being written: path + ".tmp" */
    int checksums;          /* data sets get attribute crc32c (checkpoints) */
};

/* ---- checkpoint checksums (ckpt_verify.c, docs/hdf5.md "Checksums") ---- */
#define CKPT_MAX_RECORDS 64 /* file records kept in LATEST */
typedef struct {
    char name[256]; /* file name in the checkpoints directory */
    int64_t size;
    uint32_t crc; /* CRC-32C of the whole file */
} ckpt_record;
/* Size and CRC-32C of the file at path (read through once). Local. */
cascade_status ckpt_file_record(const char *path, ckpt_record *r);
/* The records after the first line of a LATEST / BEST file (none when missing); at most cap. */
int ckpt_read_records(const char *pointer_path, ckpt_record *recs, int cap);
/* dir/pointer = "NAME\nNAME size=S crc32c=C\n" + (LATEST) the records of LATEST's other files
 * that still exist, atomically. Local (rank 0). */
cascade_status ckpt_write_pointer(const char *dir, const char *pointer, const ckpt_record *rec);
/* The record of checkpoint `path` in LATEST, else BEST, beside it; 0 when neither lists it. */
int ckpt_find_record(const char *path, ckpt_record *out);
/* Local: size and CRC against `expected` (may be NULL) before libhdf5 sees the file, then every
 * data set's crc32c attribute and finiteness. CASCADE_EDATA naming the file and data set. */
cascade_status ckpt_verify_local(const char *path, const ckpt_record *expected);

/* Turns HDF5's automatic error printing off (once). Every entry point calls it. */
void h5_quiet(void);
/* The innermost description on HDF5's error stack ("truncated file: eof = ..."), then clears
 * the stack. "" when the stack is empty. */
const char *h5_detail(char *buf, size_t cap);
/* cascade_fail(code, "FILE: WHAT (HDF5: detail)") for a failed HDF5 call. */
cascade_status h5_fail(cascade_status code, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* File access list for the MPI-IO driver on comm; H5I_INVALID_HID (message set) on error. */
hid_t h5_fapl(MPI_Comm comm, const char *file);
/* Opens `path` read-only with the MPI-IO driver on comm; with `alike` (H5_READ_ALIKE) for
 * reading alike on every rank (the same objects in the same order, so that metadata is read
 * by one rank and broadcast). Files are created by the writer (writer.c). Collective; status
 * agreed; a truncated file gets its own message. */
#define H5_READ_ALIKE 2
cascade_status h5_file_open(const char *path, MPI_Comm comm, int alike, hid_t *id);
/* MPI_Comm_rank and _size, checked. */
cascade_status h5_comm_info(MPI_Comm comm, const char *path, int *rank, int *size);
/* Transfer list for collective I/O; H5I_INVALID_HID (message set) on error. */
hid_t h5_dxpl_collective(const char *file);

/* cascade_shape of a data space; CASCADE_EDATA when the rank exceeds CASCADE_MAX_DIMS. */
cascade_status h5_space_shape(hid_t space, const char *file, const char *name, cascade_shape *out);
/* Selects the flat (row-major) element range [offset, offset+count) of `space` with shape
 * `shape` as a union of at most 2*ndim-1 hyperslabs; count 0 selects none. */
cascade_status h5_select_flat(hid_t space, const cascade_shape *shape, int64_t offset,
                              int64_t count, const char *file, const char *name);
/* The collective step of every read and write: this rank's selection in fspace (n floats
 * from/to buf), statuses agreed, one H5Dread/H5Dwrite by every rank, agreed again. `st` is
 * this rank's status so far: when any rank failed, none transfers. Closes fspace and dset. */
cascade_status h5_transfer(MPI_Comm comm, const char *file, const char *name, const cascade_shape *shape,
                           hid_t dset, hid_t fspace, int64_t n, int write, void *buf, cascade_status st);
/* Same with an explicit memory type (int32, uint8 rows). */
cascade_status h5_transfer_typed(MPI_Comm comm, const char *file, const char *name, const cascade_shape *shape,
                                 hid_t dset, hid_t fspace, int64_t n, int write, void *buf, hid_t mem_type,
                                 cascade_status st);
/* A 1-D memory space of n elements (n may be 0: one element, nothing selected). */
hid_t h5_mem_space(int64_t n);

/* Lists the names in `group` ("/" root) into out (sorted by name). */
cascade_status h5_list_links(hid_t file, const char *group, const char *filename,
                             cascade_h5_names *out);
/* "a, b, c" (at most `max` names, then ", ..."), or "nothing". */
char *h5_names_joined(const cascade_h5_names *names, int max, char *buf, size_t cap);
/* Missing object `path` in file: CASCADE_EDATA naming it and what its parent group holds. */
cascade_status h5_missing(hid_t file, const char *filename, const char *path, const char *what);
/* 1 when every component of `path` exists (H5Lexists walked down); 0 otherwise. */
int h5_path_exists(hid_t file, const char *path);

/* Variable-length UTF-8 string type (H5Tclose it). */
hid_t h5_vlen_string_type(void);

#endif
