/* Task metrics written as JSON members: regression (bias, resolution = std of the residual,
 * RMSE per target column) and classification (accuracy, ROC AUC). */
#ifndef CASCADE_EVAL_METRICS_H
#define CASCADE_EVAL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "cascade/job.h"

/* Appends `,"key":value` members to buf for predictions pred (n, out) against targets y.
 * names: target column names (n_names == columns) or NULL. Returns chars written. */
size_t cascade_metrics_json(const cascade_job *job, const float *pred, const float *y, int64_t n,
                            int64_t out_numel, int64_t y_numel, char *buf, size_t cap);
/* ROC AUC of scores for binary labels (ties averaged, Mann-Whitney); NaN when one class is absent. */
double cascade_auc(const double *score, const int *label, int64_t n);

#endif
