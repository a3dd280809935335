/* explain building blocks: method and --index parsing with their messages, input gradients
 * (a linear net's gradient is its weight row; a tanh net's equals central differences of the
 * forward pass, across micro-batch chunks), Integrated Gradients (exact for a linear net at
 * one step, complete and converging for a smooth net), the PNG heatmap's colours, and --mask
 * fractions (hand-built attributions whose in-region share is known). */
#include <CUnit/Basic.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explain/explain.h"
#include "layercheck.h"
#include "th.h"

static void expect_error(cascade_status st, cascade_status code, const char *a, const char *b) {
    CU_ASSERT_EQUAL(st, code);
    CU_ASSERT(!a || strstr(cascade_errmsg(), a) != NULL);
    CU_ASSERT(!b || strstr(cascade_errmsg(), b) != NULL);
    if (st != code || (a && !strstr(cascade_errmsg(), a)) || (b && !strstr(cascade_errmsg(), b)))
        printf("\n  got: %s\n", cascade_errmsg());
}

static void test_parse(void) {
    cascade_explain_method m;
    CU_ASSERT_EQUAL(cascade_explain_parse_method("integrated", &m), CASCADE_OK);
    CU_ASSERT_EQUAL(m, EXPLAIN_INTEGRATED);
    CU_ASSERT_EQUAL(cascade_explain_parse_method("activations", &m), CASCADE_OK);
    CU_ASSERT_EQUAL(m, EXPLAIN_ACTIVATIONS);
    CU_ASSERT_EQUAL(cascade_explain_parse_method("lrp", &m), CASCADE_OK);
    CU_ASSERT_EQUAL(m, EXPLAIN_LRP);
    CU_ASSERT_EQUAL(cascade_explain_parse_method("actmax", &m), CASCADE_OK);
    CU_ASSERT_EQUAL(m, EXPLAIN_ACTMAX);
    expect_error(cascade_explain_parse_method("shap", &m), CASCADE_EUSAGE, "unknown --method 'shap'",
                 "known: activations, filters, saliency, inputxgrad, integrated");
    int64_t first, count;
    CU_ASSERT_EQUAL(cascade_explain_parse_index("4", 5, "d.h5", &first, &count), CASCADE_OK);
    CU_ASSERT(first == 4 && count == 1);
    CU_ASSERT_EQUAL(cascade_explain_parse_index("1:5", 5, "d.h5", &first, &count), CASCADE_OK);
    CU_ASSERT(first == 1 && count == 4);
    expect_error(cascade_explain_parse_index("5", 5, "d.h5", &first, &count), CASCADE_EUSAGE, "--index 5 is out of range",
                 "d.h5 has 5 samples");
    expect_error(cascade_explain_parse_index("3:3", 5, "d.h5", &first, &count), CASCADE_EUSAGE, "out of range", NULL);
    expect_error(cascade_explain_parse_index("-1", 5, "d.h5", &first, &count), CASCADE_EUSAGE, "out of range", NULL);
    expect_error(cascade_explain_parse_index("x:2", 5, "d.h5", &first, &count), CASCADE_EUSAGE, "is not I or A:B", NULL);
}

/* A net from "name: spec" layer sections on input shape (F), prepared for input gradients. */
static cascade_section sections[4];
static cascade_layer_ref refs[4];
static void build(cascade_net *net, int n_layers, const char *const *names, const char *const *specs, int64_t F,
                  int max_n) {
    for (int i = 0; i < n_layers; i++) {
        char full[64];
        snprintf(full, sizeof full, "model.%s", names[i]);
        CU_ASSERT_EQUAL_FATAL(th_section(&sections[i], full, specs[i]), CASCADE_OK);
        refs[i].section = &sections[i], refs[i].name = names[i];
    }
    const char *ext[] = {"x"};
    cascade_shape x = cascade_shape_make(1, &F);
    CU_ASSERT_EQUAL_FATAL(cascade_net_build(net, "model", refs, n_layers, 1, ext, &x, 7), CASCADE_OK);
    cascade_net_init_params(net, 7);
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(net, max_n, 1), CASCADE_OK);
}

static void release(cascade_net *net, int n_layers) {
    cascade_net_free(net);
    for (int i = 0; i < n_layers; i++) cascade_section_free(&sections[i]);
}

static void test_linear(void) {
    const char *names[] = {"out"}, *specs[] = {"type=dense\nunits=2"};
    cascade_net net;
    build(&net, 1, names, specs, 3, 2);
    float x[5 * 3], grad[5 * 3], attr[5 * 3], zero[3] = {0};
    double value[5], base[5];
    th_fill(x, 15, 3);
    const float *w1 = net.params + net.param_off[0][0] + 3; /* weight row 1 */
    CU_ASSERT_EQUAL(cascade_explain_gradient(&net, x, 5, 1, grad, value), CASCADE_OK);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) CU_ASSERT_DOUBLE_EQUAL(grad[i * 3 + j], w1[j], 1e-7);
    /* IG of a linear function is exact with one step: x ⊙ w, and sums to S(x) − S(0) */
    CU_ASSERT_EQUAL(cascade_explain_integrated(&net, x, 5, zero, 1, 1, attr, value, base), CASCADE_OK);
    for (int i = 0; i < 5; i++) {
        double sum = 0;
        for (int j = 0; j < 3; j++) {
            CU_ASSERT_DOUBLE_EQUAL(attr[i * 3 + j], x[i * 3 + j] * w1[j], 1e-6);
            sum += attr[i * 3 + j];
        }
        CU_ASSERT_DOUBLE_EQUAL(sum, value[i] - base[i], 1e-5);
    }
    expect_error(cascade_explain_gradient(&net, x, 5, 2, grad, NULL), CASCADE_EUSAGE, "target 2 is out of range",
                 "2 elements");
    release(&net, 1);
}

/* Pixel flipping on a linear net: removing (zeroing) input j lowers S by x_j w_j, so with the
 * input x gradient as attribution the curve is the running sum of the largest contributions,
 * the best any order can do; all removed, both orders agree; groups of pixels per step. */
static void test_flipping(void) {
    const char *names[] = {"out"}, *specs[] = {"type=dense\nunits=2"};
    cascade_net net;
    enum { N = 3, F = 6 };
    build(&net, 1, names, specs, F, 2);
    float x[N * F], attr[N * F];
    th_fill(x, N * F, 5);
    const float *w1 = net.params + net.param_off[0][0] + F; /* weight row of output 1 */
    for (int i = 0; i < N * F; i++) attr[i] = x[i] * w1[i % F];
    cascade_shape xs = cascade_shape_make(1, (int64_t[]){F});
    double curve[F + 1], rnd[F + 1], want[F + 1] = {0};
    CU_ASSERT_EQUAL_FATAL(cascade_explain_flipping(&net, x, N, &xs, 0, attr, 1, F, 0, 9, curve, rnd), CASCADE_OK);
    for (int i = 0; i < N; i++) { /* contributions sorted, largest first, accumulated */
        double c[F];
        for (int j = 0; j < F; j++) c[j] = attr[i * F + j];
        for (int a = 0; a < F; a++)
            for (int b = a + 1; b < F; b++)
                if (c[b] > c[a]) {
                    double t = c[a];
                    c[a] = c[b], c[b] = t;
                }
        double run = 0;
        for (int k = 1; k <= F; k++) run += c[k - 1], want[k] += run / N;
    }
    for (int k = 0; k <= F; k++) {
        CU_ASSERT_DOUBLE_EQUAL(curve[k], want[k], 1e-5);
        CU_ASSERT(curve[k] >= rnd[k] - 1e-5); /* no order removes more of S, step by step */
    }
    CU_ASSERT_DOUBLE_EQUAL(curve[0], 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(rnd[F], curve[F], 1e-5);
    CU_ASSERT(cascade_explain_aopc(curve, F) > cascade_explain_aopc(rnd, F));
    /* 3 steps of 2 pixels: the curve at every second pixel */
    double c3[4], r3[4];
    CU_ASSERT_EQUAL(cascade_explain_flipping(&net, x, N, &xs, 0, attr, 1, 3, 0, 9, c3, r3), CASCADE_OK);
    for (int k = 0; k <= 3; k++) CU_ASSERT_DOUBLE_EQUAL(c3[k], want[2 * k], 1e-5);
    release(&net, 1);
}

/* --mask: hand-built attributions (2 channels, 2x3 pixels) whose in-region share is known;
 * a region by value list and by nonzero; empty regions and zero attributions left out. */
static void test_mask(void) {
    enum { N = 4, C = 2, P = 6 };
    /* |attr| per pixel summed over channels: sample 0 = 1,2,3,4,5,6 (total 21, signs mixed) */
    float attr[N * C * P] = {0};
    float labels[N * P] = {2, 0, 1, 2, 0, 0,  /* sample 0: pixels 0, 3 (value 2) and 2 (value 1) */
                           0, 0, 0, 0, 0, 1,  /* sample 1: only pixel 5 */
                           0, 0, 0, 0, 0, 0,  /* sample 2: empty region */
                           1, 1, 1, 1, 1, 1}; /* sample 3: zero attribution */
    for (int p = 0; p < P; p++) {
        attr[0 * C * P + p] = (p % 2 ? -1.0f : 1.0f) * 0.5f * (float)(p + 1); /* channel 0 */
        attr[0 * C * P + P + p] = -0.5f * (float)(p + 1);                     /* channel 1 */
        attr[1 * C * P + p] = p == 5 ? 3.0f : 1.0f;                           /* sample 1: 3 of 8 in pixel 5 */
        attr[2 * C * P + p] = 1.0f;
    }
    cascade_mask_spec two, any, both;
    CU_ASSERT_EQUAL_FATAL(cascade_mask_parse("pixel_label=2", &two), CASCADE_OK);
    CU_ASSERT(strcmp(two.name, "pixel_label") == 0 && two.n_values == 1 && two.values[0] == 2);
    CU_ASSERT_EQUAL_FATAL(cascade_mask_parse("pixel_label", &any), CASCADE_OK);
    CU_ASSERT_EQUAL(any.n_values, 0);
    CU_ASSERT_EQUAL_FATAL(cascade_mask_parse("pixel_label=1,2", &both), CASCADE_OK);
    CU_ASSERT(both.n_values == 2 && both.values[1] == 2);
    double f[N], a[N];
    cascade_mask_fractions(attr, labels, &two, N, C, P, f, a);
    CU_ASSERT_DOUBLE_EQUAL(f[0], (1 + 4) / 21.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(a[0], 2.0 / 6, 1e-12);
    CU_ASSERT(isnan(f[1]) && a[1] == 0); /* no pixel labelled 2 */
    cascade_mask_fractions(attr, labels, &both, N, C, P, f, a);
    CU_ASSERT_DOUBLE_EQUAL(f[0], (1 + 3 + 4) / 21.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(a[0], 3.0 / 6, 1e-12);
    cascade_mask_fractions(attr, labels, &any, N, C, P, f, a);
    CU_ASSERT_DOUBLE_EQUAL(f[0], (1 + 3 + 4) / 21.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(f[1], 3.0 / 8, 1e-12); /* 3 of 5 * 1 + 3 */
    CU_ASSERT_DOUBLE_EQUAL(a[1], 1.0 / 6, 1e-12);
    CU_ASSERT(isnan(f[2]) && a[2] == 0);     /* empty region */
    CU_ASSERT(isnan(f[3]) && a[3] == 1);     /* zero attribution */
    cascade_mask_summary s = cascade_mask_summarise(f, a, N);
    CU_ASSERT_EQUAL(s.used, 2);
    CU_ASSERT_DOUBLE_EQUAL(s.fraction, (8.0 / 21 + 6.0 / 16) / 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s.chance, (3.0 / 6 + 1.0 / 6) / 2, 1e-12);
    /* a uniform attribution has exactly the chance fraction */
    float flat[C * P];
    for (int j = 0; j < C * P; j++) flat[j] = -2.0f;
    cascade_mask_fractions(flat, labels, &both, 1, C, P, f, a);
    CU_ASSERT_DOUBLE_EQUAL(f[0], a[0], 1e-12);
    expect_error(cascade_mask_parse("=2", &two), CASCADE_EUSAGE, "--mask '=2' is not NAME", NULL);
    expect_error(cascade_mask_parse("pixel_label=", &two), CASCADE_EUSAGE, "--mask 'pixel_label='",
                 "numbers separated by commas");
    expect_error(cascade_mask_parse("pixel_label=1,x", &two), CASCADE_EUSAGE, "numbers separated by commas", NULL);
    expect_error(cascade_mask_parse("m=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", &two), CASCADE_EUSAGE,
                 "at most 16 values", NULL);
}

static double forward_value(cascade_net *net, const float *x, int64_t target) {
    cascade_run run = {.n = 1};
    run.ext[0] = x;
    cascade_net_forward(net, &run);
    return cascade_net_output(net)[target];
}

static void test_smooth(void) {
    const char *names[] = {"h", "out"}, *specs[] = {"type=dense\nunits=6\nactivation=tanh", "type=dense\nunits=2"};
    cascade_net net;
    build(&net, 2, names, specs, 4, 2);
    enum { N = 3, F = 4 };
    float x[N * F], grad[N * F], attr[N * F], baseline[F] = {0.1f, -0.2f, 0.3f, 0};
    double value[N], base[N];
    th_fill(x, N * F, 9);
    for (int i = 0; i < N * F; i++) x[i] *= 2; /* reach the curved part of tanh */
    CU_ASSERT_EQUAL(cascade_explain_gradient(&net, x, N, 0, grad, value), CASCADE_OK);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < F; j++) { /* central differences in float: a few 1e-4 */
            float xp[F], xm[F];
            memcpy(xp, x + i * F, sizeof xp), memcpy(xm, x + i * F, sizeof xm);
            xp[j] += 1e-2f, xm[j] -= 1e-2f;
            double fd = (forward_value(&net, xp, 0) - forward_value(&net, xm, 0)) / 2e-2;
            CU_ASSERT_DOUBLE_EQUAL(grad[i * F + j], fd, 2e-3);
        }
    double err[3];
    int steps[3] = {4, 16, 64};
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL(cascade_explain_integrated(&net, x, N, baseline, 0, steps[k], attr, value, base), CASCADE_OK);
        err[k] = 0;
        for (int i = 0; i < N; i++) {
            double sum = 0;
            for (int j = 0; j < F; j++) sum += attr[i * F + j];
            err[k] = fmax(err[k], fabs(sum - (value[i] - base[i])) / fabs(value[i] - base[i]));
        }
    }
    printf("\n  IG completeness error at 4/16/64 steps: %.2e %.2e %.2e\n", err[0], err[1], err[2]);
    CU_ASSERT(err[2] < 1e-3);
    CU_ASSERT(err[0] > err[1] && err[1] > err[2]);
    expect_error(cascade_explain_integrated(&net, x, N, baseline, 0, 0, attr, NULL, NULL), CASCADE_EUSAGE, "--steps",
                 NULL);
    release(&net, 2);
}

static void test_png(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/test_explain_%d.png", getenv("CASCADE_BUILD_DIR") ? getenv("CASCADE_BUILD_DIR") : "/tmp",
             (int)getpid());
    const float map[6] = {-2, 0, 1, 2, -1, 0.5f}; /* (2, 3), peak |value| 2 */
    CU_ASSERT_EQUAL_FATAL(cascade_explain_png(path, map, 2, 3, 2), CASCADE_OK);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    CU_ASSERT_FATAL(png_image_begin_read_from_file(&img, path) != 0);
    CU_ASSERT(img.width == 6 && img.height == 4);
    img.format = PNG_FORMAT_RGB;
    png_byte px[6 * 4 * 3];
    CU_ASSERT_FATAL(png_image_finish_read(&img, NULL, px, 0, NULL) != 0);
    const png_byte *p00 = px, *p01 = px + 2 * 3, *p03 = px + 6 * 3, *p11 = px + (2 * 6 + 2) * 3, *p12 = px + (3 * 6 + 5) * 3;
    CU_ASSERT(p00[0] == 0 && p00[1] == 0 && p00[2] == 255);     /* -2: full blue */
    CU_ASSERT(p01[0] == 255 && p01[1] == 255 && p01[2] == 255); /* 0: white */
    CU_ASSERT(p03[0] == 0 && p03[2] == 255);                    /* same cell, second pixel row */
    CU_ASSERT(p11[0] == 128 && p11[1] == 128 && p11[2] == 255); /* -1: half blue (row 1, col 1) */
    CU_ASSERT(p12[0] == 255 && p12[1] == 191 && p12[2] == 191); /* 0.5: quarter red (row 1, col 2) */
    remove(path);
    /* hexagonal: 2 x 2 stations, 20 px per spacing, north up; centre of [r][c] at
     * ((c + r/2 + 0.5) * 20, (v_top - r * sqrt(3)/2) * 20), v_top = sqrt(3)/2 + 1/sqrt(3) */
    const float hex[4] = {-1, 0, 0, 1}; /* [0][0] blue, [1][1] red */
    CU_ASSERT_EQUAL_FATAL(cascade_explain_png_hex(path, hex, 2, 2, 20), CASCADE_OK);
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    CU_ASSERT_FATAL(png_image_begin_read_from_file(&img, path) != 0);
    CU_ASSERT(img.width == 50 && img.height == (png_uint_32)ceil((sqrt(3) / 2 + 2 / sqrt(3)) * 20));
    img.format = PNG_FORMAT_RGB;
    png_byte hp[50 * 60 * 3];
    CU_ASSERT_FATAL(img.height <= 60 && png_image_finish_read(&img, NULL, hp, 0, NULL) != 0);
    double v_top = sqrt(3) / 2 + 1 / sqrt(3);
    const png_byte *c00 = hp + ((int)((v_top - 0) * 20) * 50 + 10) * 3;
    const png_byte *c11 = hp + ((int)((v_top - sqrt(3) / 2) * 20) * 50 + 40) * 3;
    CU_ASSERT(c00[0] == 0 && c00[1] == 0 && c00[2] == 255);  /* south-west station, bottom left */
    CU_ASSERT(c11[0] == 255 && c11[1] == 0 && c11[2] == 0);  /* north row shifted east by half */
    CU_ASSERT(hp[0] == 224 && hp[1] == 224 && hp[2] == 224); /* top-left corner: outside the array */
    remove(path);
    expect_error(cascade_explain_png("/nonexistent-dir/x.png", map, 2, 3, 1), CASCADE_EIO, "/nonexistent-dir/x.png", NULL);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("explain", NULL, NULL);
    CU_add_test(s, "method and index parsing", test_parse);
    CU_add_test(s, "linear net: gradient and IG exact", test_linear);
    CU_add_test(s, "tanh net: gradient vs differences, IG completeness", test_smooth);
    CU_add_test(s, "pixel flipping: linear net, orders, step groups", test_flipping);
    CU_add_test(s, "PNG heatmap colours", test_png);
    CU_add_test(s, "--mask: attribution fraction in a region", test_mask);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
