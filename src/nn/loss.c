/* Training losses (see loss.h). Per-term values and gradients are computed in double from
 * the `real` inputs; the sum runs serially in index order, so it is independent of the
 * thread count and of the rank count (callers reduce per micro-batch sums). */
#include "nn/loss.h"

#include <tgmath.h>

/* Loss and derivative of one element for the elementwise kinds. */
static double elementwise(int kind, double p, double t, double *grad) {
    double d = p - t;
    switch (kind) {
    case LOSS_MSE:
        *grad = 2 * d;
        return d * d;
    case LOSS_MAE:
        *grad = d > 0 ? 1 : d < 0 ? -1 : 0;
        return fabs(d);
    case LOSS_HUBER: /* delta = 1 */
        if (fabs(d) < 1) {
            *grad = d;
            return 0.5 * d * d;
        }
        *grad = d > 0 ? 1 : -1;
        return fabs(d) - 0.5;
    default: { /* LOSS_BCE on logits: d/dp = sigmoid(p) - t */
        double e = exp(-fabs(p)); /* in (0, 1]: no overflow */
        double sigmoid = p >= 0 ? 1 / (1 + e) : e / (1 + e);
        *grad = sigmoid - t;
        return (p > 0 ? p : 0) - p * t + log1p(e);
    }
    }
}

/* Cross entropy of the logits at one position: z[k * stride], k < classes. */
static double cross_entropy(const real *z, int64_t stride, int64_t classes, double label_value,
                            real *grad, double scale, const double *weights) {
    double mx = -INFINITY;
    for (int64_t k = 0; k < classes; k++) mx = (double)z[k * stride] > mx ? (double)z[k * stride] : mx;
    double sum = 0;
    for (int64_t k = 0; k < classes; k++) sum += exp((double)z[k * stride] - mx);
    double lse = mx + log(sum);
    int valid = label_value >= 0 && label_value < (double)classes && label_value == floor(label_value);
    int64_t label = valid ? (int64_t)label_value : -1;
    double w = valid && weights ? weights[label] : 1;
    if (grad)
        for (int64_t k = 0; k < classes; k++)
            grad[k * stride] = (real)(scale * w * (exp((double)z[k * stride] - lse) - (k == label ? 1 : 0)));
    return valid ? w * (lse - (double)z[label * stride]) : NAN;
}

/* Angle (radians) between prediction p and target t (d components each, e.g. a shower axis);
 * the prediction's length is free. theta = 2 asin(|p^ - t^| / 2) is accurate for small
 * angles; d theta / d p = -(t^ - cos(theta) p^) / (|p| sin(theta)), taken as 0 when the two
 * are (anti)parallel, where the direction is undefined. A zero vector gives NaN. */
static double angular(const real *p, const real *t, int64_t d, real *grad, double scale) {
    double pp = 0, tt = 0, pt = 0;
    for (int64_t k = 0; k < d; k++) {
        pp += (double)p[k] * p[k];
        tt += (double)t[k] * t[k];
        pt += (double)p[k] * t[k];
    }
    double np_ = sqrt(pp), nt = sqrt(tt);
    if (np_ == 0 || nt == 0) {
        for (int64_t k = 0; grad && k < d; k++) grad[k] = 0;
        return NAN;
    }
    double c = pt / (np_ * nt), chord = 0;
    for (int64_t k = 0; k < d; k++) {
        double diff = (double)p[k] / np_ - (double)t[k] / nt;
        chord += diff * diff;
    }
    double half = sqrt(chord) / 2;
    double theta = 2 * asin(half < 1 ? half : 1), s = sin(theta);
    for (int64_t k = 0; grad && k < d; k++) {
        double u = (double)t[k] / nt - c * (double)p[k] / np_;
        grad[k] = (real)(s > 1e-12 ? -scale * u / (np_ * s) : 0);
    }
    return theta;
}

double OPSYM(cascade_loss)(int kind, int n, int64_t elems, int64_t classes, const real *pred,
                           const real *target, real *dpred, real scale) {
    return OPSYM(cascade_loss_weighted)(kind, n, elems, classes, pred, target, NULL, dpred, scale);
}

double OPSYM(cascade_loss_weighted)(int kind, int n, int64_t elems, int64_t classes, const real *pred,
                                    const real *target, const double *class_weights, real *dpred, real scale) {
    double sum = 0;
    if (kind == LOSS_CE) {
        int64_t spatial = elems / classes;
        for (int i = 0; i < n; i++)
            for (int64_t s = 0; s < spatial; s++) {
                int64_t off = (int64_t)i * elems + s;
                sum += cross_entropy(pred + off, spatial, classes, (double)target[(int64_t)i * spatial + s],
                                     dpred ? dpred + off : NULL, (double)scale, class_weights);
            }
        return sum;
    }
    if (kind == LOSS_ANGULAR) {
        for (int i = 0; i < n; i++)
            sum += angular(pred + (int64_t)i * elems, target + (int64_t)i * elems, elems,
                           dpred ? dpred + (int64_t)i * elems : NULL, (double)scale);
        return sum;
    }
    int64_t total = (int64_t)n * elems;
    for (int64_t i = 0; i < total; i++) {
        double grad;
        sum += elementwise(kind, (double)pred[i], (double)target[i], &grad);
        if (dpred) dpred[i] = (real)((double)scale * grad);
    }
    return sum;
}

#ifndef CASCADE_REAL_DOUBLE
void cascade_ce_label_weights(int n, int64_t spatial, const float *target, const double *class_weights,
                              int64_t classes, double *w) {
    for (int64_t i = 0; i < (int64_t)n * spatial; i++) {
        double t = target[i];
        int valid = t >= 0 && t < (double)classes && t == floor(t);
        w[i] = valid ? class_weights[(int64_t)t] : 0;
    }
}

int64_t cascade_loss_terms(int kind, int n, int64_t elems, int64_t classes) {
    if (kind == LOSS_ANGULAR) return n; /* one angle per sample */
    return kind == LOSS_CE ? (int64_t)n * (elems / classes) : (int64_t)n * elems;
}
#endif
