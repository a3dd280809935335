/* Layer-wise relevance propagation: with zero (effective) biases the z and epsilon (ε -> 0)
 * rules conserve relevance layer by layer through conv, dense, folded batch norm (negative γ
 * included), max/avg pooling, add, concat, upsample and global pooling; zplus, alphabeta, w2
 * and flat equal a hand computation on a dense layer with negative inputs (signed
 * contributions, not x·w⁺); LRP-z on a bias-free relu net equals gradient × input; layers
 * without a rule are errors naming the layer. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/explain.h"
#include "layercheck.h"
#include "th.h"

static void expect_error(cascade_status st, const char *a, const char *b) {
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    CU_ASSERT(!a || strstr(cascade_errmsg(), a) != NULL);
    CU_ASSERT(!b || strstr(cascade_errmsg(), b) != NULL);
    if (st != CASCADE_EUSAGE || (a && !strstr(cascade_errmsg(), a)) || (b && !strstr(cascade_errmsg(), b)))
        printf("\n  got: %s\n", cascade_errmsg());
}

enum { MAXL = 16 };
static cascade_section sections[MAXL];
static cascade_layer_ref refs[MAXL];
static int n_sections;

static cascade_status build(cascade_net *net, int n_layers, const char *const *names, const char *const *specs,
                            cascade_shape x, int max_n) {
    n_sections = n_layers;
    for (int i = 0; i < n_layers; i++) {
        char full[64];
        snprintf(full, sizeof full, "model.%s", names[i]);
        CU_ASSERT_EQUAL_FATAL(th_section(&sections[i], full, specs[i]), CASCADE_OK);
        refs[i].section = &sections[i], refs[i].name = names[i];
    }
    const char *ext[] = {"x"};
    CASCADE_TRY(cascade_net_build(net, "model", refs, n_layers, 1, ext, &x, 11));
    cascade_net_init_params(net, 11);
    return cascade_net_prepare(net, max_n, 1);
}

static void release(cascade_net *net) {
    cascade_net_free(net);
    for (int i = 0; i < n_sections; i++) cascade_section_free(&sections[i]);
}

static float *param(cascade_net *net, const char *layer, const char *name) {
    int l = cascade_net_find(net, layer);
    CU_ASSERT_FATAL(l >= 0);
    for (int p = 0; p < net->layers[l].n_params; p++)
        if (strcmp(net->layers[l].params[p].name, name) == 0)
            return (net->layers[l].params[p].trainable ? net->params : net->buffers) + net->param_off[l][p];
    CU_FAIL_FATAL("no such parameter");
    return NULL;
}

/* Zero biases everywhere; batch norms get random statistics and γ (some negative) with
 * β = γ μ / sqrt(var + eps), so the folded layer has no bias either. */
static void bias_free(cascade_net *net) {
    unsigned seed = 1;
    for (int l = 0; l < net->n_layers; l++) {
        cascade_layer *L = &net->layers[l];
        if (strcmp(L->type, "batchnorm") == 0) {
            int64_t C = L->params[0].shape.d[0];
            float *g = param(net, L->name, "weight"), *b = param(net, L->name, "bias");
            float *mu = param(net, L->name, "running_mean"), *var = param(net, L->name, "running_var");
            for (int64_t c = 0; c < C; c++) {
                seed = seed * 1103515245u + 12345u;
                g[c] = (c % 3 == 2 ? -1.f : 1.f) * (0.5f + (float)(seed >> 16 & 255) / 256.f);
                mu[c] = 0.3f * (float)((int)(seed >> 8 & 15) - 7) / 7.f;
                var[c] = 0.5f + (float)(seed & 255) / 128.f;
                b[c] = (float)(g[c] * mu[c] / sqrt(var[c] + 1e-5));
            }
            continue;
        }
        for (int p = 0; p < L->n_params; p++)
            if (strcmp(L->params[p].name, "bias") == 0)
                memset(net->params + net->param_off[l][p], 0,
                       (size_t)cascade_shape_numel(&L->params[p].shape) * sizeof(float));
    }
}

/* Per sample: every layer passes on what it received (≤ tol relative), and Σ R(x) = S.
 * quiet: no report of layers beyond 1e-4; 2: also only samples with S > 0 (zplus/alphabeta
 * explain positive evidence: for S < 0 the output may have no positive contribution). */
static int n_checked;
static double conservation(cascade_net *net, const cascade_lrp_opts *o, const float *x, int n, int64_t target,
                           double *total_err, int quiet) {
    n_checked = 0;
    int64_t xn = cascade_shape_numel(&net->ext_shapes[0]);
    float *rel = malloc((size_t)xn * sizeof(float));
    double *sent = malloc((size_t)net->n_layers * sizeof(double)), *got = malloc((size_t)net->n_layers * sizeof(double));
    double worst = 0;
    *total_err = 0;
    for (int i = 0; i < n; i++) {
        double S;
        CU_ASSERT_EQUAL_FATAL(cascade_explain_lrp(net, o, x + i * xn, 1, target, rel, &S, sent, got), CASCADE_OK);
        if (quiet == 2 && S <= 0) continue;
        n_checked++;
        for (int l = 0; l <= net->output; l++) {
            double e = fabs(sent[l] - got[l]) / fmax(fabs(S), 1e-30);
            if (e > worst) worst = e;
            if (e > 1e-4 && !quiet) printf("\n    sample %d layer %s: received %.8g sent %.8g", i, net->layers[l].name, got[l], sent[l]);
        }
        double sum = 0;
        for (int64_t j = 0; j < xn; j++) sum += rel[j];
        *total_err = fmax(*total_err, fabs(sum - S) / fabs(S));
    }
    free(rel), free(sent), free(got);
    return worst;
}

static const char *const big_names[] = {"c1", "bn1", "c2", "sum", "cat", "mp", "up", "ap", "flat", "fc", "bnd", "out"};
static const char *const big_specs[] = {
    "type=conv2d\nfilters=4\nkernel=3\npadding=same",
    "type=batchnorm\nactivation=relu",
    "type=conv2d\nfilters=4\nkernel=3\npadding=same\nactivation=relu",
    "type=add\ninput=bn1, c2",
    "type=concat\ninput=sum, bn1",
    "type=maxpool\nsize=2",
    "type=upsample\nscale=2\nmode=bilinear",
    "type=avgpool\nsize=2",
    "type=flatten",
    "type=dense\nunits=6",
    "type=batchnorm\nactivation=relu",
    "type=dense\nunits=3",
};

static void test_conservation(void) {
    cascade_net net;
    CU_ASSERT_EQUAL_FATAL(build(&net, 12, big_names, big_specs, cascade_shape_make(3, (int64_t[]){2, 8, 8}), 4),
                          CASCADE_OK);
    bias_free(&net);
    enum { N = 6 };
    float x[N * 128];
    th_fill(x, N * 128, 5);
    for (int i = 0; i < N * 128; i++) x[i] *= 3; /* signed inputs of unit scale */
    cascade_lrp_opts z = {.rule = LRP_Z}, e = {.rule = LRP_EPSILON, .epsilon = 1e-7};
    double tz, te;
    double wz = conservation(&net, &z, x, N, 1, &tz, 0), we = conservation(&net, &e, x, N, 2, &te, 0);
    printf("\n  bias-free conv/bn/add/concat/maxpool/upsample/avgpool/dense/bn net: worst per-layer conservation "
           "error z %.2e, epsilon(1e-7) %.2e; sum R(x) vs S: %.2e, %.2e\n", wz, we, tz, te);
    CU_ASSERT(wz <= 1e-4 && we <= 1e-4 && tz <= 1e-4 && te <= 1e-4);
    /* the rules that leave the bias out conserve too, unless an output with relevance has no
     * positive (negative) contribution at all: for S > 0 that does not happen here */
    cascade_lrp_opts others[] = {{.rule = LRP_ZPLUS}, {.rule = LRP_ALPHABETA, .alpha = 2, .beta = 1},
                                 {.rule = LRP_W2}, {.rule = LRP_FLAT}, {.rule = LRP_COMPOSITE, .epsilon = 1e-7}};
    printf("  zplus, alphabeta(2,1), w2, flat, composite: per-layer / total");
    for (int k = 0; k < 5; k++) {
        double w = conservation(&net, &others[k], x, N, 0, &tz, 2);
        printf(" %.1e/%.1e (%d samples)", w, tz, n_checked);
        CU_ASSERT(w <= 1e-4 && tz <= 1e-4 && n_checked >= 2);
    }
    printf("\n");
    /* the batch norms are folded: the convolution and dense before them report nothing */
    double sent[16], got[16], S;
    float rel[128];
    CU_ASSERT_EQUAL(cascade_explain_lrp(&net, &z, x, 1, 0, rel, &S, sent, got), CASCADE_OK);
    int c1 = cascade_net_find(&net, "c1"), bn1 = cascade_net_find(&net, "bn1");
    CU_ASSERT(sent[c1] == 0 && got[c1] == 0 && fabs(sent[bn1]) > 0);
    /* with biases the z rule leaks relevance into them: reported, not hidden */
    cascade_net_init_params(&net, 11);
    double tb = 0;
    conservation(&net, &z, x, N, 1, &tb, 1);
    printf("  the same net with its random biases: conservation error %.2e (expected: not conserved)\n", tb);
    CU_ASSERT(tb > 1e-3);
    release(&net);

    /* global average / max pooling, hexagonal convolution and a transposed convolution */
    const char *names[] = {"hx", "tc", "gap", "gmp", "cat", "out"};
    const char *specs[] = {"type=hexconv\nfilters=3\nactivation=relu",
                           "type=conv2d_transpose\nfilters=2\nkernel=2\nstride=2\ninput=x\nactivation=relu",
                           "type=globalavgpool\ninput=hx", "type=globalmaxpool\ninput=tc", "type=concat\ninput=gap, gmp",
                           "type=dense\nunits=2"};
    CU_ASSERT_EQUAL_FATAL(build(&net, 6, names, specs, cascade_shape_make(3, (int64_t[]){2, 9, 9}), 3), CASCADE_OK);
    bias_free(&net);
    float y[4 * 162];
    th_fill(y, 4 * 162, 8);
    wz = conservation(&net, &z, y, 4, 0, &tz, 0);
    printf("  hexconv/conv2d_transpose/globalavgpool/globalmaxpool/concat: z rule per-layer %.2e, total %.2e\n", wz, tz);
    CU_ASSERT(wz <= 1e-4 && tz <= 1e-4);
    release(&net);
}

/* One dense layer 4 -> 2 (bias 0), x = (1, -2, -0.5, 1.5), weight row 0 = (2, 1, -2, -0.5):
 * contributions x_i w_i0 = (2, -2, 1, -0.75) (all four sign combinations), S = 0.25. */
static void test_hand(void) {
    const char *names[] = {"out"}, *specs[] = {"type=dense\nunits=2"};
    cascade_net net;
    int64_t F = 4;
    CU_ASSERT_EQUAL_FATAL(build(&net, 1, names, specs, cascade_shape_make(1, &F), 2), CASCADE_OK);
    float *W = param(&net, "out", "weight"), *b = param(&net, "out", "bias");
    const float w0[8] = {2, 1, -2, -0.5f, 0.3f, -0.7f, 0.2f, 0.9f};
    memcpy(W, w0, sizeof w0);
    b[0] = b[1] = 0;
    const float x[4] = {1, -2, -0.5f, 1.5f};
    struct {
        const char *what;
        cascade_lrp_opts o;
        double want[4];
    } cases[] = {
        /* z⁺ = 3: R = 0.25 (2, 0, 1, 0) / 3 */
        {"zplus", {.rule = LRP_ZPLUS}, {1 / 6.0, 0, 1 / 12.0, 0}},
        /* α = 2, β = 1; z⁻ = -2.75: R = 2 (1/6, 0, 1/12, 0) - 0.25 (0, 2, 0, 0.75) / 2.75 */
        {"alphabeta 2,1", {.rule = LRP_ALPHABETA, .alpha = 2, .beta = 1},
         {1 / 3.0, -0.5 / 2.75, 1 / 6.0, -0.1875 / 2.75}},
        /* the z rule: x_i w_i0 / S * S */
        {"z", {.rule = LRP_Z}, {2, -2, 1, -0.75}},
        /* w2: w² = (4, 1, 4, 0.25), Σ 9.25 */
        {"w2", {.rule = LRP_W2}, {0.25 * 4 / 9.25, 0.25 / 9.25, 0.25 * 4 / 9.25, 0.25 * 0.25 / 9.25}},
        {"flat", {.rule = LRP_FLAT}, {0.0625, 0.0625, 0.0625, 0.0625}},
        /* composite: the input layer gets flat */
        {"composite", {.rule = LRP_COMPOSITE, .epsilon = 0.1}, {0.0625, 0.0625, 0.0625, 0.0625}},
        /* epsilon 0.1: S / (S + 0.1) of the z rule's */
        {"epsilon 0.1", {.rule = LRP_EPSILON, .epsilon = 0.1},
         {2 * 0.25 / 0.35, -2 * 0.25 / 0.35, 0.25 / 0.35, -0.75 * 0.25 / 0.35}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float rel[4];
        double S;
        CU_ASSERT_EQUAL_FATAL(cascade_explain_lrp(&net, &cases[k].o, x, 1, 0, rel, &S, NULL, NULL), CASCADE_OK);
        CU_ASSERT_DOUBLE_EQUAL(S, 0.25, 1e-6);
        double err = 0;
        for (int i = 0; i < 4; i++) err = fmax(err, fabs(rel[i] - cases[k].want[i]));
        if (err > 1e-6)
            printf("\n  %s: got %g %g %g %g", cases[k].what, rel[0], rel[1], rel[2], rel[3]);
        CU_ASSERT(err <= 1e-6);
    }
    /* Captum's zplus (x · w⁺) would give R ∝ (2, -2, 0, 0) here: the negative input x_1 on a
     * positive weight gets negative relevance; ours gives it none */
    float rel[4];
    cascade_lrp_opts zp = {.rule = LRP_ZPLUS};
    CU_ASSERT_EQUAL(cascade_explain_lrp(&net, &zp, x, 1, 0, rel, NULL, NULL, NULL), CASCADE_OK);
    CU_ASSERT(rel[1] == 0 && rel[2] > 0);
    cascade_lrp_opts bad = {.rule = LRP_ALPHABETA, .alpha = 2, .beta = 0.5};
    expect_error(cascade_explain_lrp(&net, &bad, x, 1, 0, rel, NULL, NULL, NULL), "alpha - beta = 1", "--alpha 2");
    expect_error(cascade_explain_lrp(&net, &zp, x, 1, 2, rel, NULL, NULL, NULL), "target 2 is out of range", NULL);
    release(&net);
}

static void test_gradient_identity(void) {
    const char *names[] = {"c1", "mp", "c2", "flat", "fc", "out"};
    const char *specs[] = {"type=conv2d\nfilters=4\nkernel=3\npadding=same\nactivation=relu", "type=maxpool\nsize=2",
                           "type=conv2d\nfilters=5\nkernel=3\nactivation=relu", "type=flatten",
                           "type=dense\nunits=8\nactivation=relu", "type=dense\nunits=3"};
    cascade_net net;
    CU_ASSERT_EQUAL_FATAL(build(&net, 6, names, specs, cascade_shape_make(3, (int64_t[]){2, 8, 8}), 3), CASCADE_OK);
    bias_free(&net);
    enum { N = 5, XN = 128 };
    float x[N * XN], rel[N * XN], grad[N * XN];
    double S[N], v[N];
    th_fill(x, N * XN, 2);
    cascade_lrp_opts z = {.rule = LRP_Z};
    CU_ASSERT_EQUAL_FATAL(cascade_explain_lrp(&net, &z, x, N, 2, rel, S, NULL, NULL), CASCADE_OK);
    CU_ASSERT_EQUAL_FATAL(cascade_explain_gradient(&net, x, N, 2, grad, v), CASCADE_OK);
    double num = 0, den = 0;
    for (int j = 0; j < N * XN; j++) {
        double gx = (double)grad[j] * x[j];
        num = fmax(num, fabs(rel[j] - gx));
        den = fmax(den, fabs(gx));
    }
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(S[i], v[i], 1e-6);
    printf("\n  bias-free relu net: LRP-z vs gradient x input, normwise relative error %.2e\n", num / den);
    CU_ASSERT(num / den <= 1e-5);
    release(&net);
}

static void test_errors(void) {
    cascade_net net;
    cascade_lrp_opts z = {.rule = LRP_Z};
    float x[2 * 32] = {0}, rel[2 * 32];
    int64_t F = 8;
    {
        const char *names[] = {"fc", "sm"}, *specs[] = {"type=dense\nunits=3", "type=softmax"};
        CU_ASSERT_EQUAL_FATAL(build(&net, 2, names, specs, cascade_shape_make(1, &F), 2), CASCADE_OK);
        expect_error(cascade_explain_lrp(&net, &z, x, 1, 0, rel, NULL, NULL, NULL), "layer sm (softmax)",
                     "explain the logits");
        release(&net);
    }
    {
        const char *names[] = {"fc", "bn", "out"};
        const char *specs[] = {"type=dense\nunits=4\nactivation=relu", "type=batchnorm", "type=dense\nunits=2"};
        CU_ASSERT_EQUAL_FATAL(build(&net, 3, names, specs, cascade_shape_make(1, &F), 2), CASCADE_OK);
        expect_error(cascade_explain_lrp(&net, &z, x, 1, 0, rel, NULL, NULL, NULL), "batchnorm bn cannot be folded",
                     "input fc/relu");
        release(&net);
    }
    {
        const char *names[] = {"sep", "flat", "out"};
        const char *specs[] = {"type=separable2d\nfilters=2\nkernel=3", "type=flatten", "type=dense\nunits=2"};
        CU_ASSERT_EQUAL_FATAL(build(&net, 3, names, specs, cascade_shape_make(3, (int64_t[]){2, 4, 4}), 2),
                              CASCADE_OK);
        cascade_lrp_opts zp = {.rule = LRP_ZPLUS}, cmp = {.rule = LRP_COMPOSITE};
        expect_error(cascade_explain_lrp(&net, &zp, x, 1, 0, rel, NULL, NULL, NULL), "--rule zplus cannot explain layer sep",
                     "use --rule z, epsilon or flat");
        CU_ASSERT_EQUAL(cascade_explain_lrp(&net, &cmp, x, 1, 0, rel, NULL, NULL, NULL), CASCADE_OK); /* flat */
        CU_ASSERT_EQUAL(cascade_explain_lrp(&net, &z, x, 1, 0, rel, NULL, NULL, NULL), CASCADE_OK);
        release(&net);
    }
    {
        int64_t tf[2] = {4, 3};
        const char *names[] = {"lstm", "out"}, *specs[] = {"type=lstm\nunits=3", "type=dense\nunits=1"};
        CU_ASSERT_EQUAL_FATAL(build(&net, 2, names, specs, cascade_shape_make(2, tf), 2), CASCADE_OK);
        expect_error(cascade_explain_lrp(&net, &z, x, 1, 0, rel, NULL, NULL, NULL), "layer lstm (lstm)", "gates");
        release(&net);
    }
    int rule;
    CU_ASSERT_EQUAL(cascade_lrp_parse_rule("alphabeta", &rule), CASCADE_OK);
    CU_ASSERT_EQUAL(rule, LRP_ALPHABETA);
    expect_error(cascade_lrp_parse_rule("gamma", &rule), "unknown --rule 'gamma'", "composite");
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("lrp", NULL, NULL);
    CU_add_test(s, "z and epsilon conserve relevance layer by layer (bias-free)", test_conservation);
    CU_add_test(s, "zplus, alphabeta, w2, flat, epsilon by hand (negative inputs)", test_hand);
    CU_add_test(s, "LRP-z = gradient x input on a bias-free relu net", test_gradient_identity);
    CU_add_test(s, "layers and options without a rule are errors", test_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
