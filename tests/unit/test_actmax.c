/* Activation maximisation: on a linear net the ascent is exact (x_T = x_0 + T·η·w/rms(w), so
 * the maximiser's direction is the weight row: cosine -> 1); on a conv + relu net the neuron,
 * channel and layer objectives rise (nearly) every step and end far above the noise start,
 * with and without the L2 / blur / jitter regularisers; the start is reproducible from the
 * seed; bad options are errors naming the flag and the layer. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/explain.h"
#include "th.h"

static void expect_error(cascade_status st, const char *a, const char *b) {
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    CU_ASSERT(!a || strstr(cascade_errmsg(), a) != NULL);
    CU_ASSERT(!b || strstr(cascade_errmsg(), b) != NULL);
    if (st != CASCADE_EUSAGE || (a && !strstr(cascade_errmsg(), a)) || (b && !strstr(cascade_errmsg(), b)))
        printf("\n  got: %s\n", cascade_errmsg());
}

enum { MAXL = 6 };
static cascade_section sections[MAXL];
static cascade_layer_ref refs[MAXL];
/* A net from "name: spec" sections on per-sample input `x`, prepared for input gradients. */
static void build(cascade_net *net, int n_layers, const char *const *names, const char *const *specs,
                  cascade_shape x, int max_n) {
    for (int i = 0; i < n_layers; i++) {
        char full[64];
        snprintf(full, sizeof full, "model.%s", names[i]);
        CU_ASSERT_EQUAL_FATAL(th_section(&sections[i], full, specs[i]), CASCADE_OK);
        refs[i].section = &sections[i], refs[i].name = names[i];
    }
    const char *ext[] = {"x"};
    CU_ASSERT_EQUAL_FATAL(cascade_net_build(net, "model", refs, n_layers, 1, ext, &x, 5), CASCADE_OK);
    cascade_net_init_params(net, 5);
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(net, max_n, 1), CASCADE_OK);
}

static void release(cascade_net *net, int n_layers) {
    cascade_net_free(net);
    for (int i = 0; i < n_layers; i++) cascade_section_free(&sections[i]);
}

static void test_linear(void) {
    const char *names[] = {"out"}, *specs[] = {"type=dense\nunits=3"};
    cascade_net net;
    int64_t F = 20;
    build(&net, 1, names, specs, cascade_shape_make(1, &F), 2);
    cascade_actmax_opts o = {.node = net.output, .objective = ACTMAX_NEURON, .steps = 50, .step_size = 1,
                             .noise = 0.1, .seed = 3};
    int64_t targets[3] = {0, 1, 2};
    float x[3 * 20], x0[3 * 20];
    double hist[3 * 51];
    o.steps = 1; /* one step from the noise start shows x_0 */
    CU_ASSERT_EQUAL_FATAL(cascade_explain_actmax(&net, &o, targets, 3, x0, hist), CASCADE_OK);
    o.steps = 50;
    CU_ASSERT_EQUAL_FATAL(cascade_explain_actmax(&net, &o, targets, 3, x, hist), CASCADE_OK);
    const float *W = net.params + net.param_off[0][0];
    double worst_cos = 1, worst_dev = 0;
    for (int r = 0; r < 3; r++) {
        const float *w = W + r * F;
        double ww = 0, xx = 0, xw = 0, rms;
        for (int j = 0; j < F; j++) ww += (double)w[j] * w[j];
        rms = sqrt(ww / (double)F);
        for (int j = 0; j < F; j++) {
            /* the exact path: x_T = x_0 + T (w / rms(w)), x_0 = x_1 - w / rms(w) */
            double start = x0[r * F + j] - w[j] / rms, want = start + 50 * w[j] / rms;
            worst_dev = fmax(worst_dev, fabs(x[r * F + j] - want));
            xx += (double)x[r * F + j] * x[r * F + j];
            xw += (double)x[r * F + j] * w[j];
            CU_ASSERT(fabs(start) < 0.6); /* noise of std 0.1 */
        }
        double cos = xw / sqrt(xx * ww);
        worst_cos = fmin(worst_cos, cos);
        /* a linear objective rises by exactly η·|w|²/rms(w) = η·sqrt(F)·|w| per step */
        double per_step = sqrt((double)F) * sqrt(ww);
        for (int t = 0; t < 50; t++)
            CU_ASSERT_DOUBLE_EQUAL(hist[r * 51 + t + 1] - hist[r * 51 + t], per_step, 1e-3 * per_step);
    }
    printf("\n  linear net: cos(x*, weight row) >= %.6f, |x - exact path| <= %.2e\n", worst_cos, worst_dev);
    CU_ASSERT(worst_cos > 0.9999);
    CU_ASSERT(worst_dev < 1e-4);
    /* reproducible from the seed; another seed starts elsewhere */
    float again[3 * 20];
    CU_ASSERT_EQUAL(cascade_explain_actmax(&net, &o, targets, 3, again, hist), CASCADE_OK);
    CU_ASSERT(memcmp(again, x, sizeof x) == 0);
    o.seed = 4;
    CU_ASSERT_EQUAL(cascade_explain_actmax(&net, &o, targets, 3, again, hist), CASCADE_OK);
    CU_ASSERT(memcmp(again, x, sizeof x) != 0);
    /* L2 decay bounds the linear ascent: the fixed point |x| = η sqrt(F) (1 - λ) / λ */
    o.l2 = 0.1;
    o.steps = 400;
    double *h = malloc(3 * 401 * sizeof(double));
    CU_ASSERT_EQUAL(cascade_explain_actmax(&net, &o, targets, 1, again, h), CASCADE_OK);
    double norm = 0;
    for (int j = 0; j < F; j++) norm += (double)again[j] * again[j];
    CU_ASSERT_DOUBLE_EQUAL(sqrt(norm), sqrt((double)F) * 0.9 / 0.1, 1e-3 * sqrt((double)F) * 9);
    free(h);
    /* errors name the flag and the layer */
    o.l2 = 0;
    o.steps = 50;
    int64_t bad = 3;
    expect_error(cascade_explain_actmax(&net, &o, &bad, 1, x, hist), "--target 3 is out of range", "layer out");
    o.objective = ACTMAX_CHANNEL;
    expect_error(cascade_explain_actmax(&net, &o, targets, 1, x, hist), "--objective channel", "layer out");
    o.objective = ACTMAX_NEURON;
    o.jitter = 1;
    expect_error(cascade_explain_actmax(&net, &o, targets, 1, x, hist), "--jitter", "spatial");
    o.jitter = 0;
    o.step_size = 0;
    expect_error(cascade_explain_actmax(&net, &o, targets, 1, x, hist), "--step-size", NULL);
    release(&net, 1);
}

/* Fraction of steps that raise the objective, and the total gain in units of the start's spread. */
static void rise(const double *h, int steps, double *frac, double *gain) {
    int up = 0;
    for (int t = 0; t < steps; t++) up += h[t + 1] > h[t];
    *frac = (double)up / steps;
    *gain = h[steps] - h[0];
}

static void test_conv(void) {
    const char *names[] = {"c1", "c2", "flat", "out"};
    const char *specs[] = {"type=conv2d\nfilters=4\nkernel=3\npadding=same\nactivation=relu",
                           "type=conv2d\nfilters=6\nkernel=3\nactivation=relu", "type=flatten",
                           "type=dense\nunits=3"};
    cascade_net net;
    build(&net, 4, names, specs, cascade_shape_make(3, (int64_t[]){2, 8, 8}), 4);
    int64_t xn = 2 * 64, targets[6] = {0, 1, 2, 3, 4, 5};
    float *x = malloc(6 * xn * sizeof(float));
    double *hist = malloc(6 * 51 * sizeof(double));
    struct {
        const char *what, *layer;
        int objective, n, jitter;
        double l2, blur;
    } cases[] = {
        {"output neuron", "out", ACTMAX_NEURON, 3, 0, 0, 0},
        {"c2 channel (mean of a feature map)", "c2", ACTMAX_CHANNEL, 6, 0, 0, 0},
        {"c1 layer (mean)", "c1", ACTMAX_LAYER, 1, 0, 0, 0},
        {"c2 channel, l2 + blur + jitter", "c2", ACTMAX_CHANNEL, 6, 1, 0.01, 0.5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int layer = cascade_net_find(&net, cases[k].layer), node = layer;
        CU_ASSERT_FATAL(layer >= 0);
        for (int j = 0; j < net.n_layers; j++) /* the relu node of conv layers */
            if (net.layers[j].n_in == 1 && net.inputs[j][0] == layer && strchr(net.layers[j].name, '/')) node = j;
        /* noise 1 (the data's scale after normalisation): with 0.1 half of c2's channels are dead
         * at the start (zero gradient) and never move */
        cascade_actmax_opts o = {.node = node, .objective = cases[k].objective, .steps = 50, .step_size = 1,
                                 .noise = 1, .seed = 1, .l2 = cases[k].l2, .blur = cases[k].blur,
                                 .jitter = cases[k].jitter};
        CU_ASSERT_EQUAL_FATAL(cascade_explain_actmax(&net, &o, targets, cases[k].n, x, hist), CASCADE_OK);
        double worst_frac = 1, worst_ratio = INFINITY;
        for (int r = 0; r < cases[k].n; r++) {
            double frac, gain;
            rise(hist + r * 51, 50, &frac, &gain);
            double ratio = gain / (fabs(hist[r * 51]) + 1e-3); /* the end vs the start */
            worst_frac = fmin(worst_frac, frac);
            worst_ratio = fmin(worst_ratio, ratio);
            CU_ASSERT(hist[r * 51 + 50] > hist[r * 51 + 10] && hist[r * 51 + 10] > hist[r * 51]);
        }
        printf("\n  %s: node %s, >= %.0f%% of steps rise, end - start >= %.0f x |start|", cases[k].what,
               net.layers[node].name, 100 * worst_frac, worst_ratio);
        /* the regularisers pull back against the ascent: J levels off and wobbles */
        CU_ASSERT(worst_frac >= (cases[k].jitter ? 0.5 : 0.9));
        CU_ASSERT(worst_ratio > (cases[k].jitter ? 5 : 100));
    }
    printf("\n");
    int64_t bad = 6;
    cascade_actmax_opts o = {.node = cascade_net_find(&net, "c2"), .objective = ACTMAX_CHANNEL, .steps = 5, .step_size = 1, .noise = 0.1};
    expect_error(cascade_explain_actmax(&net, &o, &bad, 1, x, hist), "--target 6 is out of range", "6 channels");
    free(x);
    free(hist);
    release(&net, 4);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("actmax", NULL, NULL);
    CU_add_test(s, "linear net: exact ascent along the weight row, L2 fixed point, errors", test_linear);
    CU_add_test(s, "conv net: neuron, channel, layer objectives rise; regularisers", test_conv);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
