/* A constrainer (Erdmann et al. 2018): a frozen, already trained regression model whose
 * prediction on generated samples must match the condition they were generated for. The
 * generator's loss gains constrainer_weight * mean (C(G(z, c)) - c)^2; C's weights never
 * change. The generator's samples live in the GAN's normalised space, the constrainer reads
 * its own: per statistic (channel or feature) an affine map joins them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adversarial.h"

static int same_names(char (*a)[64], int na, char (*b)[64], int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0) return 0;
    return 1;
}

cascade_status cascade_constrainer_open(cascade_constrainer *k, const cascade_job *gan, const cascade_dataset *train,
                                        const cascade_norm_stats *gnorm, int mb, MPI_Comm comm) {
    memset(k, 0, sizeof *k);
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    cascade_norm_stats cnorm = {0};
    const char *path = gan->constrainer;
    cascade_status st = cascade_ckpt_open(path, comm, &f);
    if (!st) st = cascade_ckpt_read_meta(f, &meta);
    if (!st) st = cascade_job_parse(meta.job, path, NULL, 0, &k->job);
    if (st) goto done;
    k->open = 1;
    cascade_job *cj = &k->job;
    if (cj->kind != JOB_SUPERVISED) {
        st = cascade_fail(CASCADE_EUSAGE, "constrainer = %s: a kind = supervised regression model is needed", path);
        goto done;
    }
    if (!same_names(cj->inputs, cj->n_inputs, (char(*)[64])gan->inputs, gan->n_inputs) || cj->layout != gan->layout ||
        !same_names(cj->log_inputs, cj->n_log_inputs, (char(*)[64])gan->log_inputs, gan->n_log_inputs)) {
        st = cascade_fail(CASCADE_EUSAGE, "constrainer = %s: it must read the generated samples as they are: the same "
                          "inputs (%s, ...), layout and log_inputs as this job", path, gan->inputs[0]);
        goto done;
    }
    if ((st = cascade_model_build(cj, cj->nets[0], &train->x_shape, &k->net))) goto done;
    int64_t cs = train->y ? cascade_shape_numel(&train->y_shape) : 0;
    k->outs = cascade_shape_numel(cascade_net_out_shape(&k->net));
    if (k->outs != cs) {
        st = cascade_fail(CASCADE_EUSAGE, "constrainer = %s predicts %lld values per sample; the condition (%s, ...) "
                          "has %lld", path, (long long)k->outs, gan->conditions[0], (long long)cs);
        goto done;
    }
    if ((st = cascade_model_read_params(f, &k->net, 1))) goto done;
    if ((st = cascade_model_read_state(f, cj, &k->net, NULL, &cnorm, train, NULL))) goto done;
    if (cj->normalize_targets == NORM_STANDARD && (st = cascade_model_read_tnorm(f, k->outs, &k->tnorm))) goto done;
    if ((st = cascade_net_prepare(&k->net, mb, 1))) goto done;
    int64_t xs = cascade_shape_numel(&train->x_shape), W = train->x_shape.d[train->x_shape.ndim - 1];
    int chan = gan->layout == LAYOUT_CHANNELS;
    int64_t blk = chan ? xs / train->x_shape.d[0] : 1;
    k->scale = malloc((size_t)xs * sizeof(double));
    k->shift = malloc((size_t)xs * sizeof(double));
    k->w = cascade_alloc((size_t)(mb * xs) * sizeof(float), "constrainer input");
    k->dout = cascade_alloc((size_t)(mb * k->outs) * sizeof(float), "constrainer gradient");
    if (!k->scale || !k->shift || !k->w || !k->dout) {
        st = cascade_fail(CASCADE_EINTERNAL, "out of memory for the constrainer");
        goto done;
    }
    for (int64_t e = 0; e < xs; e++) { /* w = (u sg + mg - mc) / sc */
        int64_t s = chan ? e / blk : e % W;
        double sg = 1, mg = 0, sc = 1, mc = 0;
        if (gan->normalize == NORM_STANDARD) sg = gnorm->std[s], mg = gnorm->mean[s];
        if (cj->normalize == NORM_STANDARD) sc = cnorm.std[s], mc = cnorm.mean[s];
        k->scale[e] = sg / sc;
        k->shift[e] = (mg - mc) / sc;
    }
    k->xs = xs;
done:
    cascade_norm_free(&cnorm);
    cascade_ckpt_meta_free(&meta);
    cascade_h5_close(f);
    if (st) cascade_error_context("constrainer = %s: ", path);
    return st;
}

double cascade_constrainer_apply(cascade_constrainer *k, const float *x, const float *c, int m, double norm,
                                 double weight, float *dx) {
    for (int64_t i = 0; i < m * k->xs; i++) {
        int64_t e = i % k->xs;
        k->w[i] = (float)(k->scale[e] * x[i] + k->shift[e]);
    }
    cascade_run run = {.n = m, .training = 0, .no_param_grads = 1};
    run.ext[0] = k->w;
    cascade_net_forward(&k->net, &run);
    const float *out = cascade_net_output(&k->net);
    double sum = 0;
    for (int64_t i = 0; i < m * k->outs; i++) {
        int64_t j = i % k->outs;
        double sd = k->tnorm.n ? k->tnorm.std[j] : 1, mean = k->tnorm.n ? k->tnorm.mean[j] : 0;
        double d = (double)out[i] * sd + mean - c[i]; /* prediction in physical units - condition */
        sum += d * d;
        k->dout[i] = (float)(2 * weight * d * sd / norm);
    }
    cascade_net_backward(&k->net, &run, k->dout);
    const float *dw = k->net.dext[0];
    for (int64_t i = 0; i < m * k->xs; i++) dx[i] += (float)(dw[i] * k->scale[i % k->xs]);
    return sum;
}

void cascade_constrainer_close(cascade_constrainer *k) {
    if (k->open) cascade_job_free(&k->job);
    cascade_net_free(&k->net);
    cascade_norm_free(&k->tnorm);
    free(k->scale);
    free(k->shift);
    cascade_free(k->w);
    cascade_free(k->dout);
    memset(k, 0, sizeof *k);
}
