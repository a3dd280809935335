/* Pixel flipping (Samek et al. 2017): how fast the explained output S falls when the inputs an
 * attribution ranks most relevant are removed first, against a random order. A "pixel" is a
 * position of the per-sample input with its channels together (channels layout: x is
 * (C, ...) and a pixel's relevance is the sum over C). Removing sets it to `value` (0: the
 * training-set mean after normalisation). AOPC = 1/(L+1) sum_k <S(x) - S(x^(k))> over the
 * samples, x^(k) with the first k of L equal groups of pixels removed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/explain.h"

typedef struct {
    int64_t pixel;
    double score;
} ranked;

/* most relevant first; ties by position, so the order is deterministic */
static int by_score(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->pixel > y->pixel) - (x->pixel < y->pixel);
}

/* S of m inputs xs (m, xn) in chunks of the net's micro-batch, eval mode. */
static void outputs(cascade_net *net, const float *xs, int64_t m, int64_t xn, int64_t target, double *s) {
    int64_t on = cascade_shape_numel(cascade_net_out_shape(net));
    for (int64_t a = 0; a < m; a += net->max_n) {
        int k = (int)(m - a < net->max_n ? m - a : net->max_n);
        cascade_run run = {.n = k, .training = 0};
        run.ext[0] = xs + a * xn;
        cascade_net_forward(net, &run);
        const float *out = cascade_net_output(net);
        for (int i = 0; i < k; i++) s[a + i] = out[(int64_t)i * on + target];
    }
}

cascade_status cascade_explain_flipping(cascade_net *net, const float *x, int64_t n, const cascade_shape *xshape,
                                        int channels, const float *attr, int64_t target, int steps, float value,
                                        uint64_t seed, double *curve, double *random_curve) {
    int64_t xn = cascade_shape_numel(xshape), C = channels && xshape->ndim > 1 ? xshape->d[0] : 1, P = xn / C;
    if (steps < 1 || steps > P) steps = (int)P;
    ranked *order = malloc((size_t)P * sizeof(ranked));
    int64_t *perm = malloc((size_t)P * sizeof(int64_t));
    float *batch = cascade_alloc((size_t)((steps + 1) * xn) * sizeof(float), "pixel-flipping inputs");
    double *s = malloc((size_t)(steps + 1) * sizeof(double));
    if (!order || !perm || !batch || !s) {
        free(order), free(perm), cascade_free(batch), free(s);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for pixel flipping (%lld pixels, %d steps)",
                            (long long)P, steps);
    }
    memset(curve, 0, (size_t)(steps + 1) * sizeof(double));
    memset(random_curve, 0, (size_t)(steps + 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * xn, *ri = attr + i * xn;
        for (int pass = 0; pass < 2; pass++) { /* 0: the attribution's order, 1: random */
            if (pass == 0) {
                for (int64_t p = 0; p < P; p++) {
                    double sum = 0;
                    for (int64_t c = 0; c < C; c++) sum += ri[c * P + p];
                    order[p].pixel = p, order[p].score = sum;
                }
                qsort(order, (size_t)P, sizeof *order, by_score);
                for (int64_t p = 0; p < P; p++) perm[p] = order[p].pixel;
            } else {
                cascade_permutation(seed, CASCADE_RNG_NOISE, (uint64_t)i, P, perm);
            }
            /* x^(k): the first round(k P / steps) pixels of the order removed */
            for (int k = 0; k <= steps; k++) {
                float *xk = batch + (int64_t)k * xn;
                memcpy(xk, xi, (size_t)xn * sizeof(float));
                int64_t removed = (int64_t)k * P / steps;
                for (int64_t q = 0; q < removed; q++)
                    for (int64_t c = 0; c < C; c++) xk[c * P + perm[q]] = value;
            }
            outputs(net, batch, steps + 1, xn, target, s);
            double *dst = pass ? random_curve : curve;
            for (int k = 0; k <= steps; k++) dst[k] += (s[0] - s[k]) / (double)n;
        }
    }
    free(order), free(perm), cascade_free(batch), free(s);
    return CASCADE_OK;
}

double cascade_explain_aopc(const double *curve, int steps) {
    double sum = 0;
    for (int k = 0; k <= steps; k++) sum += curve[k];
    return sum / (steps + 1);
}
