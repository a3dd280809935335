/* Training: its options (filled by the CLI, or by a command that trains, as the GAN
 * classifier test) and its entry point. */
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

/* Trains a job of any kind (src/train/run.c: the one loop; the kinds' steps in supervised.c
 * and gan.c). Returns CASCADE_ESTOPPED after a signal-triggered checkpoint. */
cascade_status cascade_train(cascade_job *job, const cascade_train_opts *o, MPI_Comm comm);

/* The run directory a train of `job` uses: --out, else runs/<job name>. */
void cascade_train_rundir(const cascade_job *job, const cascade_train_opts *o, char rundir[CASCADE_PATH_MAX]);

#endif
