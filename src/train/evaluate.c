/* `cascade evaluate` and `cascade predict`: a trained model applied to a data file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "train/trained.h"
#include "train/train.h"

cascade_status cascade_evaluate(const char *ckpt, const char *data, const char *out_json, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    cascade_trained t;
    cascade_status st = cascade_trained_open(&t, ckpt, data, 1, comm);
    if (!st) st = cascade_trained_run(&t, comm);
    if (!st && rank == 0) {
        char metrics[8192];
        cascade_metrics_json(&t.job, t.preds, t.d.y, t.d.n, t.out_numel, cascade_shape_numel(&t.d.y_shape), metrics,
                             sizeof metrics);
        FILE *o = out_json ? fopen(out_json, "w") : stdout;
        if (!o) {
            st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", out_json, strerror(errno));
        } else {
            fprintf(o, "{\"checkpoint\":\"%s\",\"data\":\"%s\",\"samples\":%lld,\"step\":%lld,\"loss\":%.7g%s}\n", ckpt,
                    t.d.file, (long long)t.d.n, (long long)t.meta.step, t.loss, metrics);
            if (out_json && fclose(o) != 0) st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", out_json, strerror(errno));
        }
    }
    cascade_trained_close(&t);
    return st;
}

/* Copies a data set of the input file (a label) into the output, as float32 or int32. */
static cascade_status copy_dataset(cascade_h5file *in, cascade_h5writer *w, const char *name, int rank) {
    cascade_h5_info info;
    CASCADE_TRY(cascade_h5_info_of(in, name, &info));
    int64_t n = info.shape.ndim ? info.shape.d[0] : 1, row = 1;
    for (int i = 1; i < info.shape.ndim; i++) row *= info.shape.d[i];
    float *buf = cascade_alloc((size_t)(n * row) * sizeof(float), "label copy");
    if (!buf) return CASCADE_EINTERNAL;
    cascade_status st = cascade_h5_read_rows(in, name, 0, n, buf);
    int is_int = info.type_class == CASCADE_H5_INT || info.type_class == CASCADE_H5_UINT;
    int32_t *ibuf = NULL;
    if (!st && is_int) {
        ibuf = cascade_alloc((size_t)(n * row) * sizeof(int32_t), "label copy");
        if (!ibuf) st = CASCADE_EINTERNAL;
        for (int64_t i = 0; !st && i < n * row; i++) ibuf[i] = (int32_t)buf[i];
    }
    cascade_h5_elem type = is_int ? CASCADE_H5_I32 : CASCADE_H5_F32;
    if (!st) st = cascade_h5w_create_rows_typed(w, name, &info.shape, type, 0);
    if (!st) st = cascade_h5w_write_rows_typed(w, name, 0, rank == 0 ? n : 0, is_int ? (void *)ibuf : (void *)buf, type);
    cascade_free(buf);
    cascade_free(ibuf);
    return st;
}

cascade_status cascade_predict(const char *ckpt, const char *data, const char *out, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    cascade_trained t;
    cascade_h5writer *w = NULL;
    cascade_h5file *in = NULL;
    cascade_status st = cascade_trained_open(&t, ckpt, data, 2, comm);
    if (!st) st = cascade_trained_run(&t, comm);
    if (!st) st = cascade_h5w_create(out, comm, &w);
    if (!st) { /* outputs (N, output shape) in physical units */
        const cascade_shape *o = cascade_net_out_shape(&t.net);
        int64_t dims[CASCADE_MAX_DIMS] = {t.d.n};
        for (int i = 0; i < o->ndim && i + 1 < CASCADE_MAX_DIMS; i++) dims[i + 1] = o->d[i];
        cascade_shape sh = cascade_shape_make(o->ndim + 1, dims);
        st = cascade_h5w_create_rows(w, "output", &sh);
        if (!st) st = cascade_h5w_write_rows(w, "output", 0, rank == 0 ? t.d.n : 0, t.preds);
    }
    if (!st && t.has_targets) { /* the labels, to compare with */
        st = cascade_h5_open(t.d.file, comm, &in);
        for (int i = 0; !st && i < t.job.n_targets; i++) st = cascade_h5_info_of(in, t.job.targets[i], &(cascade_h5_info){0});
        for (int i = 0; !st && i < t.job.n_targets; i++) st = copy_dataset(in, w, t.job.targets[i], rank);
    }
    if (!st) st = cascade_h5w_attr_string(w, "/", "generator", "cascade predict");
    if (!st) st = cascade_h5w_attr_string(w, "/", "checkpoint", ckpt);
    if (!st) st = cascade_h5w_attr_string(w, "/", "data", t.d.file);
    if (!st) st = cascade_h5w_attr_int(w, "/", "step", t.meta.step);
    if (!st)
        st = cascade_h5w_commit(w);
    else if (w)
        cascade_h5w_abort(w);
    cascade_h5_close(in);
    cascade_trained_close(&t);
    return st;
}
