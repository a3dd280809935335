/* Inference from C (CONTRACT.md "Inference from C", docs/inference.md): a trained supervised or
 * autoencoder model opened from its run directory or a checkpoint, applied to raw samples in
 * memory. The run's preprocessing is applied inside (log_inputs, normalize), the outputs come
 * back as `cascade predict` writes them (normalize_targets undone: physical units; logits for
 * classification; an autoencoder's reconstruction). No MPI: the caller need not initialise
 * it, and the library makes no MPI call on this path (HDF5 through POSIX I/O). */
#ifndef CASCADE_MODEL_H
#define CASCADE_MODEL_H

#include <stdint.h>

#include "cascade/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cascade_model cascade_model;

/* Opens RUNDIR (its checkpoints/LATEST, as `cascade predict RUNDIR` does), RUNDIR/checkpoints/
 * BEST or LATEST, or a checkpoint file; *m is NULL on error. The message (cascade_errmsg())
 * names the file and data set: missing run, no complete checkpoint, not a checkpoint, a GAN
 * run, a missing parameter. Thread-safe (opens are serialised: HDF5 is not thread-safe). */
cascade_status cascade_model_open(const char *run_or_checkpoint, cascade_model **m);
/* The job's inputs, in the order cascade_model_predict takes them. */
int cascade_model_input_count(const cascade_model *m);
/* Data-set name of input i (as in the data file); NULL when i is out of range. */
const char *cascade_model_input_name(const cascade_model *m, int i);
/* Per-sample shape of input i as stored in the data file (without the sample axis); ndim 0
 * (one value per sample) also when i is out of range. */
cascade_shape cascade_model_input_shape(const cascade_model *m, int i);
/* Per-sample shape of the output. */
cascade_shape cascade_model_output_shape(const cascade_model *m);
/* n samples: inputs[i] holds n x numel(input shape i) floats, raw as in the data file;
 * output receives n x numel(output shape) floats. Bitwise what `cascade predict` writes for
 * the same samples when they are passed in the file's order starting at a multiple of the
 * job's micro_batch (the batches the model runs on are then the same; otherwise the same
 * within float rounding). No allocation; NaN/Inf or (log_inputs) negative inputs are
 * CASCADE_EDATA naming the input and sample. One model per thread: a model may not be used
 * by two threads at once; separate models may. */
cascade_status cascade_model_predict(cascade_model *m, int64_t n, const float *const *inputs, float *output);
/* NULL is ignored. */
void cascade_model_close(cascade_model *m);

#ifdef __cplusplus
}
#endif
#endif
