/* Training/evaluation data in memory: the job's `inputs` stacked into x (channels: a new
 * axis 1; features: concatenated on the last axis) and its `targets` flattened and
 * concatenated per sample into y. Checked up front: shapes, lengths, finiteness. */
#ifndef CASCADE_DATA_DATA_H
#define CASCADE_DATA_DATA_H

#include <mpi.h>
#include <signal.h>

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
    cascade_shape in_shape[CASCADE_MAX_NAMES]; /* per-sample shape of each input as stored */
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
/* A source without a file (f NULL): the layout of inputs of per-sample shapes in_shapes (the
 * job's inputs in order), for stacking samples from memory (the inference API). `label`
 * stands for the file in errors. */
cascade_status cascade_source_layout(const cascade_job *job, const char *label, const cascade_shape *in_shapes,
                                     cascade_source *src);
/* Rows (strictly increasing file rows, or NULL for [first, first + n)) stacked into x
 * (n, x_shape) and y (n, y_shape). Collective over the file's communicator (n may differ per
 * rank, also 0); checks finiteness. */
cascade_status cascade_source_read(const cascade_job *job, cascade_source *src, const int64_t *rows, int64_t first,
                                   int64_t n, float *x, float *y, float *tmp);

/* log_inputs on input `input`'s n samples v (n, numel) of rows `rows` (or first + i): x ->
 * log10(1 + x); a negative value is a data error naming its row. */
cascade_status cascade_source_log_input(const cascade_job *job, int input, const cascade_source *src, const int64_t *rows,
                                       int64_t first, int64_t n, int64_t numel, float *v);
/* Input i's n samples v (n, per-sample elements) into x (n, x_shape): its channel block
 * (channels layout) or its features at *off, which advances (features layout). */
void cascade_source_stack_input(const cascade_job *job, const cascade_source *src, int i, int64_t n, const float *v,
                                float *x, int64_t *off);
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
/* The flag a signal handler sets to ask for a stop (cli/train.c: SIGTERM, SIGUSR1), polled
 * between the chunks of a load: the ranks agree on it and all return CASCADE_ESTOPPED at the
 * same read (nothing written). NULL (the default): not polled. */
void cascade_data_set_stop_flag(volatile sig_atomic_t *flag);
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
/* Normalisation statistics (norm.c), rank-invariant bitwise: each rank adds the terms of its
 * own block of samples into exact integer accumulators, which are summed over the ranks, so
 * the result is the same bits for any rank and thread count. Two passes: pass 0 sums the
 * values exactly (float significands binned by exponent); pass 1 sums the squared deviations
 * from the mean as fixed-point integers in units of 2^-62 of the largest one (each term
 * truncated on its own, then summed exactly). */
typedef struct {
    int64_t n;       /* statistics */
    int pass;        /* 0, then 1 after the first combine */
    int64_t *bins;   /* (n, CASCADE_NORM_BINS): pass 0 significands by exponent, non-finite, count */
    double *ext;     /* (6 n): pass 0 largest value and minus the smallest, their maxima over ranks, scratch */
    double *mean;    /* (n): after pass 0 */
    double *scale;   /* (n): pass 1, 2^k with every squared deviation x scale < 2^62 */
    uint64_t *sq;    /* (n, 2): pass 1, the 128-bit sum of the scaled squared deviations */
    int64_t *digits; /* (n, 3): sq as 48-bit digits for the sum over ranks */
} cascade_norm_acc;
#define CASCADE_NORM_BINS 257 /* 255 exponents, [255] non-finite terms, [256] the count; exact
                              * up to 2^39 values per statistic */

cascade_status cascade_norm_acc_init(cascade_norm_acc *a, int64_t n);
void cascade_norm_acc_free(cascade_norm_acc *a);
/* Adds the terms of the d->n samples of d: per channel/feature of x, or per column of y. */
void cascade_norm_acc_x(cascade_norm_acc *a, const cascade_job *job, const cascade_dataset *d);
void cascade_norm_acc_y(cascade_norm_acc *a, const cascade_dataset *d);
/* Sums the ranks' terms (collective on comm). After pass 0: the means (pass 1 next); after
 * pass 1: the mean and std rounded to float into s (allocated here). `what` names the data
 * in errors. */
cascade_status cascade_norm_acc_combine(cascade_norm_acc *a, MPI_Comm comm, const char *what,
                                        cascade_norm_stats *s);
/* Per channel/feature statistics over all samples of d (every rank holds all of d; rank r
 * adds block r of the samples). Collective on comm. */
cascade_status cascade_norm_compute(const cascade_job *job, const cascade_dataset *d, MPI_Comm comm,
                                    cascade_norm_stats *s);
void cascade_norm_apply(const cascade_job *job, const cascade_norm_stats *s, cascade_dataset *d);
/* Target standardisation (normalize_targets): per target column over the training set. */
/* Same reduction and collective as cascade_norm_compute. */
cascade_status cascade_tnorm_compute(const cascade_dataset *d, MPI_Comm comm, cascade_norm_stats *s);
/* y (n samples of s->n values): standardise, or back to physical units when inverse. */
void cascade_tnorm_apply(const cascade_norm_stats *s, float *y, int64_t n, int inverse);
/* Copies samples idx[0..m) into x (m, x_shape) and y (m, y_shape). */
void cascade_data_gather(const cascade_dataset *d, const int64_t *idx, int m, float *x, float *y);

#endif
