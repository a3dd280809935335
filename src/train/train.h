/* Training entry points used by the CLI. */
#ifndef CASCADE_TRAIN_TRAIN_H
#define CASCADE_TRAIN_TRAIN_H

#include <mpi.h>
#include <signal.h>

#include "cascade/job.h"

typedef struct {
    const char *out_dir;        /* NULL: runs/<job name> */
    int resume;                 /* 0 no, 1 auto (LATEST if present), 2 from resume_path */
    const char *resume_path;
    const char *init_path;      /* --init: parameters only */
    long steps;                 /* > 0: overrides the job's length */
    int quiet;
    volatile sig_atomic_t *stop_flag; /* set by SIGUSR1/SIGTERM: checkpoint and return ESTOPPED */
} cascade_train_opts;

/* Runs a supervised job (kind = supervised). Returns CASCADE_ESTOPPED after a signal-triggered
 * checkpoint. */
cascade_status cascade_train_supervised(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm);

/* Runs an adversarial job (kind = gan, wgan, wgan-gp, refiner; src/train/gan.c, refiner.c). */
cascade_status cascade_train_gan(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm);

/* Evaluates a trained model (checkpoint or run directory) on `data` (NULL: the job's
 * validation data) and writes metrics JSON to out_json (NULL: stdout). anomaly_label: a 0/1
 * data set of `data` against which the autoencoder's anomaly score gives a ROC AUC. preds_out:
 * also write the outputs as `cascade predict` does (NULL: no). */
cascade_status cascade_evaluate(const char *ckpt, const char *data, const char *out_json, const char *anomaly_label,
                                const char *preds_out, MPI_Comm comm);

/* Writes OUT.h5 with `output` (N, output shape; physical units) and copies of the target
 * data sets when the file has them. */
cascade_status cascade_predict(const char *ckpt, const char *data, const char *out, MPI_Comm comm);

#endif
