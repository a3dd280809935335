/* Regression and classification metrics (see metrics.h), from each rank's own rows: sums are
 * exact (cascade_xacc), so every member is the same bits for any rank count; ROC AUC and
 * the angle quantiles gather one compact value per sample (or element) to rank 0. */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/gather.h"
#include "parallel/parallel.h"

typedef struct {
    double s;
    int l;
} scored;

static int by_score(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* ROC AUC of the pairs v[0..n), sorted in place. */
static double auc_pairs(scored *v, int64_t n) {
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += v[i].l != 0;
    int64_t neg = n - pos;
    if (pos == 0 || neg == 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, by_score);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s) j++;
        double avg = 0.5 * (double)(i + 1 + j); /* mean 1-based rank of the tie block */
        for (int64_t k = i; k < j; k++)
            if (v[k].l) rank_sum += avg;
        i = j;
    }
    return (rank_sum - 0.5 * (double)pos * (double)(pos + 1)) / ((double)pos * (double)neg);
}

double cascade_auc(const double *score, const int *label, int64_t n) {
    scored *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return NAN;
    for (int64_t i = 0; i < n; i++) v[i].s = score[i], v[i].l = label[i];
    double auc = auc_pairs(v, n);
    free(v);
    return auc;
}

/* Appends whole members only: one that does not fit in buf is left out with everything after
 * it, so the text stays valid JSON members (was: cut in the middle of a key). */
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (!full && used < cap) {                                                                 \
            int k_ = snprintf(buf + used, cap - used, __VA_ARGS__);                                \
            if (k_ >= 0 && (size_t)k_ < cap - used)                                                \
                used += (size_t)k_;                                                                \
            else                                                                                   \
                buf[used] = '\0', full = 1;                                                        \
        }                                                                                          \
    } while (0)

static void json_num(char *tmp, size_t n, double v) {
    if (isfinite(v))
        snprintf(tmp, n, "%.7g", v);
    else
        snprintf(tmp, n, "null");
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n) (linear interpolation). */
static double quantile(const double *v, int64_t n, double q) {
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)pos;
    return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

/* Predicted class at element e of sample i: argmax of the logits (ce, (n, classes, spatial)) or
 * logit > 0 (bce). */
static int64_t predicted_class(int ce, const float *pred, int64_t i, int64_t e, int64_t out_numel, int64_t spatial,
                               int64_t classes) {
    if (!ce) return pred[i * out_numel + e] > 0;
    const float *lg = pred + i * out_numel + e;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; c++)
        if (lg[c * spatial] > lg[best * spatial]) best = c;
    return best;
}

/* Members appended to a buffer: PUT on a struct (whole members only). */
typedef struct {
    char *buf;
    size_t cap, used;
    int full;
} json_out;

#define OUT(o, ...)                                                                                \
    do {                                                                                           \
        char *buf = (o)->buf;                                                                      \
        size_t cap = (o)->cap, used = (o)->used;                                                   \
        int full = (o)->full;                                                                      \
        PUT(__VA_ARGS__);                                                                          \
        (o)->used = used, (o)->full = full;                                                        \
    } while (0)

/* Softmax probability of class cls (ce) or sigmoid (bce) at element e of sample i. */
static double class_prob(int ce, const float *pred, int64_t i, int64_t e, int64_t out_numel, int64_t spatial,
                         int64_t classes, int64_t cls) {
    if (!ce) return 1.0 / (1.0 + exp(-(double)pred[i * out_numel + e]));
    const float *lg = pred + i * out_numel + e;
    double mx = lg[0], z = 0;
    for (int64_t c = 1; c < classes; c++) mx = fmax(mx, lg[c * spatial]);
    for (int64_t c = 0; c < classes; c++) z += exp(lg[c * spatial] - mx);
    return exp(lg[cls * spatial] - mx) / z;
}

/* Mean one-vs-rest ROC AUC over the classes present (NaN if none; rank 0 only): per class
 * the (probability, label) pair of every element — 16 bytes, as one rank needs, not the
 * outputs — gathered to rank 0 and sorted there in place. The other ranks send theirs in
 * rounds of at most AUC_ROUND elements' worth of samples (a bounded buffer); rank 0 computes
 * its own straight into the gathered array. */
#define AUC_ROUND (1 << 16) /* 1 MB of pairs */

static cascade_status mean_auc(MPI_Comm comm, int ce, const float *pred, const float *y, int64_t n,
                               int64_t out_numel, int64_t spatial, int64_t classes, double *mean) {
    int root = cascade_par_rank(comm) == 0;
    int64_t before, total, most, rows = AUC_ROUND / (spatial ? spatial : 1); /* samples per round */
    if (rows < 1) rows = 1;
    CASCADE_TRY(cascade_par_counts(comm, CASCADE_OK, n, &before, &total, &most));
    int64_t room = root ? total * spatial : (n < rows ? n : rows) * spatial, rounds = (most + rows - 1) / rows;
    scored *v = calloc((size_t)(room ? room : 1), sizeof *v); /* padding zeroed: it is sent too */
    cascade_status st = v ? CASCADE_OK
                          : cascade_fail(CASCADE_EINTERNAL, "out of memory for the ROC AUC of %lld elements",
                                         (long long)(total * spatial));
    double auc_sum = 0;
    int auc_count = 0;
    for (int64_t cls = ce ? 0 : 1; cls < classes; cls++) {
        for (int64_t r = 0; r < rounds; r++) { /* every rank every round: the gathers agree on st */
            int64_t lo = r * rows, hi = lo + rows < n ? lo + rows : n;
            scored *w = st ? NULL : root ? v + (before + lo) * spatial : v; /* rank 0: in place */
            for (int64_t i = lo; w && i < hi; i++)
                for (int64_t e = 0; e < spatial; e++) {
                    scored *p = &w[(i - lo) * spatial + e];
                    p->s = class_prob(ce, pred, i, e, out_numel, spatial, classes, cls);
                    p->l = (int)y[i * spatial + e] == (int)cls;
                }
            st = cascade_par_gather_root_at(comm, st, w, hi > lo ? (hi - lo) * spatial : 0, (before + lo) * spatial,
                                            sizeof *v, v);
        }
        if (!rounds) st = cascade_par_agree(comm, st, NULL, NULL, "the ROC AUC");
        if (st) break; /* on every rank: the gathers agree first */
        if (root) {
            double auc = auc_pairs(v, total * spatial);
            if (!isnan(auc)) auc_sum += auc, auc_count++;
        }
        if (ce && classes == 2) break; /* binary: AUC of class 0 == of class 1 */
    }
    free(v);
    *mean = auc_count ? auc_sum / auc_count : NAN;
    return st;
}

/* Classification members: accuracy, mean one-vs-rest ROC AUC, the confusion matrix (counts,
 * rows = true class, columns = predicted; up to CASCADE_METRICS_MAX_COLUMNS classes) and, for
 * per-element labels (spatial > 1, a segmentation), the intersection over union per class
 * TP / (TP + FP + FN) over all elements of all samples and their mean. */
static cascade_status classification_json(MPI_Comm comm, int ce, const float *pred, const float *y, int64_t n,
                                          int64_t out_numel, int64_t spatial, int64_t classes, json_out *o) {
    char t1[32], t2[32];
    double auc;
    CASCADE_TRY(mean_auc(comm, ce, pred, y, n, out_numel, spatial, classes, &auc));
    /* counts: the confusion matrix (row-major), then correct and total */
    enum { M = CASCADE_METRICS_MAX_COLUMNS };
    int64_t cnt[M * M + 2] = {0}, *correct = cnt + M * M, *total = correct + 1;
    int with_matrix = classes <= M;
    *total = n * spatial;
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = 0; e < spatial; e++) {
            int64_t best = predicted_class(ce, pred, i, e, out_numel, spatial, classes);
            double t = y[i * spatial + e];
            *correct += best == (int64_t)t;
            if (with_matrix && t >= 0 && t < (double)classes && t == floor(t)) cnt[(int64_t)t * M + best]++;
        }
    CASCADE_TRY(cascade_par_sum_int64(comm, cnt, M * M + 2));
    json_num(t1, sizeof t1, (double)*correct / (double)(*total ? *total : 1));
    json_num(t2, sizeof t2, auc);
    OUT(o, ",\"accuracy\":%s,\"auc\":%s", t1, t2);
    if (!with_matrix) return CASCADE_OK;
    /* one member: built whole in a local buffer first (PUT writes whole members only) */
    char matrix[M * M * 22 + 64];
    size_t m = (size_t)snprintf(matrix, sizeof matrix, ",\"confusion_matrix\":[");
    for (int64_t r = 0; r < classes; r++)
        for (int64_t c = 0; c < classes; c++)
            m += (size_t)snprintf(matrix + m, sizeof matrix - m, "%s%lld%s", c ? "," : r ? ",[" : "[",
                                  (long long)cnt[r * M + c], c + 1 == classes ? "]" : "");
    snprintf(matrix + m, sizeof matrix - m, "]");
    OUT(o, "%s", matrix);
    if (spatial <= 1) return CASCADE_OK;
    double iou_sum = 0;
    int iou_count = 0;
    for (int64_t c = 0; c < classes; c++) {
        int64_t tp = cnt[c * M + c], fp = 0, fn = 0;
        for (int64_t k = 0; k < classes; k++)
            if (k != c) fp += cnt[k * M + c], fn += cnt[c * M + k];
        double iou = tp + fp + fn ? (double)tp / (double)(tp + fp + fn) : NAN; /* NaN: class absent */
        if (!isnan(iou)) iou_sum += iou, iou_count++;
        json_num(t1, sizeof t1, iou);
        OUT(o, ",\"iou_%lld\":%s", (long long)c, t1);
    }
    json_num(t1, sizeof t1, iou_count ? iou_sum / iou_count : NAN);
    OUT(o, ",\"mean_iou\":%s", t1);
    return CASCADE_OK;
}

/* Tagging scores of per-element binary targets (y in {0, 1} per element), an element being
 * tagged when its class-1 probability exceeds 0.5 (ce: logit 1 > logit 0; bce: logit > 0).
 * precision = TP / (TP + FP), recall = TP / (TP + FN) over all elements of all samples;
 * event_precision / event_recall: the means over samples of the same ratios per sample, over
 * the samples with at least one tagged element / at least one true element (NaN if none). */
static cascade_status tagging_json(MPI_Comm comm, int two_logits, const float *pred, const float *y, int64_t n,
                                   int64_t out_numel, int64_t spatial, json_out *o) {
    int64_t c[5] = {0}; /* tp, fp, fn, tagged events, true events */
    cascade_xacc ratio[2];
    memset(ratio, 0, sizeof ratio); /* sums of the per-sample precision and recall */
    for (int64_t i = 0; i < n; i++) {
        int64_t etp = 0, efp = 0, efn = 0;
        for (int64_t e = 0; e < spatial; e++) {
            const float *lg = pred + i * out_numel + e;
            int tagged = two_logits ? lg[spatial] > lg[0] : lg[0] > 0;
            int truth = (int)y[i * spatial + e] == 1;
            etp += tagged && truth;
            efp += tagged && !truth;
            efn += !tagged && truth;
        }
        if (etp + efp) cascade_xacc_add(&ratio[0], (double)etp / (double)(etp + efp)), c[3]++;
        if (etp + efn) cascade_xacc_add(&ratio[1], (double)etp / (double)(etp + efn)), c[4]++;
        c[0] += etp, c[1] += efp, c[2] += efn;
    }
    double sum[2];
    CASCADE_TRY(cascade_par_sum_int64(comm, c, 5));
    CASCADE_TRY(cascade_par_xacc_sum(comm, ratio, 2, sum));
    int64_t tp = c[0], fp = c[1], fn = c[2];
    char t1[32], t2[32], t3[32], t4[32];
    json_num(t1, sizeof t1, tp + fp ? (double)tp / (double)(tp + fp) : NAN);
    json_num(t2, sizeof t2, tp + fn ? (double)tp / (double)(tp + fn) : NAN);
    json_num(t3, sizeof t3, c[3] ? sum[0] / (double)c[3] : NAN);
    json_num(t4, sizeof t4, c[4] ? sum[1] / (double)c[4] : NAN);
    OUT(o, ",\"threshold\":0.5,\"precision\":%s,\"recall\":%s,\"event_precision\":%s,\"event_recall\":%s", t1, t2,
        t3, t4);
    return CASCADE_OK;
}

/* Angle between predicted and true direction in degrees: the angles of all samples on rank
 * 0 (8 bytes a sample), their 68% and 50% quantiles and mean in sample order. */
static cascade_status angular_json(MPI_Comm comm, const float *pred, const float *y, int64_t n, int64_t out_numel,
                                   int64_t y_numel, json_out *o) {
    int root = cascade_par_rank(comm) == 0;
    int64_t total;
    CASCADE_TRY(cascade_par_total(comm, CASCADE_OK, n, &total));
    int64_t room = root ? total : n; /* rank 0's rows come first: computed in place */
    double *ang = malloc((size_t)(room ? room : 1) * sizeof(double)), *all = ang;
    cascade_status st = ang ? CASCADE_OK : cascade_fail(CASCADE_EINTERNAL, "out of memory for %lld angles", (long long)room);
    for (int64_t i = 0; !st && i < n; i++) {
        double pp = 0, tt = 0, chord = 0;
        for (int64_t k = 0; k < y_numel; k++) pp += (double)pred[i * out_numel + k] * pred[i * out_numel + k],
                                              tt += (double)y[i * y_numel + k] * y[i * y_numel + k];
        for (int64_t k = 0; k < y_numel; k++) {
            double d = pred[i * out_numel + k] / sqrt(pp) - y[i * y_numel + k] / sqrt(tt);
            chord += d * d;
        }
        double h = sqrt(chord) / 2;
        ang[i] = 2 * asin(h < 1 ? h : 1) * 180.0 / M_PI;
    }
    st = cascade_par_gather_root(comm, st, ang, n, sizeof(double), all);
    if (!st && root) {
        double sum = 0, t[3];
        for (int64_t i = 0; i < total; i++) sum += all[i];
        qsort(all, (size_t)total, sizeof(double), by_value);
        t[0] = quantile(all, total, 0.68), t[1] = quantile(all, total, 0.5), t[2] = sum / (double)total;
        char t1[32], t2[32], t3[32];
        json_num(t1, sizeof t1, t[0]);
        json_num(t2, sizeof t2, t[1]);
        json_num(t3, sizeof t3, t[2]);
        OUT(o, ",\"angle_68_deg\":%s,\"angle_median_deg\":%s,\"angle_mean_deg\":%s", t1, t2, t3);
    }
    free(ang);
    return st;
}

/* Bias, resolution (std of the residual about the bias) and RMSE of `cols` groups of
 * residuals: column j of every sample (cols = y_numel), or every element in one group
 * (cols = 1, a trace or an image per sample). Two exact sums: the residuals, then the
 * squares about the bias (the same on every rank). */
static cascade_status residuals(MPI_Comm comm, const float *pred, const float *y, int64_t n, int64_t out_numel,
                                int64_t y_numel, int64_t cols, double *bias, double *res, double *rmse) {
    cascade_xacc acc[CASCADE_METRICS_MAX_COLUMNS];
    int64_t count = n * (y_numel / cols);
    CASCADE_TRY(cascade_par_sum_int64(comm, &count, 1));
    for (int pass = 0; pass < 2; pass++) {
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < y_numel; j++) {
                double r = (double)pred[i * out_numel + j] - y[i * y_numel + j];
                int64_t c = cols == 1 ? 0 : j;
                cascade_xacc_add(&acc[c], pass ? (r - bias[c]) * (r - bias[c]) : r);
            }
        CASCADE_TRY(cascade_par_xacc_sum(comm, acc, (int)cols, pass ? res : bias));
        for (int64_t c = 0; c < cols; c++) {
            if (!pass) bias[c] /= (double)count;
            else res[c] = sqrt(res[c] / (double)count), rmse[c] = sqrt(res[c] * res[c] + bias[c] * bias[c]);
        }
    }
    return CASCADE_OK;
}

static void residual_name(const cascade_job *job, int64_t j, int64_t y_numel, int64_t cols, char *name, size_t cap) {
    if (cols == 1)
        snprintf(name, cap, "%s", job->n_targets == 1 ? job->targets[0] : "targets");
    else if (job->n_targets == y_numel)
        snprintf(name, cap, "%s", job->targets[j]);
    else if (job->n_targets == 1)
        snprintf(name, cap, "%s_%lld", job->targets[0], (long long)j);
    else
        snprintf(name, cap, "target_%lld", (long long)j);
}

cascade_status cascade_metrics_json(const cascade_job *job, const float *pred, const float *y, int64_t n,
                                    int64_t out_numel, int64_t y_numel, MPI_Comm comm, char *buf, size_t cap,
                                    size_t *used) {
    json_out o = {buf, cap, 0, 0};
    char t1[32], t2[32], t3[32];
    cascade_status st = CASCADE_OK;
    if (cap) buf[0] = '\0';
    if (job->kind == JOB_AUTOENCODER) { /* reconstruction errors over all elements */
        cascade_xacc acc[2];
        memset(acc, 0, sizeof acc);
        for (int64_t i = 0; i < n * y_numel; i++) {
            double d = (double)pred[i] - y[i];
            cascade_xacc_add(&acc[0], d * d);
            cascade_xacc_add(&acc[1], fabs(d));
        }
        int64_t count = n * y_numel;
        double sum[2];
        st = cascade_par_sum_int64(comm, &count, 1);
        if (!st) st = cascade_par_xacc_sum(comm, acc, 2, sum);
        json_num(t1, sizeof t1, sum[0] / (double)count);
        json_num(t2, sizeof t2, sum[1] / (double)count);
        if (!st) OUT(&o, ",\"reconstruction_mse\":%s,\"reconstruction_mae\":%s", t1, t2);
    } else if (job->loss == LOSS_ANGULAR) {
        st = angular_json(comm, pred, y, n, out_numel, y_numel, &o);
    } else if (job->loss == LOSS_CE || job->loss == LOSS_BCE) {
        int64_t classes = job->loss == LOSS_CE ? out_numel / y_numel : 2;
        st = classification_json(comm, job->loss == LOSS_CE, pred, y, n, out_numel, y_numel, classes, &o);
        if (!st && y_numel > 1 && classes == 2) /* per-element binary targets: tagging */
            st = tagging_json(comm, job->loss == LOSS_CE, pred, y, n, out_numel, y_numel, &o);
    } else {
        /* regression: per output column, or for a trace or an image per sample one entry over
         * all elements (not hundreds of per-column members) */
        int64_t cols = y_numel > CASCADE_METRICS_MAX_COLUMNS ? 1 : y_numel;
        double bias[CASCADE_METRICS_MAX_COLUMNS], res[CASCADE_METRICS_MAX_COLUMNS], rmse[CASCADE_METRICS_MAX_COLUMNS];
        st = residuals(comm, pred, y, n, out_numel, y_numel, cols, bias, res, rmse);
        for (int64_t j = 0; !st && j < cols; j++) {
            char name[96];
            residual_name(job, j, y_numel, cols, name, sizeof name);
            json_num(t1, sizeof t1, bias[j]);
            json_num(t2, sizeof t2, res[j]);
            json_num(t3, sizeof t3, rmse[j]);
            OUT(&o, ",\"%s_bias\":%s,\"%s_resolution\":%s,\"%s_rmse\":%s", name, t1, name, t2, name, t3);
        }
    }
    if (cascade_par_rank(comm) != 0 && cap) buf[0] = '\0', o.used = 0; /* the members are rank 0's */
    if (used) *used = o.used;
    return st;
}
