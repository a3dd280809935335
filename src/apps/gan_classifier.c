/* The classifier test of a generator (CaloChallenge protocol): a DNN learns to tell generated
 * from real samples; its ROC AUC on unseen samples is 0.5 for a perfect generator, 1 for one
 * whose samples are told apart every time. Trained by cascade itself: a temporary job file
 * text, HDF5 files of features and labels, cascade_train, then the trained model
 * on the test file (see gan_eval.h). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/metrics.h"
#include "apps/gan_eval.h"
#include "apps/trained.h"
#include "parallel/parallel.h"
#include "train/train.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

cascade_status cascade_rm_tree(const char *dir) {
    if (access(dir, F_OK) != 0) return CASCADE_OK;
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return cascade_fail(CASCADE_EIO, "cannot remove %s: %s", dir, strerror(errno));
    return CASCADE_OK;
}

/* features (rows idx[0..m) of the 2n pooled samples) and labels into path. */
static cascade_status write_split(const char *path, const float *real, const float *gen, int64_t n, int64_t F,
                                  const int64_t *idx, int64_t m, MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    float *x = cascade_alloc((size_t)(m * F + 1) * sizeof(float), "classifier features");
    float *y = cascade_alloc((size_t)(m + 1) * sizeof(float), "classifier labels");
    cascade_status st = x && y ? CASCADE_OK : CASCADE_EINTERNAL;
    for (int64_t i = 0; !st && i < m; i++) {
        int64_t k = idx[i];
        const float *src = k < n ? real + k * F : gen + (k - n) * F;
        memcpy(x + i * F, src, (size_t)F * sizeof(float));
        y[i] = k < n ? 0.0f : 1.0f;
    }
    cascade_h5writer *w = NULL;
    int64_t dx[2] = {m, F}, dy[1] = {m};
    cascade_shape sx = cascade_shape_make(2, dx), sy = cascade_shape_make(1, dy);
    if (!st) st = cascade_h5w_create(path, comm, &w);
    if (!st) st = cascade_h5w_create_rows(w, "features", &sx);
    if (!st) st = cascade_h5w_write_rows(w, "features", 0, rank == 0 ? m : 0, x);
    if (!st) st = cascade_h5w_create_rows(w, "label", &sy);
    if (!st) st = cascade_h5w_write_rows(w, "label", 0, rank == 0 ? m : 0, y);
    if (!st) st = cascade_h5w_attr_string(w, "/", "generator", "cascade evaluate --classifier-test");
    if (!st) st = cascade_h5w_attr_string(w, "/", "label", "1 = generated, 0 = real");
    if (!st)
        st = cascade_h5w_commit(w);
    else if (w)
        cascade_h5w_abort(w);
    cascade_free(x);
    cascade_free(y);
    return st;
}

cascade_status cascade_classifier_test(const char *dir, const float *real, const float *gen, int64_t n,
                                       int64_t features, int epochs, uint64_t seed, MPI_Comm comm,
                                       cascade_classifier_result *res) {
    int rank = cascade_par_rank(comm), size = cascade_par_size(comm);
    memset(res, 0, sizeof *res);
    double t0 = cascade_now();
    int64_t N = 2 * n, n_train = N * 6 / 10, n_valid = N * 2 / 10, n_test = N - n_train - n_valid;
    const int64_t batch = 128, micro = 32;
    if ((batch / micro) % size)
        return cascade_fail(CASCADE_EUSAGE, "the classifier test trains with batch %lld in %lld micro-batches: run it "
                            "on 1, 2 or 4 ranks, not %d", (long long)batch, (long long)(batch / micro), size);
    if (n_train < batch || n_test < 2)
        return cascade_fail(CASCADE_EUSAGE, "the classifier test needs at least %lld held-out samples (it has %lld)",
                            (long long)(batch * 10 / 12 + 1), (long long)n);
    /* empty dir (only on rank 0), then the three files */
    cascade_status st = CASCADE_OK;
    if (rank == 0) st = cascade_rm_tree(dir);
    if (!st) st = cascade_mkdir_p(dir);
    CASCADE_TRY(cascade_par_agree(comm, st, NULL, NULL, "preparing the classifier test directory"));
    int64_t *perm = malloc((size_t)N * sizeof(int64_t)), *part = malloc((size_t)N * sizeof(int64_t));
    if (!perm || !part) {
        free(perm), free(part);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for the classifier split (%lld samples)", (long long)N);
    }
    st = cascade_permutation(seed, CASCADE_RNG_SPLIT, 0xC1A55ULL, N, perm);
    char path[3][CASCADE_PATH_MAX + 32];
    const char *names[3] = {"train", "valid", "test"};
    int64_t from[3] = {0, n_train, n_train + n_valid}, count[3] = {n_train, n_valid, n_test};
    for (int p = 0; !st && p < 3; p++) {
        snprintf(path[p], sizeof path[p], "%s/%s.h5", dir, names[p]);
        memcpy(part, perm + from[p], (size_t)count[p] * sizeof(int64_t));
        st = write_split(path[p], real, gen, n, features, part, count[p], comm);
    }
    free(perm), free(part);
    if (st) return st;
    char run[CASCADE_PATH_MAX + 32], text[3 * CASCADE_PATH_MAX + 2048];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(text, sizeof text,
             "[job]\nname = classifier-test\nkind = supervised\nseed = %llu\n"
             "[data]\ntrain = %s\nvalid = %s\ninputs = features\nlayout = features\ntargets = label\n"
             "normalize = standard\n"
             "[train]\nbatch = %lld\nmicro_batch = %lld\nepochs = %d\nloss = bce\ncheckpoint_every = 0\n"
             "early_stopping = %d\n"
             "keep_checkpoints = 1\nlog_every = 1000000\n"
             "[optimizer]\ntype = adam\nlr = 2e-4\n"
             "[model.d1]\ntype = dense\nunits = 512\nactivation = leaky_relu\n"
             "[model.d2]\ntype = dense\nunits = 512\nactivation = leaky_relu\n"
             "[model.out]\ntype = dense\nunits = 1\n",
             (unsigned long long)seed, path[0], path[1], (long long)batch, (long long)micro, epochs,
             CASCADE_CLASSIFIER_PATIENCE);
    char origin[CASCADE_PATH_MAX + 48];
    snprintf(origin, sizeof origin, "%s/classifier.ini", dir);
    if (rank == 0) { /* the job as written, for the record */
        FILE *f = fopen(origin, "w");
        if (f) fputs(text, f), fclose(f);
    }
    cascade_job job;
    CASCADE_TRY(cascade_job_parse(text, origin, NULL, 0, &job));
    cascade_train_opts to = {.out_dir = run, .quiet = 1};
    cascade_log_set_quiet(1);
    st = cascade_train(&job, &to, comm);
    cascade_log_set_quiet(0);
    cascade_job_free(&job);
    if (st) {
        cascade_error_context("classifier test (job %s): ", origin);
        return st;
    }
    /* the model of the lowest validation loss (checkpoints/BEST), as the CaloChallenge's script */
    char best[CASCADE_PATH_MAX + 64];
    snprintf(best, sizeof best, "%s/checkpoints/BEST", run);
    cascade_trained t;
    st = cascade_trained_open(&t, best, path[2], 1, comm);
    if (!st) st = cascade_trained_run(&t, comm);
    /* one logit per sample: this rank's rows, then all of them on every rank */
    float *logit = st ? NULL : malloc((size_t)(t.d.n ? t.d.n : 1) * sizeof(float));
    double *score = st ? NULL : malloc((size_t)t.d.n * sizeof(double));
    int *lab = st ? NULL : malloc((size_t)t.d.n * sizeof(int));
    if (!st && (!score || !lab || !logit)) st = cascade_fail(CASCADE_EINTERNAL, "out of memory for classifier scores");
    if (!st) memcpy(logit + t.lo, t.preds, (size_t)(t.hi - t.lo) * sizeof(float));
    st = cascade_par_agree(comm, st, NULL, NULL, "allocating classifier scores");
    if (!st) st = cascade_par_gather_rows(comm, logit, t.d.n, t.job.micro_batch, 1);
    if (!st) {
        int64_t right = 0;
        for (int64_t i = 0; i < t.d.n; i++) {
            score[i] = logit[i];
            lab[i] = t.d.y[i] != 0;
            right += (score[i] > 0) == lab[i];
        }
        res->auc = cascade_auc(score, lab, t.d.n);
        res->accuracy = (double)right / (double)t.d.n;
        res->test_loss = t.loss;
        res->best_step = t.meta.step;
    }
    free(score), free(lab), free(logit);
    cascade_trained_close(&t);
    res->n_train = n_train, res->n_valid = n_valid, res->n_test = n_test, res->features = features;
    res->seconds = cascade_now() - t0;
    return st;
}
