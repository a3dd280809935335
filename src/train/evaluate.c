/* `cascade evaluate`: a trained model on a data file -> loss and task metrics as JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/h5io.h"
#include "eval/metrics.h"
#include "nn/loss.h"
#include "train/session.h"
#include "train/train.h"

cascade_status cascade_evaluate(const char *ckpt, const char *data, const char *out_json, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    cascade_h5file *f;
    CASCADE_TRY(cascade_ckpt_open(ckpt, comm, &f));
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    memset(&job, 0, sizeof job);
    cascade_dataset d;
    memset(&d, 0, sizeof d);
    cascade_net net;
    memset(&net, 0, sizeof net);
    float *xb = NULL, *preds = NULL;
    cascade_norm_stats norm = {0};
    cascade_status st = cascade_ckpt_read_meta(f, &meta);
    if (!st) st = cascade_job_parse(meta.job, ckpt, NULL, 0, &job);
    if (st) goto done;
    if (!data && !job.valid[0] && job.valid_fraction > 0) {
        /* the validation split the run held out of its training file */
        int64_t *rows, n_train, n_valid;
        if ((st = cascade_data_split(&job, comm, &rows, &n_train, &n_valid))) goto done;
        data = job.train;
        st = cascade_data_load(&job, data, 1, rows + n_train, n_valid, comm, &d);
        free(rows);
    } else {
        if (!data) data = job.valid[0] ? job.valid : job.train;
        st = cascade_data_load(&job, data, 1, NULL, 0, comm, &d);
    }
    if (st) goto done;
    if ((st = cascade_model_build(&job, job.nets[0], &d.x_shape, &net))) goto done;
    if ((st = cascade_model_check_targets(&job, &net, &d))) goto done;
    int64_t classes = cascade_model_classes(&job, &net);
    if ((st = cascade_model_check_labels(&job, &d, classes))) goto done;
    if ((st = cascade_model_read_params(f, &net, 1))) goto done;
    if ((st = cascade_model_read_state(f, &job, &net, NULL, &norm, &d, NULL))) goto done;
    if (job.normalize == NORM_STANDARD) cascade_norm_apply(&job, &norm, &d);
    int chunk = (int)job.micro_batch;
    if ((st = cascade_net_prepare(&net, chunk, 0))) goto done;
    int64_t on = cascade_shape_numel(cascade_net_out_shape(&net));
    xb = cascade_alloc((size_t)chunk * (size_t)cascade_shape_numel(&d.x_shape) * sizeof(float), "input batch");
    preds = cascade_alloc((size_t)d.n * (size_t)on * sizeof(float), "outputs");
    if (!xb || !preds) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    double loss = cascade_predict_dataset(&job, &net, &d, chunk, xb, preds, classes, comm);
    if (rank == 0) {
        char metrics[8192];
        cascade_metrics_json(&job, preds, d.y, d.n, on, cascade_shape_numel(&d.y_shape), metrics, sizeof metrics);
        FILE *o = out_json ? fopen(out_json, "w") : stdout;
        if (!o) {
            st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", out_json, strerror(errno));
            goto done;
        }
        fprintf(o, "{\"checkpoint\":\"%s\",\"data\":\"%s\",\"samples\":%lld,\"step\":%lld,\"loss\":%.7g%s}\n", ckpt,
                data, (long long)d.n, (long long)meta.step, loss, metrics);
        if (out_json && fclose(o) != 0) st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", out_json, strerror(errno));
    }
done:
    cascade_free(xb);
    cascade_free(preds);
    cascade_net_free(&net);
    cascade_data_free(&d);
    if (job.text) cascade_job_free(&job);
    cascade_ckpt_meta_free(&meta);
    cascade_h5_close(f);
    return st;
}
