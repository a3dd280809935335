/* Spectral normalisation helpers (see spectral.h). Not an op: dense.c and conv.c call them. */
#include <stdio.h>
#include <string.h>
#include <tgmath.h>

#include "nn/ops/spectral.h"

static int64_t sn_rows(const cascade_layer *L) { return L->params[0].shape.d[0]; }
static int64_t sn_cols(const cascade_layer *L) { return op_numel(&L->params[0].shape) / sn_rows(L); }

void OPSYM(sn_setup)(cascade_layer *L, int64_t rows, int64_t cols) {
    snprintf(L->params[0].name, sizeof L->params[0].name, "weight_orig");
    const char *names[2] = {"weight_u", "weight_v"};
    int64_t lens[2] = {rows, cols};
    for (int k = 0; k < 2; k++) {
        cascade_param_desc *p = &L->params[L->n_params++];
        snprintf(p->name, sizeof p->name, "%s", names[k]);
        p->shape = cascade_shape_make(1, &lens[k]);
        p->trainable = 0;
        p->init = CASCADE_INIT_CONSTANT; /* a unit vector; the power iteration turns it */
        p->init_bound = 1.0 / sqrt((double)lens[k]);
    }
    L->saved_fixed += rows * cols + 1;
    L->work_fixed += rows * cols;
}

/* sigma = u^T W v (double accumulation) */
static double sigma_of(const real *W, const real *u, const real *v, int64_t rows, int64_t cols) {
    double s = 0;
    for (int64_t r = 0; r < rows; r++) {
        double wv = 0;
        for (int64_t c = 0; c < cols; c++) wv += (double)W[r * cols + c] * v[c];
        s += (double)u[r] * wv;
    }
    return s;
}

const real *OPSYM(sn_forward)(const cascade_layer *L, real *const *param, real *saved) {
    int64_t rows = sn_rows(L), cols = sn_cols(L);
    const real *W = param[0], *u = param[L->n_params - 2], *v = param[L->n_params - 1];
    double s = sigma_of(W, u, v, rows, cols);
    if (!(fabs(s) > 1e-30)) s = 1e-30; /* a zero weight: no scale */
    for (int64_t i = 0; i < rows * cols; i++) saved[i] = (real)(W[i] / s);
    saved[rows * cols] = (real)s;
    return saved;
}

real *OPSYM(sn_grad_buffer)(const cascade_layer *L, int n, real *work) {
    int64_t rc = op_numel(&L->params[0].shape);
    real *G = work + L->work_per_sample * n + L->work_fixed - rc;
    memset(G, 0, (size_t)rc * sizeof(real));
    return G;
}

void OPSYM(sn_grad)(const cascade_layer *L, const real *const *param, const real *saved, const real *G, real *dW) {
    int64_t rows = sn_rows(L), cols = sn_cols(L);
    const real *W = param[0], *u = param[L->n_params - 2], *v = param[L->n_params - 1];
    double s = saved[rows * cols], gw = 0;
    for (int64_t i = 0; i < rows * cols; i++) gw += (double)G[i] * W[i];
    double k = gw / (s * s);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dW[r * cols + c] += (real)(G[r * cols + c] / s - k * u[r] * v[c]);
}

static void normalize(real *x, int64_t n) {
    double q = 0;
    for (int64_t i = 0; i < n; i++) q += (double)x[i] * x[i];
    double norm = sqrt(q);
    if (norm < 1e-12) norm = 1e-12;
    for (int64_t i = 0; i < n; i++) x[i] = (real)(x[i] / norm);
}

void OPSYM(sn_begin_update)(const cascade_layer *L, real *const *param) {
    int64_t rows = sn_rows(L), cols = sn_cols(L);
    const real *W = param[0];
    real *u = param[L->n_params - 2], *v = param[L->n_params - 1];
    for (int64_t c = 0; c < cols; c++) { /* v = W^T u */
        double acc = 0;
        for (int64_t r = 0; r < rows; r++) acc += (double)W[r * cols + c] * u[r];
        v[c] = (real)acc;
    }
    normalize(v, cols);
    for (int64_t r = 0; r < rows; r++) { /* u = W v */
        double acc = 0;
        for (int64_t c = 0; c < cols; c++) acc += (double)W[r * cols + c] * v[c];
        u[r] = (real)acc;
    }
    normalize(u, rows);
}
