/* Training losses (CONTRACT [train] loss): mse, mae, huber, bce, ce, with PyTorch's
 * semantics. Compiled in float (the engine) and, with CASCADE_REAL_DOUBLE, in double
 * (cascade_loss_f64) for finite-difference tests, like the ops. */
#ifndef CASCADE_NN_LOSS_H
#define CASCADE_NN_LOSS_H

#include "cascade/job.h" /* cascade_loss_kind: LOSS_MSE, LOSS_MAE, LOSS_HUBER, LOSS_BCE, LOSS_CE */
#include "nn/op.h"

/* Loss of pred (n samples, `elems` values each) against target. Returns the SUM of the
 * per-element (per-position for ce) losses, accumulated in double in a fixed order; if
 * dpred != NULL overwrites dpred = scale * d(sum)/d(pred) (scale = 1/terms gives the
 * gradient of the mean).
 *   mse    (p - t)^2
 *   mae    |p - t|, gradient sign(p - t) with 0 at 0 (torch.nn.L1Loss)
 *   huber  delta 1: 0.5 d^2 if |d| < 1 else |d| - 0.5 (torch.nn.HuberLoss)
 *   bce    logits p, targets t in [0, 1]: max(p, 0) - p t + log1p(exp(-|p|))
 *          (torch.nn.BCEWithLogitsLoss)
 *   ce     pred (n, classes, spatial...) logits, target (n, spatial...) class indices held as
 *          real, elems = classes * spatial (torch.nn.CrossEntropyLoss, also for segmentation
 *          (n, C, H, W) against (n, H, W)). The caller validates labels: an invalid one
 *          (not an integer in [0, classes)) makes the result NaN, never an out-of-range read. */
double OPSYM(cascade_loss)(int kind, int n, int64_t elems, int64_t classes, const real *pred,
                           const real *target, real *dpred, real scale);
/* The same with class weights for ce (NULL: unweighted): each position's term is multiplied by
 * the weight of its label, as torch's CrossEntropyLoss(weight=...); its mean divides by the
 * sum of those weights (cascade_ce_weight_sum), not by the number of terms. */
double OPSYM(cascade_loss_weighted)(int kind, int n, int64_t elems, int64_t classes, const real *pred,
                                    const real *target, const double *class_weights, real *dpred, real scale);

#if defined(CASCADE_OP_BOTH_PRECISIONS) && !defined(CASCADE_REAL_DOUBLE)
double cascade_loss_weighted_f64(int kind, int n, int64_t elems, int64_t classes, const double *pred,
                                 const double *target, const double *class_weights, double *dpred, double scale);
double cascade_loss_f64(int kind, int n, int64_t elems, int64_t classes, const double *pred,
                        const double *target, double *dpred, double scale);
#endif

/* Number of terms the mean divides by: n*elems (mse, mae, huber, bce) or n*spatial (ce,
 * spatial = elems / classes), as torch's default reduction = 'mean'. */
int64_t cascade_loss_terms(int kind, int n, int64_t elems, int64_t classes);
/* Per position of n samples (spatial positions each): the class weight of its label (0 for an
 * invalid label), into w[n * spatial] (for exact sums by the caller). */
void cascade_ce_label_weights(int n, int64_t spatial, const float *target, const double *class_weights,
                              int64_t classes, double *w);

#endif
