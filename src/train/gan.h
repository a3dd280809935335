/* Adversarial jobs (kind = gan | wgan | wgan-gp): training (gan.c) and sampling (generate.c). */
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
/* Input i of x (n, x_shape) as its own data set (n, input shape), named as the input. */
cascade_status cascade_gan_write_input(cascade_h5writer *w, const cascade_job *job, const cascade_dataset *layout,
                                       int i, const float *x, int64_t n, int rank);

/* Which tensors the critic judged (/gan/input_shapes, else one stacked x of layout's
 * x_shape); for several, layout becomes one normalisation statistic per input. */
cascade_status cascade_gan_read_tensors(cascade_h5file *f, const cascade_job *job, cascade_dataset *layout,
                                        cascade_gan_x *gx);
/* Several tensors (x (n, rows [t0 | t1 | ...])): normalisation statistic k and log_inputs of
 * input k undone in place. */
void cascade_gan_tensors_to_physical(const cascade_job *job, const cascade_gan_x *gx, const cascade_norm_stats *norm,
                                     float *x, int64_t n);
/* Tensor k of x (n rows) as data set inputs[k] (n, its shape without the channel axis). */
cascade_status cascade_gan_write_tensor(cascade_h5writer *w, const cascade_job *job, const cascade_gan_x *gx, int k,
                                        const float *x, int64_t n, int rank);

/* cascade refine: the refiner of a kind = refiner run applied to every sample of sim_file;
 * OUT.h5 holds the refined inputs (physical units) and a copy of every other data set and of
 * the root attributes (domain = "refined"). Rank-count invariant. */
cascade_status cascade_refine(const char *ckpt, const char *sim_file, const char *out, MPI_Comm comm);

/* cascade generate: n samples from a trained gan run (checkpoint or run directory) in physical
 * units under the inputs' data-set names, with the conditions of cond_file (its first n rows)
 * copied; z from `seed` and the sample index. Rank-count invariant. */
cascade_status cascade_generate(const char *ckpt, int64_t n, uint64_t seed, int seed_given, const char *cond_file,
                                const char *out, MPI_Comm comm);

#endif
