/* Training/evaluation data in memory: the job's `inputs` stacked into x (channels: a new
 * axis 1; features: concatenated on the last axis) and its `targets` flattened and
 * concatenated per sample into y. Checked up front: shapes, lengths, finiteness. */
#ifndef CASCADE_DATA_DATA_H
#define CASCADE_DATA_DATA_H

#include <mpi.h>

#include "cascade/h5io.h"
#include "cascade/job.h"
#include "parallel/parallel.h"

typedef struct {
    char file[CASCADE_PATH_MAX];
    int64_t n;               /* samples */
    cascade_shape x_shape;   /* per sample */
    float *x;                /* (n, x_shape) */
    cascade_shape y_shape;   /* per sample; (T) for vector targets, label grid for ce */
    float *y;                /* (n, y_shape) or NULL */
    int n_inputs;
    int64_t in_numel[CASCADE_MAX_NAMES]; /* per-sample elements of each input data set */
    int64_t n_stats;                     /* channels (channels layout) or features */
    int64_t stat_start[CASCADE_MAX_NAMES + 1]; /* input i owns statistics [stat_start[i], stat_start[i+1]) */
    cascade_shmem mem; /* loaded sets: x then y in one block, one copy per node when mem.shared
                        * (then read-only but for cascade_data_norm_apply / _tnorm_apply) */
} cascade_dataset;

/* Per channel (channels layout) or per feature (features layout) mean and std. */
typedef struct {
    int64_t n;
    double *mean, *std; /* owned (cascade_norm_init / cascade_norm_free) */
} cascade_norm_stats;

cascade_status cascade_norm_init(cascade_norm_stats *s, int64_t n);
void cascade_norm_free(cascade_norm_stats *s);

/* A data file opened for reading samples under the job's [data] mapping (streaming input).
 * `shape` describes the samples (n unset, x/y NULL). */
typedef struct {
    cascade_h5file *f;
    cascade_h5_info in[CASCADE_MAX_NAMES], tg[CASCADE_MAX_NAMES];
    int want_targets;
    int64_t total;     /* rows in the file */
    int64_t max_numel; /* largest per-sample size of one data set: tmp needs n * max_numel floats */
    cascade_dataset shape;
} cascade_source;

cascade_status cascade_source_open(const cascade_job *job, const char *path, int want_targets, MPI_Comm comm,
                                   cascade_source *src);
void cascade_source_close(cascade_source *src);
/* Rows (strictly increasing file rows, or NULL for [first, first + n)) stacked into x
 * (n, x_shape) and y (n, y_shape). Collective over the file's communicator (n may differ per
 * rank, also 0); checks finiteness. */
cascade_status cascade_source_read(const cascade_job *job, cascade_source *src, const int64_t *rows, int64_t first,
                                   int64_t n, float *x, float *y, float *tmp);

/* Loads inputs (and targets when want_targets) of `path` under the job's [data] mapping.
 * rows/n_rows: a subset of sample indices (sorted), or NULL for all. */
cascade_status cascade_data_load(const cascade_job *job, const char *path, int want_targets,
                                 const int64_t *rows, int64_t n_rows, MPI_Comm comm,
                                 cascade_dataset *d);
/* The same from an open source, one copy per node when `node` is given (NULL: this rank's
 * own copy): each rank of a node reads its block of the rows into the node's copy
 * (collective read over the file's communicator `comm`, agreed over it). */
cascade_status cascade_data_load_from(const cascade_job *job, cascade_source *src, const int64_t *rows, int64_t n_rows,
                                      MPI_Comm comm, const cascade_topo *node, cascade_dataset *d);
/* Collective over the node when d is shared. */
void cascade_data_free(cascade_dataset *d);
/* The in-place transforms of a loaded set, once per copy: on a node-shared set each rank of the
 * node transforms its block of rows between two node synchronisations (the first so that no
 * rank still reads what another rewrites). Collective over the node when shared. */
cascade_status cascade_data_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d);
cascade_status cascade_data_tnorm_apply(const cascade_norm_stats *s, cascade_dataset *d);
/* Number of samples in `path` (length of the first input), checking all listed data sets
 * have the same length. */
cascade_status cascade_data_count(const cascade_job *job, const char *path, int want_targets,
                                  MPI_Comm comm, int64_t *n);
/* valid_fraction split of the training file: a Philox permutation keyed by the job seed;
 * *rows (malloc'd) holds the n_train training rows then the n_valid validation rows, each
 * sorted. Rank-independent. */
cascade_status cascade_data_split(const cascade_job *job, MPI_Comm comm, int64_t **rows, int64_t *n_train,
                                  int64_t *n_valid);
/* The same split of the n samples of an already opened training file (no file access). */
cascade_status cascade_data_split_n(const cascade_job *job, int64_t n, int64_t **rows, int64_t *n_train,
                                    int64_t *n_valid);
/* Sum of the values (squares = 0) or of squared deviations from `mean` (squares = 1) of
 * channel/feature k over all samples of d, and their count. */
void cascade_norm_sums(const cascade_job *job, const cascade_dataset *d, int64_t k, double mean, int squares,
                       double *sum, double *count);
cascade_status cascade_norm_compute(const cascade_job *job, const cascade_dataset *d,
                                    cascade_norm_stats *s);
void cascade_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d);
/* Target standardisation (normalize_targets): per target column over the training set. */
cascade_status cascade_tnorm_compute(const cascade_dataset *d, cascade_norm_stats *s);
/* y (n samples of s->n values): standardise, or back to physical units when inverse. */
void cascade_tnorm_apply(const cascade_norm_stats *s, float *y, int64_t n, int inverse);
/* Copies samples idx[0..m) into x (m, x_shape) and y (m, y_shape). */
void cascade_data_gather(const cascade_dataset *d, const int64_t *idx, int m, float *x, float *y);

#endif
