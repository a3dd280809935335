/* A training session: run directory, data, net, optimizer, progress; shared by the
 * training loops. */
#ifndef CASCADE_TRAIN_SESSION_H
#define CASCADE_TRAIN_SESSION_H

#include <stdio.h>

#include "dist/buckets.h"
#include "train/model.h"
#include "train/train.h"


typedef struct {
    cascade_job *job;
    const cascade_train_opts *opts;
    MPI_Comm comm;
    int rank, size;
    char rundir[CASCADE_PATH_MAX], ckdir[CASCADE_PATH_MAX + 16];
    FILE *metrics; /* rank 0 */
    cascade_dataset train, valid;
    int has_valid;
    cascade_norm_stats norm;
    cascade_net net;
    cascade_optimizer opt;
    cascade_progress prog;
    int64_t total_steps, steps_per_epoch;
    int64_t out_numel, classes, terms_per_sample;
    int64_t *perm, *idx, *ids;
    int perm_valid;
    float *xb, *yb, *dout, *preds;
    /* step reduction buffers. deterministic: exact digits [grads | stats | loss | bad];
     * fast: doubles [stats | loss] (gradients are reduced in place as floats) */
    int64_t *xacc;
    double *facc;
    cascade_buckets buckets; /* fast mode on several ranks: overlapped gradient allreduce */
    int use_buckets;
    /* seconds since the last progress line: gathering input, forward/loss/backward,
     * exact-sum conversions (deterministic), waiting for reductions, optimizer update */
    double t_input, t_compute, t_exact, t_comm, t_optim;
    int64_t shard_lo, shard_hi; /* parameters whose optimizer state this rank holds */
    int *shard_counts, *shard_displs; /* ZeRO-1 allgather of parameters */
    int validated_at_end;
    int64_t last_valid_step;
    int tty;
} cascade_session;

cascade_status cascade_session_open(cascade_session *s, cascade_job *job, const cascade_train_opts *o,
                                    MPI_Comm comm);
void cascade_session_close(cascade_session *s);
/* Permutation of the training set for the current epoch (global, rank-independent). */
void cascade_session_shuffle(cascade_session *s);
void cascade_session_log_train(cascade_session *s, double loss, double lr, double rate, double elapsed);
cascade_status cascade_session_validate(cascade_session *s, double elapsed);
cascade_status cascade_session_checkpoint(cascade_session *s);
/* Eval-mode outputs of `net` for all samples of d into preds (n, out) on every rank (each
 * rank computes its block of chunks, then they are gathered); returns the mean loss (NaN
 * without targets). */
double cascade_predict_dataset(const cascade_job *job, cascade_net *net, const cascade_dataset *d, int chunk,
                               float *xb, float *preds, int64_t classes, MPI_Comm comm);

#endif
