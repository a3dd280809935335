/* Building a job's net and moving its state in and out of checkpoints (see model.h). */
#include "train/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/loss.h"
#include "parallel/gather.h"
#include "parallel/parallel.h"

cascade_status cascade_model_build(cascade_job *job, const char *net_name, const cascade_shape *x_shape,
                                   cascade_net *net) {
    const char *ext[] = {"x"};
    return cascade_model_build_ext(job, net_name, 1, ext, x_shape, net);
}

cascade_status cascade_model_build_ext(cascade_job *job, const char *net_name, int n_ext, const char *const *ext,
                                       const cascade_shape *ext_shapes, cascade_net *net) {
    cascade_layer_ref refs[256];
    char names[256][64];
    int n = 0;
    for (int i = 0; i < job->n_layers; i++) {
        cascade_section *s = &job->sections[job->layers[i]];
        char netn[64], layer[64];
        cascade_job_split_layer(s, netn, layer);
        if (strcmp(netn, net_name) != 0) continue;
        if (n == 256) return cascade_fail(CASCADE_EUSAGE, "net %s has more than 256 layers", net_name);
        snprintf(names[n], 64, "%s", layer);
        refs[n].section = s;
        refs[n].name = names[n];
        n++;
    }
    return cascade_net_build(net, net_name, refs, n, n_ext, ext, ext_shapes, (uint64_t)job->seed);
}

int64_t cascade_model_classes(const cascade_job *job, const cascade_net *net) {
    const cascade_shape *o = cascade_net_out_shape(net);
    return job->loss == LOSS_CE && o->ndim ? o->d[0] : 0;
}

cascade_status cascade_model_check_targets(const cascade_job *job, const cascade_net *net,
                                           const cascade_dataset *d) {
    const cascade_shape *o = cascade_net_out_shape(net);
    char a[128], b[128];
    int64_t on = cascade_shape_numel(o), yn = cascade_shape_numel(&d->y_shape);
    if (job->loss == LOSS_CE) {
        if (o->ndim < 1 || o->d[0] < 2 || on / o->d[0] != yn)
            return cascade_fail(CASCADE_EUSAGE,
                                "loss = ce needs the output of net %s to be (classes, ...) with classes >= 2 "
                                "and one label per remaining element: output %s, targets %s in %s",
                                net->name, cascade_shape_str(o, a, sizeof a),
                                cascade_shape_str(&d->y_shape, b, sizeof b), d->file);
        return CASCADE_OK;
    }
    if (on != yn && job->kind == JOB_AUTOENCODER)
        return cascade_fail(CASCADE_EUSAGE, "an autoencoder must reproduce its input: the output of net %s has "
                            "shape %s, the input x %s", net->name, cascade_shape_str(o, a, sizeof a),
                            cascade_shape_str(&d->x_shape, b, sizeof b));
    if (on != yn)
        return cascade_fail(CASCADE_EUSAGE, "the output of net %s has shape %s but the targets (%s) have %s in %s",
                            net->name, cascade_shape_str(o, a, sizeof a), job->targets[0],
                            cascade_shape_str(&d->y_shape, b, sizeof b), d->file);
    return CASCADE_OK;
}

cascade_status cascade_model_check_labels(const cascade_job *job, const cascade_dataset *d, int64_t classes) {
    return cascade_model_check_labels_at(job, d, classes, NULL);
}

cascade_status cascade_model_check_labels_at(const cascade_job *job, const cascade_dataset *d, int64_t classes,
                                             const int64_t *file_rows) {
    if ((job->loss != LOSS_CE && job->loss != LOSS_BCE) || !d->y) return CASCADE_OK;
    int64_t yn = cascade_shape_numel(&d->y_shape);
    for (int64_t i = 0; i < d->n * yn; i++) {
        float v = d->y[i];
        int ok = job->loss == LOSS_CE ? (v >= 0 && v < (float)classes && v == floorf(v)) : (v >= 0 && v <= 1);
        if (!ok)
            return cascade_fail(CASCADE_EDATA, "%s: data set '%s' row %lld holds %g; loss = %s needs %s", d->file,
                                job->targets[0], (long long)(file_rows ? file_rows[i / yn] : i / yn), (double)v,
                                job->loss == LOSS_CE ? "ce" : "bce",
                                job->loss == LOSS_CE ? "integer class labels 0..classes-1" : "values in [0, 1]");
    }
    return CASCADE_OK;
}

/* Path of a layer's parameter: /params/NET/LAYER/PARAM */
static void param_path(char *buf, size_t n, const char *root, const cascade_net *net, const cascade_layer *L,
                       const cascade_param_desc *p) {
    snprintf(buf, n, "/%s/%s/%s/%s", root, net->name, L->name, p->name);
}

/* The part [a, b) of tensor [off, off + cnt) of a flat buffer that lies in [lo, hi); empty
 * (a = b = off) when they do not meet. */
static void intersect(int64_t off, int64_t cnt, int64_t lo, int64_t hi, int64_t *a, int64_t *b) {
    *a = off > lo ? off : lo;
    *b = off + cnt < hi ? off + cnt : hi;
    if (*b <= *a) *a = *b = off;
}

static float *param_data(const cascade_net *net, int l, int p) {
    const cascade_param_desc *d = &net->layers[l].params[p];
    return (d->trainable ? net->params : net->buffers) + net->param_off[l][p];
}

/* A float array the same on every rank (normalisation, a refiner's history): rank r writes
 * block r of its values, so the ranks share the bytes. */
cascade_status cascade_model_write_blocks(cascade_h5writer *w, MPI_Comm comm, const char *path,
                                          const cascade_shape *shape, const float *data) {
    int64_t lo, hi;
    cascade_par_block(cascade_shape_numel(shape), cascade_par_rank(comm), cascade_par_size(comm), &lo, &hi);
    return cascade_h5w_write_floats(w, path, shape, data + lo, lo, hi - lo);
}

/* /params and /optimizer of one net written by their owners: rank r writes, of every tensor,
 * the part in its block r of the flat parameters (its ZeRO-1 shard, whose optimizer state only
 * it holds; unsharded the same block) and of the flat buffers (running statistics). Parameters
 * and buffers are equal on every rank after the allgather, so the file does not depend on the
 * rank count. One collective write per data set; a rank owning none of it selects nothing. */
static cascade_status write_tensors(cascade_h5writer *w, MPI_Comm comm, const cascade_net *net,
                                    const cascade_optimizer *opt) {
    int rank = cascade_par_rank(comm), size = cascade_par_size(comm);
    int64_t plo, phi, blo, bhi;
    cascade_par_block(net->n_params, rank, size, &plo, &phi);
    cascade_par_block(net->n_buffers, rank, size, &blo, &bhi);
    cascade_status st = CASCADE_OK; /* this rank must hold the state of its block */
    if (opt && (opt->offset > plo || opt->offset + opt->n < phi))
        st = cascade_fail(CASCADE_EINTERNAL, "%s: optimizer of net %s holds [%lld, %lld) of its %lld parameters, "
                          "rank %d writes [%lld, %lld)", cascade_h5w_filename(w), net->name, (long long)opt->offset,
                          (long long)(opt->offset + opt->n), (long long)net->n_params, rank, (long long)plo,
                          (long long)phi);
    CASCADE_TRY(cascade_par_agree(comm, st, NULL, NULL, "checking the optimizer shards for the checkpoint"));
    char path[512], sp[600];
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        for (int p = 0; p < L->n_params; p++) {
            const cascade_param_desc *pd = &L->params[p];
            int64_t off = net->param_off[l][p], cnt = cascade_shape_numel(&pd->shape), a, b;
            intersect(off, cnt, pd->trainable ? plo : blo, pd->trainable ? phi : bhi, &a, &b);
            param_path(path, sizeof path, "params", net, L, pd);
            CASCADE_TRY(cascade_h5w_write_floats(w, path, &pd->shape, param_data(net, l, p) + (a - off), a - off, b - a));
            if (!opt || !pd->trainable) continue;
            param_path(path, sizeof path, "optimizer", net, L, pd);
            for (int s = 0; s < opt->n_states; s++) {
                snprintf(sp, sizeof sp, "%s/%s", path, opt->state_names[s]);
                CASCADE_TRY(cascade_h5w_write_floats(w, sp, &pd->shape, b > a ? opt->state[s] + (a - opt->offset) : NULL,
                                                     a - off, b - a));
            }
            if (opt->n_states) CASCADE_TRY(cascade_h5w_attr_int(w, path, "step", opt->step));
        }
    }
    return CASCADE_OK;
}

/* /data attribute input_shapes: per input of the job, in order, ndim then the per-sample
 * axes as stored in the data file, so that a model can be opened without its data (read by
 * src/apps/infer.c). */
static cascade_status write_input_shapes(cascade_h5writer *w, const cascade_job *job, const cascade_dataset *d) {
    int64_t v[CASCADE_MAX_NAMES * (CASCADE_MAX_DIMS + 1)], k = 0;
    for (int i = 0; i < job->n_inputs && i < CASCADE_MAX_NAMES; i++) {
        v[k++] = d->in_shape[i].ndim;
        for (int a = 0; a < d->in_shape[i].ndim; a++) v[k++] = d->in_shape[i].d[a];
    }
    return cascade_h5w_attr_ints(w, "/data", "input_shapes", v, k);
}

cascade_status cascade_model_write(cascade_h5writer *w, MPI_Comm comm, const cascade_job *job, const cascade_net *net,
                                   const cascade_optimizer *opt, const cascade_norm_stats *norm,
                                   const cascade_dataset *d, const cascade_progress *pr) {
    char path[512];
    CASCADE_TRY(write_tensors(w, comm, net, opt));
    if (opt) {
        snprintf(path, sizeof path, "/optimizer/%s", net->name);
        CASCADE_TRY(cascade_h5w_attr_int(w, path, "step", opt->step));
    }
    if (norm && job->normalize == NORM_STANDARD) {
        for (int i = 0; i < job->n_inputs; i++) {
            int64_t a = d->stat_start[i], k = d->stat_start[i + 1] - a;
            float *buf = malloc((size_t)(2 * k + 1) * sizeof(float));
            cascade_status st = buf ? CASCADE_OK : cascade_fail(CASCADE_EINTERNAL, "out of memory");
            if ((st = cascade_par_agree(comm, st, NULL, NULL, "writing the normalisation"))) {
                free(buf);
                return st;
            }
            for (int64_t j = 0; j < k; j++) buf[j] = (float)norm->mean[a + j], buf[k + j] = (float)norm->std[a + j];
            cascade_shape sh = cascade_shape_make(1, &k);
            snprintf(path, sizeof path, "/normalization/%s/mean", job->inputs[i]);
            st = cascade_model_write_blocks(w, comm, path, &sh, buf);
            snprintf(path, sizeof path, "/normalization/%s/std", job->inputs[i]);
            if (!st) st = cascade_model_write_blocks(w, comm, path, &sh, buf + k);
            free(buf);
            CASCADE_TRY(st);
        }
    }
    if (pr) { /* the writer creates the /data group for its attributes */
        if (d && (job->kind == JOB_SUPERVISED || job->kind == JOB_AUTOENCODER)) CASCADE_TRY(write_input_shapes(w, job, d));
        CASCADE_TRY(cascade_h5w_attr_int(w, "/data", "epoch", pr->epoch));
        CASCADE_TRY(cascade_h5w_attr_int(w, "/data", "cursor", pr->cursor));
        CASCADE_TRY(cascade_h5w_attr_double(w, "/data", "best_valid_loss", pr->best_valid_loss));
        CASCADE_TRY(cascade_h5w_attr_int(w, "/data", "best_valid_step", pr->best_valid_step));
        CASCADE_TRY(cascade_h5w_attr_int(w, "/data", "stale_validations", pr->stale_validations));
    }
    return CASCADE_OK;
}

cascade_status cascade_model_read_counters(cascade_h5file *f, cascade_progress *p) {
    cascade_ckpt_meta meta = {0};
    cascade_status st = cascade_ckpt_read_meta(f, &meta);
    if (!st) p->step = meta.step, p->samples_seen = meta.samples_seen;
    cascade_ckpt_meta_free(&meta);
    return st;
}

cascade_status cascade_model_read_params(cascade_h5file *f, cascade_net *net, int require_buffers) {
    char path[512];
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        for (int p = 0; p < L->n_params; p++) {
            const cascade_param_desc *pd = &L->params[p];
            param_path(path, sizeof path, "params", net, L, pd);
            if (cascade_h5_kind_of(f, path) != CASCADE_H5_DATASET) {
                if (!pd->trainable && !require_buffers) continue; /* keep initial running stats */
                char sh[128];
                return cascade_fail(CASCADE_EDATA, "%s: parameter %s %s of layer %s (%s) is missing",
                                    cascade_h5_filename(f), path, cascade_shape_str(&pd->shape, sh, sizeof sh),
                                    L->full, L->type);
            }
            CASCADE_TRY(cascade_h5_read_floats(f, path, &pd->shape, param_data(net, l, p)));
        }
    }
    return CASCADE_OK;
}

cascade_status cascade_model_read_state(cascade_h5file *f, const cascade_job *job, const cascade_net *net,
                                        cascade_optimizer *opt, cascade_norm_stats *norm,
                                        const cascade_dataset *d, cascade_progress *pr) {
    char path[512];
    if (opt) {
        for (int l = 0; l < net->n_layers; l++) {
            const cascade_layer *L = &net->layers[l];
            for (int p = 0; p < L->n_params; p++) {
                const cascade_param_desc *pd = &L->params[p];
                if (!pd->trainable) continue;
                int64_t off = net->param_off[l][p], cnt = cascade_shape_numel(&pd->shape), a, b;
                intersect(off, cnt, opt->offset, opt->offset + opt->n, &a, &b); /* the state this rank holds */
                for (int s = 0; s < opt->n_states; s++) {
                    char sp[600];
                    param_path(path, sizeof path, "optimizer", net, L, pd);
                    snprintf(sp, sizeof sp, "%s/%s", path, opt->state_names[s]);
                    CASCADE_TRY(cascade_h5_read_floats_part(f, sp, &pd->shape, a - off, b - a,
                                                            b > a ? opt->state[s] + (a - opt->offset) : NULL));
                }
            }
        }
        snprintf(path, sizeof path, "/optimizer/%s", net->name);
        CASCADE_TRY(cascade_ckpt_attr_int_in(f, path, "step", 0, (int64_t)1 << 53, &opt->step));
    }
    if (norm && job->normalize == NORM_STANDARD) {
        CASCADE_TRY(cascade_norm_init(norm, d->n_stats));
        for (int i = 0; i < job->n_inputs; i++) {
            int64_t a = d->stat_start[i], k = d->stat_start[i + 1] - a;
            float *buf = malloc((size_t)(2 * k) * sizeof(float));
            if (!buf) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
            cascade_shape sh = cascade_shape_make(1, &k);
            cascade_status st;
            snprintf(path, sizeof path, "/normalization/%s/mean", job->inputs[i]);
            st = cascade_h5_read_floats(f, path, &sh, buf);
            snprintf(path, sizeof path, "/normalization/%s/std", job->inputs[i]);
            if (!st) st = cascade_h5_read_floats(f, path, &sh, buf + k);
            for (int64_t j = 0; !st && j < k; j++) norm->mean[a + j] = buf[j], norm->std[a + j] = buf[k + j];
            free(buf);
            CASCADE_TRY(st);
        }
    }
    if (pr) {
        int64_t v, big = (int64_t)1 << 53;
        CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/data", "epoch", 0, big, &v));
        pr->epoch = v;
        CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/data", "cursor", 0, big, &v));
        pr->cursor = v;
        /* early-stopping state; absent in checkpoints written before it existed */
        pr->best_valid_loss = INFINITY, pr->best_valid_step = -1, pr->stale_validations = 0;
        if (cascade_h5_attr_exists(f, "/data", "best_valid_loss")) {
            CASCADE_TRY(cascade_h5_attr_double(f, "/data", "best_valid_loss", &pr->best_valid_loss));
            CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/data", "best_valid_step", -1, big, &pr->best_valid_step));
            CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/data", "stale_validations", 0, big, &pr->stale_validations));
        }
    }
    return CASCADE_OK;
}

cascade_status cascade_model_write_tnorm(cascade_h5writer *w, MPI_Comm comm, const cascade_norm_stats *t) {
    float *buf = malloc((size_t)(2 * t->n + 1) * sizeof(float));
    cascade_status st = buf ? CASCADE_OK : cascade_fail(CASCADE_EINTERNAL, "out of memory");
    if ((st = cascade_par_agree(comm, st, NULL, NULL, "writing the target normalisation"))) {
        free(buf);
        return st;
    }
    for (int64_t j = 0; j < t->n; j++) buf[j] = (float)t->mean[j], buf[t->n + j] = (float)t->std[j];
    cascade_shape sh = cascade_shape_make(1, &t->n);
    st = cascade_model_write_blocks(w, comm, "/normalization_targets/mean", &sh, buf);
    if (!st) st = cascade_model_write_blocks(w, comm, "/normalization_targets/std", &sh, buf + t->n);
    free(buf);
    return st;
}

cascade_status cascade_model_read_tnorm(cascade_h5file *f, int64_t columns, cascade_norm_stats *t) {
    CASCADE_TRY(cascade_norm_init(t, columns));
    float *buf = malloc((size_t)(2 * columns + 1) * sizeof(float));
    if (!buf) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    cascade_shape sh = cascade_shape_make(1, &columns);
    cascade_status st = cascade_h5_read_floats(f, "/normalization_targets/mean", &sh, buf);
    if (!st) st = cascade_h5_read_floats(f, "/normalization_targets/std", &sh, buf + columns);
    for (int64_t j = 0; !st && j < columns; j++) t->mean[j] = buf[j], t->std[j] = buf[columns + j];
    free(buf);
    return st;
}

void cascade_eval_rows(int64_t n, int chunk, MPI_Comm comm, int64_t *lo, int64_t *hi) {
    cascade_par_chunk_rows(n, chunk, cascade_par_rank(comm), cascade_par_size(comm), lo, hi);
}

cascade_status cascade_run_dataset(cascade_net *net, const cascade_dataset *d, int chunk, float *xb, int layer,
                                   float *out, MPI_Comm comm) {
    if (layer < 0) layer = net->output;
    int64_t on = cascade_shape_numel(&net->layers[layer].out_shape), xs = cascade_shape_numel(&d->x_shape);
    /* chunks at global offsets, dealt to ranks in contiguous blocks: every sample is computed
     * in the same chunk whatever the rank count */
    int64_t lo, hi;
    cascade_eval_rows(d->n, chunk, comm, &lo, &hi);
    for (int64_t start = lo; start < hi; start += chunk) {
        int m = (int)(hi - start < chunk ? hi - start : chunk);
        memcpy(xb, d->x + start * xs, (size_t)(m * xs) * sizeof(float));
        cascade_model_forward(net, xb, m, layer, out + (start - lo) * on);
    }
    return CASCADE_OK;
}

void cascade_model_forward(cascade_net *net, const float *xb, int m, int layer, float *out) {
    if (layer < 0) layer = net->output;
    cascade_run run = {.n = m, .training = 0, .update_stats = 0};
    run.ext[0] = xb;
    cascade_net_forward(net, &run);
    memcpy(out, net->act[layer], (size_t)((int64_t)m * cascade_shape_numel(&net->layers[layer].out_shape)) * sizeof(float));
}

cascade_status cascade_predict_dataset(const cascade_job *job, cascade_net *net, const cascade_dataset *d, int chunk,
                                       float *xb, float *preds, int64_t classes, MPI_Comm comm, double *loss) {
    *loss = NAN;
    CASCADE_TRY(cascade_run_dataset(net, d, chunk, xb, -1, preds, comm));
    int64_t on = cascade_shape_numel(cascade_net_out_shape(net)), lo, hi;
    cascade_eval_rows(d->n, chunk, comm, &lo, &hi);
    const float *y = job->kind == JOB_AUTOENCODER ? d->x : d->y; /* an autoencoder reconstructs x */
    if (!y) return CASCADE_OK;
    int64_t ys = job->kind == JOB_AUTOENCODER ? cascade_shape_numel(&d->x_shape) : cascade_shape_numel(&d->y_shape);
    const double *cw = job->n_class_weights ? job->class_weights : NULL;
    /* per sample the sum of its terms (a fixed order within the sample), then the exact sum over
     * the samples of all ranks: the same bits for any rank count */
    cascade_xacc acc[2]; /* loss, and the labels' weights (class_weights) */
    memset(acc, 0, sizeof acc);
    for (int64_t i = lo; i < hi; i++) {
        const float *yi = y + i * ys;
        cascade_xacc_add(&acc[0], cascade_loss_weighted(job->loss, 1, on, classes, preds + (i - lo) * on, yi, cw,
                                                        NULL, 1.0f));
        if (!cw) continue;
        double wsum = 0, w; /* weighted mean: divided by the labels' weights */
        for (int64_t e = 0; e < ys; e++) {
            cascade_ce_label_weights(1, 1, yi + e, cw, classes, &w);
            wsum += w;
        }
        cascade_xacc_add(&acc[1], wsum);
    }
    double sum[2];
    CASCADE_TRY(cascade_par_xacc_sum(comm, acc, cw ? 2 : 1, sum));
    *loss = sum[0] / (cw ? sum[1] : (double)cascade_loss_terms(job->loss, (int)d->n, on, classes));
    return CASCADE_OK;
}
