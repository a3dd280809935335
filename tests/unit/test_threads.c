/* Thread-count independence of the engine: the same inputs give the same bits with 1, 2, 3
 * and 4 OpenMP threads (OpenBLAS shares the pool) for
 *   - every op case of the PyTorch reference files (every .h5 in $CASCADE_REFS): forward (with the
 *     batch-norm statistics it exports), backward and double backward, on the reference batch
 *     and on a batch large enough for the parallel paths (never a multiple of 16);
 *   - the losses, the optimizers;
 *   - small whole nets through cascade_net_forward / backward / backward2.
 * Each thread count sets the layer or net up anew, as a run with that OMP_NUM_THREADS would
 * (scratch sized for the threads), and every result is compared with memcmp against 1 thread. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/optim.h"
#include "layercheck.h"
#include "nn/graph.h"
#include "nn/loss.h"
#include "opcase.h"

enum { MAX_THREADS = 4, MAX_ARRAYS = 64 };

/* The named results of one run, copied. */
typedef struct {
    int n;
    char name[MAX_ARRAYS][48];
    void *data[MAX_ARRAYS];
    size_t bytes[MAX_ARRAYS];
} results;

static void keep(results *r, const char *name, const void *data, size_t bytes) {
    if (!data || r->n == MAX_ARRAYS) return;
    snprintf(r->name[r->n], sizeof r->name[0], "%s", name);
    r->data[r->n] = malloc(bytes ? bytes : 1);
    memcpy(r->data[r->n], data, bytes);
    r->bytes[r->n++] = bytes;
}

static void results_free(results *r) {
    for (int i = 0; i < r->n; i++) free(r->data[i]);
    r->n = 0;
}

/* Compares run `other` (at `threads`) with the 1-thread run; prints what differs. 0 = same. */
static int differs(const char *what, const results *one, const results *other, int threads) {
    int bad = one->n != other->n;
    for (int i = 0; !bad && i < one->n; i++) {
        if (one->bytes[i] == other->bytes[i] && !memcmp(one->data[i], other->data[i], one->bytes[i])) continue;
        const float *a = one->data[i], *b = other->data[i];
        size_t k = 0;
        while (k + 1 < one->bytes[i] / sizeof(float) && a[k] == b[k]) k++;
        printf("\n  %s: %s differs with %d threads (first at float %zu: %.9g vs %.9g)", what, one->name[i], threads,
               k, (double)a[k], (double)b[k]);
        bad = 1;
    }
    return bad;
}

static float *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static float *filled(int64_t n, unsigned seed) {
    float *v = zeros(n);
    th_fill(v, n, seed);
    return v;
}

static float *from_double(const double *d, int64_t n) {
    float *v = zeros(n);
    for (int64_t i = 0; i < n; i++) v[i] = (float)d[i];
    return v;
}

/* ------------------------------------------------------------------ single ops */

/* Batch for the parallel paths: about 2^18 input values, 5..77 samples, not a multiple of 16. */
static int large_batch(const cascade_layer *L) {
    int64_t per = 0;
    for (int k = 0; k < L->n_in; k++) per += op_numel(&L->in_shape[k]);
    int64_t n = (262144 + per - 1) / (per > 0 ? per : 1);
    n = n < 5 ? 5 : n > 77 ? 77 : n;
    return (int)(n % 16 ? n : n + 1);
}

/* Forward, backward and (when the op has one) double backward of case c's layer on n samples
 * (the reference's own data when n is its batch, pseudo-random data otherwise), into r. */
static void run_layer(const opcase *c, int n, results *r) {
    const cascade_layer *L = &c->L;
    int own = n == c->n;
    int64_t out_n = n * op_numel(&L->out_shape);
    int64_t saved_n = L->saved_per_sample * n + L->saved_fixed;
    int64_t work_n = (L->work_per_sample + L->work2_per_sample) * n + L->work_fixed + L->work2_fixed;
    float *in[CASCADE_MAX_INPUTS] = {0}, *din[CASCADE_MAX_INPUTS] = {0}, *uin[CASCADE_MAX_INPUTS] = {0};
    float *hin[CASCADE_MAX_INPUTS] = {0}, *param[CASCADE_MAX_PARAMS] = {0}, *dparam[CASCADE_MAX_PARAMS] = {0};
    float *dparam2[CASCADE_MAX_PARAMS] = {0};
    int64_t *ids = calloc((size_t)n + 1, sizeof(int64_t));
    for (int i = 0; i < n; i++) ids[i] = 3 * i + 1;
    cascade_fwd fw = {.n = n, .training = c->training, .update_stats = c->training, .sample_ids = ids,
                      .step = (uint64_t)c->step};
    cascade_bwd bw = {.n = n, .training = c->training, .sample_ids = ids, .step = (uint64_t)c->step};
    for (int k = 0; k < L->n_in; k++) {
        int64_t m = n * op_numel(&L->in_shape[k]);
        in[k] = own ? from_double(c->in[k], m) : filled(m, 11 + k);
        din[k] = zeros(m);
        fw.in[k] = bw.in[k] = in[k];
        bw.din[k] = din[k];
    }
    for (int p = 0; p < L->n_params; p++) {
        int64_t m = op_numel(&L->params[p].shape);
        param[p] = from_double(c->param[p], m);
        fw.param[p] = param[p];
        bw.param[p] = param[p];
        if (L->params[p].trainable) bw.dparam[p] = dparam[p] = zeros(m), dparam2[p] = zeros(m);
    }
    double *stats = L->stat_count && c->training ? calloc((size_t)L->stat_count, sizeof(double)) : NULL;
    fw.stats = stats;
    float *out = zeros(out_n), *dout = own && c->dout ? from_double(c->dout, out_n) : filled(out_n, 7);
    float *saved = zeros(saved_n), *work = zeros(work_n);
    fw.out = out;
    bw.out = out;
    fw.saved = saved;
    fw.work = bw.work = work;
    bw.saved = saved;
    bw.dout = dout;
    L->op->forward(L, &fw);
    keep(r, "out", out, (size_t)out_n * sizeof(float));
    keep(r, "stats", stats, stats ? (size_t)L->stat_count * sizeof(double) : 0);
    L->op->backward(L, &bw);
    for (int k = 0; k < L->n_in; k++) keep(r, "din", din[k], (size_t)(n * op_numel(&L->in_shape[k])) * sizeof(float));
    for (int p = 0; p < L->n_params; p++) {
        char nm[48];
        snprintf(nm, sizeof nm, "grad/%s", L->params[p].name);
        keep(r, nm, dparam[p], (size_t)op_numel(&L->params[p].shape) * sizeof(float));
        snprintf(nm, sizeof nm, "param_after/%s", L->params[p].name); /* running statistics */
        keep(r, nm, param[p], (size_t)op_numel(&L->params[p].shape) * sizeof(float));
    }
    float *uout = NULL, *hout = NULL;
    if (L->op->backward2 && !L->no_backward2_reason) {
        cascade_bwd2 b2 = {.n = n, .training = c->training, .out = out, .dout = dout, .saved = saved, .work = work,
                           .sample_ids = ids, .step = (uint64_t)c->step};
        uout = zeros(out_n);
        hout = zeros(out_n);
        b2.uout = uout;
        b2.hout = hout;
        for (int k = 0; k < L->n_in; k++) {
            int64_t m = n * op_numel(&L->in_shape[k]);
            b2.in[k] = in[k];
            b2.uin[k] = uin[k] = own && c->w[k] ? from_double(c->w[k], m) : filled(m, 23 + k);
            b2.hin[k] = hin[k] = zeros(m);
        }
        for (int p = 0; p < L->n_params; p++) b2.param[p] = param[p], b2.dparam[p] = dparam2[p];
        L->op->backward2(L, &b2);
        keep(r, "dd_dout", uout, (size_t)out_n * sizeof(float));
        keep(r, "dd_hout", hout, (size_t)out_n * sizeof(float));
        for (int k = 0; k < L->n_in; k++) keep(r, "dd_in", hin[k], (size_t)(n * op_numel(&L->in_shape[k])) * sizeof(float));
        for (int p = 0; p < L->n_params; p++) keep(r, "dd_grad", dparam2[p], (size_t)op_numel(&L->params[p].shape) * sizeof(float));
    }
    for (int k = 0; k < CASCADE_MAX_INPUTS; k++) free(in[k]), free(din[k]), free(uin[k]), free(hin[k]);
    for (int p = 0; p < CASCADE_MAX_PARAMS; p++) free(param[p]), free(dparam[p]), free(dparam2[p]);
    free(ids), free(stats), free(out), free(dout), free(saved), free(work), free(uout), free(hout);
}

typedef struct {
    char names[1024][64];
    int n;
} case_names;

static herr_t collect_case(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    case_names *l = data;
    if (strncmp(name, "case", 4) == 0 && l->n < 1024) snprintf(l->names[l->n++], 64, "%s", name);
    return 0;
}

static int ops_checked, ops_failed;

/* Every case of one reference file at 1..MAX_THREADS threads, reference and large batch. */
static void check_file(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    static case_names list;
    list.n = 0;
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_case, &list);
    for (int i = 0; i < list.n; i++) {
        for (int big = 0; big < 2; big++) {
            results one = {0};
            int failed = 0, n = 0;
            char what[1400] = "";
            for (int t = 1; t <= MAX_THREADS; t++) {
                omp_set_num_threads(t);
                opcase c;
                if (!opcase_load(f, list.names[i], &c)) {
                    CU_FAIL("case does not load");
                    opcase_free(&c);
                    break;
                }
                if (t == 1) {
                    n = big ? large_batch(&c.L) : c.n;
                    snprintf(what, sizeof what, "%s %s n=%d [%s]", strrchr(path, '/') + 1, list.names[i], n,
                             c.spec_line);
                }
                results r = {0};
                run_layer(&c, n, t == 1 ? &one : &r);
                if (t > 1) failed |= differs(what, &one, &r, t);
                results_free(&r);
                opcase_free(&c);
            }
            results_free(&one);
            ops_checked++;
            ops_failed += failed;
            CU_ASSERT(!failed);
        }
    }
    H5Fclose(f);
    omp_set_num_threads(1);
}

/* Wider layers than the reference files hold, so that GEMMs are large enough for panels and
 * the element loops for threads: {type, spec, per-sample input shape}. Parameters drawn
 * within their init bound (ones stay ones: batch-norm variances). */
static const struct {
    const char *type, *spec;
    int ndim;
    int64_t d[4];
} wide[] = {
    {"dense", "units=256", 2, {4, 300}},
    {"dense", "units=2048", 1, {512}}, /* GEMMs in 4 panels (gemm.c) */
    {"dense", "units=200\nspectral_norm=true", 1, {320}},
    {"lstm", "units=64\nlayers=2\nreturn_sequences=true", 2, {20, 32}},
    {"conv2d", "filters=32\nkernel=3\npadding=same", 3, {16, 12, 12}},
    {"conv2d", "filters=24\nkernel=5\nstride=2\ngroups=2", 3, {8, 21, 21}},
    {"conv1d", "filters=32\nkernel=7", 2, {12, 200}},
    {"conv3d", "filters=8\nkernel=3\npadding=same", 4, {4, 10, 10, 10}},
    {"conv2d_transpose", "filters=16\nkernel=4\nstride=2", 3, {16, 10, 10}},
    {"separable2d", "filters=32\nkernel=3", 3, {16, 14, 14}},
    {"batchnorm", "", 3, {32, 9, 9}},
    {"layernorm", "", 2, {6, 128}},
    {"softmax", "", 2, {40, 50}},
    {"edgeconv", "units=32,32\nk=8\ngraph=dynamic\nbatchnorm=true", 2, {64, 8}},
    {"edgeconv", "units=32,32\nk=8\ngraph=dynamic\naggregation=mean\nedge_activation=tanh", 2, {64, 8}},
    {"maxpool", "size=2", 3, {32, 20, 20}},
    {"globalavgpool", "", 3, {64, 15, 15}},
};

static void test_wide_layers(void) {
    for (size_t w = 0; w < sizeof wide / sizeof wide[0]; w++) {
        results one = {0};
        int failed = 0, n = 0;
        cascade_shape in = cascade_shape_make(wide[w].ndim, wide[w].d);
        for (int t = 1; t <= MAX_THREADS; t++) {
            omp_set_num_threads(t);
            opcase c;
            memset(&c, 0, sizeof c);
            c.training = 1, c.step = 2, c.n = -1; /* -1: no reference data, draw it */
            if (th_layer(&c.L, wide[w].type, wide[w].spec, 1, &in) != CASCADE_OK) {
                printf("\n  %s [%s]: %s", wide[w].type, wide[w].spec, cascade_errmsg());
                CU_FAIL("wide layer setup");
                break;
            }
            for (int p = 0; p < c.L.n_params; p++) {
                const cascade_param_desc *d = &c.L.params[p];
                int64_t m = op_numel(&d->shape);
                float *v = filled(m, 41 + p);
                c.param[p] = malloc((size_t)m * sizeof(double));
                for (int64_t i = 0; i < m; i++)
                    c.param[p][i] = d->init == CASCADE_INIT_ONES ? 1 : d->init == CASCADE_INIT_ZEROS ? 0.1 * v[i]
                                    : d->init == CASCADE_INIT_CONSTANT ? d->init_bound : d->init_bound * v[i];
                free(v);
            }
            if (t == 1) n = large_batch(&c.L);
            results r = {0};
            run_layer(&c, n, t == 1 ? &one : &r);
            if (t > 1) {
                char what[256];
                snprintf(what, sizeof what, "%s n=%d [%s]", wide[w].type, n, wide[w].spec);
                failed |= differs(what, &one, &r, t);
            }
            results_free(&r);
            opcase_free(&c);
        }
        results_free(&one);
        CU_ASSERT(!failed);
    }
    omp_set_num_threads(1);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_ops(void) {
    const char *dir = getenv("CASCADE_REFS");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char *files[256];
    int nf = 0;
    for (struct dirent *e; (e = readdir(d)) && nf < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".h5")) files[nf++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, (size_t)nf, sizeof *files, by_name);
    CU_ASSERT(nf >= 10); /* the reference files of tests/torch/ref_*.py */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (int i = 0; i < nf; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        check_file(path);
        free(files[i]);
    }
    printf("\n  %d op cases x batch sizes checked at 1..%d threads, %d differ\n", ops_checked, MAX_THREADS,
           ops_failed);
}

/* ------------------------------------------------------------------ losses */

static void test_losses(void) {
    enum { N = 301, ELEMS = 21, CLASSES = 7 };
    float *pred = filled(N * ELEMS, 3), *target = filled(N * ELEMS, 4), *labels = zeros(N * ELEMS / CLASSES);
    for (int i = 0; i < N * ELEMS / CLASSES; i++) labels[i] = (float)(i * 5 % CLASSES);
    double weights[CLASSES] = {1, 2, 0.5, 1, 1.5, 3, 0.25};
    for (int kind = LOSS_MSE; kind <= LOSS_ANGULAR; kind++) {
        results one = {0};
        int failed = 0;
        for (int t = 1; t <= MAX_THREADS; t++) {
            omp_set_num_threads(t);
            results r = {0};
            float *dpred = zeros(N * ELEMS);
            const float *tgt = kind == LOSS_CE ? labels : target;
            double sum = cascade_loss_weighted(kind, N, ELEMS, CLASSES, pred, tgt, kind == LOSS_CE ? weights : NULL,
                                               dpred, 0.01f);
            keep(t == 1 ? &one : &r, "loss", &sum, sizeof sum);
            keep(t == 1 ? &one : &r, "dpred", dpred, N * ELEMS * sizeof(float));
            if (t > 1) failed |= differs("loss", &one, &r, t);
            results_free(&r);
            free(dpred);
        }
        results_free(&one);
        CU_ASSERT(!failed);
    }
    free(pred), free(target), free(labels);
    omp_set_num_threads(1);
}

/* ------------------------------------------------------------------ optimizers */

static void test_optimizers(void) {
    enum { N = 100003, UPDATES = 3 };
    cascade_opt_cfg cfgs[6];
    cascade_opt_defaults(&cfgs[0], OPT_SGD);
    cfgs[0].momentum = 0.9, cfgs[0].nesterov = 1, cfgs[0].weight_decay = 1e-3;
    cascade_opt_defaults(&cfgs[1], OPT_SGD);
    cascade_opt_defaults(&cfgs[2], OPT_ADAM);
    cfgs[2].weight_decay = 1e-3;
    cascade_opt_defaults(&cfgs[3], OPT_ADAMW);
    cascade_opt_defaults(&cfgs[4], OPT_RMSPROP);
    cfgs[4].momentum = 0.5, cfgs[4].centered = 1;
    cascade_opt_defaults(&cfgs[5], OPT_RMSPROP);
    for (int k = 0; k < 6; k++) {
        results one = {0};
        int failed = 0;
        for (int t = 1; t <= MAX_THREADS; t++) {
            omp_set_num_threads(t);
            cascade_optimizer o;
            CU_ASSERT_FATAL(cascade_optimizer_init(&o, &cfgs[k], N) == CASCADE_OK);
            float *p = filled(N, 5), *g = zeros(N);
            for (int u = 0; u < UPDATES; u++) {
                th_fill(g, N, 100 + u);
                cascade_optimizer_update(&o, p, g, 0, N, cascade_lr_at(&cfgs[k], u, UPDATES));
            }
            results r = {0};
            keep(t == 1 ? &one : &r, "params", p, N * sizeof(float));
            for (int s = 0; s < o.n_states; s++) keep(t == 1 ? &one : &r, o.state_names[s], o.state[s], N * sizeof(float));
            if (t > 1) failed |= differs(cascade_opt_kind_name(cfgs[k].type), &one, &r, t);
            results_free(&r);
            cascade_optimizer_free(&o);
            free(p), free(g);
        }
        results_free(&one);
        CU_ASSERT(!failed);
    }
    omp_set_num_threads(1);
}

/* ------------------------------------------------------------------ whole nets */

typedef struct {
    const char *what;
    const char *layers[10]; /* "name|spec" */
    cascade_shape x;
    int n;
    int gp; /* 1: also the double backward of a gradient penalty on x (WGAN-GP critic) */
} net_case;

static cascade_status build_net(cascade_net *net, const net_case *nc, cascade_section *secs, cascade_layer_ref *refs,
                                char (*names)[64], int *count) {
    int n = 0;
    for (; n < 10 && nc->layers[n]; n++) {
        const char *bar = strchr(nc->layers[n], '|');
        snprintf(names[n], 64, "%.*s", (int)(bar - nc->layers[n]), nc->layers[n]);
        char full[128];
        snprintf(full, sizeof full, "model.%s", names[n]);
        CASCADE_TRY(th_section(&secs[n], full, bar + 1));
        refs[n].section = &secs[n];
        refs[n].name = names[n];
    }
    *count = n;
    const char *ext[] = {"x"};
    return cascade_net_build(net, "model", refs, n, 1, ext, &nc->x, 17);
}

/* Training forward (exporting statistics), backward and, for gp, the double backward, into r. */
static void run_net(const net_case *nc, results *r) {
    cascade_section secs[10] = {0};
    cascade_layer_ref refs[10];
    char names[10][64];
    int count = 0;
    cascade_net net;
    cascade_status st = build_net(&net, nc, secs, refs, names, &count);
    if (st) printf("\n  %s: %s", nc->what, cascade_errmsg());
    CU_ASSERT_FATAL(st == CASCADE_OK);
    CU_ASSERT_FATAL(cascade_net_prepare(&net, nc->n, nc->gp ? 2 : 1) == CASCADE_OK);
    cascade_net_init_params(&net, 5);
    int64_t xn = nc->n * op_numel(&nc->x), yn = nc->n * op_numel(cascade_net_out_shape(&net));
    float *x = filled(xn, 31), *dout = filled(yn, 32), *v = filled(xn, 33);
    int64_t *ids = calloc((size_t)nc->n, sizeof(int64_t));
    for (int i = 0; i < nc->n; i++) ids[i] = 2 * i + 5;
    cascade_run run = {.n = nc->n, .training = 1, .update_stats = 1, .collect_stats = 1, .sample_ids = ids, .step = 3};
    run.ext[0] = x;
    cascade_net_forward(&net, &run);
    keep(r, "output", cascade_net_output(&net), (size_t)yn * sizeof(float));
    keep(r, "stats", net.stats, (size_t)net.n_stats * sizeof(double));
    memset(net.grads, 0, (size_t)net.n_params * sizeof(float));
    cascade_net_backward(&net, &run, dout);
    keep(r, "grads", net.grads, (size_t)net.n_params * sizeof(float));
    keep(r, "dx", net.dext[0], (size_t)xn * sizeof(float));
    if (nc->gp) {
        CU_ASSERT_FATAL(cascade_net_check_backward2(&net, "test") == CASCADE_OK);
        memset(net.grads, 0, (size_t)net.n_params * sizeof(float));
        cascade_net_backward2(&net, &run, 0, v);
        keep(r, "gp grads", net.grads, (size_t)net.n_params * sizeof(float));
    }
    cascade_net_free(&net);
    for (int i = 0; i < count; i++) cascade_section_free(&secs[i]);
    free(x), free(dout), free(v), free(ids);
}

static void test_nets(void) {
    const net_case cases[] = {
        {"conv+batchnorm+pool+dropout+dense",
         {"c1|type=conv2d\nfilters=8\nkernel=3\npadding=same\nbias=false", "bn|type=batchnorm\nactivation=relu",
          "c2|type=conv2d\nfilters=16\nkernel=3\npadding=same\nactivation=relu", "pool|type=maxpool\nsize=2",
          "f|type=flatten", "drop|type=dropout\nrate=0.2", "h|type=dense\nunits=32\nactivation=elu",
          "out|type=dense\nunits=1"},
         th_shp(3, 2, 9, 9, 0), 133, 0},
        {"edgeconv (batch norm) + pool + dense",
         {"ec1|type=edgeconv\ninput=x, x\nunits=8,8\nk=4\ngraph=x:0:3\nbatchnorm=true",
          "ec2|type=edgeconv\ninput=ec1, x\nunits=16\nk=4\ngraph=x:0:3", "p|type=permute\norder=0,2,1",
          "g|type=globalavgpool", "out|type=dense\nunits=2"},
         th_shp(2, 40, 5, 0, 0), 45, 0},
        {"lstm + dense",
         {"l|type=lstm\nunits=16\nlayers=2", "out|type=dense\nunits=3"}, th_shp(2, 12, 6, 0, 0), 61, 0},
        {"critic: conv + layernorm + dense, gradient penalty",
         {"c1|type=conv2d\nfilters=8\nkernel=3\npadding=same\nactivation=leaky_relu", "p|type=avgpool\nsize=2",
          "f|type=flatten", "ln|type=layernorm", "h|type=dense\nunits=64\nactivation=tanh", "out|type=dense\nunits=1"},
         th_shp(3, 2, 9, 9, 0), 71, 1},
        {"critic: edgeconv + dense, gradient penalty",
         {"ec1|type=edgeconv\ninput=x, x\nunits=8,8\nk=4\ngraph=x:0:3\nedge_activation=tanh",
          "p|type=permute\norder=0,2,1", "g|type=globalmaxpool", "out|type=dense\nunits=1"},
         th_shp(2, 40, 5, 0, 0), 37, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        results one = {0};
        int failed = 0;
        for (int t = 1; t <= MAX_THREADS; t++) {
            omp_set_num_threads(t);
            results r = {0};
            run_net(&cases[k], t == 1 ? &one : &r);
            if (t > 1) failed |= differs(cases[k].what, &one, &r, t);
            results_free(&r);
        }
        results_free(&one);
        CU_ASSERT(!failed);
    }
    omp_set_num_threads(1);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("threads", NULL, NULL);
    CU_add_test(s, "losses at 1-4 threads", test_losses);
    CU_add_test(s, "optimizers at 1-4 threads", test_optimizers);
    CU_add_test(s, "whole nets at 1-4 threads", test_nets);
    CU_add_test(s, "wide layers at 1-4 threads", test_wide_layers);
    CU_add_test(s, "every op case at 1-4 threads", test_ops);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
