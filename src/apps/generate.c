/* cascade generate: samples from a trained gan/wgan/wgan-gp generator, in physical units,
 * under the training inputs' data-set names (see apps.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"

/* z counter of `generate` (training uses update << 8 | phase with phases below 256) */
#define GENERATE_COUNTER UINT64_MAX

cascade_status cascade_gan_write_tensor(cascade_h5writer *w, const cascade_job *job, const cascade_gan_x *gx, int k,
                                       const float *x, int64_t n, int rank) {
    int64_t dims[CASCADE_MAX_DIMS + 1] = {n};
    for (int j = 1; j < gx->shape[k].ndim; j++) dims[j] = gx->shape[k].d[j];
    cascade_shape sh = cascade_shape_make(gx->shape[k].ndim, dims);
    float *buf = cascade_alloc((size_t)(n * gx->numel[k] + 1) * sizeof(float), "generated data set");
    if (!buf) return CASCADE_EINTERNAL;
    for (int64_t s = 0; s < n; s++)
        memcpy(buf + s * gx->numel[k], x + s * gx->total + gx->off[k], (size_t)gx->numel[k] * sizeof(float));
    cascade_status st = cascade_h5w_create_rows(w, job->inputs[k], &sh);
    if (!st) st = cascade_h5w_write_rows(w, job->inputs[k], 0, rank == 0 ? n : 0, buf);
    cascade_free(buf);
    return st;
}

/* The first n rows of the job's condition data sets in `path`, flattened and concatenated per
 * sample as in training (where they are loaded as the data's targets). */
static cascade_status load_conditions(cascade_job *job, const char *path, int64_t n, MPI_Comm comm,
                                      cascade_dataset *c) {
    cascade_job view = *job; /* inputs: any one data set of the file (unused); targets: conditions */
    view.n_inputs = 1;
    snprintf(view.inputs[0], sizeof view.inputs[0], "%s", job->conditions[0]);
    view.n_targets = job->n_conditions;
    memcpy(view.targets, job->conditions, sizeof view.targets);
    view.n_log_inputs = 0;
    view.normalize = NORM_NONE;
    CASCADE_TRY(cascade_data_load(&view, path, 1, NULL, 0, comm, c));
    if (c->n < n)
        return cascade_fail(CASCADE_EUSAGE, "%s holds %lld samples of the conditions (%s ...); -n %lld asks for more",
                            path, (long long)c->n, job->conditions[0], (long long)n);
    return CASCADE_OK;
}

/* Writes input i of x (n, x_shape) as its own data set (n, input shape). */
cascade_status cascade_gan_write_input(cascade_h5writer *w, const cascade_job *job, const cascade_dataset *d, int i,
                                  const float *x, int64_t n, int rank) {
    int64_t xs = cascade_shape_numel(&d->x_shape), W = d->x_shape.d[d->x_shape.ndim - 1];
    int chan = job->layout == LAYOUT_CHANNELS;
    int64_t dims[CASCADE_MAX_DIMS + 1] = {n}, ndim = 1;
    if (chan) {
        for (int k = 1; k < d->x_shape.ndim; k++) dims[ndim++] = d->x_shape.d[k];
    } else {
        for (int k = 0; k < d->x_shape.ndim - 1; k++) dims[ndim++] = d->x_shape.d[k];
        dims[ndim++] = d->stat_start[i + 1] - d->stat_start[i];
    }
    cascade_shape sh = cascade_shape_make((int)ndim, dims);
    int64_t per = cascade_shape_numel(&sh) / (n ? n : 1), width = d->stat_start[i + 1] - d->stat_start[i];
    float *buf = cascade_alloc((size_t)(n * per + 1) * sizeof(float), "generated data set");
    if (!buf) return CASCADE_EINTERNAL;
    for (int64_t s = 0; s < n; s++)
        for (int64_t e = 0; e < per; e++)
            buf[s * per + e] = chan ? x[s * xs + i * per + e]
                                    : x[s * xs + (e / width) * W + d->stat_start[i] + e % width];
    cascade_status st = cascade_h5w_create_rows(w, job->inputs[i], &sh);
    if (!st) st = cascade_h5w_write_rows(w, job->inputs[i], 0, rank == 0 ? n : 0, buf);
    cascade_free(buf);
    return st;
}

static cascade_status copy_conditions(cascade_h5writer *w, const cascade_job *job, const char *path, int64_t n,
                                      MPI_Comm comm, int rank) {
    cascade_h5file *in;
    CASCADE_TRY(cascade_h5_open(path, comm, &in));
    cascade_status st = CASCADE_OK;
    for (int i = 0; !st && i < job->n_conditions; i++) {
        cascade_h5_info info;
        st = cascade_h5_info_of(in, job->conditions[i], &info);
        if (st) break;
        info.shape.d[0] = n;
        float *buf = cascade_alloc((size_t)(cascade_shape_numel(&info.shape) + 1) * sizeof(float), "condition copy");
        if (!buf) st = CASCADE_EINTERNAL;
        if (!st) st = cascade_h5_read_rows(in, job->conditions[i], 0, n, buf);
        if (!st) st = cascade_h5w_create_rows(w, job->conditions[i], &info.shape);
        if (!st) st = cascade_h5w_write_rows(w, job->conditions[i], 0, rank == 0 ? n : 0, buf);
        cascade_free(buf);
    }
    cascade_h5_close(in);
    return st;
}

cascade_status cascade_generate(const char *ckpt, int64_t n, uint64_t seed, int seed_given, const char *cond_file,
                                const char *out, MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    cascade_h5file *f = NULL;
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    memset(&job, 0, sizeof job);
    cascade_dataset layout, cond;
    memset(&layout, 0, sizeof layout);
    memset(&cond, 0, sizeof cond);
    cascade_norm_stats norm = {0};
    cascade_net gen, critic;
    memset(&gen, 0, sizeof gen);
    memset(&critic, 0, sizeof critic);
    float *x = NULL, *zb = NULL, *cb = NULL;
    cascade_h5writer *w = NULL;
    cascade_status st = cascade_ckpt_open(ckpt, comm, &f);
    if (!st) st = cascade_ckpt_read_meta(f, &meta);
    if (!st) st = cascade_job_parse(meta.job, ckpt, NULL, 0, &job);
    if (st) goto done;
    if (job.kind != JOB_GAN && job.kind != JOB_WGAN && job.kind != JOB_WGAN_GP) {
        st = cascade_fail(CASCADE_EUSAGE, "%s: generate needs a kind = gan, wgan or wgan-gp run (this one is %s)", ckpt,
                          job.kind == JOB_REFINER ? "a refiner: use cascade refine" : "not adversarial");
        goto done;
    }
    if (job.n_conditions && !cond_file) {
        st = cascade_fail(CASCADE_EUSAGE, "%s: the generator is conditional (condition = %s%s): give --condition "
                          "FILE.h5 with those data sets", ckpt, job.conditions[0], job.n_conditions > 1 ? ", ..." : "");
        goto done;
    }
    if ((st = cascade_gan_read_layout(f, &job, &layout))) goto done;
    if (job.n_conditions && (st = load_conditions(&job, cond_file, n, comm, &cond))) goto done;
    cascade_gan_x gx;
    int gen_out[CASCADE_MAX_NAMES];
    if ((st = cascade_gan_read_tensors(f, &job, &layout, &gx))) goto done;
    if ((st = cascade_gan_build(&job, &gx, job.n_conditions ? &cond.y_shape : NULL, &gen, &critic, gen_out)))
        goto done;
    if ((st = cascade_model_read_params(f, &gen, 1))) goto done;
    if ((st = cascade_model_read_state(f, &job, &gen, NULL, &norm, &layout, NULL))) goto done;
    int chunk = (int)job.micro_batch;
    int64_t xs = gx.total, cs = job.n_conditions ? cascade_shape_numel(&cond.y_shape) : 0;
    if ((st = cascade_net_prepare(&gen, chunk, 0))) goto done;
    x = cascade_alloc((size_t)(n * xs + 1) * sizeof(float), "generated samples");
    zb = cascade_alloc((size_t)(chunk * job.latent) * sizeof(float), "noise");
    cb = cascade_alloc((size_t)(chunk * (cs ? cs : 1)) * sizeof(float), "conditions");
    if (!x || !zb || !cb) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    /* chunks at global offsets, dealt to ranks in contiguous blocks, then gathered */
    uint64_t zseed = seed_given ? seed : (uint64_t)job.seed;
    int64_t lo, hi;
    cascade_par_chunk_rows(n, chunk, rank, cascade_par_size(comm), &lo, &hi);
    for (int64_t start = lo; start < hi; start += chunk) {
        int m = (int)(hi - start < chunk ? hi - start : chunk);
        cascade_gan_noise(zseed, GENERATE_COUNTER, start, m, job.latent, zb);
        if (cs) memcpy(cb, cond.y + start * cs, (size_t)(m * cs) * sizeof(float));
        cascade_run run = {.n = m, .training = 0};
        run.ext[0] = zb;
        run.ext[1] = cb;
        cascade_net_forward(&gen, &run);
        for (int k = 0; k < gx.n; k++) /* per sample [t0 | t1 | ...] */
            for (int i = 0; i < m; i++)
                memcpy(x + (start + i) * xs + gx.off[k], gen.act[gen_out[k]] + (int64_t)i * gx.numel[k],
                       (size_t)gx.numel[k] * sizeof(float));
    }
    if ((st = cascade_par_gather_rows(comm, x, n, chunk, xs))) goto done;
    if (gx.n > 1) cascade_gan_tensors_to_physical(&job, &gx, &norm, x, n);
    else cascade_gan_to_physical(&job, &layout, &norm, x, n);
    if ((st = cascade_h5w_create(out, comm, &w))) goto done;
    for (int i = 0; !st && i < job.n_inputs; i++)
        st = gx.n > 1 ? cascade_gan_write_tensor(w, &job, &gx, i, x, n, rank) : cascade_gan_write_input(w, &job, &layout, i, x, n, rank);
    if (!st && job.n_conditions) st = copy_conditions(w, &job, cond_file, n, comm, rank);
    if (!st) st = cascade_h5w_attr_string(w, "/", "generator", "cascade generate");
    if (!st) st = cascade_h5w_attr_string(w, "/", "checkpoint", ckpt);
    if (!st) st = cascade_h5w_attr_int(w, "/", "step", meta.step);
    if (!st) st = cascade_h5w_attr_int(w, "/", "seed", (int64_t)zseed);
    if (!st) st = cascade_h5w_commit(w);
    else cascade_h5w_abort(w);
    w = NULL;
done:
    if (w) cascade_h5w_abort(w);
    cascade_free(x);
    cascade_free(zb);
    cascade_free(cb);
    cascade_net_free(&gen);
    cascade_net_free(&critic);
    cascade_norm_free(&norm);
    cascade_data_free(&cond);
    cascade_ckpt_meta_free(&meta);
    if (job.sections) cascade_job_free(&job);
    cascade_h5_close(f);
    return st;
}
