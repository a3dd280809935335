/* Reading rows of contiguous float32 data sets with pread(), on this thread or on a
 * background thread (streaming prefetch, stream.c). The thread makes no HDF5 or MPI call:
 * HDF5 is not thread-safe here, and MPI would need MPI_THREAD_MULTIPLE. It writes only the
 * segments and reads only its own file descriptor, so the main thread may meanwhile compute,
 * validate and write checkpoints; it is waited for before its rows are used and at close. */
#ifndef CASCADE_DATA_PREFETCH_H
#define CASCADE_DATA_PREFETCH_H

#include <pthread.h>

#include "cascade/core.h"
#include "cascade/job.h"

#define CASCADE_PREFETCH_SETS (2 * CASCADE_MAX_NAMES)

typedef struct {
    int fd;
    int n_sets;
    int64_t offset[CASCADE_PREFETCH_SETS], row_bytes[CASCADE_PREFETCH_SETS];
    float *seg[CASCADE_PREFETCH_SETS]; /* (rows, row_bytes / 4) each: where rows go (not owned) */
    const int64_t *rows;               /* the read: increasing file rows */
    int64_t n;
    int err, err_set;                  /* its failure: errno (-1: end of file) and data set */
    int64_t err_row;
    int threaded, busy, quit;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} cascade_prefetch;

/* Opens `path` for reading (data sets added by the caller: offset, row_bytes, seg, n_sets);
 * `threaded`: start the background thread (signals blocked in it). */
cascade_status cascade_prefetch_open(cascade_prefetch *p, const char *path, int threaded);
/* Reads rows[0..n) of every data set into its segment: now, or started in the background
 * (rows must stay valid until cascade_prefetch_wait). */
void cascade_prefetch_read(cascade_prefetch *p, const int64_t *rows, int64_t n);
void cascade_prefetch_start(cascade_prefetch *p, const int64_t *rows, int64_t n);
void cascade_prefetch_wait(cascade_prefetch *p);
/* The last read's outcome; names[i] names data set i in the message. */
cascade_status cascade_prefetch_status(const cascade_prefetch *p, const char *path, const char *const *names);
/* Waits for a running read, ends the thread, closes the file. */
void cascade_prefetch_close(cascade_prefetch *p);

#endif
