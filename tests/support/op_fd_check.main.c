/* Finite-difference gradient check in double precision for every case of a reference file:
 * the op compiled with CASCADE_REAL_DOUBLE, objective J = sum(r * f(x, theta)) with r the
 * case's `dout`; analytic gradients from backward vs central differences (h = 1e-6) on up to
 * 48 elements of every differentiable input and trainable parameter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcase.h"

typedef struct {
    opcase *c;
    const cascade_op_f64 *op;
    double *out, *saved, *work;
    int64_t out_n;
} fd_ctx;

static double objective(fd_ctx *x) {
    cascade_fwd_f64 fw = {0};
    opcase *c = x->c;
    fw.n = c->n;
    fw.training = c->training;
    fw.update_stats = 0;
    for (int k = 0; k < c->L.n_in; k++) fw.in[k] = c->in[k];
    for (int p = 0; p < c->L.n_params; p++) fw.param[p] = c->param[p];
    fw.out = x->out;
    fw.saved = x->saved;
    fw.work = x->work;
    fw.sample_ids = c->sample_ids;
    fw.step = (uint64_t)c->step;
    x->op->forward(&c->L, &fw);
    double j = 0;
    for (int64_t i = 0; i < x->out_n; i++) j += c->dout[i] * x->out[i];
    return j;
}

static int compare(fd_ctx *x, const char *what, double *v, const double *ana, int64_t n) {
    const double h = 1e-6;
    int64_t picks = n < 48 ? n : 48;
    double num_err = 0, scale = 1e-3;
    for (int64_t t = 0; t < picks; t++) {
        int64_t i = picks == n ? t : (t * (n - 1)) / (picks - 1);
        double keep = v[i];
        v[i] = keep + h;
        double jp = objective(x);
        v[i] = keep - h;
        double jm = objective(x);
        v[i] = keep;
        double num = (jp - jm) / (2 * h);
        double e = num - ana[i];
        if (e < 0) e = -e;
        if (!(e <= num_err)) num_err = e;
        if (ana[i] > scale) scale = ana[i];
        if (-ana[i] > scale) scale = -ana[i];
    }
    double rel = num_err / scale;
    int bad = !(rel <= x->c->fd_rtol);
    printf("%-8s %-12s %-40.40s fd %-14s relerr %.2e (%lld of %lld elements)%s\n", x->c->group,
           x->c->type, x->c->spec_line, what, rel, (long long)picks, (long long)n, bad ? "  FAIL" : "");
    return bad;
}

static int check_case(hid_t f, opcase *c) {
    (void)f;
    fd_ctx x = {.c = c};
    x.op = cascade_op_find_f64(c->type);
    if (!x.op || !c->dout) {
        printf("%s: no double op or no dout\n", c->group);
        return 1;
    }
    cascade_layer *L = &c->L;
    x.out_n = c->n * cascade_shape_numel(&L->out_shape);
    x.out = calloc((size_t)x.out_n + 1, sizeof(double));
    x.saved = calloc((size_t)c->saved_n + 1, sizeof(double));
    x.work = calloc((size_t)c->work_n + 1, sizeof(double));
    double *din[CASCADE_MAX_INPUTS] = {0}, *dparam[CASCADE_MAX_PARAMS] = {0};
    objective(&x);
    cascade_bwd_f64 bw = {0};
    bw.n = c->n;
    bw.training = c->training;
    bw.out = x.out;
    bw.dout = c->dout;
    bw.saved = x.saved;
    bw.work = x.work;
    bw.sample_ids = c->sample_ids;
    bw.step = (uint64_t)c->step;
    for (int k = 0; k < L->n_in; k++) {
        bw.in[k] = c->in[k];
        din[k] = calloc((size_t)(c->n * cascade_shape_numel(&L->in_shape[k])) + 1, sizeof(double));
        bw.din[k] = din[k];
    }
    for (int p = 0; p < L->n_params; p++) {
        bw.param[p] = c->param[p];
        if (L->params[p].trainable) {
            dparam[p] = calloc((size_t)cascade_shape_numel(&L->params[p].shape) + 1, sizeof(double));
            bw.dparam[p] = dparam[p];
        }
    }
    x.op->backward(L, &bw);
    int failures = 0;
    for (int k = 0; k < L->n_in; k++) {
        if (!c->has_din[k]) continue;
        char nm[16];
        snprintf(nm, sizeof nm, "din%d", k);
        failures += compare(&x, nm, c->in[k], din[k], c->n * cascade_shape_numel(&L->in_shape[k]));
    }
    for (int p = 0; p < L->n_params; p++)
        if (dparam[p])
            failures += compare(&x, L->params[p].name, c->param[p], dparam[p],
                                cascade_shape_numel(&L->params[p].shape));
    for (int k = 0; k < L->n_in; k++) free(din[k]);
    for (int p = 0; p < L->n_params; p++) free(dparam[p]);
    free(x.out);
    free(x.saved);
    free(x.work);
    return failures;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: op_fd_check REF.h5\n");
        return 2;
    }
    return opcase_each(argv[1], check_case) ? 1 : 0;
}
