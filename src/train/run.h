/* THE training loop (run.c) and what every kind of training shares: the run base embedded in
 * each kind's session, and the table of a kind's per-step primitives the loop calls.
 *
 * Layers, as ggml-opt's: per-micro-batch work inside a kind's step (supervised.c: one
 * forward/backward per micro-batch; gan.c: critic updates then a generator update), the
 * step under the loop (epochs and steps, non-finite policy, stop agreement, log /
 * validation / checkpoint cadence, early stopping, resume), the loop under cascade_train. */
#ifndef CASCADE_TRAIN_RUN_H
#define CASCADE_TRAIN_RUN_H

#include <stdio.h>

#include "parallel/parallel.h"
#include "train/model.h"
#include "train/train.h"

/* The state every training run has, whatever its kind; the first member of each kind's
 * session (cascade_session, gan_session), so that a kind turns it back into its session with
 * a cast. */
typedef struct {
    cascade_job *job;
    const cascade_train_opts *opts;
    MPI_Comm comm;
    int rank, size, tty;
    cascade_topo topo;     /* node communicator, for the reducers */
    char rundir[CASCADE_PATH_MAX], ckdir[CASCADE_PATH_MAX + 16];
    char resume_file[CASCADE_PATH_MAX + 64]; /* the verified checkpoint resumed from (cascade_ckpt_select) */
    FILE *metrics;         /* RUNDIR/metrics.jsonl (rank 0) */
    cascade_dataset train; /* the training samples (gan: real; refiner: simulated; streaming: shapes and n only) */
    int has_valid;         /* the kind validates on held-out data (supervised with valid / valid_fraction) */
    cascade_progress prog; /* step, epoch, cursor into perm, samples seen, early-stopping record */
    int64_t total_steps, steps_per_epoch;
    int64_t *perm;         /* the epoch's permutation of the training samples (train.n) */
    int64_t *ids;          /* global sample ids of one micro-batch (micro_batch) */
    int perm_valid;
    /* seconds since the last progress line: gathering input, forward/loss/backward, optimizer
     * update (waiting for reductions and exact-sum work: in the reducers) */
    double t_input, t_compute, t_optim;
    /* validation: the step of the last one, and whether it was at the last step; early
     * stopping: the last validation lowered the loss (its checkpoint becomes BEST) /
     * [train] early_stopping validations passed without that */
    int64_t last_valid_step;
    int validated_at_end, save_best, stop_early;
} cascade_training;

/* What the loop calls for one kind of training. Every function gets the base of the kind's
 * session (of session_size bytes). */
typedef struct {
    const char *name;
    size_t session_size;
    /* Data, nets, optimizers, buffers, run directory; reads the checkpoint when resuming.
     * The session is zeroed; on error the kind has released what it set up. */
    cascade_status (*open)(cascade_training *t, cascade_job *job, const cascade_train_opts *o, MPI_Comm comm);
    /* One training step (prog.step): its updates of every net, applied only when every loss
     * and gradient term was finite (*ok = 0 otherwise; the same on every rank); advances
     * cursor and samples_seen. *epoch_end: the step ended an epoch (the loop validates, logs
     * and then starts the next epoch); kinds that move to the next epoch inside their steps
     * leave it 0. */
    cascade_status (*step)(cascade_training *t, int64_t step, int *ok, int *epoch_end);
    /* A progress line (metrics.jsonl and the console) of the means since the last one,
     * `seconds` of training ago; elapsed: since the loop began. Resets the means and timers. */
    void (*log)(cascade_training *t, double seconds, double elapsed);
    /* The validation loss (every rank the same) and its metrics line; NULL: the kind has no
     * validation. */
    cascade_status (*validate)(cascade_training *t, double elapsed, double *loss);
    /* After each step's agreement, before its checkpoint (sample pictures); NULL: nothing. */
    cascade_status (*after_step)(cascade_training *t);
    /* The kind's part of a checkpoint (nets, optimizers, normalisation, kind state). */
    cascade_status (*write_checkpoint)(cascade_training *t, cascade_h5writer *w);
    void (*close)(cascade_training *t);
    /* writes a "checkpoint" line (seconds, MB) to metrics.jsonl: supervised kinds; the
     * adversarial metrics stay progress lines only, as before */
    int log_checkpoint_time;
} cascade_trainer_kind;

extern const cascade_trainer_kind cascade_supervised_kind;  /* supervised.c: supervised, autoencoder */
extern const cascade_trainer_kind cascade_adversarial_kind; /* gan.c: gan, wgan, wgan-gp, refiner */

/* The shared start of every kind's open: the base's job, options, ranks and topology, RUNDIR
 * and its checkpoints/, the check that the ranks can share the micro-batches, and which
 * checkpoint to resume from (NULL: fresh). */
cascade_status cascade_training_open(cascade_training *t, cascade_job *job, const cascade_train_opts *o,
                                     MPI_Comm comm, const char **resume_from);
/* Allocates perm and ids (after the kind has loaded train). */
cascade_status cascade_training_buffers(cascade_training *t);
void cascade_training_close(cascade_training *t);
/* perm for the current epoch: a Philox permutation of (seed, epoch), or the identity without
 * shuffle — global and rank-independent. */
void cascade_training_shuffle(cascade_training *t);
/* The same permutation for any epoch into perm (train.n): e.g. the next epoch's, to prefetch. */
void cascade_training_permutation(const cascade_training *t, int64_t epoch, int64_t *perm);
#endif
