/* Wiring shared by train, evaluate and predict: a job's net built on its data shapes, and
 * the checkpoint image of nets, optimizers and normalisation. */
#ifndef CASCADE_TRAIN_MODEL_H
#define CASCADE_TRAIN_MODEL_H

#include <mpi.h>

#include "cascade/h5io.h"
#include "cascade/job.h"
#include "cascade/optim.h"
#include "nn/graph.h"
#include "data/data.h"

/* Builds net `net_name` of the job with external input x of per-sample shape x_shape. */
cascade_status cascade_model_build(cascade_job *job, const char *net_name, const cascade_shape *x_shape,
                                   cascade_net *net);
/* Same with named external inputs (gan: generator z, c; critic x, c); the first is the
 * default input of the net's first layer. */
cascade_status cascade_model_build_ext(cascade_job *job, const char *net_name, int n_ext, const char *const *ext,
                                       const cascade_shape *ext_shapes, cascade_net *net);
/* Checks that the net output fits the targets under the job's loss; error names both shapes. */
cascade_status cascade_model_check_targets(const cascade_job *job, const cascade_net *net,
                                           const cascade_dataset *d);
/* Number of classes for ce (channels of the output), 0 otherwise. */
int64_t cascade_model_classes(const cascade_job *job, const cascade_net *net);
/* Validates ce labels (integers in [0, classes)); error names file, data set and row. */
cascade_status cascade_model_check_labels(const cascade_job *job, const cascade_dataset *d, int64_t classes);
/* Same, naming file_rows[i] (the sample's row in the file, e.g. of a valid_fraction split) for sample i. */
cascade_status cascade_model_check_labels_at(const cascade_job *job, const cascade_dataset *d, int64_t classes,
                                             const int64_t *file_rows);

typedef struct {
    int64_t step, epoch, cursor, samples_seen;
    /* early stopping: the lowest validation loss so far (INFINITY before the first), the step
     * of its checkpoint, validations since it */
    double best_valid_loss;
    int64_t best_valid_step, stale_validations;
} cascade_progress;

/* Writes /params, /optimizer (if opt), /normalization and /data for one net; collective on the
 * writer's comm. Every rank writes the tensors' parts in its block of the flat parameters (its
 * ZeRO-1 shard), so the file is the same whatever the rank count. */
cascade_status cascade_model_write(cascade_h5writer *w, MPI_Comm comm, const cascade_job *job, const cascade_net *net,
                                   const cascade_optimizer *opt, const cascade_norm_stats *norm,
                                   const cascade_dataset *d, const cascade_progress *p);
/* The step and samples_seen of a checkpoint's root attributes, for resuming. */
cascade_status cascade_model_read_counters(cascade_h5file *f, cascade_progress *p);
/* Reads parameters (and buffers when present) of the net from /params/NET/LAYER/PARAM.
 * Missing or mis-shaped parameters are errors naming them. */
cascade_status cascade_model_read_params(cascade_h5file *f, cascade_net *net, int require_buffers);
/* Reads optimizer state, normalisation and progress written by cascade_model_write. */
cascade_status cascade_model_read_state(cascade_h5file *f, const cascade_job *job, const cascade_net *net,
                                        cascade_optimizer *opt, cascade_norm_stats *norm,
                                        const cascade_dataset *d, cascade_progress *p);

/* Target standardisation (normalize_targets) in /normalization_targets/{mean,std}. */
cascade_status cascade_model_write_tnorm(cascade_h5writer *w, MPI_Comm comm, const cascade_norm_stats *t);
/* A float array equal on every rank, each rank writing its block of the values. Collective. */
cascade_status cascade_model_write_blocks(cascade_h5writer *w, MPI_Comm comm, const char *path,
                                          const cascade_shape *shape, const float *data);
cascade_status cascade_model_read_tnorm(cascade_h5file *f, int64_t columns, cascade_norm_stats *t);

/* This rank's rows [lo, hi) of an evaluation of n samples in chunks of `chunk`
 * (cascade_par_chunk_rows: contiguous blocks in rank order, every sample in the same chunk
 * whatever the rank count). Not collective. */
void cascade_eval_rows(int64_t n, int chunk, MPI_Comm comm, int64_t *lo, int64_t *hi);
/* Eval-mode outputs of layer `layer` (-1: the net output) of m samples xb (m, input shape;
 * m <= the net's prepared batch) into out (m, layer's output shape). */
void cascade_model_forward(cascade_net *net, const float *xb, int m, int layer, float *out);
/* Eval-mode outputs of layer `layer` (-1: the net output) for this rank's rows [lo, hi) of d
 * (cascade_eval_rows) into out ((hi - lo) rows). Nothing is gathered; not collective. */
cascade_status cascade_run_dataset(cascade_net *net, const cascade_dataset *d, int chunk, float *xb, int layer,
                                   float *out, MPI_Comm comm);
/* Eval-mode outputs of `net` for this rank's rows of d into preds ((hi - lo), out) and the
 * mean loss over all ranks' rows into *loss (NaN without targets): per-sample sums added
 * exactly over the ranks, so the same bits for any rank count. Collective. */
cascade_status cascade_predict_dataset(const cascade_job *job, cascade_net *net, const cascade_dataset *d, int chunk,
                                       float *xb, float *preds, int64_t classes, MPI_Comm comm, double *loss);

#endif
