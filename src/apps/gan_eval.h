/* `cascade evaluate` on a gan / wgan / wgan-gp run (docs/gan-evaluation.md): as many samples
 * generated as the held-out data holds, with its conditions, compared with it observable by
 * observable (histograms, separation power) and, optionally, by a classifier test. */
#ifndef CASCADE_APPS_GAN_EVAL_H
#define CASCADE_APPS_GAN_EVAL_H

#include <mpi.h>
#include <stdint.h>

#include "cascade/job.h"
#include "eval/observables.h"

typedef struct {
    const char *ckpt;     /* run directory or checkpoint */
    const char *data;     /* held-out real samples; NULL: the run's valid file / valid_fraction split */
    const char *samples;  /* compare this file's samples instead of generating (NULL: generate) */
    const char *out_json; /* NULL: stdout */
    const char *workdir;  /* keeps real.h5, generated.h5, observables.h5, classifier/ (NULL: a
                           * temporary directory, removed at the end) */
    uint64_t seed;        /* z seed of the generated samples when seed_given, else the job's */
    int seed_given;
    double threshold;     /* a cell is hit above it; default (threshold_given = 0): the air-shower
                           * file's trigger_vem, else 0 */
    int threshold_given;
    int apply_threshold;  /* 1: cells with |v| <= threshold set to 0 on both sides first (as a
                           * detector reads them; CaloChallenge's minimum cell energy) */
    int nbins;            /* histogram bins per observable (plus under/overflow) */
    int classifier;       /* 1: run the classifier test */
    int classifier_epochs;
} cascade_gan_eval_opts;

/* 1 when the checkpoint's job is of kind gan, wgan or wgan-gp (errors: 0, message kept). */
int cascade_ckpt_is_gan(const char *ckpt, MPI_Comm comm);

cascade_status cascade_gan_evaluate(const cascade_gan_eval_opts *o, MPI_Comm comm);

/* The classifier test (gan_classifier.c): a DNN (2 x 512, LeakyReLU, Adam 2e-4) trained by
 * cascade on `features` of n real then n generated samples (label 1 = generated), split
 * 0.6 / 0.2 / 0.2 by a Philox permutation of `seed`; returns the ROC AUC on the test part.
 * Files and the run go to dir (created, emptied first). */
/* The classifier stops after this many epochs without a lower validation loss. */
#define CASCADE_CLASSIFIER_PATIENCE 5

typedef struct {
    double auc, test_loss, accuracy;
    int64_t n_train, n_valid, n_test, features;
    int64_t best_step; /* the step of the evaluated (lowest validation loss) model */
    double seconds;
} cascade_classifier_result;

cascade_status cascade_classifier_test(const char *dir, const float *real, const float *gen, int64_t n,
                                       int64_t features, int epochs, uint64_t seed, MPI_Comm comm,
                                       cascade_classifier_result *res);
/* Removes a directory tree (files and directories below it, then it). Missing: OK. */
cascade_status cascade_rm_tree(const char *dir);

#endif
