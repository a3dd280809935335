/* What runs a trained model: evaluate and predict (evaluate.c), generate (generate.c), refine
 * (refine.c); GAN metrics are in gan_eval.h. */
#ifndef CASCADE_APPS_APPS_H
#define CASCADE_APPS_APPS_H

#include <mpi.h>

#include "train/gan.h"

/* Evaluates a trained model (checkpoint or run directory) on `data` (NULL: the job's
 * validation data) and writes metrics JSON to out_json (NULL: stdout). anomaly_label: a 0/1
 * data set of `data` against which the autoencoder's anomaly score gives a ROC AUC. preds_out:
 * also write the outputs as `cascade predict` does (NULL: no). */
cascade_status cascade_evaluate(const char *ckpt, const char *data, const char *out_json, const char *anomaly_label,
                                const char *preds_out, MPI_Comm comm);

/* Writes OUT.h5 with `output` (N, output shape; physical units) and copies of the target
 * data sets when the file has them. */
cascade_status cascade_predict(const char *ckpt, const char *data, const char *out, MPI_Comm comm);

/* cascade refine: the refiner of a kind = refiner run applied to every sample of sim_file;
 * OUT.h5 holds the refined inputs (physical units) and a copy of every other data set and of
 * the root attributes (domain = "refined"). Rank-count invariant. */
cascade_status cascade_refine(const char *ckpt, const char *sim_file, const char *out, MPI_Comm comm);

/* cascade generate: n samples from a trained gan run (checkpoint or run directory) in physical
 * units under the inputs' data-set names, with the conditions of cond_file (its first n rows)
 * copied; z from `seed` and the sample index. Rank-count invariant. */
cascade_status cascade_generate(const char *ckpt, int64_t n, uint64_t seed, int seed_given, const char *cond_file,
                                const char *out, MPI_Comm comm);

/* Input i of x (n, x_shape) as its own data set (n, input shape), named as the input. */
cascade_status cascade_gan_write_input(cascade_h5writer *w, const cascade_job *job, const cascade_dataset *layout,
                                       int i, const float *x, int64_t n, int rank);

/* Tensor k of x (n rows) as data set inputs[k] (n, its shape without the channel axis). */
cascade_status cascade_gan_write_tensor(cascade_h5writer *w, const cascade_job *job, const cascade_gan_x *gx, int k,
                                        const float *x, int64_t n, int rank);

#endif
