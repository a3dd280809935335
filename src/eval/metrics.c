/* Regression and classification metrics (see metrics.h). */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double s;
    int l;
} scored;

static int by_score(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

double cascade_auc(const double *score, const int *label, int64_t n) {
    scored *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return NAN;
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) v[i].s = score[i], v[i].l = label[i], pos += label[i] != 0;
    int64_t neg = n - pos;
    if (pos == 0 || neg == 0) {
        free(v);
        return NAN;
    }
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
    free(v);
    return (rank_sum - 0.5 * (double)pos * (double)(pos + 1)) / ((double)pos * (double)neg);
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

/* Classification members: accuracy, mean one-vs-rest ROC AUC, the confusion matrix (counts,
 * rows = true class, columns = predicted; up to CASCADE_METRICS_MAX_COLUMNS classes) and, for
 * per-element labels (spatial > 1, a segmentation), the intersection over union per class
 * TP / (TP + FP + FN) over all elements of all samples and their mean. */
static size_t classification_json(int ce, const float *pred, const float *y, int64_t n, int64_t out_numel,
                                  int64_t spatial, int64_t classes, char *buf, size_t cap) {
    size_t used = 0;
    int full = 0;
    char t1[32], t2[32];
    int64_t correct = 0, total = n * spatial;
    double *score = malloc((size_t)(total ? total : 1) * sizeof(double));
    int *label = malloc((size_t)(total ? total : 1) * sizeof(int));
    double auc_sum = 0;
    int auc_count = 0;
    for (int64_t cls = ce ? 0 : 1; score && label && cls < classes; cls++) {
        for (int64_t i = 0; i < n; i++) {
            for (int64_t e = 0; e < spatial; e++) {
                int64_t k = i * spatial + e;
                double p;
                if (ce) { /* softmax probability of cls at element e */
                    const float *lg = pred + i * out_numel + e;
                    double mx = lg[0], z = 0;
                    for (int64_t c = 1; c < classes; c++) mx = fmax(mx, lg[c * spatial]);
                    for (int64_t c = 0; c < classes; c++) z += exp(lg[c * spatial] - mx);
                    p = exp(lg[cls * spatial] - mx) / z;
                } else {
                    p = 1.0 / (1.0 + exp(-(double)pred[i * out_numel + e]));
                }
                score[k] = p;
                label[k] = (int)y[k] == (int)cls;
            }
        }
        double auc = cascade_auc(score, label, total);
        if (!isnan(auc)) auc_sum += auc, auc_count++;
        if (ce && classes == 2) break; /* binary: AUC of class 0 == of class 1 */
    }
    free(score);
    free(label);
    int with_matrix = classes <= CASCADE_METRICS_MAX_COLUMNS;
    int64_t cm[CASCADE_METRICS_MAX_COLUMNS][CASCADE_METRICS_MAX_COLUMNS] = {{0}};
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = 0; e < spatial; e++) {
            int64_t best = predicted_class(ce, pred, i, e, out_numel, spatial, classes);
            double t = y[i * spatial + e];
            correct += best == (int64_t)t;
            if (with_matrix && t >= 0 && t < (double)classes && t == floor(t)) cm[(int64_t)t][best]++;
        }
    json_num(t1, sizeof t1, (double)correct / (double)(total ? total : 1));
    json_num(t2, sizeof t2, auc_count ? auc_sum / auc_count : NAN);
    PUT(",\"accuracy\":%s,\"auc\":%s", t1, t2);
    if (!with_matrix) return used;
    /* one member: built whole in a local buffer first (PUT writes whole members only) */
    char matrix[CASCADE_METRICS_MAX_COLUMNS * CASCADE_METRICS_MAX_COLUMNS * 22 + 64];
    size_t m = (size_t)snprintf(matrix, sizeof matrix, ",\"confusion_matrix\":[");
    for (int64_t r = 0; r < classes; r++)
        for (int64_t c = 0; c < classes; c++)
            m += (size_t)snprintf(matrix + m, sizeof matrix - m, "%s%lld%s", c ? "," : r ? ",[" : "[",
                                  (long long)cm[r][c], c + 1 == classes ? "]" : "");
    snprintf(matrix + m, sizeof matrix - m, "]");
    PUT("%s", matrix);
    if (spatial <= 1) return used;
    double iou_sum = 0;
    int iou_count = 0;
    for (int64_t c = 0; c < classes; c++) {
        int64_t tp = cm[c][c], fp = 0, fn = 0;
        for (int64_t k = 0; k < classes; k++)
            if (k != c) fp += cm[k][c], fn += cm[c][k];
        double iou = tp + fp + fn ? (double)tp / (double)(tp + fp + fn) : NAN; /* NaN: class absent */
        if (!isnan(iou)) iou_sum += iou, iou_count++;
        json_num(t1, sizeof t1, iou);
        PUT(",\"iou_%lld\":%s", (long long)c, t1);
    }
    json_num(t1, sizeof t1, iou_count ? iou_sum / iou_count : NAN);
    PUT(",\"mean_iou\":%s", t1);
    return used;
}

/* Tagging scores of per-element binary targets (y in {0, 1} per element), an element being
 * tagged when its class-1 probability exceeds 0.5 (ce: logit 1 > logit 0; bce: logit > 0).
 * precision = TP / (TP + FP), recall = TP / (TP + FN) over all elements of all samples;
 * event_precision / event_recall: the means over samples of the same ratios per sample, over
 * the samples with at least one tagged element / at least one true element (NaN if none). */
typedef struct {
    double precision, recall, event_precision, event_recall;
} tagging_scores;

static tagging_scores tagging(int two_logits, const float *pred, const float *y, int64_t n, int64_t out_numel,
                              int64_t spatial) {
    int64_t tp = 0, fp = 0, fn = 0, tagged_events = 0, true_events = 0;
    double sum_precision = 0, sum_recall = 0;
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
        if (etp + efp) sum_precision += (double)etp / (double)(etp + efp), tagged_events++;
        if (etp + efn) sum_recall += (double)etp / (double)(etp + efn), true_events++;
        tp += etp, fp += efp, fn += efn;
    }
    tagging_scores t;
    t.precision = tp + fp ? (double)tp / (double)(tp + fp) : NAN;
    t.recall = tp + fn ? (double)tp / (double)(tp + fn) : NAN;
    t.event_precision = tagged_events ? sum_precision / (double)tagged_events : NAN;
    t.event_recall = true_events ? sum_recall / (double)true_events : NAN;
    return t;
}

size_t cascade_metrics_json(const cascade_job *job, const float *pred, const float *y, int64_t n,
                            int64_t out_numel, int64_t y_numel, char *buf, size_t cap) {
    size_t used = 0;
    int full = 0;
    char t1[32], t2[32], t3[32];
    if (cap) buf[0] = '\0';
    if (job->kind == JOB_AUTOENCODER) { /* reconstruction errors over all elements */
        double se = 0, ae = 0;
        for (int64_t i = 0; i < n * y_numel; i++) {
            double d = (double)pred[i] - y[i];
            se += d * d;
            ae += fabs(d);
        }
        json_num(t1, sizeof t1, se / (double)(n * y_numel));
        json_num(t2, sizeof t2, ae / (double)(n * y_numel));
        PUT(",\"reconstruction_mse\":%s,\"reconstruction_mae\":%s", t1, t2);
        return used;
    }
    if (job->loss == LOSS_ANGULAR) {
        /* direction targets: the angle between predicted and true direction, in degrees */
        double *ang = malloc((size_t)(n ? n : 1) * sizeof(double));
        if (!ang) return 0;
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            double pp = 0, tt = 0, chord = 0;
            for (int64_t k = 0; k < y_numel; k++) pp += (double)pred[i * out_numel + k] * pred[i * out_numel + k],
                                                  tt += (double)y[i * y_numel + k] * y[i * y_numel + k];
            for (int64_t k = 0; k < y_numel; k++) {
                double d = pred[i * out_numel + k] / sqrt(pp) - y[i * y_numel + k] / sqrt(tt);
                chord += d * d;
            }
            double h = sqrt(chord) / 2;
            ang[i] = 2 * asin(h < 1 ? h : 1) * 180.0 / M_PI;
            sum += ang[i];
        }
        qsort(ang, (size_t)n, sizeof(double), by_value);
        json_num(t1, sizeof t1, quantile(ang, n, 0.68));
        json_num(t2, sizeof t2, quantile(ang, n, 0.5));
        json_num(t3, sizeof t3, sum / (double)n);
        PUT(",\"angle_68_deg\":%s,\"angle_median_deg\":%s,\"angle_mean_deg\":%s", t1, t2, t3);
        free(ang);
        return used;
    }
    if (job->loss == LOSS_CE || job->loss == LOSS_BCE) {
        int64_t classes = job->loss == LOSS_CE ? out_numel / y_numel : 2;
        used += classification_json(job->loss == LOSS_CE, pred, y, n, out_numel, y_numel, classes, buf + used,
                                    cap - used);
        if (y_numel > 1 && classes == 2) { /* per-element binary targets: tagging */
            tagging_scores ts = tagging(job->loss == LOSS_CE, pred, y, n, out_numel, y_numel);
            char t4[32];
            json_num(t1, sizeof t1, ts.precision);
            json_num(t2, sizeof t2, ts.recall);
            json_num(t3, sizeof t3, ts.event_precision);
            json_num(t4, sizeof t4, ts.event_recall);
            PUT(",\"threshold\":0.5,\"precision\":%s,\"recall\":%s,\"event_precision\":%s,\"event_recall\":%s",
                t1, t2, t3, t4);
        }
        return used;
    }
    if (y_numel > CASCADE_METRICS_MAX_COLUMNS) {
        /* a trace or an image per sample: one entry over all elements (the residual of every
         * element about the mean residual), not hundreds of per-column members */
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < y_numel; j++) sum += (double)pred[i * out_numel + j] - y[i * y_numel + j];
        double bias = sum / (double)(n * y_numel);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < y_numel; j++) {
                double r = (double)pred[i * out_numel + j] - y[i * y_numel + j] - bias;
                sq += r * r;
            }
        double res = sqrt(sq / (double)(n * y_numel)), rmse = sqrt(res * res + bias * bias);
        const char *name = job->n_targets == 1 ? job->targets[0] : "targets";
        json_num(t1, sizeof t1, bias);
        json_num(t2, sizeof t2, res);
        json_num(t3, sizeof t3, rmse);
        PUT(",\"%s_bias\":%s,\"%s_resolution\":%s,\"%s_rmse\":%s", name, t1, name, t2, name, t3);
        return used;
    }
    /* regression: per output column */
    for (int64_t j = 0; j < y_numel; j++) {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; i++) sum += (double)pred[i * out_numel + j] - y[i * y_numel + j];
        double bias = sum / (double)n;
        for (int64_t i = 0; i < n; i++) {
            double r = (double)pred[i * out_numel + j] - y[i * y_numel + j];
            sq += (r - bias) * (r - bias);
        }
        double res = sqrt(sq / (double)n), rmse = sqrt(res * res + bias * bias);
        char name[96];
        if (job->n_targets == y_numel)
            snprintf(name, sizeof name, "%s", job->targets[j]);
        else if (job->n_targets == 1)
            snprintf(name, sizeof name, "%s_%lld", job->targets[0], (long long)j);
        else
            snprintf(name, sizeof name, "target_%lld", (long long)j);
        json_num(t1, sizeof t1, bias);
        json_num(t2, sizeof t2, res);
        json_num(t3, sizeof t3, rmse);
        PUT(",\"%s_bias\":%s,\"%s_resolution\":%s,\"%s_rmse\":%s", name, t1, name, t2, name, t3);
    }
    return used;
}
