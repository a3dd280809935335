/* Training/evaluation data in memory: the job's `inputs` stacked into x (channels: a new
 * axis 1; features: concatenated on the last axis) and its `targets` flattened and
 * concatenated per sample into y. Checked up front: shapes, lengths, finiteness. */
#ifndef CASCADE_TRAIN_DATA_H
#define CASCADE_TRAIN_DATA_H

#include <mpi.h>

#include "cascade/job.h"

typedef struct {
    char file[CASCADE_PATH_MAX];
    int64_t n;               /* samples */
    cascade_shape x_shape;   /* per sample */
    float *x;                /* (n, x_shape) */
    cascade_shape y_shape;   /* per sample; (T) for vector targets, label grid for ce */
    float *y;                /* (n, y_shape) or NULL */
    int n_inputs;
    int64_t in_numel[CASCADE_MAX_NAMES]; /* per-sample elements of each input data set */
    int n_stats;                         /* channels (channels layout) or features */
    int stat_owner[256];                 /* which input each channel/feature belongs to */
} cascade_dataset;

/* Per channel (channels layout) or per feature (features layout) mean and std. */
typedef struct {
    int n;
    double mean[256], std[256];
} cascade_norm_stats;

/* Loads inputs (and targets when want_targets) of `path` under the job's [data] mapping.
 * rows/n_rows: a subset of sample indices (sorted), or NULL for all. */
cascade_status cascade_data_load(const cascade_job *job, const char *path, int want_targets,
                                 const int64_t *rows, int64_t n_rows, MPI_Comm comm,
                                 cascade_dataset *d);
void cascade_data_free(cascade_dataset *d);
/* Number of samples in `path` (length of the first input), checking all listed data sets
 * have the same length. */
cascade_status cascade_data_count(const cascade_job *job, const char *path, int want_targets,
                                  MPI_Comm comm, int64_t *n);
/* valid_fraction split of the training file: a Philox permutation keyed by the job seed;
 * *rows (malloc'd) holds the n_train training rows then the n_valid validation rows, each
 * sorted. Rank-independent. */
cascade_status cascade_data_split(const cascade_job *job, MPI_Comm comm, int64_t **rows, int64_t *n_train,
                                  int64_t *n_valid);
cascade_status cascade_norm_compute(const cascade_job *job, const cascade_dataset *d,
                                    cascade_norm_stats *s);
void cascade_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d);
/* Copies samples idx[0..m) into x (m, x_shape) and y (m, y_shape). */
void cascade_data_gather(const cascade_dataset *d, const int64_t *idx, int m, float *x, float *y);

#endif
