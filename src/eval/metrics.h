/* Task metrics written as JSON members: regression (bias, resolution = std of the residual,
 * RMSE per target column) and classification (accuracy, ROC AUC, confusion matrix; per-class
 * intersection over union for per-pixel labels), computed over the ranks' rows. */
#ifndef CASCADE_EVAL_METRICS_H
#define CASCADE_EVAL_METRICS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "cascade/job.h"

/* Regression targets with more elements per sample than this (a trace, an image) get one
 * bias/resolution/rmse entry over all elements instead of one per column; classification with
 * more classes than this gets no confusion matrix and no IoU. */
#define CASCADE_METRICS_MAX_COLUMNS 16

/* Appends `,"key":value` members to buf for predictions against targets. Each rank passes
 * its own rows — a block of consecutive samples, the blocks in rank order (as
 * cascade_par_chunk_rows deals them): pred (n, out_numel), y (n, y_numel); n may be 0.
 * Collective over comm: sums and counts are combined exactly, so every member is the same
 * bits for any rank count; ROC AUC and the angle quantiles gather one value per element or
 * sample to rank 0 (never the outputs). The members are written on rank 0 (buf = ""
 * elsewhere); only whole members are written: what does not fit in cap is left out.
 * *used (may be NULL) = chars written. */
cascade_status cascade_metrics_json(const cascade_job *job, const float *pred, const float *y, int64_t n,
                                    int64_t out_numel, int64_t y_numel, MPI_Comm comm, char *buf, size_t cap,
                                    size_t *used);
/* ROC AUC of scores for binary labels (ties averaged, Mann-Whitney); NaN when one class is absent. */
double cascade_auc(const double *score, const int *label, int64_t n);

#endif
