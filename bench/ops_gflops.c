/* GFLOP/s of the conv and dense ops (forward + backward, batch 128) of the reference model,
 * as a fraction of OpenBLAS sgemm peak measured in the same run at the same thread count.
 * FLOPs are nominal (direct convolution multiply-adds x 2; Winograd does fewer). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"

char *openblas_get_corename(void);

static double sgemm_peak(void) {
    const int n = 1024, reps = 8;
    float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4), *c = calloc((size_t)n * n, 4);
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.2f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t = cascade_now();
    for (int r = 0; r < reps; r++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    t = cascade_now() - t;
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n * reps / t / 1e9;
}

/* Times forward + backward of one layer; returns seconds per call pair. */
static double time_layer(const char *type, const char *spec_text, cascade_shape in, int n, double *flops_out,
                         double flops_per_sample_fwd) {
    cascade_layer L;
    memset(&L, 0, sizeof L);
    snprintf(L.full, sizeof L.full, "bench.%s", type);
    cascade_section s = {0};
    s.name = strdup(L.full);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec_text);
    for (char *kv = strtok(buf, ";"); kv; kv = strtok(NULL, ";")) {
        char *eq = strchr(kv, '=');
        *eq = 0;
        cascade_section_set(&s, kv, eq + 1, 1);
    }
    if (cascade_layer_setup(&L, cascade_op_find(type), &s, 1, &in) != CASCADE_OK) {
        fprintf(stderr, "%s\n", cascade_errmsg());
        exit(1);
    }
    int64_t xin = n * cascade_shape_numel(&in), xout = n * cascade_shape_numel(&L.out_shape), np = 0;
    for (int p = 0; p < L.n_params; p++) np += cascade_shape_numel(&L.params[p].shape);
    float *x = calloc((size_t)xin, 4), *dx = calloc((size_t)xin, 4), *y = calloc((size_t)xout, 4),
          *dy = calloc((size_t)xout, 4), *w = calloc((size_t)np, 4), *dw = calloc((size_t)np, 4);
    float *saved = calloc((size_t)(L.saved_per_sample * n + L.saved_fixed + 1), 4);
    float *work = calloc((size_t)(L.work_per_sample * n + L.work_fixed + 1), 4);
    for (int64_t i = 0; i < xin; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (int64_t i = 0; i < np; i++) w[i] = (float)((i * 104729) % 1000) / 5000.0f - 0.1f;
    for (int64_t i = 0; i < xout; i++) dy[i] = 0.01f;
    cascade_fwd f = {.n = n, .training = 1, .out = y, .saved = saved, .work = work};
    cascade_bwd b = {.n = n, .training = 1, .out = y, .dout = dy, .saved = saved, .work = work};
    f.in[0] = b.in[0] = x;
    b.din[0] = dx;
    int64_t off = 0;
    for (int p = 0; p < L.n_params; p++) {
        f.param[p] = w + off;
        b.param[p] = w + off;
        b.dparam[p] = dw + off;
        off += cascade_shape_numel(&L.params[p].shape);
    }
    L.op->forward(&L, &f);
    L.op->backward(&L, &b);
    int reps = 20;
    double t = cascade_now();
    for (int r = 0; r < reps; r++) {
        L.op->forward(&L, &f);
        L.op->backward(&L, &b);
    }
    t = (cascade_now() - t) / reps;
    *flops_out = 3.0 * flops_per_sample_fwd * n; /* backward = 2 x forward */
    free(x), free(dx), free(y), free(dy), free(w), free(dw), free(saved), free(work);
    cascade_section_free(&s);
    cascade_layer_release(&L);
    return t;
}

int main(void) {
    int n = 128;
    double peak = sgemm_peak();
    printf("OpenBLAS core %s, sgemm peak %.1f GFLOP/s\n", openblas_get_corename(), peak);
    struct {
        const char *name, *type, *spec;
        cascade_shape in;
        double fwd;
    } cases[] = {
        {"conv 2->32 3x3 on 9x9", "conv2d", "filters=32;kernel=3;padding=same", cascade_shape_make(3, (int64_t[]){2, 9, 9}), 2.0 * 81 * 32 * 2 * 9},
        {"conv 32->32 3x3 on 9x9", "conv2d", "filters=32;kernel=3;padding=same", cascade_shape_make(3, (int64_t[]){32, 9, 9}), 2.0 * 81 * 32 * 32 * 9},
        {"conv 32->64 3x3 on 9x9", "conv2d", "filters=64;kernel=3;padding=same", cascade_shape_make(3, (int64_t[]){32, 9, 9}), 2.0 * 81 * 64 * 32 * 9},
        {"dense 5184->128", "dense", "units=128", cascade_shape_make(1, (int64_t[]){5184}), 2.0 * 5184 * 128},
    };
    printf("%-26s %10s %10s %9s\n", "layer (batch 128, fwd+bwd)", "ms", "GFLOP/s", "of peak");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double flops, t = time_layer(cases[i].type, cases[i].spec, cases[i].in, n, &flops, cases[i].fwd);
        printf("%-26s %10.3f %10.1f %8.0f%%\n", cases[i].name, t * 1e3, flops / t / 1e9, 100 * flops / t / 1e9 / peak);
    }
    return 0;
}
