/* Task metrics written as JSON members: regression (bias, resolution = std of the residual,
 * RMSE per target column) and classification (accuracy, ROC AUC, confusion matrix; per-class
 * intersection over union for per-pixel labels). */
#ifndef CASCADE_EVAL_METRICS_H
#define CASCADE_EVAL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "cascade/job.h"

/* Regression targets with more elements per sample than this (a trace, an image) get one
 * bias/resolution/rmse entry over all elements instead of one per column; classification with
 * more classes than this gets no confusion matrix and no IoU. */
#define CASCADE_METRICS_MAX_COLUMNS 16

/* Appends `,"key":value` members to buf for predictions pred (n, out) against targets y.
 * Only whole members are written: what does not fit in cap is left out. Returns chars written. */
size_t cascade_metrics_json(const cascade_job *job, const float *pred, const float *y, int64_t n,
                            int64_t out_numel, int64_t y_numel, char *buf, size_t cap);
/* ROC AUC of scores for binary labels (ties averaged, Mann-Whitney); NaN when one class is absent. */
double cascade_auc(const double *score, const int *label, int64_t n);

#endif
