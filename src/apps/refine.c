/* cascade refine: the refiner of a kind = refiner run applied to every sample of a simulated
 * file; the output holds the refined inputs in physical units and a copy of every other data
 * set and root attribute (domain = "refined"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"
#include "apps/trained.h"
#include "train/gan.h"

/* Root attributes of `in` into w (strings, integers or reals), domain = "refined". */
static cascade_status copy_root_attrs(cascade_h5file *in, cascade_h5writer *w) {
    cascade_h5_names names = {0};
    CASCADE_TRY(cascade_h5_attr_names(in, "/", &names));
    cascade_status st = CASCADE_OK;
    for (int i = 0; !st && i < names.count; i++) {
        const char *n = names.names[i];
        char *text = NULL;
        int64_t iv;
        double dv;
        if (cascade_h5_attr_string(in, "/", n, &text) == CASCADE_OK) {
            st = cascade_h5w_attr_string(w, "/", n, text);
            cascade_free(text);
        } else if (cascade_h5_attr_int(in, "/", n, &iv) == CASCADE_OK) {
            st = cascade_h5w_attr_int(w, "/", n, iv);
        } else if (cascade_h5_attr_double(in, "/", n, &dv) == CASCADE_OK) {
            st = cascade_h5w_attr_double(w, "/", n, dv);
        } /* arrays and other types: not carried over */
    }
    cascade_h5_names_free(&names);
    cascade_clear_error();
    if (!st) st = cascade_h5w_attr_string(w, "/", "domain", "refined");
    return st;
}

/* The samples of sim_file as the refiner reads them: one stacked x (d[0]) or, with outputs,
 * each input on its own (d[k]); checked against the training shapes, normalised. */
static cascade_status load_sim(cascade_job *job, const char *sim_file, const cascade_gan_x *gx,
                               const cascade_norm_stats *norm, MPI_Comm comm, cascade_dataset *d) {
    int multi = gx->n > 1;
    char a[128], b[128];
    for (int k = 0; k < gx->n; k++) {
        cascade_job view;
        cascade_gan_input_view(job, multi ? k : -1, &view);
        CASCADE_TRY(cascade_data_load(&view, sim_file, 0, NULL, 0, comm, &d[k]));
        if (!cascade_shape_equal(&gx->shape[k], &d[k].x_shape)) {
            if (!multi)
                return cascade_fail(CASCADE_EDATA, "%s: the inputs form samples %s; the refiner was trained on %s",
                                    sim_file, cascade_shape_str(&d[k].x_shape, a, sizeof a),
                                    cascade_shape_str(&gx->shape[k], b, sizeof b));
            return cascade_fail(CASCADE_EDATA, "%s: data set '%s' holds samples %s; the refiner was trained on %s",
                                sim_file, job->inputs[k], cascade_shape_str(&d[k].x_shape, a, sizeof a),
                                cascade_shape_str(&gx->shape[k], b, sizeof b));
        }
        if (d[k].n != d[0].n)
            return cascade_fail(CASCADE_EDATA, "%s: data set '%s' has %lld samples, '%s' %lld", sim_file,
                                job->inputs[k], (long long)d[k].n, job->inputs[0], (long long)d[0].n);
        if (job->normalize != NORM_STANDARD) continue;
        if (!multi) {
            cascade_norm_apply(job, norm, &d[0]);
        } else {
            cascade_norm_stats one = {1, norm->mean + k, norm->std + k}; /* a view, not owned */
            cascade_norm_apply(&view, &one, &d[k]);
        }
    }
    return CASCADE_OK;
}

/* R(x) of every sample of d (tensor k in d[k]) into rows x (n, xs): chunks of `chunk` dealt to
 * the ranks in contiguous blocks, then gathered, as generate does. */
static cascade_status refine_tensors(cascade_net *ref, const int *ref_out, const cascade_gan_x *gx,
                                     const cascade_dataset *d, int chunk, float *xb, float *x, MPI_Comm comm) {
    int64_t n = d[0].n, lo, hi;
    cascade_par_chunk_rows(n, chunk, cascade_par_rank(comm), cascade_par_size(comm), &lo, &hi);
    for (int64_t start = lo; start < hi; start += chunk) {
        int m = (int)(hi - start < chunk ? hi - start : chunk);
        cascade_run run = {.n = m, .training = 0};
        for (int k = 0; k < gx->n; k++) {
            memcpy(xb + m * gx->off[k], d[k].x + start * gx->numel[k], (size_t)(m * gx->numel[k]) * sizeof(float));
            run.ext[k] = xb + m * gx->off[k];
        }
        cascade_net_forward(ref, &run);
        for (int k = 0; k < gx->n; k++)
            for (int i = 0; i < m; i++)
                memcpy(x + (start + i) * gx->total + gx->off[k], ref->act[ref_out[k]] + (int64_t)i * gx->numel[k],
                       (size_t)gx->numel[k] * sizeof(float));
    }
    return cascade_par_gather_rows(comm, x, n, chunk, gx->total);
}

cascade_status cascade_refine(const char *ckpt, const char *sim_file, const char *out, MPI_Comm comm) {
    int rank = cascade_par_rank(comm);
    cascade_h5file *f = NULL, *in = NULL;
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    memset(&job, 0, sizeof job);
    cascade_dataset d[CASCADE_MAX_NAMES], layout;
    memset(d, 0, sizeof d);
    memset(&layout, 0, sizeof layout);
    cascade_norm_stats norm = {0};
    cascade_net ref, critic;
    memset(&ref, 0, sizeof ref);
    memset(&critic, 0, sizeof critic);
    float *xb = NULL, *x = NULL;
    cascade_h5writer *w = NULL;
    cascade_h5_names names = {0};
    cascade_status st = cascade_ckpt_open(ckpt, comm, &f);
    if (!st) st = cascade_ckpt_read_meta(f, &meta);
    if (!st) st = cascade_job_parse(meta.job, ckpt, NULL, 0, &job);
    if (st) goto done;
    if (job.kind != JOB_REFINER) {
        st = cascade_fail(CASCADE_EUSAGE, "%s: refine needs a kind = refiner run%s", ckpt,
                          job.kind >= JOB_GAN ? " (a gan samples with cascade generate)" : "");
        goto done;
    }
    cascade_gan_x gx;
    int ref_out[CASCADE_MAX_NAMES];
    if ((st = cascade_gan_read_layout(f, &job, &layout))) goto done;
    if ((st = cascade_gan_read_tensors(f, &job, &layout, &gx))) goto done;
    if ((st = cascade_gan_build(&job, &gx, NULL, &ref, &critic, ref_out))) goto done;
    if ((st = cascade_model_read_params(f, &ref, 1))) goto done;
    if ((st = cascade_model_read_state(f, &job, &ref, NULL, &norm, &layout, NULL))) goto done;
    if ((st = load_sim(&job, sim_file, &gx, &norm, comm, d))) goto done;
    int chunk = (int)job.micro_batch;
    int64_t n = d[0].n;
    if ((st = cascade_net_prepare(&ref, chunk, 0))) goto done;
    xb = cascade_alloc((size_t)(chunk * gx.total) * sizeof(float), "input batch");
    x = cascade_alloc((size_t)(n * gx.total + 1) * sizeof(float), "refined samples");
    if (!xb || !x) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    if ((st = refine_tensors(&ref, ref_out, &gx, d, chunk, xb, x, comm))) goto done;
    if (gx.n > 1) cascade_gan_tensors_to_physical(&job, &gx, &norm, x, n);
    else cascade_gan_to_physical(&job, &layout, &norm, x, n);
    if ((st = cascade_h5w_create(out, comm, &w))) goto done;
    for (int i = 0; !st && i < job.n_inputs; i++)
        st = gx.n > 1 ? cascade_gan_write_tensor(w, &job, &gx, i, x, n, rank)
                      : cascade_gan_write_input(w, &job, &layout, i, x, n, rank);
    if (!st) st = cascade_h5_open(sim_file, comm, &in);
    if (!st) st = cascade_h5_children(in, "/", &names);
    for (int i = 0; !st && i < names.count; i++) { /* every other data set: labels, traces, ... */
        int is_input = 0;
        for (int k = 0; k < job.n_inputs; k++) is_input |= strcmp(names.names[i], job.inputs[k]) == 0;
        if (!is_input && cascade_h5_kind_of(in, names.names[i]) == CASCADE_H5_DATASET)
            st = cascade_copy_dataset(in, w, names.names[i], rank);
    }
    if (!st) st = copy_root_attrs(in, w);
    if (!st) st = cascade_h5w_attr_string(w, "/", "refined_by", ckpt);
    if (!st) st = cascade_h5w_attr_int(w, "/", "refiner_step", meta.step);
    if (!st) st = cascade_h5w_commit(w);
    else cascade_h5w_abort(w);
    w = NULL;
done:
    if (w) cascade_h5w_abort(w);
    cascade_h5_names_free(&names);
    cascade_h5_close(in);
    cascade_free(xb);
    cascade_free(x);
    cascade_net_free(&ref);
    cascade_net_free(&critic);
    cascade_norm_free(&norm);
    for (int k = 0; k < CASCADE_MAX_NAMES; k++) cascade_data_free(&d[k]);
    cascade_ckpt_meta_free(&meta);
    if (job.sections) cascade_job_free(&job);
    cascade_h5_close(f);
    return st;
}
