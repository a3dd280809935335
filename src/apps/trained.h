/* A trained model read back from a checkpoint (or run directory) and bound to a data file:
 * the job it was trained with, its net with parameters and statistics, the normalisation
 * applied to the data. Shared by `evaluate` and `predict`. */
#ifndef CASCADE_APPS_TRAINED_H
#define CASCADE_APPS_TRAINED_H

#include "train/model.h"

typedef struct {
    cascade_h5file *f;
    cascade_ckpt_meta meta;
    cascade_job job;
    cascade_dataset d;         /* the data, normalised as in training */
    cascade_net net;
    cascade_norm_stats norm, tnorm;
    int64_t classes, out_numel;
    int has_targets;
    int64_t lo, hi;            /* this rank's rows of d (cascade_eval_rows) */
    float *xb, *preds;         /* preds: this rank's rows (hi - lo, out) after cascade_trained_run */
    double loss;               /* mean loss in training units (NaN without targets) */
} cascade_trained;

/* Opens the checkpoint (file or run directory: cascade_ckpt_open) and reads its metadata and
 * job, which must be supervised or autoencoder. The caller frees all three (also on error). */
cascade_status cascade_trained_job(const char *ckpt, MPI_Comm comm, cascade_h5file **f, cascade_ckpt_meta *meta,
                                   cascade_job *job);
/* The job's net built on inputs of layout d (x_shape, statistics), its parameters, the input
 * normalisation (normalize = standard) and target normalisation (normalize_targets = standard)
 * read from f, prepared for batches of micro_batch. Shared by predict and cascade/model.h. */
cascade_status cascade_trained_net(cascade_h5file *f, cascade_job *job, const cascade_dataset *d, cascade_net *net,
                                   cascade_norm_stats *norm, cascade_norm_stats *tnorm, int64_t *classes,
                                   int64_t *out_numel);
/* Opens the checkpoint, reads its job, loads `data` (NULL: the run's validation data; the
 * held-out split for valid_fraction) with targets when want_targets (2: only if the file has
 * them all), builds the net, reads parameters and normalisation. */
cascade_status cascade_trained_open(cascade_trained *t, const char *ckpt, const char *data, int want_targets,
                                    MPI_Comm comm);
/* Runs the model over this rank's rows (nothing is gathered) and the mean loss over all
 * ranks' rows, then turns outputs and targets back into physical units (normalize_targets).
 * Collective. */
cascade_status cascade_trained_run(cascade_trained *t, MPI_Comm comm);
void cascade_trained_close(cascade_trained *t);
/* What the outputs are compared with: the targets, or x for an autoencoder — this rank's
 * rows (hi - lo). */
const float *cascade_trained_targets(const cascade_trained *t);
/* Per-sample loss (mean over the sample's terms, the job's loss): the anomaly score of an
 * autoencoder (reconstruction error), of this rank's rows: score holds hi - lo floats.
 * Needs cascade_trained_run. */
void cascade_trained_scores(const cascade_trained *t, float *score);

/* Copies data set `name` of `in` into w (float32, or int32 for integer data sets), written by
 * rank 0 (rank > 0: nothing but the collective calls). */
cascade_status cascade_copy_dataset(cascade_h5file *in, cascade_h5writer *w, const char *name, int rank);
/* The same, every rank reading and writing its block of the rows (cascade_par_block): the
 * file holds the same whatever the rank count. Collective. */
cascade_status cascade_copy_dataset_blocks(cascade_h5file *in, cascade_h5writer *w, const char *name, MPI_Comm comm);

#endif
