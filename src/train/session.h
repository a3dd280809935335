/* A training session: run directory, data, net, optimizer, progress; shared by the
 * training loops. */
#ifndef CASCADE_TRAIN_SESSION_H
#define CASCADE_TRAIN_SESSION_H

#include <stdio.h>

#include "train/model.h"
#include "train/train.h"

#define CASCADE_MAX_NONFINITE 5 /* NaN/Inf steps in a row before the run stops (exit 3) */

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
/* Eval-mode outputs of `net` for all samples of d into preds (n, out); returns the mean loss. */
double cascade_predict_dataset(const cascade_job *job, cascade_net *net, const cascade_dataset *d, int chunk,
                               float *xb, float *preds, int64_t classes);

#endif
