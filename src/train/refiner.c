/* kind = refiner (Shrivastava et al. 2017): a refiner R maps simulated samples x to R(x),
 * judged against measured-domain samples (`target`) by a critic; the refiner's loss adds
 * self_regularization * mean |R(x) - x|. Its step is gan.c's; here: the history buffer of
 * earlier refined samples and its checkpoint image (`cascade refine`: src/apps/refine.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adversarial.h"

cascade_status cascade_refiner_alloc(gan_session *s) {
    cascade_job *job = s->base.job;
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
    if (s->base.size == 1 || !s->hist_cap) return CASCADE_OK; /* only the history needs every sample */
    double t0 = cascade_now();
    int64_t mb = s->base.job->micro_batch;
    cascade_status st = cascade_par_gather_rows(s->base.comm, s->fake_all, s->base.job->batch / mb * mb, mb, s->xs);
    s->t_comm += cascade_now() - t0;
    if (st) cascade_error_context("sharing the refined batch at step %lld: ", (long long)s->base.prog.step + 1);
    return st;
}

static uint64_t history_draw(const gan_session *s, uint64_t ctr, int64_t q, int which) {
    uint32_t r[4];
    cascade_philox((uint64_t)s->base.job->seed, CASCADE_RNG_HISTORY, ctr, (uint64_t)q, r);
    return which ? ((uint64_t)r[2] << 32 | r[3]) : ((uint64_t)r[0] << 32 | r[1]);
}

void cascade_refiner_fake_batch(gan_session *s, uint64_t ctr, int64_t pos, int m) {
    int64_t xs = s->xs, half = s->base.job->batch / 2;
    for (int i = 0; i < m; i++) {
        int64_t q = pos + i;
        const float *src = s->fake_all + q * xs;
        if (s->hist_n > 0 && q >= half) src = s->hist + (int64_t)(history_draw(s, ctr, q, 0) % (uint64_t)s->hist_n) * xs;
        cascade_gan_x_put_row(&s->gx, src, s->fake_mb, m, i); /* rows -> the critic's input-major batch */
    }
}

void cascade_refiner_remember(gan_session *s, uint64_t ctr) {
    if (!s->hist_cap) return;
    int64_t xs = s->xs, half = s->base.job->batch / 2;
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
    return cascade_model_write_blocks(w, s->base.comm, "/refiner/history", &sh, s->hist); /* equal on every rank */
}

cascade_status cascade_refiner_read(cascade_h5file *f, gan_session *s) {
    if (!s->refiner) return CASCADE_OK;
    CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/refiner", "critic_updates", 0, (int64_t)1 << 53, &s->critic_updates));
    int64_t filled = 0; /* rows of the history in use: at most its capacity, which is checked below */
    CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/refiner", "history_filled", 0, (int64_t)1 << 53, &filled));
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
                            cascade_shape_str(&info.shape, a, sizeof a), s->base.job->history,
                            cascade_shape_str(&want, b, sizeof b));
    if (filled > s->hist_cap)
        return cascade_fail(CASCADE_EDATA, "%s: attribute 'history_filled' of '/refiner' is %lld, more than the %lld rows "
                            "of /refiner/history", cascade_h5_filename(f), (long long)filled, (long long)s->hist_cap);
    CASCADE_TRY(cascade_h5_read_floats(f, "/refiner/history", &want, s->hist));
    s->hist_n = filled;
    return CASCADE_OK;
}
