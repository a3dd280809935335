/* kind = refiner (Shrivastava et al. 2017): a refiner R maps simulated samples x to R(x),
 * judged against measured-domain samples (`target`) by a critic; the refiner's loss adds
 * self_regularization * mean |R(x) - x|. The loop is gan.c's; here: the target data, the
 * history buffer of earlier refined samples, its checkpoint image, and `cascade refine`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adversarial.h"
#include "train/trained.h"

cascade_status cascade_refiner_load_target(gan_session *s) {
    cascade_status st = cascade_data_load(s->job, s->job->target_file, 0, NULL, 0, s->comm, &s->target);
    if (st) return st;
    char a[128], b[128];
    if (!cascade_shape_equal(&s->target.x_shape, &s->train.x_shape))
        return cascade_fail(CASCADE_EDATA, "%s: the target samples are %s, the simulated ones in %s %s (the same "
                            "inputs must have the same shapes in both files)", s->job->target_file,
                            cascade_shape_str(&s->target.x_shape, a, sizeof a), s->job->train,
                            cascade_shape_str(&s->train.x_shape, b, sizeof b));
    return CASCADE_OK;
}

cascade_status cascade_refiner_alloc(gan_session *s) {
    cascade_job *job = s->job;
    int64_t xs = s->xs, mb = job->micro_batch;
    s->hist_cap = job->history;
    s->sb = cascade_alloc((size_t)(mb * xs) * sizeof(float), "simulated batch");
    s->fake_mb = cascade_alloc((size_t)(mb * xs) * sizeof(float), "critic batch");
    s->fake_all = cascade_alloc((size_t)(job->batch * xs) * sizeof(float), "refined batch");
    s->hist = s->hist_cap ? cascade_alloc((size_t)(s->hist_cap * xs) * sizeof(float), "history buffer") : NULL;
    s->perm_t = malloc((size_t)s->target.n * sizeof(int64_t));
    if (!s->sb || !s->fake_mb || !s->fake_all || (s->hist_cap && !s->hist) || !s->perm_t)
        return cascade_fail(CASCADE_EINTERNAL, "out of memory for the refiner's buffers");
    /* the target samples in one fixed order, cycled through (rank- and resume-independent) */
    return cascade_permutation((uint64_t)job->seed, CASCADE_RNG_SHUFFLE, UINT64_MAX, s->target.n, s->perm_t);
}

void cascade_refiner_free(gan_session *s) {
    cascade_free(s->sb);
    cascade_free(s->fake_mb);
    cascade_free(s->fake_all);
    cascade_free(s->hist);
    free(s->perm_t);
    s->sb = s->fake_mb = s->fake_all = s->hist = NULL;
    s->perm_t = NULL;
}

cascade_status cascade_refiner_share_batch(gan_session *s) {
    if (s->size == 1 || !s->hist_cap) return CASCADE_OK; /* only the history needs every sample */
    int64_t nmb = s->job->batch / s->job->micro_batch, per = s->job->micro_batch * s->xs;
    int *counts = malloc((size_t)s->size * sizeof(int)), *displs = malloc((size_t)s->size * sizeof(int));
    int rc = counts && displs ? MPI_SUCCESS : MPI_ERR_NO_MEM;
    for (int r = 0; rc == MPI_SUCCESS && r < s->size; r++) {
        displs[r] = (int)(nmb * r / s->size * per);
        counts[r] = (int)(nmb * (r + 1) / s->size * per) - displs[r];
    }
    double t0 = cascade_now();
    if (rc == MPI_SUCCESS)
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, s->fake_all, counts, displs, MPI_FLOAT, s->comm);
    s->t_comm += cascade_now() - t0;
    free(counts);
    free(displs);
    if (rc != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "rank %d: sharing the refined batch failed at step %lld", s->rank,
                            (long long)s->prog.step + 1);
    return CASCADE_OK;
}

static uint64_t history_draw(const gan_session *s, uint64_t ctr, int64_t q, int which) {
    uint32_t r[4];
    cascade_philox((uint64_t)s->job->seed, CASCADE_RNG_HISTORY, ctr, (uint64_t)q, r);
    return which ? ((uint64_t)r[2] << 32 | r[3]) : ((uint64_t)r[0] << 32 | r[1]);
}

void cascade_refiner_fake_batch(gan_session *s, uint64_t ctr, int64_t pos, int m) {
    int64_t xs = s->xs, half = s->job->batch / 2;
    for (int i = 0; i < m; i++) {
        int64_t q = pos + i;
        const float *src = s->fake_all + q * xs;
        if (s->hist_n > 0 && q >= half) src = s->hist + (int64_t)(history_draw(s, ctr, q, 0) % (uint64_t)s->hist_n) * xs;
        memcpy(s->fake_mb + (int64_t)i * xs, src, (size_t)xs * sizeof(float));
    }
}

void cascade_refiner_remember(gan_session *s, uint64_t ctr) {
    if (!s->hist_cap) return;
    int64_t xs = s->xs, half = s->job->batch / 2;
    for (int64_t q = 0; q < (half ? half : 1); q++) {
        int64_t slot = s->hist_n < s->hist_cap ? s->hist_n++
                                                 : (int64_t)(history_draw(s, ctr, q, 1) % (uint64_t)s->hist_cap);
        memcpy(s->hist + slot * xs, s->fake_all + q * xs, (size_t)xs * sizeof(float));
    }
}

cascade_status cascade_refiner_write(cascade_h5writer *w, gan_session *s) {
    CASCADE_TRY(cascade_h5w_attr_int(w, "/refiner", "critic_updates", s->critic_updates));
    CASCADE_TRY(cascade_h5w_attr_int(w, "/refiner", "history_filled", s->hist_n));
    if (!s->hist_cap) return CASCADE_OK;
    cascade_shape sh = cascade_shape_make(2, (int64_t[]){s->hist_cap, s->xs});
    return cascade_h5w_write_floats(w, "/refiner/history", &sh, s->hist, 0, s->rank == 0 ? s->hist_cap * s->xs : 0);
}

cascade_status cascade_refiner_read(cascade_h5file *f, gan_session *s) {
    if (!s->refiner) return CASCADE_OK;
    CASCADE_TRY(cascade_h5_attr_int(f, "/refiner", "critic_updates", &s->critic_updates));
    int64_t filled = 0;
    CASCADE_TRY(cascade_h5_attr_int(f, "/refiner", "history_filled", &filled));
    if (!s->hist_cap) {
        s->hist_n = 0; /* history switched off: continue without it */
        return CASCADE_OK;
    }
    if (cascade_h5_kind_of(f, "/refiner/history") != CASCADE_H5_DATASET) {
        s->hist_n = 0; /* switched on now: starts empty */
        return CASCADE_OK;
    }
    cascade_h5_info info;
    CASCADE_TRY(cascade_h5_info_of(f, "/refiner/history", &info));
    cascade_shape want = cascade_shape_make(2, (int64_t[]){s->hist_cap, s->xs});
    char a[64], b[64];
    if (!cascade_shape_equal(&info.shape, &want))
        return cascade_fail(CASCADE_EUSAGE, "%s: /refiner/history is %s but the job's history = %ld needs %s; resume "
                            "with the history the run was trained with", cascade_h5_filename(f),
                            cascade_shape_str(&info.shape, a, sizeof a), s->job->history,
                            cascade_shape_str(&want, b, sizeof b));
    CASCADE_TRY(cascade_h5_read_floats(f, "/refiner/history", &want, s->hist));
    s->hist_n = filled;
    return CASCADE_OK;
}

/* ---- cascade refine ---- */

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

cascade_status cascade_refine(const char *ckpt, const char *sim_file, const char *out, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    cascade_h5file *f = NULL, *in = NULL;
    cascade_ckpt_meta meta = {0};
    cascade_job job;
    memset(&job, 0, sizeof job);
    cascade_dataset d, layout;
    memset(&d, 0, sizeof d);
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
    if ((st = cascade_data_load(&job, sim_file, 0, NULL, 0, comm, &d))) goto done;
    if ((st = cascade_gan_read_layout(f, &job, &layout))) goto done;
    char a[128], b[128];
    if (!cascade_shape_equal(&layout.x_shape, &d.x_shape)) {
        st = cascade_fail(CASCADE_EDATA, "%s: the inputs form samples %s; the refiner was trained on %s", sim_file,
                          cascade_shape_str(&d.x_shape, a, sizeof a), cascade_shape_str(&layout.x_shape, b, sizeof b));
        goto done;
    }
    cascade_gan_x gx = {.n = 1};
    int gen_out[CASCADE_MAX_NAMES];
    gx.shape[0] = d.x_shape;
    cascade_gan_x_sizes(&gx);
    if ((st = cascade_gan_build(&job, &gx, NULL, &ref, &critic, gen_out))) goto done;
    if ((st = cascade_model_read_params(f, &ref, 1))) goto done;
    if ((st = cascade_model_read_state(f, &job, &ref, NULL, &norm, &d, NULL))) goto done;
    if (job.normalize == NORM_STANDARD) cascade_norm_apply(&job, &norm, &d);
    int chunk = (int)job.micro_batch;
    int64_t xs = cascade_shape_numel(&d.x_shape);
    if ((st = cascade_net_prepare(&ref, chunk, 0))) goto done;
    xb = cascade_alloc((size_t)(chunk * xs) * sizeof(float), "input batch");
    x = cascade_alloc((size_t)(d.n * xs) * sizeof(float), "refined samples");
    if (!xb || !x) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    cascade_run_dataset(&ref, &d, chunk, xb, -1, x, comm); /* rank-invariant chunks, gathered */
    cascade_gan_to_physical(&job, &layout, &norm, x, d.n);
    if ((st = cascade_h5w_create(out, comm, &w))) goto done;
    for (int i = 0; !st && i < job.n_inputs; i++) st = cascade_gan_write_input(w, &job, &layout, i, x, d.n, rank);
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
    cascade_data_free(&d);
    cascade_ckpt_meta_free(&meta);
    if (job.sections) cascade_job_free(&job);
    cascade_h5_close(f);
    return st;
}
