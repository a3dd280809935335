/* Adversarial jobs (kind = gan | wgan | wgan-gp | refiner): the samples the critic judges, the
 * nets, the noise, and the checkpoint image (/gan) that generate, refine and evaluate read back. */
#ifndef CASCADE_TRAIN_GAN_H
#define CASCADE_TRAIN_GAN_H

#include "parallel/parallel.h"
#include "train/model.h"
#include "train/train.h"

/* What the critic judges: one stacked x (n = 1), or with [gan] outputs one tensor per input
 * (each loaded as in the channels layout: (1, ...) per sample), numel and offsets per tensor. */
typedef struct {
    int n;
    cascade_shape shape[CASCADE_MAX_NAMES];
    int64_t numel[CASCADE_MAX_NAMES], off[CASCADE_MAX_NAMES], total;
} cascade_gan_x;

/* The job seen as reading input k alone (the tensors of a job with outputs: channels layout,
 * its own log_inputs), or all inputs stacked (k < 0); the conditions come as the data's
 * targets (y), with input 0. */
void cascade_gan_input_view(const cascade_job *job, int k, cascade_job *view);
/* The critic is trained with the gradient penalty (wgan-gp, and a refiner's default critic). */
int cascade_gan_uses_penalty(const cascade_job *job);
/* Logistic (BCE on logits) losses: gan, and a refiner's bce (patch) critic; else Wasserstein. */
int cascade_gan_uses_bce(const cascade_job *job);
/* Fills numel, off and total from n and shape. */
void cascade_gan_x_sizes(cascade_gan_x *gx);
/* Batches of x are input-major (tensor k of m samples at batch + m * off[k]); rows are one
 * sample [t0 | t1 | ...] (the history buffer, refined files). Sample i of a batch of m to a
 * row, and back. For one stacked x both are the sample's xs floats. */
void cascade_gan_x_row(const cascade_gan_x *gx, const float *batch, int m, int i, float *row);
void cascade_gan_x_put_row(const cascade_gan_x *gx, const float *row, float *batch, int m, int i);
/* Builds the generator (external inputs z (latent), c; a refiner's x) and the critic (x — or,
 * with outputs, each input by its name — and c) for samples gx and conditions c_shape (NULL:
 * none); gen_out[k]: the generator layer producing tensor k (its activation node if any).
 * Checks every output's shape, the critic's single score, and (wgan-gp) that every critic
 * layer has a double backward. Errors name the net, the layer and the shapes. */
cascade_status cascade_gan_build(cascade_job *job, const cascade_gan_x *gx, const cascade_shape *c_shape,
                                 cascade_net *gen, cascade_net *critic, int *gen_out);
/* z ~ N(0, 1) for global-batch positions [first, first + m): Philox (seed, CASCADE_RNG_GAN_Z)
 * at counter (counter, position << 24 | pair), so the draws never depend on the rank. */
void cascade_gan_noise(uint64_t seed, uint64_t counter, int64_t first, int m, int64_t zs, float *z);
/* /gan in a checkpoint: how x splits into the job's inputs (per-input features along the
 * last axis for layout = features; one channel each for channels), for `cascade generate`. */
cascade_status cascade_gan_write_layout(cascade_h5writer *w, int rank, const cascade_job *job,
                                        const cascade_dataset *d, const cascade_gan_x *gx);

/* Reads /gan back as a sample-less data set description (x_shape, stat_start). */
cascade_status cascade_gan_read_layout(cascade_h5file *f, const cascade_job *job, cascade_dataset *d);
/* x (n, x_shape) from training units back to the data's: normalisation, then log_inputs. */
void cascade_gan_to_physical(const cascade_job *job, const cascade_dataset *layout, const cascade_norm_stats *norm,
                             float *x, int64_t n);
/* Which tensors the critic judged (/gan/input_shapes, else one stacked x of layout's
 * x_shape); for several, layout becomes one normalisation statistic per input. */
cascade_status cascade_gan_read_tensors(cascade_h5file *f, const cascade_job *job, cascade_dataset *layout,
                                        cascade_gan_x *gx);
/* Several tensors (x (n, rows [t0 | t1 | ...])): normalisation statistic k and log_inputs of
 * input k undone in place. */
void cascade_gan_tensors_to_physical(const cascade_job *job, const cascade_gan_x *gx, const cascade_norm_stats *norm,
                                     float *x, int64_t n);
#endif
