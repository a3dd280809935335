/* The checkpoint image of an adversarial job's samples (/gan): how x splits into the job's
 * inputs, read back by `generate`, `refine` and `evaluate`; and x back in physical units
 * (training's sample pictures, generate, refine). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/gan.h"

cascade_status cascade_gan_write_layout(cascade_h5writer *w, int rank, const cascade_job *job,
                                        const cascade_dataset *d, const cascade_gan_x *gx) {
    if (gx->n > 1) { /* one tensor per input: (n, 1 + max dims) rows of [ndim, d0, d1, ...] */
        float rows[CASCADE_MAX_NAMES * (1 + CASCADE_MAX_DIMS)] = {0};
        for (int k = 0; k < gx->n; k++) {
            rows[k * (1 + CASCADE_MAX_DIMS)] = (float)gx->shape[k].ndim;
            for (int j = 0; j < gx->shape[k].ndim; j++) rows[k * (1 + CASCADE_MAX_DIMS) + 1 + j] = (float)gx->shape[k].d[j];
        }
        cascade_shape sh = cascade_shape_make(2, (int64_t[]){gx->n, 1 + CASCADE_MAX_DIMS});
        CASCADE_TRY(cascade_h5w_write_floats(w, "/gan/input_shapes", &sh, rows, 0,
                                             rank == 0 ? gx->n * (1 + CASCADE_MAX_DIMS) : 0));
    }
    float widths[CASCADE_MAX_NAMES], dims[CASCADE_MAX_DIMS];
    for (int i = 0; i < job->n_inputs; i++) widths[i] = (float)(d->stat_start[i + 1] - d->stat_start[i]);
    for (int k = 0; k < d->x_shape.ndim; k++) dims[k] = (float)d->x_shape.d[k];
    int64_t ni = job->n_inputs, nd = d->x_shape.ndim;
    cascade_shape a = cascade_shape_make(1, &ni), b = cascade_shape_make(1, &nd);
    CASCADE_TRY(cascade_h5w_write_floats(w, "/gan/input_widths", &a, widths, 0, rank == 0 ? ni : 0));
    return cascade_h5w_write_floats(w, "/gan/x_shape", &b, dims, 0, rank == 0 ? nd : 0);
}

/* The layout written above, as a sample-less data set description (x_shape, stat_start). */
cascade_status cascade_gan_read_layout(cascade_h5file *f, const cascade_job *job, cascade_dataset *d) {
    cascade_h5_info wi, xi;
    CASCADE_TRY(cascade_h5_info_of(f, "/gan/input_widths", &wi));
    CASCADE_TRY(cascade_h5_info_of(f, "/gan/x_shape", &xi));
    int64_t ni = cascade_shape_numel(&wi.shape), nd = cascade_shape_numel(&xi.shape);
    if (ni != job->n_inputs || nd < 1 || nd > CASCADE_MAX_DIMS)
        return cascade_fail(CASCADE_EDATA, "%s: /gan describes %lld inputs in %lld dimensions; the job has %d inputs",
                            cascade_h5_filename(f), (long long)ni, (long long)nd, job->n_inputs);
    float widths[CASCADE_MAX_NAMES], dims[CASCADE_MAX_DIMS];
    CASCADE_TRY(cascade_h5_read_floats(f, "/gan/input_widths", &wi.shape, widths));
    CASCADE_TRY(cascade_h5_read_floats(f, "/gan/x_shape", &xi.shape, dims));
    memset(d, 0, sizeof *d);
    int64_t dd[CASCADE_MAX_DIMS];
    for (int k = 0; k < nd; k++) dd[k] = (int64_t)dims[k];
    d->x_shape = cascade_shape_make((int)nd, dd);
    d->n_inputs = job->n_inputs;
    for (int i = 0; i < job->n_inputs; i++) d->stat_start[i + 1] = d->stat_start[i] + (int64_t)widths[i];
    d->n_stats = d->stat_start[job->n_inputs];
    return CASCADE_OK;
}

cascade_status cascade_gan_read_tensors(cascade_h5file *f, const cascade_job *job, cascade_dataset *layout,
                                        cascade_gan_x *gx) {
    memset(gx, 0, sizeof *gx);
    gx->n = 1;
    gx->shape[0] = layout->x_shape;
    if (cascade_h5_kind_of(f, "/gan/input_shapes") == CASCADE_H5_DATASET) {
        cascade_shape sh = cascade_shape_make(2, (int64_t[]){job->n_inputs, 1 + CASCADE_MAX_DIMS});
        float rows[CASCADE_MAX_NAMES * (1 + CASCADE_MAX_DIMS)];
        CASCADE_TRY(cascade_h5_read_floats(f, "/gan/input_shapes", &sh, rows));
        gx->n = job->n_inputs;
        for (int k = 0; k < gx->n; k++) {
            int64_t dd[CASCADE_MAX_DIMS];
            int nd = (int)rows[k * (1 + CASCADE_MAX_DIMS)];
            for (int j = 0; j < nd; j++) dd[j] = (int64_t)rows[k * (1 + CASCADE_MAX_DIMS) + 1 + j];
            gx->shape[k] = cascade_shape_make(nd, dd);
        }
        for (int k = 0; k <= job->n_inputs; k++) layout->stat_start[k] = k;
        layout->n_stats = job->n_inputs;
    }
    cascade_gan_x_sizes(gx);
    return CASCADE_OK;
}

void cascade_gan_tensors_to_physical(const cascade_job *job, const cascade_gan_x *gx, const cascade_norm_stats *norm,
                                float *x, int64_t n) {
    for (int k = 0; k < gx->n; k++) {
        int log = 0;
        for (int l = 0; l < job->n_log_inputs; l++) log |= strcmp(job->log_inputs[l], job->inputs[k]) == 0;
        for (int64_t s = 0; s < n; s++)
            for (int64_t e = 0; e < gx->numel[k]; e++) {
                double v = x[s * gx->total + gx->off[k] + e];
                if (job->normalize == NORM_STANDARD) v = v * norm->std[k] + norm->mean[k];
                if (log) v = pow(10.0, v) - 1.0;
                x[s * gx->total + gx->off[k] + e] = (float)v;
            }
    }
}

/* x (n, x_shape) from training units back to the data's: normalisation, then log_inputs. */
void cascade_gan_to_physical(const cascade_job *job, const cascade_dataset *d, const cascade_norm_stats *norm, float *x,
                        int64_t n) {
    int64_t xs = cascade_shape_numel(&d->x_shape), W = d->x_shape.d[d->x_shape.ndim - 1];
    int chan = job->layout == LAYOUT_CHANNELS;
    int64_t blk = chan ? xs / d->x_shape.d[0] : 1;
    for (int64_t s = 0; s < n; s++)
        for (int64_t e = 0; e < xs; e++) {
            int64_t k = chan ? e / blk : e % W; /* statistic (channel or feature) of element e */
            int input = 0;
            while (input + 1 < job->n_inputs && k >= d->stat_start[input + 1]) input++;
            double v = x[s * xs + e];
            if (job->normalize == NORM_STANDARD && norm->n > k) v = v * norm->std[k] + norm->mean[k];
            for (int l = 0; l < job->n_log_inputs; l++)
                if (strcmp(job->log_inputs[l], job->inputs[input]) == 0) v = pow(10.0, v) - 1.0;
            x[s * xs + e] = (float)v;
        }
}
