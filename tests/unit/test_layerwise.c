/* LARS and LAMB against numpy references of the papers' rules (tests/torch/layerwise_ref.py,
 * run into the build dir), the two-phase update of ZeRO-1 shards (partial norms summed as
 * the ranks would: the same bits as one rank), thread-count independence, infinite norms,
 * configuration checks, and the job keys lr_scaling / reference_batch / lars / lamb. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cascade/job.h"
#include "cascade/optim.h"
#include "th.h"

#define PARAM_RTOL 1e-6 /* normwise relative error of params and states vs numpy */

static char build_dir[4000];

static void fill_uniform(float *x, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t r[4];
        cascade_philox(seed, 7, 0, (uint64_t)i, r);
        x[i] = scale * (2.0f * cascade_u01f(r[0]) - 1.0f);
    }
}

/* ---- against numpy ---- */

static const char *reference_file(void) {
    static char path[4096];
    static int state; /* 0 not tried, 1 ok, -1 failed */
    if (state) return state > 0 ? path : NULL;
    state = -1;
    const char *py = getenv("CASCADE_PYTHON"), *src = getenv("CASCADE_SOURCE_DIR");
    if (!py || !src || !build_dir[0]) {
        fprintf(stderr, "CASCADE_PYTHON, CASCADE_SOURCE_DIR and CASCADE_BUILD_DIR must be set (ctest sets them)\n");
        return NULL;
    }
    char cmd[3 * 4096 + 64];
    snprintf(path, sizeof path, "%s/test_layerwise/layerwise_ref.h5", build_dir);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch/layerwise_ref.py' '%s'", py, src, path);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "%s: exit status %d\n", cmd, rc);
        return NULL;
    }
    state = 1;
    return path;
}

/* cfg from a reference group's attributes (absent: cascade's defaults for the type). */
static int load_cfg(hid_t g, cascade_opt_cfg *cfg) {
    char text[64];
    if (!th_attr_str(g, "type", text, sizeof text)) return 0;
    if (strcmp(text, "lars") && strcmp(text, "lamb")) return 0;
    cascade_opt_defaults(cfg, strcmp(text, "lars") == 0 ? OPT_LARS : OPT_LAMB);
    const struct {
        const char *key;
        double *value;
    } doubles[] = {{"lr", &cfg->lr},     {"momentum", &cfg->momentum}, {"beta1", &cfg->beta1},
                   {"beta2", &cfg->beta2}, {"eps", &cfg->eps},         {"weight_decay", &cfg->weight_decay},
                   {"trust_coefficient", &cfg->trust_coefficient}};
    for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++) th_attr_double(g, doubles[i].key, doubles[i].value);
    long v, batch = 0;
    if (th_attr_int(g, "warmup", &v)) cfg->warmup = v;
    if (th_attr_str(g, "schedule", text, sizeof text)) cfg->schedule = strcmp(text, "cosine") == 0 ? SCHED_COSINE : SCHED_CONSTANT;
    if (th_attr_str(g, "lr_scaling", text, sizeof text)) {
        cfg->lr_scaling = strcmp(text, "linear") == 0 ? LR_SCALING_LINEAR : LR_SCALING_SQRT;
        if (!th_attr_int(g, "batch", &batch) || !th_attr_int(g, "reference_batch", &cfg->reference_batch)) return 0;
        cfg->lr_scale = cascade_lr_scale_for(cfg->lr_scaling, batch, cfg->reference_batch);
    }
    return cascade_opt_cfg_check(cfg) == CASCADE_OK;
}

/* The tensors (k, 3): offset, size, adapted. */
static cascade_opt_tensor *load_tensors(hid_t g, int *k) {
    cascade_shape s;
    double *t = th_read(g, "tensors", &s);
    cascade_opt_tensor *out = t && s.ndim == 2 && s.d[1] == 3 ? malloc((size_t)s.d[0] * sizeof *out) : NULL;
    if (out) {
        *k = (int)s.d[0];
        for (int i = 0; i < *k; i++) out[i] = (cascade_opt_tensor){(int64_t)t[3 * i], (int64_t)t[3 * i + 1], t[3 * i + 2] != 0};
    }
    free(t);
    return out;
}

/* Replays one group; returns failures; max errors of params and states into err. */
static int check_group(hid_t g, const char *name, double err[2]) {
    cascade_opt_cfg cfg;
    long steps;
    int k = 0, failures = 0;
    cascade_shape s0, sg, sp, sl;
    double *p0 = th_read(g, "params0", &s0), *gr = th_read(g, "grads", &sg), *after = th_read(g, "params", &sp);
    double *lrs = th_read(g, "lr", &sl);
    cascade_opt_tensor *t = load_tensors(g, &k);
    const int64_t n = p0 ? s0.d[0] : 0;
    float *params = malloc((size_t)n * sizeof *params), *grads = gr ? malloc((size_t)(sg.d[0] * n) * sizeof *grads) : NULL;
    cascade_optimizer o;
    memset(&o, 0, sizeof o);
    if (!load_cfg(g, &cfg) || !th_attr_int(g, "steps", &steps) || !t || !p0 || !gr || !after || !lrs || !params ||
        !grads || sg.d[0] != steps || sg.d[1] != n || sp.d[1] != n) {
        fprintf(stderr, "%s: unreadable reference group\n", name);
        failures++;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) params[i] = (float)p0[i];
    for (int64_t i = 0; i < steps * n; i++) grads[i] = (float)gr[i];
    if (cascade_optimizer_init(&o, &cfg, n) || cascade_optimizer_set_tensors(&o, t, k)) {
        fprintf(stderr, "%s: %s\n", name, cascade_errmsg());
        failures++;
        goto done;
    }
    for (long s = 0; s < steps; s++) {
        const double lr = cascade_lr_at(&cfg, s, steps);
        if (!(fabs(lr - lrs[s]) <= 1e-12 * lrs[s])) {
            fprintf(stderr, "%s: lr of update %ld: %.17g, numpy %.17g\n", name, s, lr, lrs[s]);
            failures++;
        }
        cascade_optimizer_update(&o, params, grads + s * n, 0, n, lr);
        double e = th_relerr_f(params, after + s * n, n);
        if (!(e <= err[0])) err[0] = e;
        if (!(e <= PARAM_RTOL)) fprintf(stderr, "%s: update %ld: params off by %.3g\n", name, s, e), failures++;
    }
    const char *states[] = {"exp_avg", "exp_avg_sq", "momentum_buffer"};
    hid_t st = H5Gopen2(g, "state", H5P_DEFAULT);
    for (int i = 0; i < 3; i++) {
        cascade_shape ss;
        double *ref = st >= 0 && H5Lexists(st, states[i], H5P_DEFAULT) > 0 ? th_read(st, states[i], &ss) : NULL;
        const float *ours = cascade_optimizer_state(&o, states[i]);
        if (!ref != !ours) {
            fprintf(stderr, "%s: state %s kept by %s only\n", name, states[i], ref ? "numpy" : "cascade");
            failures++;
        } else if (ref) {
            double e = th_relerr_f(ours, ref, n);
            if (!(e <= err[1])) err[1] = e;
            if (!(e <= PARAM_RTOL)) fprintf(stderr, "%s: state %s off by %.3g\n", name, states[i], e), failures++;
        }
        free(ref);
    }
    if (st >= 0) H5Gclose(st);
    CU_ASSERT_EQUAL(o.step, steps);
done:
    cascade_optimizer_free(&o);
    free(p0), free(gr), free(after), free(lrs), free(t), free(params), free(grads);
    return failures;
}

static herr_t count_group(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    double *err = data;
    hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
    int failures = sub >= 0 ? check_group(sub, name, err) : 1;
    if (sub >= 0) H5Gclose(sub);
    printf("  %-20s %s\n", name, failures ? "FAILED" : "ok");
    CU_ASSERT_EQUAL(failures, 0);
    err[2] += 1;
    return 0;
}

static void test_against_numpy(void) {
    const char *path = reference_file();
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    double err[3] = {0, 0, 0}; /* params, states, groups */
    printf("\n");
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, count_group, err);
    H5Fclose(f);
    printf("  max relative error over %g runs: params %.2e, states %.2e (limit %g)\n", err[2], err[0], err[1],
           PARAM_RTOL);
    CU_ASSERT(err[2] >= 8);
}

/* ---- shards and threads: the same bits ---- */

enum { N = 100003, STEPS = 3, NT = 5 };
/* a 2-D tensor above the parallel threshold, a bias, a zero tensor, two more matrices */
static const cascade_opt_tensor TENSORS[NT] = {
    {0, 60000, 1}, {60000, 3, 0}, {60003, 1000, 1}, {61003, 38000, 1}, {99003, 1000, 1}};

static void configs(cascade_opt_cfg c[3]) {
    cascade_opt_defaults(&c[0], OPT_LAMB);
    c[0].lr = 1e-2;
    cascade_opt_defaults(&c[1], OPT_LARS);
    c[1].lr = 1.0;
    cascade_opt_defaults(&c[2], OPT_LARS);
    c[2].lr = 0.3, c[2].momentum = 0, c[2].weight_decay = 0.1;
}

/* STEPS updates of all N parameters split into `parts` shards (each an optimizer of its
 * range, as ZeRO-1 ranks): phase 1 on every shard, the partial norms added (MPI_SUM), then
 * every shard's update (reduce = 0: each shard keeps its own partial norms, wrongly). */
static float *run_shards(const cascade_opt_cfg *cfg, int parts, int reduce, const float *p0, const float *grads) {
    float *p = malloc(N * sizeof *p);
    cascade_optimizer o[4];
    int64_t lo[4], hi[4], sum[NT * CASCADE_OPT_NORM_WORDS];
    CU_ASSERT_FATAL(p != NULL && parts <= 4);
    memcpy(p, p0, N * sizeof *p);
    for (int r = 0; r < parts; r++) {
        lo[r] = N * r / parts, hi[r] = N * (r + 1) / parts; /* cuts tensors 0 and 3 */
        CU_ASSERT_FATAL(cascade_optimizer_init(&o[r], cfg, hi[r] - lo[r]) == CASCADE_OK);
        o[r].offset = lo[r];
        CU_ASSERT_FATAL(cascade_optimizer_set_tensors(&o[r], TENSORS, NT) == CASCADE_OK);
    }
    const int64_t words = cascade_optimizer_norm_words(&o[0]);
    CU_ASSERT_EQUAL_FATAL(words, NT * CASCADE_OPT_NORM_WORDS);
    for (int s = 0; s < STEPS; s++) {
        const float *g = grads + (int64_t)s * N;
        memset(sum, 0, sizeof sum);
        for (int r = 0; r < parts; r++) {
            const int64_t *w = cascade_optimizer_norm_partials(&o[r], p + lo[r], g + lo[r], 0, hi[r] - lo[r]);
            for (int64_t i = 0; i < words; i++) sum[i] += w[i];
        }
        for (int r = 0; r < parts; r++) {
            if (reduce) memcpy(o[r].norm_acc, sum, sizeof sum);
            cascade_optimizer_update(&o[r], p + lo[r], g + lo[r], 0, hi[r] - lo[r], cascade_lr_at(cfg, s, STEPS));
        }
    }
    for (int r = 0; r < parts; r++) cascade_optimizer_free(&o[r]);
    return p;
}

static void test_shards_and_threads(void) {
    float *p0 = malloc(N * sizeof *p0), *grads = malloc(STEPS * N * sizeof *grads);
    CU_ASSERT_FATAL(p0 && grads);
    fill_uniform(p0, N, 1, 0.5f);
    fill_uniform(grads, STEPS * N, 2, 0.01f);
    memset(p0 + 61003, 0, 38000 * sizeof *p0); /* tensor 3: zero weights, ratio 1 at first */
    cascade_opt_cfg cfgs[3];
    configs(cfgs);
    const int threads_before = omp_get_max_threads();
    for (int c = 0; c < 3; c++) {
        omp_set_num_threads(1);
        float *one = run_shards(&cfgs[c], 1, 1, p0, grads);
        float *three = run_shards(&cfgs[c], 3, 1, p0, grads);
        float *unreduced = run_shards(&cfgs[c], 3, 0, p0, grads);
        omp_set_num_threads(3);
        float *threads = run_shards(&cfgs[c], 1, 1, p0, grads);
        float *both = run_shards(&cfgs[c], 2, 1, p0, grads);
        CU_ASSERT(memcmp(one, three, N * sizeof *one) == 0);
        CU_ASSERT(memcmp(one, threads, N * sizeof *one) == 0);
        CU_ASSERT(memcmp(one, both, N * sizeof *one) == 0);
        CU_ASSERT(memcmp(one, p0, N * sizeof *one) != 0);
        /* shards that skip the sum scale the tensors they cut by their own norms: differs */
        CU_ASSERT(memcmp(one, unreduced, N * sizeof *one) != 0);
        free(one), free(three), free(unreduced), free(threads), free(both);
    }
    omp_set_num_threads(threads_before);
    free(p0), free(grads);
}

/* A weight of 2^33 puts |w|^2 beyond the exact sums' range: the norm is infinite and the
 * tensor is not moved (ratio 0); the other tensors are. A zero tensor gets ratio 1. */
static void test_out_of_range_and_zero(void) {
    enum { M = 8 };
    const cascade_opt_tensor t[2] = {{0, 4, 1}, {4, 4, 1}};
    float p[M] = {1, 2, 0x1p33f, 3, 0, 0, 0, 0}, g[M] = {1, 1, 1, 1, 0.5f, -0.5f, 0.25f, 1};
    cascade_opt_cfg c;
    cascade_opt_defaults(&c, OPT_LARS);
    c.momentum = 0, c.weight_decay = 0;
    cascade_optimizer o;
    CU_ASSERT_FATAL(cascade_optimizer_init(&o, &c, M) == CASCADE_OK);
    CU_ASSERT_FATAL(cascade_optimizer_set_tensors(&o, t, 2) == CASCADE_OK);
    cascade_optimizer_update(&o, p, g, 0, M, 0.5);
    CU_ASSERT(p[0] == 1 && p[1] == 2 && p[2] == 0x1p33f && p[3] == 3);
    /* zero weights: ratio 1, plain p -= lr * g */
    CU_ASSERT(p[4] == -0.25f && p[5] == 0.25f && p[6] == -0.125f && p[7] == -0.5f);
    cascade_optimizer_free(&o);
}

static void test_checks_and_scaling(void) {
    cascade_opt_cfg c;
    cascade_opt_defaults(&c, OPT_LARS);
    CU_ASSERT_EQUAL(c.momentum, 0.9);
    CU_ASSERT_EQUAL(c.weight_decay, 5e-4);
    CU_ASSERT_EQUAL(c.trust_coefficient, 1e-3);
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_OK);
    c.trust_coefficient = 0;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "trust_coefficient"));
    cascade_opt_defaults(&c, OPT_LAMB);
    CU_ASSERT_EQUAL(c.eps, 1e-6);
    CU_ASSERT_EQUAL(c.weight_decay, 1e-2);
    c.beta2 = 1.0;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "betas"));
    cascade_opt_defaults(&c, OPT_LAMB);
    c.lr_scaling = LR_SCALING_LINEAR;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "reference_batch"));
    CU_ASSERT_STRING_EQUAL(cascade_opt_kind_name(OPT_LAMB), "lamb");
    CU_ASSERT_STRING_EQUAL(cascade_lr_scaling_name(LR_SCALING_SQRT), "sqrt");
    /* the factors, and the schedule built on the scaled lr (warm-up from lr_eff / W) */
    CU_ASSERT_EQUAL(cascade_lr_scale_for(LR_SCALING_LINEAR, 4096, 128), 32.0);
    CU_ASSERT_EQUAL(cascade_lr_scale_for(LR_SCALING_SQRT, 4096, 128), sqrt(32.0));
    CU_ASSERT_EQUAL(cascade_lr_scale_for(LR_SCALING_NONE, 4096, 128), 1.0);
    CU_ASSERT_EQUAL(cascade_lr_scale_for(LR_SCALING_LINEAR, 64, 128), 0.5);
    c.reference_batch = 128, c.lr = 1e-3, c.lr_scale = 32, c.warmup = 4;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_OK);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 0, 100), 0.032 / 4, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 4, 100), 0.032, 1e-15);
    /* the tensors must tile the buffer */
    cascade_optimizer o;
    CU_ASSERT_FATAL(cascade_optimizer_init(&o, &c, 10) == CASCADE_OK);
    const cascade_opt_tensor gap[2] = {{0, 4, 1}, {5, 5, 1}}, shuffled[2] = {{6, 4, 1}, {0, 6, 0}};
    CU_ASSERT_EQUAL(cascade_optimizer_set_tensors(&o, gap, 2), CASCADE_EINTERNAL);
    CU_ASSERT_EQUAL(cascade_optimizer_set_tensors(&o, shuffled, 2), CASCADE_OK);
    CU_ASSERT_EQUAL(o.tensors[0].off, 0);
    CU_ASSERT_EQUAL(cascade_optimizer_norm_words(&o), 2 * CASCADE_OPT_NORM_WORDS);
    cascade_optimizer_free(&o);
    cascade_opt_defaults(&c, OPT_ADAM);
    CU_ASSERT_FATAL(cascade_optimizer_init(&o, &c, 10) == CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_optimizer_norm_words(&o), 0);
    CU_ASSERT_PTR_NULL(cascade_optimizer_norm_partials(&o, NULL, NULL, 0, 10));
    cascade_optimizer_free(&o);
}

/* ---- job keys ---- */

static const char *const JOB =
    "[job]\nname = lb\nkind = supervised\n[data]\ntrain = t.h5\ninputs = x\ntargets = y\n"
    "[train]\nbatch = 4096\nmicro_batch = 256\nepochs = 1\n"
    "[optimizer]\ntype = lamb\nlr = 1e-3\nlr_scaling = linear\nreference_batch = 128\nwarmup = 10\n"
    "[model.out]\ntype = dense\nunits = 1\n";

static cascade_status load(const char *text, const char *set, cascade_job *job) {
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/test_layerwise/job.ini", build_dir);
    FILE *f = fopen(path, "wb");
    if (!f) return CASCADE_EIO;
    fputs(text, f);
    fclose(f);
    return cascade_job_load(path, set ? &set : NULL, set ? 1 : 0, job);
}

static void expect_job_error(const char *set, const char *a, const char *b) {
    cascade_job job;
    CU_ASSERT_EQUAL(load(JOB, set, &job), CASCADE_EUSAGE);
    const char *msg = cascade_errmsg();
    int ok = strstr(msg, a) && (!b || strstr(msg, b));
    CU_ASSERT(ok);
    if (!ok) printf("\n  --set %s: %s\n", set, msg);
}

static void test_job_keys(void) {
    cascade_job job;
    CU_ASSERT_EQUAL_FATAL(load(JOB, NULL, &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].type, OPT_LAMB);
    CU_ASSERT_EQUAL(job.opt[0].lr_scaling, LR_SCALING_LINEAR);
    CU_ASSERT_EQUAL(job.opt[0].reference_batch, 128);
    CU_ASSERT_EQUAL(job.opt[0].lr_scale, 32.0);
    CU_ASSERT_EQUAL(job.opt[0].eps, 1e-6);
    cascade_job_free(&job);
    CU_ASSERT_EQUAL_FATAL(load(JOB, "optimizer.lr_scaling=sqrt", &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].lr_scale, sqrt(32.0));
    cascade_job_free(&job);
    CU_ASSERT_EQUAL_FATAL(load(JOB, "train.batch=512", &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].lr_scale, 4.0);
    cascade_job_free(&job);
    CU_ASSERT_EQUAL_FATAL(load(JOB, "optimizer.type=lars", &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].type, OPT_LARS);
    CU_ASSERT_EQUAL(job.opt[0].momentum, 0.9);
    cascade_job_free(&job);
    CU_ASSERT_EQUAL_FATAL(load(JOB, "optimizer.adapt_biases=true", &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].adapt_biases, 1);
    cascade_job_free(&job);
    CU_ASSERT_EQUAL_FATAL(load(JOB, "optimizer.betas=0.8, 0.99", &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].beta1, 0.8);
    cascade_job_free(&job);
    /* the default: no scaling */
    const char *plain = "[job]\nname = lb\nkind = supervised\n[data]\ntrain = t.h5\ninputs = x\ntargets = y\n"
                        "[train]\nbatch = 4096\nepochs = 1\n[optimizer]\ntype = lars\n[model.out]\ntype = dense\nunits = 1\n";
    CU_ASSERT_EQUAL_FATAL(load(plain, NULL, &job), CASCADE_OK);
    CU_ASSERT_EQUAL(job.opt[0].lr_scaling, LR_SCALING_NONE);
    CU_ASSERT_EQUAL(job.opt[0].lr_scale, 1.0);
    cascade_job_free(&job);

    expect_job_error("optimizer.lr_scaling=cubic", "lr_scaling", "cubic");
    expect_job_error("optimizer.lr_scaling=none", "reference_batch", "lr_scaling");
    expect_job_error("optimizer.reference_batch=0", "reference_batch", NULL);
    expect_job_error("optimizer.trust_coefficient=0.01", "trust_coefficient", "type = lamb");
    expect_job_error("optimizer.momentum=0.9", "momentum", "type = lamb");
    expect_job_error("optimizer.eps=-1", "eps", NULL);
    expect_job_error("optimizer.adapt_biases=maybe", "adapt_biases", NULL);
    CU_ASSERT_EQUAL(load(JOB, "optimizer.type=lars", &job), CASCADE_OK);
    cascade_job_free(&job);
    const char *lars_bad = "[job]\nname = lb\nkind = supervised\n[data]\ntrain = t.h5\ninputs = x\ntargets = y\n"
                           "[train]\nbatch = 64\nepochs = 1\n[optimizer]\ntype = lars\ntrust_coefficient = 0\n"
                           "[model.out]\ntype = dense\nunits = 1\n";
    CU_ASSERT_EQUAL(load(lars_bad, NULL, &job), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "trust_coefficient"));
    const char *adam_ab = "[job]\nname = lb\nkind = supervised\n[data]\ntrain = t.h5\ninputs = x\ntargets = y\n"
                          "[train]\nbatch = 64\nepochs = 1\n[optimizer]\nadapt_biases = true\n"
                          "[model.out]\ntype = dense\nunits = 1\n";
    CU_ASSERT_EQUAL(load(adam_ab, NULL, &job), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "does not apply to type = adam"));
    const char *no_ref = "[job]\nname = lb\nkind = supervised\n[data]\ntrain = t.h5\ninputs = x\ntargets = y\n"
                         "[train]\nbatch = 64\nepochs = 1\n[optimizer]\nlr_scaling = sqrt\n"
                         "[model.out]\ntype = dense\nunits = 1\n";
    CU_ASSERT_EQUAL(load(no_ref, NULL, &job), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "needs reference_batch"));
}

int main(void) {
    const char *build = getenv("CASCADE_BUILD_DIR");
    snprintf(build_dir, sizeof build_dir, "%s", build ? build : ".");
    char dir[4096 + 32];
    snprintf(dir, sizeof dir, "%s/test_layerwise", build_dir);
    mkdir(dir, 0755);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("layerwise", NULL, NULL);
    CU_add_test(s, "checks, lr scaling", test_checks_and_scaling);
    CU_add_test(s, "job keys", test_job_keys);
    CU_add_test(s, "infinite and zero norms", test_out_of_range_and_zero);
    CU_add_test(s, "shards and threads: same bits", test_shards_and_threads);
    CU_add_test(s, "against numpy (LARS, LAMB)", test_against_numpy);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
