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
    double *dout;                       /* the upstream gradient (a copy: perturbed too) */
    double *din[CASCADE_MAX_INPUTS];    /* scratch for the double-backward objective */
    int second;                         /* objective: 0 = sum(dout * f), 1 = R = sum_k <w_k, din_k> */
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
    if (!x->second) {
        for (int64_t i = 0; i < x->out_n; i++) j += c->dout[i] * x->out[i];
        return j;
    }
    /* R: the input gradients of backward(dout), weighted */
    cascade_bwd_f64 bw = {0};
    bw.n = c->n;
    bw.training = c->training;
    bw.out = x->out;
    bw.dout = x->dout;
    bw.saved = x->saved;
    bw.work = x->work;
    bw.sample_ids = c->sample_ids;
    bw.step = (uint64_t)c->step;
    for (int k = 0; k < c->L.n_in; k++) {
        bw.in[k] = c->in[k];
        if (!c->w[k]) continue;
        int64_t n = c->n * cascade_shape_numel(&c->L.in_shape[k]);
        memset(x->din[k], 0, (size_t)n * sizeof(double));
        bw.din[k] = x->din[k];
    }
    for (int p = 0; p < c->L.n_params; p++) bw.param[p] = c->param[p];
    x->op->backward(&c->L, &bw);
    for (int k = 0; k < c->L.n_in; k++) {
        if (!c->w[k]) continue;
        int64_t n = c->n * cascade_shape_numel(&c->L.in_shape[k]);
        for (int64_t i = 0; i < n; i++) j += c->w[k][i] * x->din[k][i];
    }
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

/* Double backward vs central differences of R = sum_k <w_k, din_k> (din from backward):
 * analytic dR/d(dout) = uout, dR/d(in_k) = hin_k + (backward of hout)_k, dR/d(param) = the
 * backward2 terms + (backward of hout) — as the executor combines them. */
static int check_double(fd_ctx *x) {
    opcase *c = x->c;
    cascade_layer *L = &c->L;
    if (!x->op->backward2) {
        printf("%s: %s has no backward2 but the reference has double-backward data\n", c->group, c->type);
        return 1;
    }
    int failures = 0;
    x->second = 1;
    x->dout = calloc((size_t)x->out_n + 1, sizeof(double));
    memcpy(x->dout, c->dout, (size_t)x->out_n * sizeof(double));
    double *uout = calloc((size_t)x->out_n + 1, sizeof(double)), *hout = calloc((size_t)x->out_n + 1, sizeof(double));
    double *hin[CASCADE_MAX_INPUTS] = {0}, *dpar[CASCADE_MAX_PARAMS] = {0};
    for (int k = 0; k < L->n_in; k++) {
        size_t n = (size_t)(c->n * cascade_shape_numel(&L->in_shape[k])) + 1;
        x->din[k] = calloc(n, sizeof(double));
        hin[k] = c->w[k] ? calloc(n, sizeof(double)) : NULL;
    }
    for (int p = 0; p < L->n_params; p++)
        if (L->params[p].trainable) dpar[p] = calloc((size_t)cascade_shape_numel(&L->params[p].shape) + 1, sizeof(double));
    objective(x); /* forward state for the analytic terms */
    cascade_bwd2_f64 b2 = {0};
    b2.n = c->n;
    b2.training = c->training;
    b2.sample_ids = c->sample_ids;
    b2.step = (uint64_t)c->step;
    b2.out = x->out;
    b2.dout = x->dout;
    b2.saved = x->saved;
    b2.work = x->work;
    b2.uout = uout;
    b2.hout = hout;
    for (int k = 0; k < L->n_in; k++) {
        b2.in[k] = c->in[k];
        b2.uin[k] = c->w[k];
        b2.hin[k] = hin[k];
    }
    for (int p = 0; p < L->n_params; p++) {
        b2.param[p] = c->param[p];
        b2.dparam[p] = dpar[p];
    }
    x->op->backward2(L, &b2);
    cascade_bwd_f64 hb = {0};
    hb.n = c->n;
    hb.training = c->training;
    hb.out = x->out;
    hb.dout = hout;
    hb.saved = x->saved;
    hb.work = x->work;
    hb.sample_ids = c->sample_ids;
    hb.step = (uint64_t)c->step;
    for (int k = 0; k < L->n_in; k++) hb.in[k] = c->in[k], hb.din[k] = hin[k];
    for (int p = 0; p < L->n_params; p++) hb.param[p] = c->param[p], hb.dparam[p] = dpar[p];
    x->op->backward(L, &hb);
    failures += compare(x, "dd_dout", x->dout, uout, x->out_n);
    for (int k = 0; k < L->n_in; k++) {
        if (!hin[k]) continue;
        char nm[16];
        snprintf(nm, sizeof nm, "dd_in%d", k);
        failures += compare(x, nm, c->in[k], hin[k], c->n * cascade_shape_numel(&L->in_shape[k]));
    }
    for (int p = 0; p < L->n_params; p++)
        if (dpar[p]) {
            char nm[48];
            snprintf(nm, sizeof nm, "dd_%s", L->params[p].name);
            failures += compare(x, nm, c->param[p], dpar[p], cascade_shape_numel(&L->params[p].shape));
        }
    for (int k = 0; k < L->n_in; k++) free(x->din[k]), free(hin[k]);
    for (int p = 0; p < L->n_params; p++) free(dpar[p]);
    free(uout);
    free(hout);
    free(x->dout);
    x->second = 0;
    return failures;
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
    if (c->has_double) failures += check_double(&x);
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
