/* Helpers for the HDF5-layer tests (test_h5io, test_h5ckpt), which run alone or under
 * mpirun: MPI + CUnit set-up, a temp dir shared by the ranks, serial fixture writing,
 * and error checks that look at the code and at the message. */
#ifndef CASCADE_TEST_TIO_H
#define CASCADE_TEST_TIO_H

#include <hdf5.h>
#include <mpi.h>

#include "cascade/core.h"

#define TIO_PATH 4096
#define TIO_DIR_MAX 2048

extern int tio_rank, tio_size;
extern char tio_dir[TIO_DIR_MAX]; /* $CASCADE_BUILD_DIR/tmp/NAME-nSIZE-PID, same on all ranks */

/* MPI_Init, CUnit registry, temp dir. */
void tio_init(int *argc, char ***argv, const char *name);
/* Runs the registry (verbose on rank 0, failures only elsewhere), sums failures over the
 * ranks, removes the temp dir when all passed, MPI_Finalize. Returns the exit code. */
int tio_run(void);

/* CUnit check that `st` is `code` and the message holds every string of the NULL-terminated
 * list; prints the message when not. */
#define tio_expect(st, code, ...) tio_expect_at(__FILE__, __LINE__, (st), (code), __VA_ARGS__)
void tio_expect_at(const char *file, int line, cascade_status st, cascade_status code, ...);

/* Serial fixture writing (call on one rank). ndim 0 = scalar. */
void tio_dataset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int ndim,
                 const hsize_t *dims, const void *data);
void tio_attr(hid_t loc, const char *name, hid_t type, int ndim, const hsize_t *dims, const void *data);
void tio_write_text(const char *path, const char *text);
/* Copies the first fraction of src to dst (fraction 1 = whole file). */
void tio_copy_truncated(const char *src, const char *dst, double fraction);
/* Reads a small text file into buf ("" when missing). */
void tio_read_text(const char *path, char *buf, size_t cap);
/* Runs a Python snippet ($CASCADE_PYTHON, default /usr/bin/python3) on rank 0 with the
 * temp dir as argv[1]; returns its exit status on every rank. */
int tio_python(const char *code);

#endif
