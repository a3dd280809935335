/* The supervised session (supervised.c, session.c), and the run directory and data-parallel
 * helpers every kind uses. */
#ifndef CASCADE_TRAIN_SESSION_H
#define CASCADE_TRAIN_SESSION_H

#include <stdio.h>

#include "data/stream.h"
#include "parallel/reducer.h"
#include "train/run.h"

/* A supervised (or autoencoder) training session: the run base, then the net, its optimizer
 * and data-parallel side, validation data and the step's buffers. */
typedef struct {
    cascade_training base; /* first: the loop's view of the session */
    cascade_dataset valid;
    cascade_norm_stats norm;
    cascade_norm_stats tnorm;     /* normalize_targets = standard */
    float *phys_preds, *phys_y;   /* this rank's validation outputs/targets in physical units */
    int64_t valid_lo, valid_hi;   /* this rank's validation rows (cascade_eval_rows) */
    cascade_net net;
    cascade_optimizer opt;
    int64_t out_numel, classes, terms_per_sample;
    int64_t *idx;                 /* the micro-batch's sample indices */
    float *xb, *yb, *dout, *preds; /* preds: this rank's validation outputs (valid_hi - valid_lo, out) */
    double *facc;     /* a micro-batch's doubles [stats | loss], then the step's sums */
    double *label_w;  /* class weights of one sample's labels (class_weights) */
    cascade_reducer red;   /* the step's gradient reduction (fast or exact) */
    cascade_shards shards; /* whose optimizer state (ZeRO-1, and always in deterministic mode) */
    float *grads_own;      /* the net's own gradient buffer (the reducer may point net->grads elsewhere) */
    float *grads_sum;      /* the step's summed gradients (valid on this rank's shard) */
    /* streaming input (training set larger than memory_budget_mb): the file stays open and
     * each step reads this rank's samples; base.train then holds shapes and n only */
    int streaming;
    cascade_stream stream;
    /* the means of the progress line: loss sum and finite steps since the last; the last lr */
    double loss_acc, lr;
    int64_t steps_acc;
    int64_t *split_rows; /* valid_fraction: the file rows of train then valid, until the label checks */
} cascade_session;

/* The optimizer shards of a net's parameters: split over the ranks with ZeRO-1 and always in
 * deterministic mode (whose reduction delivers each rank only its shard's sums). */
cascade_status cascade_net_shards(const cascade_job *job, const cascade_net *net, MPI_Comm comm, cascade_shards *sh);
/* The gradient reducer of a net: buckets of about bucket_mb (at least ~4, the first small) over
 * net->grads in reverse layer order, the order backward finishes them (marks: layer indices,
 * run.after_backward); n_doubles summed along; exact in deterministic mode. */
cascade_status cascade_net_reducer(cascade_net *net, const cascade_topo *topo, const cascade_job *job, int n_doubles,
                                   const cascade_shards *shards, cascade_reducer *red);
/* Optimizer init (job->opt[which]) on this rank's shard, with the offsets the checkpoint
 * writer uses and, for lars/lamb, the net's parameter tensors; logs the lr scaling. */
cascade_status cascade_shard_optimizer(cascade_optimizer *opt, const cascade_job *job, int which,
                                       const cascade_net *net, const cascade_shards *sh);
/* The optimizer update of this rank's shard from the summed gradients, then the allgather
 * of the parameters. lars/lamb: the shards' partial tensor norms are summed first
 * (collective, exact). */
cascade_status cascade_shard_update(cascade_optimizer *opt, const cascade_shards *sh, float *params,
                                    const float *grads, double lr);
/* Bytes of optimizer state this rank holds. */
double cascade_optimizer_bytes(const cascade_optimizer *opt);
/* Per-rank timers (input, compute, comm wait, exact sum, optimizer: CASCADE_TIMERS) as
 * `,"K_s":rank 0,"K_max_s":..,"K_mean_s":..` members into buf; collective. */
#define CASCADE_TIMERS 5
cascade_status cascade_timers_json(MPI_Comm comm, const double t[CASCADE_TIMERS], char *buf, size_t n);
/* The start of every kind's set-up (cascade_training_open): RUNDIR (--out, default
 * runs/<job name>) and its checkpoints/, the check that `size` ranks can share the
 * micro-batches, and which checkpoint to resume from (NULL: fresh); a fresh run into a
 * directory with checkpoints is an error. */
cascade_status cascade_session_start(const cascade_job *job, const cascade_train_opts *o, int size,
                                     char rundir[CASCADE_PATH_MAX], char ckdir[CASCADE_PATH_MAX + 16],
                                     const char **resume_from);
/* Rank 0 of every training loop: creates RUNDIR, writes the job as run (job.ini) and opens
 * metrics.jsonl for appending (a resumed run continues it). */
cascade_status cascade_session_open_rundir(const cascade_job *job, const char *rundir, FILE **metrics);
/* 1 when ckdir holds LATEST or step-*.h5 (a run that must be resumed, not overwritten). */
int cascade_session_has_checkpoints(const char *ckdir);
/* A JSON number, or null when not finite. */
void cascade_json_double(char *buf, size_t n, double v);
/* The console progress line (rank 0): 1-based epoch and step of the totals, `body` (losses,
 * lr, rate), elapsed time and the ETA from the rate of the last `steps` steps, which took
 * `seconds`. A live bar redrawn in place on a terminal, one plain line a call in a log. */
void cascade_progress_print(const cascade_training *t, double seconds, int64_t steps, double elapsed,
                            const char *body);

/* The supervised kind's parts (session.c): set-up and tear-down, the progress line, the
 * validation (loss and metrics line) and its share of a checkpoint. */
cascade_status cascade_session_open(cascade_training *t, cascade_job *job, const cascade_train_opts *o, MPI_Comm comm);
void cascade_session_close(cascade_training *t);
void cascade_session_log(cascade_training *t, double seconds, double elapsed);
cascade_status cascade_session_validate(cascade_training *t, double elapsed, double *loss);
cascade_status cascade_session_write(cascade_training *t, cascade_h5writer *w);

#endif
