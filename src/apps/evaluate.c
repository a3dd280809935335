/* `cascade evaluate` and `cascade predict`: a trained model applied to a data file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "cascade/h5io.h"
#include "apps/apps.h"
#include "apps/trained.h"
#include "parallel/gather.h"

/* ROC AUC of the per-sample anomaly score against a 0/1 data set of the data file: every rank
 * reads and checks the labels of its rows; scores and labels (12 bytes a sample) are
 * gathered to rank 0, which computes the AUC (*auc; NaN elsewhere). */
static cascade_status anomaly_auc(const cascade_trained *t, const char *label, MPI_Comm comm, double *auc) {
    cascade_h5file *f;
    CASCADE_TRY(cascade_h5_open(t->d.file, comm, &f));
    int root = cascade_par_rank(comm) == 0;
    int64_t m = t->hi - t->lo, n = t->d.n;
    cascade_h5_info info;
    cascade_status st = cascade_h5_info_of(f, label, &info);
    if (!st && (info.shape.ndim != 1 || info.shape.d[0] != n))
        st = cascade_fail(CASCADE_EDATA, "%s: --anomaly-label '%s' must be one 0/1 value per sample (%lld), not %lld values",
                          t->d.file, label, (long long)n, (long long)cascade_shape_numel(&info.shape));
    size_t k = (size_t)(m ? m : 1), all = root && n ? (size_t)n : k; /* rank 0: room for all, its rows first */
    float *lab = st ? NULL : cascade_alloc(k * sizeof(float), "labels");
    float *score = st ? NULL : cascade_alloc(k * sizeof(float), "scores");
    double *sc = st ? NULL : malloc(all * sizeof(double));
    int *lb = st ? NULL : malloc(all * sizeof(int));
    if (!st && (!lab || !score || !sc || !lb)) st = cascade_fail(CASCADE_EINTERNAL, "out of memory");
    /* every rank reads (a collective read; a failed rank still takes part with 0 rows) */
    cascade_status rd = cascade_h5_read_rows(f, label, st ? 0 : t->lo, st ? 0 : m, lab);
    if (!st) st = rd;
    if (!st) {
        cascade_trained_scores(t, score);
        for (int64_t i = 0; i < m && !st; i++) {
            if (lab[i] != 0 && lab[i] != 1)
                st = cascade_fail(CASCADE_EDATA, "%s: --anomaly-label '%s' row %lld holds %g, not 0 or 1", t->d.file,
                                  label, (long long)(t->lo + i), (double)lab[i]);
            sc[i] = score[i];
            lb[i] = lab[i] != 0;
        }
    }
    st = cascade_par_gather_root(comm, st, sc, m, sizeof(double), sc);
    st = cascade_par_gather_root(comm, st, lb, m, sizeof(int), lb);
    *auc = !st && root ? cascade_auc(sc, lb, n) : NAN;
    cascade_free(lab);
    cascade_free(score);
    free(sc), free(lb);
    cascade_h5_close(f);
    return st;
}

static cascade_status write_predictions(cascade_trained *t, const char *ckpt, const char *out, MPI_Comm comm);

cascade_status cascade_evaluate(const char *ckpt, const char *data, const char *out_json, const char *anomaly_label,
                                const char *preds_out, MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    cascade_trained t;
    double auc = NAN;
    cascade_status st = cascade_trained_open(&t, ckpt, data, 1, comm);
    if (!st) st = cascade_trained_run(&t, comm);
    if (!st && anomaly_label) st = anomaly_auc(&t, anomaly_label, comm, &auc);
    char metrics[8192];
    size_t used = 0;
    if (!st) /* collective: each rank its rows, combined exactly */
        st = cascade_metrics_json(&t.job, t.preds, cascade_trained_targets(&t), t.hi - t.lo, t.out_numel,
                                  cascade_shape_numel(&t.d.y_shape), comm, metrics, sizeof metrics, &used);
    if (!st && rank == 0) {
        if (anomaly_label && used < sizeof metrics) {
            char label[512];
            cascade_json_string(label, sizeof label, anomaly_label);
            snprintf(metrics + used, sizeof metrics - used, ",\"anomaly_label\":%s,\"anomaly_auc\":%.7g", label, auc);
        }
        FILE *o = out_json ? fopen(out_json, "w") : stdout;
        if (!o) {
            st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", out_json, strerror(errno));
        } else {
            fputs("{\"checkpoint\":", o);
            cascade_json_fputs(o, ckpt);
            fputs(",\"data\":", o);
            cascade_json_fputs(o, t.d.file);
            fprintf(o, ",\"samples\":%lld,\"step\":%lld,\"loss\":%.7g%s}\n", (long long)t.d.n, (long long)t.meta.step,
                    t.loss, metrics);
            if (out_json && fclose(o) != 0) st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", out_json, strerror(errno));
        }
    }
    if (!st && preds_out) st = write_predictions(&t, ckpt, preds_out, comm); /* the same run's outputs */
    cascade_trained_close(&t);
    return st;
}

/* Rows [lo, hi) of data set `name` (per-sample shape as in the file) copied into w, created
 * there whole (float32, or int32 for integer data sets). Collective (lo = hi: nothing); with
 * a comm the ranks agree on the local allocations before the writes. */
static cascade_status copy_rows(cascade_h5file *in, cascade_h5writer *w, const char *name, const cascade_h5_info *info,
                                int64_t lo, int64_t hi, MPI_Comm comm) {
    int64_t m = hi - lo, row = 1;
    for (int i = 1; i < info->shape.ndim; i++) row *= info->shape.d[i];
    float *buf = cascade_alloc((size_t)(m * row > 0 ? m * row : 1) * sizeof(float), "label copy");
    cascade_status st = buf ? CASCADE_OK : CASCADE_EINTERNAL;
    cascade_status rd = cascade_h5_read_rows(in, name, st ? 0 : lo, st ? 0 : m, buf); /* collective */
    if (!st) st = rd;
    int is_int = info->type_class == CASCADE_H5_INT || info->type_class == CASCADE_H5_UINT;
    int32_t *ibuf = NULL;
    if (!st && is_int) {
        ibuf = cascade_alloc((size_t)(m * row > 0 ? m * row : 1) * sizeof(int32_t), "label copy");
        if (!ibuf) st = CASCADE_EINTERNAL;
        for (int64_t i = 0; !st && i < m * row; i++) ibuf[i] = (int32_t)buf[i];
    }
    if (comm != MPI_COMM_NULL) st = cascade_par_agree(comm, st, NULL, NULL, "copying a label data set");
    cascade_h5_elem type = is_int ? CASCADE_H5_I32 : CASCADE_H5_F32;
    if (!st) st = cascade_h5w_create_rows_typed(w, name, &info->shape, type, 0);
    if (!st) st = cascade_h5w_write_rows_typed(w, name, lo, m, is_int ? (void *)ibuf : (void *)buf, type);
    cascade_free(buf);
    cascade_free(ibuf);
    return st;
}

cascade_status cascade_copy_dataset(cascade_h5file *in, cascade_h5writer *w, const char *name, int rank) {
    cascade_h5_info info;
    CASCADE_TRY(cascade_h5_info_of(in, name, &info));
    int64_t n = info.shape.ndim ? info.shape.d[0] : 1;
    return copy_rows(in, w, name, &info, 0, rank == 0 ? n : 0, MPI_COMM_NULL);
}

cascade_status cascade_copy_dataset_blocks(cascade_h5file *in, cascade_h5writer *w, const char *name, MPI_Comm comm) {
    cascade_h5_info info;
    CASCADE_TRY(cascade_h5_info_of(in, name, &info));
    int64_t n = info.shape.ndim ? info.shape.d[0] : 1, lo, hi;
    cascade_par_block(n, cascade_par_rank(comm), cascade_par_size(comm), &lo, &hi);
    return copy_rows(in, w, name, &info, lo, hi, comm);
}

/* A float32 data set of n rows of per-sample shape `shape`; this rank writes rows [lo, lo + m). */
static cascade_status write_rows(cascade_h5writer *w, const char *name, const cascade_shape *shape, int64_t n,
                                 int64_t lo, int64_t m, const float *data) {
    int64_t dims[CASCADE_MAX_DIMS] = {n};
    for (int i = 0; i < shape->ndim && i + 1 < CASCADE_MAX_DIMS; i++) dims[i + 1] = shape->d[i];
    cascade_shape sh = cascade_shape_make(shape->ndim + 1, dims);
    CASCADE_TRY(cascade_h5w_create_rows(w, name, &sh));
    return cascade_h5w_write_rows(w, name, lo, m, data);
}

/* Writes OUT.h5 from a run model: outputs (physical units; an autoencoder's reconstruction,
 * anomaly score and latent code) and copies of the target data sets, every rank writing its
 * own rows (collective writes; nothing is gathered). */
static cascade_status write_predictions(cascade_trained *t, const char *ckpt, const char *out, MPI_Comm comm) {
    cascade_h5writer *w = NULL;
    cascade_h5file *in = NULL;
    cascade_status st = cascade_h5w_create(out, comm, &w);
    int ae = t->job.kind == JOB_AUTOENCODER;
    int64_t n = t->d.n, lo = t->lo, m = t->hi - t->lo;
    if (!st) /* outputs (N, output shape) in physical units; an autoencoder's reconstruction */
        st = write_rows(w, ae ? "reconstruction" : "output", cascade_net_out_shape(&t->net), n, lo, m, t->preds);
    if (!st && ae) { /* per-sample reconstruction error, and the latent code */
        float *score = cascade_alloc((size_t)(m ? m : 1) * sizeof(float), "anomaly scores");
        st = cascade_par_agree(comm, score ? CASCADE_OK : CASCADE_EINTERNAL, NULL, NULL, "allocating anomaly scores");
        if (!st) cascade_trained_scores(t, score);
        if (!st) st = write_rows(w, "anomaly_score", &(cascade_shape){0}, n, lo, m, score);
        cascade_free(score);
        int l = t->job.latent_layer[0] ? cascade_net_find(&t->net, t->job.latent_layer) : -1;
        if (!st && t->job.latent_layer[0] && l < 0)
            st = cascade_fail(CASCADE_EUSAGE, "latent_layer = %s: no such layer in net %s", t->job.latent_layer,
                              t->net.name);
        if (!st && l >= 0) {
            const cascade_shape *ls = &t->net.layers[l].out_shape;
            float *code = cascade_alloc((size_t)((m ? m : 1) * cascade_shape_numel(ls)) * sizeof(float), "latent codes");
            st = cascade_par_agree(comm, code ? CASCADE_OK : CASCADE_EINTERNAL, NULL, NULL, "allocating latent codes");
            if (!st) st = cascade_run_dataset(&t->net, &t->d, (int)t->job.micro_batch, t->xb, l, code, comm);
            if (!st) st = write_rows(w, "latent", ls, n, lo, m, code);
            cascade_free(code);
        }
    }
    if (!st && t->has_targets && !ae) { /* the labels, to compare with */
        st = cascade_h5_open(t->d.file, comm, &in);
        for (int i = 0; !st && i < t->job.n_targets; i++) st = cascade_copy_dataset_blocks(in, w, t->job.targets[i], comm);
    }
    if (!st) st = cascade_h5w_attr_string(w, "/", "generator", "cascade predict");
    if (!st) st = cascade_h5w_attr_string(w, "/", "checkpoint", ckpt);
    if (!st) st = cascade_h5w_attr_string(w, "/", "data", t->d.file);
    if (!st) st = cascade_h5w_attr_int(w, "/", "step", t->meta.step);
    if (!st)
        st = cascade_h5w_commit(w);
    else if (w)
        cascade_h5w_abort(w);
    cascade_h5_close(in);
    return st;
}

cascade_status cascade_predict(const char *ckpt, const char *data, const char *out, MPI_Comm comm) {
    cascade_trained t;
    cascade_status st = cascade_trained_open(&t, ckpt, data, 2, comm);
    if (!st) st = cascade_trained_run(&t, comm);
    if (!st) st = write_predictions(&t, ckpt, out, comm);
    cascade_trained_close(&t);
    return st;
}
