/* The exact WGAN-GP gradient penalty through a whole net (cascade_net_backward2) against
 * torch (tests/torch/gp_net_ref.py, run into the build dir): a critic conv2d -> leaky_relu ->
 * conv2d (Winograd) -> layernorm -> avgpool -> flatten -> dense/tanh -> dense built with the
 * graph API, its weights from the reference's /params/critic/LAYER/PARAM. Forward, backward
 * of sum_i D(x_i) with no_param_grads gives the input gradients g_i (checked against torch);
 * v = dGP/dg with GP = mean_i (||g_i|| - 1)^2; backward2 then gives dGP/dparams, compared with
 * torch's autograd.grad(create_graph=True) per parameter <= 1e-5 relative; the same for a
 * second critic, a DAG with fan-out, the net input used twice, add, concat, maxpool,
 * layernorm, globalavgpool, elu and sigmoid (conv1d). Also: the buffers
 * of the double backward need want_input_grads = 2, and cascade_net_check_backward2 accepts
 * the critic but names a batch-norm layer and why it cannot be in one. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph.h"
#include "th.h"

#define GP_RTOL 1e-5

typedef struct {
    int n;
    const char *net; /* "critic" */
    cascade_section s[16];
    cascade_layer_ref r[16];
    char names[16][64];
} spec_set;

static void add(spec_set *ss, const char *name, const char *text) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", ss->net ? ss->net : "critic", name);
    CU_ASSERT_EQUAL_FATAL(th_section(&ss->s[ss->n], full, text), CASCADE_OK);
    ss->s[ss->n].file = "job.ini";
    ss->s[ss->n].line = 10 * (ss->n + 1);
    snprintf(ss->names[ss->n], 64, "%s", name);
    ss->n++;
}

static cascade_status build(spec_set *ss, cascade_net *net, cascade_shape x) {
    for (int i = 0; i < ss->n; i++) ss->r[i].section = &ss->s[i], ss->r[i].name = ss->names[i];
    const char *ext[] = {"x"};
    return cascade_net_build(net, ss->net ? ss->net : "critic", ss->r, ss->n, 1, ext, &x, 42);
}

static void release(spec_set *ss) {
    for (int i = 0; i < ss->n; i++) cascade_section_free(&ss->s[i]);
    ss->n = 0;
}

/* The critics of gp_net_ref.py, layer names as its state_dict. */
static void critic_specs(spec_set *ss) {
    ss->net = "critic";
    add(ss, "c1", "type=conv2d\nfilters=8\nkernel=3\npadding=1");
    add(ss, "a1", "type=leaky_relu\nslope=0.2");
    add(ss, "c2", "type=conv2d\nfilters=6\nkernel=3\npadding=1");
    add(ss, "ln", "type=layernorm");
    add(ss, "p", "type=avgpool\nsize=2");
    add(ss, "f", "type=flatten");
    add(ss, "d1", "type=dense\nunits=8\nactivation=tanh");
    add(ss, "out", "type=dense\nunits=1");
}

/* A DAG: fan-out of c1, the net input used twice (c1 and the concat), add and concat. */
static void critic2_specs(spec_set *ss) {
    ss->net = "critic2";
    add(ss, "c1", "type=conv1d\nfilters=4\nkernel=3\npadding=1\nactivation=elu");
    add(ss, "c2", "type=conv1d\nfilters=4\nkernel=3\npadding=1");
    add(ss, "s", "type=add\ninput=c1,c2");
    add(ss, "cat", "type=concat\naxis=1\ninput=s,x");
    add(ss, "mp", "type=maxpool\nsize=2");
    add(ss, "ln", "type=layernorm");
    add(ss, "g", "type=globalavgpool");
    add(ss, "out", "type=dense\nunits=1\nactivation=sigmoid");
}

static char ref_path[4096];

/* Runs gp_net_ref.py once into $CASCADE_BUILD_DIR/gp_net_ref.h5. */
static int make_refs(void) {
    const char *py = getenv("CASCADE_PYTHON"), *src = getenv("CASCADE_SOURCE_DIR");
    const char *build_dir = getenv("CASCADE_BUILD_DIR");
    if (!py || !src || !build_dir) {
        printf("CASCADE_PYTHON, CASCADE_SOURCE_DIR and CASCADE_BUILD_DIR must be set (run via ctest)\n");
        return -1;
    }
    snprintf(ref_path, sizeof ref_path, "%s/gp_net_ref.h5", build_dir);
    char cmd[3 * 4096 + 64];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch/gp_net_ref.py' '%s'", py, src, ref_path);
    if (system(cmd) != 0) {
        printf("failed: %s\n", cmd);
        return -1;
    }
    return 0;
}

/* Copies every parameter from /params/NET/LAYER/PARAM; returns how many were missing or of
 * another size. */
static int load_params(hid_t f, cascade_net *net) {
    int bad = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const cascade_layer *L = &net->layers[l];
        for (int p = 0; p < L->n_params; p++) {
            char path[256];
            cascade_shape sh;
            snprintf(path, sizeof path, "params/%s/%s/%s", net->name, L->name, L->params[p].name);
            double *v = th_read(f, path, &sh);
            int64_t count = cascade_shape_numel(&L->params[p].shape);
            if (!v || cascade_shape_numel(&sh) != count) {
                printf("\n%s: missing or of another size\n", path);
                bad++;
            } else {
                float *dst = net->params + net->param_off[l][p];
                for (int64_t i = 0; i < count; i++) dst[i] = (float)v[i];
            }
            free(v);
        }
    }
    return bad;
}

/* GP of one critic: n samples of per-sample shape x_shape, `n_params` parameter tensors. */
static void check_penalty(void (*specs)(spec_set *), cascade_shape x_shape, int n, int n_params) {
    hid_t f = H5Fopen(ref_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    spec_set ss = {0};
    specs(&ss);
    cascade_net net;
    CU_ASSERT_EQUAL_FATAL(build(&ss, &net, x_shape), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_net_check_backward2(&net, "a wgan-gp critic"), CASCADE_OK);
    CU_ASSERT_EQUAL_FATAL(load_params(f, &net), 0);
    cascade_shape sh;
    char path[256];
#define READ(var, what) (snprintf(path, sizeof path, "%s/%s", ss.net, what), var = th_read(f, path, &sh))
    double *x_ref, *dx_ref, *out_ref, *gp_ref;
    READ(x_ref, "x");
    READ(dx_ref, "dx");
    READ(out_ref, "out");
    READ(gp_ref, "gp");
#undef READ
    CU_ASSERT_FATAL(x_ref && dx_ref && out_ref && gp_ref);
    const int per = (int)cascade_shape_numel(&x_shape);
    float *x = calloc((size_t)n * per, sizeof(float)), *v = calloc((size_t)n * per, sizeof(float));
    float *ones = calloc((size_t)n, sizeof(float));
    CU_ASSERT_FATAL(x && v && ones);
    for (int i = 0; i < n * per; i++) x[i] = (float)x_ref[i];
    for (int i = 0; i < n; i++) ones[i] = 1;

    /* want_input_grads = 1 has no buffers for the double backward; 2 adds them */
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(&net, n, 1), CASCADE_OK);
    CU_ASSERT(net.tangent == NULL && net.hess == NULL);
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(&net, n, 2), CASCADE_OK);
    CU_ASSERT_FATAL(net.tangent != NULL && net.hess != NULL);

    cascade_run run = {.n = n, .training = 1, .no_param_grads = 1};
    run.ext[0] = x;
    cascade_net_forward(&net, &run);
    double e_out = th_relerr_f(cascade_net_output(&net), out_ref, n);
    memset(net.grads, 0, (size_t)net.n_params * sizeof(float));
    cascade_net_backward(&net, &run, ones);
    double e_dx = th_relerr_f(net.dext[0], dx_ref, (int64_t)n * per);
    int64_t touched = 0;
    for (int64_t i = 0; i < net.n_params; i++) touched += net.grads[i] != 0;
    CU_ASSERT_EQUAL(touched, 0); /* no_param_grads */

    /* GP = mean_i (|g_i| - 1)^2: v_i = dGP/dg_i = (2/n) (|g_i| - 1) g_i / |g_i| */
    double gp = 0;
    for (int i = 0; i < n; i++) {
        const float *g = net.dext[0] + (size_t)i * per;
        double sq = 0;
        for (int j = 0; j < per; j++) sq += (double)g[j] * g[j];
        double norm = sqrt(sq), s = 2.0 / n * (norm - 1) / norm;
        gp += (norm - 1) * (norm - 1) / n;
        for (int j = 0; j < per; j++) v[(size_t)i * per + j] = (float)(s * g[j]);
    }
    printf("\n%s: out relerr %.2e, input gradient %.2e, GP %.6f (torch %.6f)\n", ss.net, e_out, e_dx, gp,
           *gp_ref);
    CU_ASSERT(e_out <= GP_RTOL);
    CU_ASSERT(e_dx <= GP_RTOL);
    CU_ASSERT(fabs(gp - *gp_ref) <= GP_RTOL * *gp_ref);

    cascade_net_backward2(&net, &run, 0, v);
    /* per parameter, normwise; a reference that is zero (the output bias does not enter the
     * input gradient) must come out zero to 1e-5 of the largest gradient */
    double scale = 0;
    for (int l = 0; l < net.n_layers; l++)
        for (int p = 0; p < net.layers[l].n_params; p++) {
            snprintf(path, sizeof path, "grads/%s/%s/%s", ss.net, net.layers[l].name, net.layers[l].params[p].name);
            double *ref = th_read(f, path, &sh);
            for (int64_t i = 0; ref && i < cascade_shape_numel(&sh); i++) scale = fmax(scale, fabs(ref[i]));
            free(ref);
        }
    int checked = 0;
    for (int l = 0; l < net.n_layers; l++) {
        const cascade_layer *L = &net.layers[l];
        for (int p = 0; p < L->n_params; p++) {
            snprintf(path, sizeof path, "grads/%s/%s/%s", ss.net, L->name, L->params[p].name);
            double *ref = th_read(f, path, &sh);
            CU_ASSERT_FATAL(ref != NULL);
            int64_t count = cascade_shape_numel(&sh);
            const float *got = net.grads + net.param_off[l][p];
            double num = 0, den = 0;
            for (int64_t i = 0; i < count; i++) {
                num = fmax(num, fabs((double)got[i] - ref[i]));
                den = fmax(den, fabs(ref[i]));
            }
            double e = num / (den > 0 ? den : scale);
            printf("  dGP/d %-20s relerr %.2e (max |torch| %.2e)\n", path + 6, e, den);
            CU_ASSERT(e <= GP_RTOL);
            checked++;
            free(ref);
        }
    }
    CU_ASSERT_EQUAL(checked, n_params);
    free(x);
    free(v);
    free(ones);
    free(x_ref);
    free(dx_ref);
    free(out_ref);
    free(gp_ref);
    H5Fclose(f);
    cascade_net_free(&net);
    release(&ss);
}

static void test_gradient_penalty(void) {
    CU_ASSERT_EQUAL_FATAL(make_refs(), 0);
    check_penalty(critic_specs, cascade_shape_make(3, (int64_t[]){2, 8, 8}), 5, 10);
    check_penalty(critic2_specs, cascade_shape_make(2, (int64_t[]){3, 12}), 4, 8);
}

static void test_batchnorm_refused(void) {
    spec_set ss = {0};
    add(&ss, "c1", "type=conv2d\nfilters=4\nkernel=3");
    add(&ss, "bn", "type=batchnorm");
    add(&ss, "f", "type=flatten");
    add(&ss, "out", "type=dense\nunits=1");
    cascade_net net;
    CU_ASSERT_EQUAL_FATAL(build(&ss, &net, cascade_shape_make(3, (int64_t[]){2, 6, 6})), CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_net_check_backward2(&net, "a wgan-gp critic"), CASCADE_EUSAGE);
    const char *msg = cascade_errmsg();
    printf("\n%s\n", msg);
    CU_ASSERT(strstr(msg, "critic.bn") != NULL);
    CU_ASSERT(strstr(msg, "batchnorm") != NULL);
    CU_ASSERT(strstr(msg, "a wgan-gp critic") != NULL);
    CU_ASSERT(strstr(msg, "couples the samples") != NULL);
    CU_ASSERT(strstr(msg, "layernorm") != NULL);
    cascade_net_free(&net);
    release(&ss);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("backward2", NULL, NULL);
    CU_add_test(s, "gradient penalty vs torch", test_gradient_penalty);
    CU_add_test(s, "batchnorm refused", test_batchnorm_refused);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
