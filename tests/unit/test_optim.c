/* Optimizers and schedules against torch.optim (runs tests/torch/optim_ref.py into the build
 * dir and replays its gradients), plus schedule edge cases, configuration checks, sub-range
 * (ZeRO-1 shard) updates and thread-count independence. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cascade/optim.h"
#include "th.h"

#define PARAM_RTOL 1e-6 /* normwise relative error of params and states vs torch */
#define LR_RTOL 1e-12   /* our closed forms vs torch's recursive schedulers */

/* ---- helpers ---- */

static void fill_uniform(float *x, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t r[4];
        cascade_philox(seed, 99, 0, (uint64_t)i, r);
        x[i] = scale * (2.0f * cascade_u01f(r[0]) - 1.0f);
    }
}

static float *float_copy(const double *src, int64_t n) {
    float *dst = malloc((size_t)n * sizeof *dst);
    if (dst)
        for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
    return dst;
}

/* lr closeness relative to the reference (reference may be 0: then absolute) */
static int lr_close(double ours, double ref) {
    return fabs(ours - ref) <= LR_RTOL * (fabs(ref) > 1e-300 ? fabs(ref) : 1.0);
}

/* ---- configuration from a reference group's attributes ---- */

static int kind_from_name(const char *name, cascade_opt_kind *kind) {
    for (int k = OPT_SGD; k <= OPT_RMSPROP; k++)
        if (strcmp(name, cascade_opt_kind_name((cascade_opt_kind)k)) == 0) {
            *kind = (cascade_opt_kind)k;
            return 1;
        }
    return 0;
}

static int load_cfg(hid_t g, const char *group, cascade_opt_cfg *cfg) {
    char text[64];
    cascade_opt_kind kind;
    if (!th_attr_str(g, "type", text, sizeof text) || !kind_from_name(text, &kind)) {
        fprintf(stderr, "%s: bad or missing attribute type\n", group);
        return 0;
    }
    cascade_opt_defaults(cfg, kind); /* attributes absent = torch's defaults */
    const struct {
        const char *key;
        double *value;
    } doubles[] = {
        {"lr", &cfg->lr},       {"momentum", &cfg->momentum}, {"beta1", &cfg->beta1},
        {"beta2", &cfg->beta2}, {"eps", &cfg->eps},           {"weight_decay", &cfg->weight_decay},
        {"alpha", &cfg->alpha}, {"gamma", &cfg->gamma},       {"min_lr", &cfg->min_lr},
        {"power", &cfg->power}};
    for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++)
        th_attr_double(g, doubles[i].key, doubles[i].value);
    long v;
    if (th_attr_int(g, "nesterov", &v)) cfg->nesterov = (int)v;
    if (th_attr_int(g, "centered", &v)) cfg->centered = (int)v;
    if (th_attr_int(g, "step_size", &v)) cfg->step_size = v;
    if (th_attr_int(g, "warmup", &v)) cfg->warmup = v;
    if (th_attr_str(g, "schedule", text, sizeof text)) {
        int found = 0;
        for (int s = SCHED_CONSTANT; s <= SCHED_POLY; s++)
            if (strcmp(text, cascade_sched_kind_name((cascade_sched_kind)s)) == 0) {
                cfg->schedule = (cascade_sched_kind)s;
                found = 1;
            }
        if (!found) {
            fprintf(stderr, "%s: unknown schedule '%s'\n", group, text);
            return 0;
        }
    }
    return 1;
}

/* ---- the torch reference ---- */

static const char *reference_file(void) {
    static char path[4096];
    static int state; /* 0 not tried, 1 ok, -1 failed */
    if (state) return state > 0 ? path : NULL;
    state = -1;
    const char *py = getenv("CASCADE_PYTHON"), *src = getenv("CASCADE_SOURCE_DIR");
    const char *build = getenv("CASCADE_BUILD_DIR");
    if (!py || !src || !build) {
        fprintf(stderr, "CASCADE_PYTHON, CASCADE_SOURCE_DIR and CASCADE_BUILD_DIR must be set "
                        "(ctest sets them)\n");
        return NULL;
    }
    char dir[4000], cmd[3 * 4096 + 64];
    if (snprintf(dir, sizeof dir, "%s/test_optim", build) >= (int)sizeof dir) {
        fprintf(stderr, "CASCADE_BUILD_DIR too long\n");
        return NULL;
    }
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/optim_ref.h5", dir);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch/optim_ref.py' '%s'", py, src, path);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "%s: exit status %d\n", cmd, rc);
        return NULL;
    }
    state = 1;
    return path;
}

typedef struct {
    int count;
    char names[64][64];
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    name_list *list = data;
    if (list->count < 64) snprintf(list->names[list->count++], 64, "%s", name);
    return 0;
}

/* Checks cascade_lr_at against the group's lr sequence; returns failures. */
static int check_lrs(hid_t g, const char *group, const cascade_opt_cfg *cfg, long total) {
    cascade_shape shape;
    double *ref = th_read(g, "lr", &shape);
    if (!ref) {
        fprintf(stderr, "%s: no lr data set\n", group);
        return 1;
    }
    int bad = 0;
    for (int64_t s = 0; s < shape.d[0]; s++) {
        double ours = cascade_lr_at(cfg, s, total);
        if (!lr_close(ours, ref[s])) {
            if (!bad)
                fprintf(stderr, "%s: lr at update %lld is %.17g, torch %.17g\n", group,
                        (long long)s, ours, ref[s]);
            bad++;
        }
    }
    free(ref);
    return bad;
}

/* Replays the group's gradients; returns failures, reports the largest errors. */
static int check_run(hid_t g, const char *group, const cascade_opt_cfg *cfg, long steps, long total,
                     double *max_err) {
    cascade_shape s0, sg, sp;
    double *params0 = th_read(g, "params0", &s0), *grads = th_read(g, "grads", &sg);
    double *after = th_read(g, "params", &sp);
    float *params = params0 ? float_copy(params0, s0.d[0]) : NULL;
    float *grad = grads ? float_copy(grads, sg.d[0] * sg.d[1]) : NULL;
    int failures = 0;
    cascade_optimizer o;
    memset(&o, 0, sizeof o);
    if (!params || !grad || !after || sg.d[0] != steps || sp.d[0] != steps || sg.d[1] != s0.d[0] ||
        sp.d[1] != s0.d[0]) {
        fprintf(stderr, "%s: params0/grads/params missing or of inconsistent shapes\n", group);
        failures++;
        goto done;
    }
    const int64_t n = s0.d[0];
    if (cascade_optimizer_init(&o, cfg, n) != CASCADE_OK) {
        fprintf(stderr, "%s: %s\n", group, cascade_errmsg());
        failures++;
        goto done;
    }
    double param_err = 0, state_err = 0;
    for (long k = 0; k < steps; k++) {
        cascade_optimizer_update(&o, params, grad + k * n, 0, n, cascade_lr_at(cfg, k, total));
        double e = th_relerr_f(params, after + k * n, n);
        if (!(e <= param_err)) param_err = e;
    }
    /* final state: the same buffers under the same names as torch's state dict */
    hid_t st = H5Gopen2(g, "state", H5P_DEFAULT);
    name_list names = {0};
    if (st >= 0) H5Literate(st, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &names);
    if (names.count != o.n_states) {
        fprintf(stderr, "%s: torch keeps %d state buffers, we keep %d\n", group, names.count,
                o.n_states);
        failures++;
    }
    for (int i = 0; i < names.count; i++) {
        cascade_shape ss;
        double *ref = th_read(st, names.names[i], &ss);
        const float *ours = cascade_optimizer_state(&o, names.names[i]);
        if (!ref || !ours || ss.d[0] != n) {
            fprintf(stderr, "%s: state %s: %s\n", group, names.names[i],
                    ours ? "unreadable reference" : "we keep no such buffer");
            failures++;
        } else {
            double e = th_relerr_f(ours, ref, n);
            if (!(e <= state_err)) state_err = e;
        }
        free(ref);
    }
    double torch_step;
    if (st >= 0 && th_attr_double(st, "step", &torch_step) && torch_step != (double)o.step) {
        fprintf(stderr, "%s: step %lld, torch %g\n", group, (long long)o.step, torch_step);
        failures++;
    }
    if (st >= 0) H5Gclose(st);
    printf("  %-28s params %.2e  states %.2e\n", group, param_err, state_err);
    if (!(param_err <= PARAM_RTOL && state_err <= PARAM_RTOL)) {
        fprintf(stderr, "%s: relative error above %g\n", group, PARAM_RTOL);
        failures++;
    }
    if (!(param_err <= max_err[0])) max_err[0] = param_err;
    if (!(state_err <= max_err[1])) max_err[1] = state_err;
done:
    cascade_optimizer_free(&o);
    free(params0), free(grads), free(after), free(params), free(grad);
    return failures;
}

static void test_against_torch(void) {
    const char *path = reference_file();
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    name_list groups = {0};
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &groups);
    CU_ASSERT(groups.count >= 24); /* 15 optimizer runs + 9 schedules */
    double max_err[2] = {0, 0};
    int runs = 0;
    printf("\n");
    for (int i = 0; i < groups.count; i++) {
        const char *name = groups.names[i];
        hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
        cascade_opt_cfg cfg;
        long steps = 0, total = 0;
        int ok = g >= 0 && load_cfg(g, name, &cfg) && th_attr_int(g, "steps", &steps) &&
                 th_attr_int(g, "total", &total);
        CU_ASSERT(ok);
        if (ok) {
            int failures = check_lrs(g, name, &cfg, total);
            if (strncmp(name, "lr_", 3) != 0) {
                failures += check_run(g, name, &cfg, steps, total, max_err);
                runs++;
            }
            CU_ASSERT_EQUAL(failures, 0);
        }
        if (g >= 0) H5Gclose(g);
    }
    printf("  max relative error over %d runs: params %.2e, states %.2e (limit %g)\n", runs,
           max_err[0], max_err[1], PARAM_RTOL);
    CU_ASSERT(runs >= 14);
    H5Fclose(f);
}

/* ---- schedules ---- */

static void test_lr_edge_cases(void) {
    cascade_opt_cfg c;
    cascade_opt_defaults(&c, OPT_SGD);
    c.lr = 0.4;
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 0, 10), 0.4);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 1000, 10), 0.4); /* constant ignores the horizon */
    CU_ASSERT_EQUAL(cascade_lr_at(&c, -5, 10), 0.4);

    c.warmup = 4; /* LinearLR(1/4): 0.1, 0.175, 0.25, 0.325, then 0.4 */
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 0, 10), 0.1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 1, 10), 0.175, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 3, 10), 0.325, 1e-15);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 4, 10), 0.4);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, -1, 10), cascade_lr_at(&c, 0, 10));
    c.warmup = 1; /* start_factor 1: no visible warm-up */
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 0, 10), 0.4);

    c.warmup = 0;
    c.schedule = SCHED_STEP;
    c.step_size = 3;
    c.gamma = 0.5;
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 2, 10), 0.4);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 3, 10), 0.2);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 6, 10), 0.1);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 20, 10), 0.4 * 0.5 * 0.5 * 0.5 * 0.5 * 0.5 * 0.5);
    c.warmup = 2; /* the step schedule restarts after the warm-up */
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 4, 10), 0.4);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 5, 10), 0.2);

    c.warmup = 0;
    c.schedule = SCHED_COSINE;
    c.min_lr = 0.1;
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 0, 10), 0.4);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 5, 10), 0.25, 1e-15);
    CU_ASSERT(cascade_lr_at(&c, 9, 10) > 0.1 && cascade_lr_at(&c, 9, 10) < 0.11);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 10, 10), 0.1); /* past the end: stays at min_lr */
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 15, 10), 0.1);
    for (int s = 1; s < 10; s++) CU_ASSERT(cascade_lr_at(&c, s, 10) < cascade_lr_at(&c, s - 1, 10));
    c.warmup = 4; /* T = 6 after the warm-up */
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 4, 10), 0.4);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 7, 10), 0.25, 1e-15);
    c.warmup = 12; /* warm-up longer than the run: then min_lr */
    CU_ASSERT(cascade_lr_at(&c, 11, 10) < 0.4);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 12, 10), 0.1);

    c.warmup = 2; /* poly power 1: linear from 0.4 at the end of the warm-up to 0 at `total` */
    c.schedule = SCHED_POLY;
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 2, 10), 0.4);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 6, 10), 0.2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 9, 10), 0.05, 1e-15);
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 10, 10), 0.0); /* past the end: 0, min_lr is cosine's */
    CU_ASSERT_EQUAL(cascade_lr_at(&c, 50, 10), 0.0);
    c.power = 2.0;
    CU_ASSERT_DOUBLE_EQUAL(cascade_lr_at(&c, 6, 10), 0.1, 1e-15);
    c.power = 0.0;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "power = 0"));
}

/* ---- configuration ---- */

static void test_defaults_and_checks(void) {
    cascade_opt_cfg c;
    cascade_opt_defaults(&c, OPT_ADAMW);
    CU_ASSERT_EQUAL(c.weight_decay, 1e-2);
    CU_ASSERT_EQUAL(c.lr, 1e-3);
    CU_ASSERT_EQUAL(c.beta2, 0.999);
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_OK);
    cascade_opt_defaults(&c, OPT_RMSPROP);
    CU_ASSERT_EQUAL(c.lr, 1e-2);
    CU_ASSERT_EQUAL(c.alpha, 0.99);
    CU_ASSERT_EQUAL(c.weight_decay, 0);

    cascade_opt_defaults(&c, OPT_SGD);
    snprintf(c.net, sizeof c.net, "critic");
    c.lr = -1;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "[optimizer.critic] lr = -1"));
    c.lr = 0.1;
    c.nesterov = 1;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "nesterov"));
    c.momentum = 0.9;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_OK);
    c.schedule = SCHED_STEP;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "step_size"));
    c.step_size = 5;
    c.warmup = -1;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    c.warmup = 0;
    c.net[0] = 0;
    c.eps = NAN;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "[optimizer] eps"));

    cascade_opt_defaults(&c, OPT_ADAM);
    c.beta2 = 1.0;
    CU_ASSERT_EQUAL(cascade_opt_cfg_check(&c), CASCADE_EUSAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(cascade_errmsg(), "betas"));
    cascade_optimizer o;
    CU_ASSERT_EQUAL(cascade_optimizer_init(&o, &c, 10), CASCADE_EUSAGE);
    CU_ASSERT_EQUAL(o.n_states, 0);
    CU_ASSERT_PTR_NULL(o.state[0]);
}

static void test_state_names(void) {
    static const struct {
        cascade_opt_kind kind;
        double momentum;
        int centered;
        int n_states;
        const char *names[3];
    } cases[] = {
        {OPT_SGD, 0, 0, 0, {NULL}},
        {OPT_SGD, 0.9, 0, 1, {"momentum_buffer"}},
        {OPT_ADAM, 0, 0, 2, {"exp_avg", "exp_avg_sq"}},
        {OPT_ADAMW, 0, 0, 2, {"exp_avg", "exp_avg_sq"}},
        {OPT_RMSPROP, 0, 0, 1, {"square_avg"}},
        {OPT_RMSPROP, 0.5, 1, 3, {"square_avg", "momentum_buffer", "grad_avg"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cascade_opt_cfg c;
        cascade_opt_defaults(&c, cases[i].kind);
        c.momentum = cases[i].momentum;
        c.centered = cases[i].centered;
        cascade_optimizer o;
        CU_ASSERT_EQUAL_FATAL(cascade_optimizer_init(&o, &c, 5), CASCADE_OK);
        CU_ASSERT_EQUAL(o.n_states, cases[i].n_states);
        CU_ASSERT_EQUAL(o.step, 0);
        for (int s = 0; s < o.n_states && s < 3; s++) {
            CU_ASSERT_STRING_EQUAL(o.state_names[s], cases[i].names[s]);
            CU_ASSERT_PTR_EQUAL(cascade_optimizer_state(&o, cases[i].names[s]), o.state[s]);
            for (int j = 0; j < 5; j++) CU_ASSERT_EQUAL(o.state[s][j], 0.0f);
        }
        CU_ASSERT_PTR_NULL(cascade_optimizer_state(&o, "max_exp_avg_sq"));
        cascade_optimizer_free(&o);
    }
}

/* ---- sub-ranges and threads ---- */

/* One configuration per kind with every option that touches the update switched on. */
static int full_featured_cfgs(cascade_opt_cfg *cfgs) {
    cascade_opt_defaults(&cfgs[0], OPT_SGD);
    cfgs[0].momentum = 0.9, cfgs[0].nesterov = 1, cfgs[0].weight_decay = 0.01;
    cascade_opt_defaults(&cfgs[1], OPT_ADAM);
    cfgs[1].weight_decay = 0.1;
    cascade_opt_defaults(&cfgs[2], OPT_ADAMW);
    cascade_opt_defaults(&cfgs[3], OPT_RMSPROP);
    cfgs[3].momentum = 0.5, cfgs[3].centered = 1, cfgs[3].weight_decay = 1e-3;
    return 4;
}

/* Runs `steps` updates of [lo, hi) on copies of params; *out owns the params and optimizer. */
static void run_updates(const cascade_opt_cfg *cfg, const float *params0, const float *grads,
                        int64_t n, int64_t lo, int64_t hi, int steps, float **out,
                        cascade_optimizer *o) {
    *out = malloc((size_t)n * sizeof **out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*out);
    memcpy(*out, params0, (size_t)n * sizeof **out);
    CU_ASSERT_EQUAL_FATAL(cascade_optimizer_init(o, cfg, n), CASCADE_OK);
    for (int k = 0; k < steps; k++)
        cascade_optimizer_update(o, *out, grads + k * n, lo, hi, cascade_lr_at(cfg, k, steps));
}

static void test_subrange(void) {
    enum { N = 1000, STEPS = 3, LO = 123, HI = 777 };
    static float params0[N], grads[STEPS * N];
    fill_uniform(params0, N, 1, 1.0f);
    fill_uniform(grads, STEPS * N, 2, 0.5f);
    cascade_opt_cfg cfgs[4];
    int n_cfgs = full_featured_cfgs(cfgs);
    for (int c = 0; c < n_cfgs; c++) {
        float *full, *part;
        cascade_optimizer of, op;
        run_updates(&cfgs[c], params0, grads, N, 0, N, STEPS, &full, &of);
        run_updates(&cfgs[c], params0, grads, N, LO, HI, STEPS, &part, &op);
        CU_ASSERT_EQUAL(op.step, STEPS);
        /* inside: bit for bit the full update; outside: untouched params, zero state */
        CU_ASSERT(memcmp(part + LO, full + LO, (HI - LO) * sizeof(float)) == 0);
        CU_ASSERT(memcmp(part, params0, LO * sizeof(float)) == 0);
        CU_ASSERT(memcmp(part + HI, params0 + HI, (N - HI) * sizeof(float)) == 0);
        CU_ASSERT(memcmp(part + LO, params0 + LO, (HI - LO) * sizeof(float)) != 0);
        for (int s = 0; s < op.n_states; s++) {
            CU_ASSERT(memcmp(op.state[s] + LO, of.state[s] + LO, (HI - LO) * sizeof(float)) == 0);
            int outside_zero = 1;
            for (int i = 0; i < N; i++)
                if ((i < LO || i >= HI) && op.state[s][i] != 0.0f) outside_zero = 0;
            CU_ASSERT(outside_zero);
        }
        free(full), free(part);
        cascade_optimizer_free(&of), cascade_optimizer_free(&op);
    }
}

static void test_thread_count_independent(void) {
    enum { N = 200003, STEPS = 2 }; /* above the parallel threshold, odd length */
    float *params0 = malloc(N * sizeof(float)), *grads = malloc(STEPS * N * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(params0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(grads);
    fill_uniform(params0, N, 3, 1.0f);
    fill_uniform(grads, STEPS * (int64_t)N, 4, 1.0f);
    cascade_opt_cfg cfgs[4];
    int n_cfgs = full_featured_cfgs(cfgs);
    const int threads_before = omp_get_max_threads();
    for (int c = 0; c < n_cfgs; c++) {
        float *one, *three;
        cascade_optimizer o1, o3;
        omp_set_num_threads(1);
        run_updates(&cfgs[c], params0, grads, N, 0, N, STEPS, &one, &o1);
        omp_set_num_threads(3);
        run_updates(&cfgs[c], params0, grads, N, 0, N, STEPS, &three, &o3);
        CU_ASSERT(memcmp(one, three, N * sizeof(float)) == 0);
        for (int s = 0; s < o1.n_states; s++)
            CU_ASSERT(memcmp(o1.state[s], o3.state[s], N * sizeof(float)) == 0);
        free(one), free(three);
        cascade_optimizer_free(&o1), cascade_optimizer_free(&o3);
    }
    omp_set_num_threads(threads_before);
    free(params0), free(grads);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("optim", NULL, NULL);
    CU_add_test(s, "lr edge cases", test_lr_edge_cases);
    CU_add_test(s, "defaults and checks", test_defaults_and_checks);
    CU_add_test(s, "state names", test_state_names);
    CU_add_test(s, "sub-range update", test_subrange);
    CU_add_test(s, "thread count independent", test_thread_count_independent);
    CU_add_test(s, "against torch.optim", test_against_torch);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
