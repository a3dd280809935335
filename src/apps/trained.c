/* A trained model bound to a data file (see trained.h). */
#include "apps/trained.h"

#include <stdlib.h>
#include <string.h>

#include "nn/loss.h"

static int has_all_targets(cascade_trained *t, const char *path, MPI_Comm comm) {
    cascade_h5file *f;
    if (cascade_h5_open(path, comm, &f) != CASCADE_OK) return 1; /* the load reports it */
    int all = 1;
    for (int i = 0; i < t->job.n_targets; i++) all &= cascade_h5_kind_of(f, t->job.targets[i]) == CASCADE_H5_DATASET;
    cascade_h5_close(f);
    return all;
}

cascade_status cascade_trained_job(const char *ckpt, MPI_Comm comm, cascade_h5file **f, cascade_ckpt_meta *meta,
                                   cascade_job *job) {
    CASCADE_TRY(cascade_ckpt_open(ckpt, comm, f));
    cascade_status st = cascade_ckpt_read_meta(*f, meta);
    if (!st) st = cascade_job_parse(meta->job, ckpt, NULL, 0, job);
    if (st) return st;
    if (job->kind != JOB_SUPERVISED && job->kind != JOB_AUTOENCODER)
        return cascade_fail(CASCADE_EUSAGE, "%s: a kind = supervised or autoencoder model is needed here", ckpt);
    return CASCADE_OK;
}

cascade_status cascade_trained_net(cascade_h5file *f, cascade_job *job, const cascade_dataset *d, cascade_net *net,
                                   cascade_norm_stats *norm, cascade_norm_stats *tnorm, int64_t *classes,
                                   int64_t *out_numel) {
    CASCADE_TRY(cascade_model_build(job, job->nets[0], &d->x_shape, net));
    *classes = cascade_model_classes(job, net);
    *out_numel = cascade_shape_numel(cascade_net_out_shape(net));
    CASCADE_TRY(cascade_model_read_params(f, net, 1));
    CASCADE_TRY(cascade_model_read_state(f, job, net, NULL, norm, d, NULL));
    if (job->normalize_targets == NORM_STANDARD) CASCADE_TRY(cascade_model_read_tnorm(f, *out_numel, tnorm));
    return cascade_net_prepare(net, (int)job->micro_batch, 0);
}

cascade_status cascade_trained_open(cascade_trained *t, const char *ckpt, const char *data, int want_targets,
                                    MPI_Comm comm) {
    memset(t, 0, sizeof *t);
    CASCADE_TRY(cascade_trained_job(ckpt, comm, &t->f, &t->meta, &t->job));
    cascade_status st;
    cascade_job *job = &t->job;
    if (!data && !job->valid[0] && job->valid_fraction > 0) {
        /* the validation split the run held out of its training file */
        int64_t *rows, n_train, n_valid;
        CASCADE_TRY(cascade_data_split(job, comm, &rows, &n_train, &n_valid));
        t->has_targets = want_targets != 0;
        st = cascade_data_load(job, job->train, t->has_targets, rows + n_train, n_valid, comm, &t->d);
        free(rows);
    } else {
        if (!data) data = job->valid[0] ? job->valid : job->train;
        t->has_targets = want_targets == 2 ? has_all_targets(t, data, comm) : want_targets;
        st = cascade_data_load(job, data, t->has_targets, NULL, 0, comm, &t->d);
    }
    if (st) return st;
    cascade_dataset *d = &t->d;
    CASCADE_TRY(cascade_trained_net(t->f, job, d, &t->net, &t->norm, &t->tnorm, &t->classes, &t->out_numel));
    if (job->kind == JOB_AUTOENCODER) t->has_targets = 1; /* its targets are its inputs */
    if (t->has_targets) {
        CASCADE_TRY(cascade_model_check_targets(job, &t->net, d));
        CASCADE_TRY(cascade_model_check_labels(job, d, t->classes));
    }
    if (job->normalize == NORM_STANDARD) cascade_norm_apply(job, &t->norm, d);
    if (job->normalize_targets == NORM_STANDARD && t->has_targets)
        cascade_tnorm_apply(&t->tnorm, d->y, d->n, 0); /* the loss in training units */
    int chunk = (int)job->micro_batch;
    t->xb = cascade_alloc((size_t)chunk * (size_t)cascade_shape_numel(&d->x_shape) * sizeof(float), "input batch");
    cascade_eval_rows(d->n, chunk, comm, &t->lo, &t->hi);
    t->preds = cascade_alloc((size_t)(t->hi - t->lo > 0 ? t->hi - t->lo : 1) * (size_t)t->out_numel * sizeof(float),
                             "outputs");
    return t->xb && t->preds ? CASCADE_OK : CASCADE_EINTERNAL;
}

cascade_status cascade_trained_run(cascade_trained *t, MPI_Comm comm) {
    CASCADE_TRY(cascade_predict_dataset(&t->job, &t->net, &t->d, (int)t->job.micro_batch, t->xb, t->preds,
                                        t->classes, comm, &t->loss));
    if (t->job.normalize_targets == NORM_STANDARD) { /* back to physical units */
        cascade_tnorm_apply(&t->tnorm, t->preds, t->hi - t->lo, 1);
        if (t->has_targets) cascade_tnorm_apply(&t->tnorm, t->d.y, t->d.n, 1);
    }
    return CASCADE_OK;
}

void cascade_trained_close(cascade_trained *t) {
    cascade_free(t->xb);
    cascade_free(t->preds);
    cascade_net_free(&t->net);
    cascade_norm_free(&t->norm);
    cascade_norm_free(&t->tnorm);
    cascade_data_free(&t->d);
    if (t->job.text) cascade_job_free(&t->job);
    cascade_ckpt_meta_free(&t->meta);
    cascade_h5_close(t->f);
    memset(t, 0, sizeof *t);
}

const float *cascade_trained_targets(const cascade_trained *t) {
    const float *y = t->job.kind == JOB_AUTOENCODER ? t->d.x : t->d.y;
    return y ? y + t->lo * cascade_shape_numel(&t->d.y_shape) : NULL;
}

void cascade_trained_scores(const cascade_trained *t, float *score) {
    const float *y = cascade_trained_targets(t);
    for (int64_t i = 0; i < t->hi - t->lo; i++)
        score[i] = (float)(cascade_loss(t->job.loss, 1, t->out_numel, t->classes, t->preds + i * t->out_numel,
                                        y + i * t->out_numel, NULL, 1.0f) /
                           (double)cascade_loss_terms(t->job.loss, 1, t->out_numel, t->classes));
}
