/* Batch-normalisation kernels shared by the batchnorm op and the edge MLP of edgeconv
 * (batchnorm = true). Compiled in both precisions like the ops (OPSYM names).
 *
 * Data x (n, C, S): element (i, ch, s) at (i*C + ch)*S + s, statistics per channel over the
 * m = n*S values. S = 1 is the channels-last case (rows of C values, e.g. edgeconv's
 * (edges, units) tensors), handled row by row so memory is read in order; the sums per
 * channel are in double, in the same fixed order for any thread count.
 * saved: 4C reals, the mean and invstd per channel as hi + lo pairs (the float engine's
 * backward sees them to double precision: the input gradient cancels badly when
 * |mean| >> std or when a channel has few values).
 * stats (training, when the caller collects them): mean [C] then UNBIASED variance [C];
 * apply_stats moves the running statistics by torch's momentum rule from their mean over
 * a step's forward calls — per micro-batch statistics reduced deterministically over
 * micro-batches and ranks by the training loop. */
#ifndef CASCADE_NN_OPS_BATCHNORM_H
#define CASCADE_NN_OPS_BATCHNORM_H

#include "nn/op.h"

typedef struct {
    int64_t n, channels, spatial; /* x (n, C, S) */
    double momentum, eps;
} bn_geom;

/* y = weight * (x - mean) * invstd + bias. Training: the batch statistics (exported to
 * stats when non-NULL, else the running ones updated in place when update_stats); eval: the
 * running statistics. y may not alias x. */
void OPSYM(bn_kernel_forward)(const bn_geom *g, int training, int update_stats, double *stats, const real *x,
                              real *y, const real *weight, const real *bias, real *running_mean,
                              real *running_var, real *saved);
/* ACCUMULATES dx, dweight, dbias (each may be NULL) from dy; saved as forward left it. */
void OPSYM(bn_kernel_backward)(const bn_geom *g, int training, const real *x, const real *dy, const real *weight,
                               const real *saved, real *dx, real *dweight, real *dbias);
/* The pieces of forward and backward for a caller that computes the per-channel sums
 * itself (edgeconv's fused edge MLP). channel_map: channel ch's statistics from its batch
 * mean and biased variance (training; ignored in eval, which uses the running ones) —
 * exported to stats or folded into the running statistics as forward does, mean and invstd
 * saved — and the map y = x * a + b. saved: statistic `which` (0 mean, 1 invstd) of channel
 * ch, to double precision. channel_grads: from sg = sum(dy), sgx = sum(dy * xhat) of channel
 * ch it ACCUMULATES dweight, dbias (each may be NULL) and returns dx = scale * (dy - mean_g -
 * xhat * mean_gx)'s coefficients. */
void OPSYM(bn_kernel_channel_map)(const bn_geom *g, int training, int update_stats, double *stats, int64_t ch,
                                  double mean, double var, const real *weight, const real *bias, real *running_mean,
                                  real *running_var, real *saved, double *a, double *b);
double OPSYM(bn_kernel_saved)(const real *saved, int64_t channels, int64_t ch, int which);
void OPSYM(bn_kernel_channel_grads)(const bn_geom *g, int training, int64_t ch, double sg, double sgx,
                                    const real *weight, double invstd, real *dweight, real *dbias, double *scale,
                                    double *mean_g, double *mean_gx);
/* Running statistics from the mean over a step of the exported stats (mean, unbiased var). */
void OPSYM(bn_kernel_apply_stats)(const bn_geom *g, real *running_mean, real *running_var, const double *stats);

#endif
