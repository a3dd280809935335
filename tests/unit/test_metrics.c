/* Evaluation metrics: ROC AUC (Mann-Whitney with ties) on hand-computed cases, regression
 * bias/resolution/RMSE, classification accuracy and confusion matrix from logits, per-class IoU
 * of per-pixel labels. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "parallel/gather.h"
#include "parallel/parallel.h"
#include "tio.h"

/* The metrics of n rows with each rank of MPI_COMM_WORLD passing its block of them (run
 * under mpirun the members must not change); rank 0's members broadcast to all ranks. */
static size_t metrics_on(MPI_Comm comm, const cascade_job *job, const float *pred, const float *y, int64_t n,
                         int64_t out_numel, int64_t y_numel, char *buf, size_t cap) {
    int64_t lo, hi;
    cascade_par_block(n, cascade_par_rank(comm), cascade_par_size(comm), &lo, &hi);
    size_t used = 0;
    CU_ASSERT_EQUAL(cascade_metrics_json(job, pred + lo * out_numel, y + lo * y_numel, hi - lo, out_numel, y_numel,
                                         comm, buf, cap, &used), CASCADE_OK);
    unsigned long long u = used;
    MPI_Bcast(&u, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
    MPI_Bcast(buf, (int)cap, MPI_CHAR, 0, comm);
    return (size_t)u;
}

static size_t metrics(const cascade_job *job, const float *pred, const float *y, int64_t n, int64_t out_numel,
                      int64_t y_numel, char *buf, size_t cap) {
    return metrics_on(MPI_COMM_WORLD, job, pred, y, n, out_numel, y_numel, buf, cap);
}

static void test_auc(void) {
    double s1[] = {0.1, 0.4, 0.35, 0.8};
    int l1[] = {0, 0, 1, 1};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s1, l1, 4), 0.75, 1e-12); /* sklearn's example */
    double s2[] = {1, 2, 3, 4};
    int l2[] = {0, 0, 1, 1};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s2, l2, 4), 1.0, 1e-12);
    int l3[] = {1, 1, 0, 0};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s2, l3, 4), 0.0, 1e-12);
    double s4[] = {0.5, 0.5, 0.5, 0.5};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s4, l2, 4), 0.5, 1e-12); /* all tied */
    int l5[] = {1, 1, 1, 1};
    CU_ASSERT(isnan(cascade_auc(s2, l5, 4)));
}

static double member(const char *json, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? atof(p + strlen(pat)) : NAN;
}

static void test_regression(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_MSE;
    job.n_targets = 2;
    strcpy(job.targets[0], "xmax");
    strcpy(job.targets[1], "logE");
    float pred[] = {1, 10, 2, 10, 3, 14, 4, 14};
    float y[] = {0, 10, 0, 10, 0, 10, 0, 10};
    char buf[1024];
    metrics(&job, pred, y, 4, 2, 2, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "xmax_bias"), 2.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "xmax_resolution"), sqrt(1.25), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "xmax_rmse"), sqrt(7.5), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "logE_bias"), 2.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "logE_resolution"), 2.0, 1e-6);
}

/* A trace target (512 elements per sample): one pooled entry, not 512 per-column members. */
static void test_many_columns(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_MSE;
    job.n_targets = 1;
    strcpy(job.targets[0], "clean");
    enum { N = 3, L = 512 };
    static float pred[N * L], y[N * L];
    double sum = 0, sq = 0;
    for (int i = 0; i < N * L; i++) {
        y[i] = (float)(i % 7);
        pred[i] = y[i] + (float)((i % 5) - 1); /* residuals -1 0 1 2 3, mean near 1 */
        sum += (i % 5) - 1;
    }
    double bias = sum / (N * L);
    for (int i = 0; i < N * L; i++) sq += ((i % 5) - 1 - bias) * ((i % 5) - 1 - bias);
    char buf[4096];
    size_t used = metrics(&job, pred, y, N, L, L, buf, sizeof buf);
    CU_ASSERT_EQUAL(used, strlen(buf));
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "clean_bias"), bias, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "clean_resolution"), sqrt(sq / (N * L)), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "clean_rmse"), sqrt(sq / (N * L) + bias * bias), 1e-6);
    CU_ASSERT_PTR_NULL(strstr(buf, "clean_0"));
    /* 16 columns still get per-column members */
    used = metrics(&job, pred, y, N, CASCADE_METRICS_MAX_COLUMNS, CASCADE_METRICS_MAX_COLUMNS, buf,
                                sizeof buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"clean_15_rmse\":"));
    /* a buffer too small for every member holds whole members only */
    char small[100];
    used = metrics(&job, pred, y, N, CASCADE_METRICS_MAX_COLUMNS, CASCADE_METRICS_MAX_COLUMNS, small,
                                sizeof small);
    CU_ASSERT_EQUAL(used, strlen(small));
    CU_ASSERT(used > 0 && used < sizeof small);
    CU_ASSERT(small[used - 1] >= '0' && small[used - 1] <= '9'); /* ends with a complete number */
    CU_ASSERT_PTR_NOT_NULL(strstr(small, "\"clean_0_bias\":"));
    CU_ASSERT_PTR_NULL(strstr(small, "clean_1_bias"));
}

static void test_classification(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_CE;
    job.n_targets = 1;
    strcpy(job.targets[0], "label");
    /* 4 samples, 3 classes: predictions 0, 1, 2, 2; labels 0, 1, 2, 0 */
    float logits[] = {5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 1, 3};
    float y[] = {0, 1, 2, 0};
    char buf[1024];
    metrics(&job, logits, y, 4, 3, 1, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "accuracy"), 0.75, 1e-6);
    double auc = member(buf, "auc");
    CU_ASSERT(auc > 0.5 && auc <= 1.0);
    /* rows = true class, columns = predicted: the label-0 sample predicted as 2 is cm[0][2] */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"confusion_matrix\":[[1,0,1],[0,1,0],[0,0,1]]"));
    CU_ASSERT_PTR_NULL(strstr(buf, "iou")); /* one label per sample: no IoU */
    job.loss = LOSS_BCE;
    float z[] = {-2, 3, 0.5f, -1};
    float t[] = {0, 1, 0, 0};
    metrics(&job, z, t, 4, 1, 1, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "accuracy"), 0.75, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "auc"), 1.0, 1e-6);
}

/* Per-pixel labels (n, H, W) with (n, classes, H, W) logits: the confusion matrix counts pixels,
 * IoU_c = TP / (TP + FP + FN) per class over all pixels of all samples. */
static void test_segmentation(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_CE;
    job.n_targets = 1;
    strcpy(job.targets[0], "pixel_label");
    enum { N = 2, C = 3, P = 4 }; /* 2 samples of 2x2 pixels */
    /* labels:    sample 0: 0 0 1 2     sample 1: 0 1 1 2
     * predicted: sample 0: 0 1 1 2     sample 1: 0 1 2 0 */
    const int lab[N][P] = {{0, 0, 1, 2}, {0, 1, 1, 2}}, prd[N][P] = {{0, 1, 1, 2}, {0, 1, 2, 0}};
    float logits[N * C * P], y[N * P];
    for (int i = 0; i < N; i++)
        for (int p = 0; p < P; p++) {
            y[i * P + p] = (float)lab[i][p];
            for (int c = 0; c < C; c++) logits[(i * C + c) * P + p] = c == prd[i][p] ? 2.0f : -1.0f;
        }
    char buf[2048];
    size_t used = metrics(&job, logits, y, N, C * P, P, buf, sizeof buf);
    CU_ASSERT_EQUAL(used, strlen(buf));
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "accuracy"), 5.0 / 8.0, 1e-6);
    /* true 0: 0,1,0 -> [2,1,0]; true 1: 1,1,2 -> [0,2,1]; true 2: 2,0 -> [1,0,1] */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"confusion_matrix\":[[2,1,0],[0,2,1],[1,0,1]]"));
    /* class 0: TP 2, FP 1 (a 2 called 0), FN 1 -> 2/4; class 1: TP 2, FP 1, FN 1 -> 2/4;
     * class 2: TP 1, FP 1, FN 1 -> 1/3 */
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "iou_0"), 0.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "iou_1"), 0.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "iou_2"), 1.0 / 3.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "mean_iou"), (0.5 + 0.5 + 1.0 / 3.0) / 3, 1e-6);
    /* a class that is neither labelled nor predicted has no IoU (null) and is left out of the mean */
    for (int i = 0; i < N * P; i++)
        if (y[i] == 2) y[i] = 0;
    for (int i = 0; i < N; i++)
        for (int p = 0; p < P; p++)
            if (prd[i][p] == 2) logits[(i * C + 2) * P + p] = -1.0f, logits[(i * C + 0) * P + p] = 2.0f;
    metrics(&job, logits, y, N, C * P, P, buf, sizeof buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"iou_2\":null"));
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "mean_iou"), (member(buf, "iou_0") + member(buf, "iou_1")) / 2, 1e-6);
}

static void test_angular(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_ANGULAR;
    /* three samples: 0, 90 and 180 degrees (prediction length free) */
    float pred[] = {0, 0, 2, 5, 0, 0, 0, 0, -1};
    float y[] = {0, 0, 1, 0, 0, 1, 0, 0, 1};
    char buf[1024];
    metrics(&job, pred, y, 3, 3, 3, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "angle_median_deg"), 90, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "angle_mean_deg"), 90, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "angle_68_deg"), 0.68 * 2 * 90, 1e-3); /* interpolated */
}

/* Per-element binary targets (tagging, e.g. from_source per cosmic ray): precision and
 * recall over all elements and per sample, for bce logits (n, P) and 2-class ce (n, 2, P). */
static void test_tagging(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_BCE;
    /* 3 samples of 4 elements; tagged = logit > 0 */
    float logit[] = {2, -1, 3, -2, /* truth 1 0 0 0: TP 1, FP 1 -> p 1/2, r 1 */
                     -1, -1, -1, -1, /* truth 0 1 1 0: nothing tagged -> r 0, no precision */
                     1, 1, -3, -3}; /* truth 1 1 1 0: TP 2, FN 1 -> p 1, r 2/3 */
    float y[] = {1, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0};
    char buf[1024];
    metrics(&job, logit, y, 3, 4, 4, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "precision"), 3.0 / 4.0, 1e-6);   /* TP 3, FP 1 */
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "recall"), 3.0 / 6.0, 1e-6);      /* TP 3, FN 3 */
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "event_precision"), (0.5 + 1.0) / 2, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "event_recall"), (1.0 + 0.0 + 2.0 / 3.0) / 3, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "threshold"), 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "accuracy"), 8.0 / 12.0, 1e-6);
    /* the same decisions as two logits per element, channels first (n, 2, P) */
    job.loss = LOSS_CE;
    float two[3 * 8];
    for (int i = 0; i < 3; i++)
        for (int e = 0; e < 4; e++) two[i * 8 + e] = 0, two[i * 8 + 4 + e] = logit[i * 4 + e];
    metrics(&job, two, y, 3, 8, 4, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "precision"), 3.0 / 4.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "event_recall"), (1.0 + 0.0 + 2.0 / 3.0) / 3, 1e-6);
    /* one label per sample (classification): no tagging members */
    metrics(&job, two, y, 3, 2, 1, buf, sizeof buf);
    CU_ASSERT_PTR_NULL(strstr(buf, "precision"));
}

/* Random data over many magnitudes: every member is the same text whether the rows are split
 * over the ranks or all on one (MPI_COMM_SELF) — sums exact, AUC and quantiles on all rows. */
static void test_rank_invariant(void) {
    enum { N = 203, C = 3, P = 5 };
    enum { L = N * 40 + 32 }; /* room for the widest case and the shifted targets */
    static float pred[L], y[L];
    uint64_t r = 12345;
    for (int i = 0; i < L; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(r >> 11) / 9007199254740992.0;
        pred[i] = (float)((u - 0.5) * pow(10.0, (double)(i % 7) - 3));
        y[i] = (float)((r >> 20) % C);
    }
    struct { int kind, loss; int64_t out, yn; } cases[] = {
        {JOB_SUPERVISED, LOSS_MSE, 3, 3},       {JOB_SUPERVISED, LOSS_MSE, 40, 40},
        {JOB_AUTOENCODER, LOSS_MSE, 12, 12},    {JOB_SUPERVISED, LOSS_ANGULAR, 3, 3},
        {JOB_SUPERVISED, LOSS_CE, C, 1},        {JOB_SUPERVISED, LOSS_CE, C * P, P},
        {JOB_SUPERVISED, LOSS_CE, 2 * P, P},    {JOB_SUPERVISED, LOSS_BCE, P, P},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cascade_job job;
        memset(&job, 0, sizeof job);
        job.kind = cases[k].kind, job.loss = cases[k].loss, job.n_targets = 1;
        strcpy(job.targets[0], "t");
        float *yy = y;
        static float bin[L];
        if (job.loss == LOSS_BCE || (job.loss == LOSS_CE && cases[k].out == 2 * P)) { /* 0/1 labels */
            for (int i = 0; i < L; i++) bin[i] = y[i] > 0;
            yy = bin;
        } else if (job.loss != LOSS_CE) {
            yy = pred + 17; /* regression targets: other values */
        }
        char split[4096], whole[4096];
        metrics_on(MPI_COMM_WORLD, &job, pred, yy, N, cases[k].out, cases[k].yn, split, sizeof split);
        metrics_on(MPI_COMM_SELF, &job, pred, yy, N, cases[k].out, cases[k].yn, whole, sizeof whole);
        CU_ASSERT_STRING_EQUAL(split, whole);
        CU_ASSERT(strlen(split) > 20);
        if (strcmp(split, whole)) fprintf(stderr, "case %zu:\n  split %s\n  whole %s\n", k, split, whole);
    }
}

/* cascade_par_xacc_sum: terms dealt to the ranks in blocks give the same bits as all terms on
 * one rank, and the sum is exact where a running double sum is not. */
static void test_exact_sum(void) {
    enum { N = 40000 }; /* more than one carry interval (2^14 terms) */
    static double v[N];
    uint64_t r = 99;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = ((double)(r >> 11) / 9007199254740992.0 - 0.3) * pow(2.0, (double)(int)((r >> 3) % 80) - 40);
    }
    int64_t lo, hi;
    cascade_par_block(N, tio_rank, tio_size, &lo, &hi);
    cascade_xacc a[2], b[2];
    memset(a, 0, sizeof a), memset(b, 0, sizeof b);
    for (int64_t i = lo; i < hi; i++) cascade_xacc_add(&a[0], v[i]), cascade_xacc_add(&a[1], -v[i] * 3);
    for (int64_t i = N - 1; i >= 0; i--) cascade_xacc_add(&b[0], v[i]), cascade_xacc_add(&b[1], -v[i] * 3); /* reversed */
    double split[2], whole[2];
    CU_ASSERT_EQUAL(cascade_par_xacc_sum(MPI_COMM_WORLD, a, 2, split), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_par_xacc_sum(MPI_COMM_SELF, b, 2, whole), CASCADE_OK);
    CU_ASSERT_EQUAL(memcmp(split, whole, sizeof split), 0);
    /* 1e16 + 1 - 1e16: a running double sum gives 0 */
    double t[3] = {1e16, 1, -1e16}, e;
    cascade_xacc c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 3; i++) cascade_xacc_add(&c, t[i]);
    CU_ASSERT_EQUAL(cascade_par_xacc_sum(MPI_COMM_SELF, &c, 1, &e), CASCADE_OK);
    CU_ASSERT_EQUAL(e, 1.0);
    /* a NaN term makes the sum NaN */
    cascade_xacc_add(&c, NAN);
    CU_ASSERT_EQUAL(cascade_par_xacc_sum(MPI_COMM_SELF, &c, 1, &e), CASCADE_OK);
    CU_ASSERT(isnan(e));
}

/* Per-pixel AUC of many pixels: the ranks send their (score, label) pairs in several rounds
 * (40 samples of 2^14 pixels); the members are those of all rows on one rank. */
static void test_auc_rounds(void) {
    enum { N = 40, S = 1 << 14 };
    float *z = malloc(sizeof(float) * N * S), *y = malloc(sizeof(float) * N * S);
    CU_ASSERT_FATAL(z && y);
    uint64_t r = 7;
    for (int i = 0; i < N * S; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        y[i] = (float)((r >> 33) & 1);
        z[i] = (float)((double)((r >> 40) & 1023) / 256.0 - 2.0 + y[i]); /* ties, and some signal */
    }
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_BCE;
    char split[2048], whole[2048];
    metrics_on(MPI_COMM_WORLD, &job, z, y, N, S, S, split, sizeof split);
    metrics_on(MPI_COMM_SELF, &job, z, y, N, S, S, whole, sizeof whole);
    CU_ASSERT_STRING_EQUAL(split, whole);
    CU_ASSERT(member(split, "auc") > 0.6 && member(split, "auc") < 1);
    free(z), free(y);
}

int main(int argc, char **argv) {
    tio_init(&argc, &argv, "metrics");
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    CU_add_test(s, "exact sums independent of the ranks' split", test_exact_sum);
    CU_add_test(s, "members independent of the ranks' split", test_rank_invariant);
    CU_add_test(s, "pixel AUC gathered in rounds", test_auc_rounds);
    CU_add_test(s, "tagging precision and recall", test_tagging);
    CU_add_test(s, "auc", test_auc);
    CU_add_test(s, "regression", test_regression);
    CU_add_test(s, "many columns", test_many_columns);
    CU_add_test(s, "classification", test_classification);
    CU_add_test(s, "segmentation", test_segmentation);
    CU_add_test(s, "angular", test_angular);
    return tio_run();
}
