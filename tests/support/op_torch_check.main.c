/* Runs every case of a PyTorch reference file through the float engine op and compares
 * output, running statistics, input gradients and parameter gradients (normwise relative
 * error <= rtol, default 1e-5; references are computed by torch in double precision). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcase.h"

static float *to_float(const double *d, int64_t n) {
    float *f = cascade_alloc((size_t)(n ? n : 1) * sizeof(float), "test buffer");
    for (int64_t i = 0; d && i < n; i++) f[i] = (float)d[i];
    return f;
}

static int report(const opcase *c, const char *what, double err, double tol) {
    int bad = !(err <= tol);
    printf("%-8s %-12s %-40.40s %-16s relerr %.2e%s\n", c->group, c->type, c->spec_line, what, err,
           bad ? "  FAIL" : "");
    return bad;
}

/* Double backward vs torch: after forward and backward (dout), backward2 with the tangents
 * w_k gives dR/d(dout) and the direct terms; the second-order adjoint of the output then goes
 * through backward too, as the executor's seeded backward does. */
static int check_double(hid_t g, opcase *c, cascade_fwd *fw, cascade_bwd *bw) {
    cascade_layer *L = &c->L;
    int failures = 0;
    if (!L->op->backward2) {
        printf("%s: %s has no backward2 but the reference has double-backward data\n", c->group, c->type);
        return 1;
    }
    int64_t out_n = c->n * cascade_shape_numel(&L->out_shape);
    cascade_bwd2 b2 = {0};
    float *w[CASCADE_MAX_INPUTS] = {0}, *hin[CASCADE_MAX_INPUTS] = {0}, *dpar[CASCADE_MAX_PARAMS] = {0};
    float *uout = to_float(NULL, out_n), *hout = to_float(NULL, out_n);
    b2.n = c->n;
    b2.training = bw->training;
    b2.sample_ids = bw->sample_ids;
    b2.step = bw->step;
    b2.out = fw->out;
    b2.dout = bw->dout;
    b2.saved = fw->saved;
    b2.work = fw->work;
    b2.uout = uout;
    b2.hout = hout;
    for (int k = 0; k < L->n_in; k++) {
        int64_t n = c->n * cascade_shape_numel(&L->in_shape[k]);
        b2.in[k] = fw->in[k];
        w[k] = c->w[k] ? to_float(c->w[k], n) : NULL;
        hin[k] = c->has_din[k] ? to_float(NULL, n) : NULL;
        b2.uin[k] = w[k];
        b2.hin[k] = hin[k];
    }
    for (int p = 0; p < L->n_params; p++) {
        b2.param[p] = fw->param[p];
        dpar[p] = L->params[p].trainable ? to_float(NULL, cascade_shape_numel(&L->params[p].shape)) : NULL;
        b2.dparam[p] = dpar[p];
    }
    L->op->backward2(L, &b2);
    cascade_bwd hb = *bw; /* hout through the op's own backward, into hin and dpar */
    hb.dout = hout;
    for (int k = 0; k < L->n_in; k++) hb.din[k] = hin[k];
    for (int p = 0; p < L->n_params; p++) hb.dparam[p] = dpar[p];
    L->op->backward(L, &hb);
    cascade_shape sh;
    double *ref = th_read(g, "dd_dout", &sh);
    if (ref) failures += report(c, "dd_dout", th_relerr_f(uout, ref, out_n), c->rtol);
    free(ref);
    for (int k = 0; k < L->n_in; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "dd_in%d", k);
        ref = th_read(g, nm, &sh);
        if (ref && hin[k]) failures += report(c, nm, th_relerr_f(hin[k], ref, cascade_shape_numel(&sh)), c->rtol);
        free(ref);
    }
    for (int p = 0; p < L->n_params; p++) {
        char nm[64];
        snprintf(nm, sizeof nm, "dd_grad/%s", L->params[p].name);
        ref = th_read(g, nm, &sh);
        if (ref && dpar[p]) failures += report(c, nm, th_relerr_f(dpar[p], ref, cascade_shape_numel(&sh)), c->rtol);
        free(ref);
    }
    for (int k = 0; k < L->n_in; k++) cascade_free(w[k]), cascade_free(hin[k]);
    for (int p = 0; p < L->n_params; p++) cascade_free(dpar[p]);
    cascade_free(uout);
    cascade_free(hout);
    return failures;
}

static int check_case(hid_t f, opcase *c) {
    cascade_layer *L = &c->L;
    int64_t out_n = c->n * cascade_shape_numel(&L->out_shape);
    int failures = 0;
    cascade_fwd fw = {0};
    cascade_bwd bw = {0};
    float *in[CASCADE_MAX_INPUTS] = {0}, *din[CASCADE_MAX_INPUTS] = {0};
    float *param[CASCADE_MAX_PARAMS] = {0}, *dparam[CASCADE_MAX_PARAMS] = {0};
    for (int k = 0; k < L->n_in; k++) {
        int64_t n = c->n * cascade_shape_numel(&L->in_shape[k]);
        in[k] = to_float(c->in[k], n);
        din[k] = to_float(NULL, n);
        fw.in[k] = bw.in[k] = in[k];
        bw.din[k] = din[k];
    }
    for (int p = 0; p < L->n_params; p++) {
        int64_t n = cascade_shape_numel(&L->params[p].shape);
        param[p] = to_float(c->param[p], n);
        dparam[p] = L->params[p].trainable ? to_float(NULL, n) : NULL;
        fw.param[p] = param[p];
        bw.param[p] = param[p];
        bw.dparam[p] = dparam[p];
    }
    float *out = to_float(NULL, out_n), *dout = to_float(c->dout, out_n);
    float *saved = to_float(NULL, c->saved_n), *work = to_float(NULL, c->work_n);
    fw.n = bw.n = c->n;
    fw.training = bw.training = c->training;
    fw.update_stats = c->training;
    fw.out = out;
    fw.saved = saved;
    fw.work = work;
    fw.sample_ids = bw.sample_ids = c->sample_ids;
    fw.step = bw.step = (uint64_t)c->step;
    L->op->forward(L, &fw);
    failures += report(c, "out", th_relerr_f(out, c->out, out_n), c->rtol);

    hid_t g = H5Gopen2(f, c->group, H5P_DEFAULT);
    for (int p = 0; p < L->n_params; p++) {
        char nm[64];
        cascade_shape sh;
        snprintf(nm, sizeof nm, "param_after/%s", L->params[p].name);
        double *after = th_read(g, nm, &sh);
        if (after) failures += report(c, nm, th_relerr_f(param[p], after, cascade_shape_numel(&sh)), c->rtol);
        free(after);
    }
    if (c->dout) {
        bw.out = out;
        bw.dout = dout;
        bw.saved = saved;
        bw.work = work;
        L->op->backward(L, &bw);
        for (int k = 0; k < L->n_in; k++) {
            char nm[16];
            cascade_shape sh;
            snprintf(nm, sizeof nm, "din%d", k);
            double *ref = th_read(g, nm, &sh);
            if (ref) failures += report(c, nm, th_relerr_f(din[k], ref, cascade_shape_numel(&sh)), c->rtol);
            free(ref);
        }
        for (int p = 0; p < L->n_params; p++) {
            char nm[64];
            cascade_shape sh;
            snprintf(nm, sizeof nm, "grad/%s", L->params[p].name);
            double *ref = th_read(g, nm, &sh);
            if (ref && dparam[p])
                failures += report(c, nm, th_relerr_f(dparam[p], ref, cascade_shape_numel(&sh)), c->rtol);
            free(ref);
        }
        if (c->has_double) failures += check_double(g, c, &fw, &bw);
    }
    H5Gclose(g);
    for (int k = 0; k < L->n_in; k++) cascade_free(in[k]), cascade_free(din[k]);
    for (int p = 0; p < L->n_params; p++) cascade_free(param[p]), cascade_free(dparam[p]);
    cascade_free(out);
    cascade_free(dout);
    cascade_free(saved);
    cascade_free(work);
    return failures;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: op_torch_check REF.h5\n");
        return 2;
    }
    return opcase_each(argv[1], check_case) ? 1 : 0;
}
