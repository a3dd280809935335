/* Graph construction: inputs, defaults, activation nodes, topological order, errors that
 * name the layer / cycle / shapes, flat buffers and initialisation, and a whole-net
 * gradient check (executor backward vs finite differences of the forward pass). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/graph.h"
#include "th.h"

typedef struct {
    int n;
    cascade_section s[16];
    cascade_layer_ref r[16];
    char names[16][64];
} spec_set;

/* add("conv1", "type=conv2d\nfilters=4\n...") */
static void add(spec_set *ss, const char *name, const char *text) {
    char full[128];
    snprintf(full, sizeof full, "model.%s", name);
    CU_ASSERT_EQUAL_FATAL(th_section(&ss->s[ss->n], full, text), CASCADE_OK);
    ss->s[ss->n].file = "job.ini";
    ss->s[ss->n].line = 10 * (ss->n + 1); /* section n at line 10(n+1), its keys below it */
    for (int k = 0; k < ss->s[ss->n].nkv; k++) ss->s[ss->n].kv[k].line = 10 * (ss->n + 1) + k + 1;
    snprintf(ss->names[ss->n], 64, "%s", name);
    ss->n++;
}

static cascade_status build(spec_set *ss, cascade_net *net, cascade_shape x) {
    for (int i = 0; i < ss->n; i++) ss->r[i].section = &ss->s[i], ss->r[i].name = ss->names[i];
    const char *ext[] = {"x"};
    return cascade_net_build(net, "model", ss->r, ss->n, 1, ext, &x, 42);
}

static void release(spec_set *ss) {
    for (int i = 0; i < ss->n; i++) cascade_section_free(&ss->s[i]);
    ss->n = 0;
}

static cascade_shape shp(int nd, int64_t a, int64_t b, int64_t c) {
    int64_t d[3] = {a, b, c};
    return cascade_shape_make(nd, d);
}

static void test_build_and_shapes(void) {
    spec_set ss = {0};
    add(&ss, "c1", "type=conv2d\nfilters=4\nkernel=3\npadding=same\nactivation=leaky_relu");
    add(&ss, "p", "type=maxpool\nsize=2");
    add(&ss, "f", "type=flatten");
    add(&ss, "out", "type=dense\nunits=3");
    cascade_net net;
    CU_ASSERT_EQUAL_FATAL(build(&ss, &net, shp(3, 2, 9, 9)), CASCADE_OK);
    CU_ASSERT_EQUAL(net.n_layers, 5); /* + the activation node */
    CU_ASSERT_STRING_EQUAL(net.layers[1].name, "c1/leaky_relu");
    CU_ASSERT_EQUAL(cascade_net_out_shape(&net)->d[0], 3);
    CU_ASSERT_EQUAL(net.n_params, 4 * 2 * 9 + 4 + 3 * 4 * 16 + 3);
    /* the activation node got its defaults (slope 0.01), not a zeroed config */
    float x[2] = {-1.0f, 2.0f}, y[2];
    cascade_fwd c = {0};
    c.n = 1;
    c.in[0] = x;
    c.out = y;
    cascade_layer act = net.layers[1];
    act.in_shape[0] = act.out_shape = cascade_shape_make(1, (int64_t[]){2});
    act.op->forward(&act, &c);
    CU_ASSERT_DOUBLE_EQUAL(y[0], -0.01, 1e-7);
    /* PyTorch-like init: weights within 1/sqrt(fan_in) */
    double bound = 1.0 / sqrt(2 * 9.0), mx = 0;
    for (int i = 0; i < 72; i++) mx = fmax(mx, fabs(net.params[i]));
    CU_ASSERT(mx <= bound && mx > 0.5 * bound);
    cascade_net_free(&net);
    release(&ss);
}

static void expect_error(spec_set *ss, cascade_shape x, cascade_status code, const char *a, const char *b) {
    cascade_net net;
    cascade_status st = build(ss, &net, x);
    CU_ASSERT_EQUAL(st, code);
    if (a && !strstr(cascade_errmsg(), a)) printf("\nmessage lacks '%s': %s\n", a, cascade_errmsg());
    if (b && !strstr(cascade_errmsg(), b)) printf("\nmessage lacks '%s': %s\n", b, cascade_errmsg());
    CU_ASSERT(!a || strstr(cascade_errmsg(), a) != NULL);
    CU_ASSERT(!b || strstr(cascade_errmsg(), b) != NULL);
    release(ss);
}

static void test_errors(void) {
    spec_set ss = {0};
    add(&ss, "a", "type=dense\nunits=4");
    add(&ss, "b", "type=banana");
    expect_error(&ss, shp(1, 5, 0, 0), CASCADE_EUSAGE, "job.ini:21", "banana");

    add(&ss, "a", "type=dense\nunits=4\ninput=nothere");
    expect_error(&ss, shp(1, 5, 0, 0), CASCADE_EUSAGE, "nothere", "job.ini:10");

    add(&ss, "a", "type=dense\nunits=4\ninput=c");
    add(&ss, "b", "type=dense\nunits=4\ninput=a");
    add(&ss, "c", "type=add\ninput=a,b");
    expect_error(&ss, shp(1, 4, 0, 0), CASCADE_EUSAGE, "cycle", "a, b, c");

    add(&ss, "a", "type=dense\nunits=4");
    add(&ss, "a", "type=dense\nunits=4");
    expect_error(&ss, shp(1, 4, 0, 0), CASCADE_EUSAGE, "defined twice", NULL);

    add(&ss, "a", "type=dense\nunits=4\nfilters=3");
    expect_error(&ss, shp(1, 4, 0, 0), CASCADE_EUSAGE, "unknown key 'filters'", "job.ini:13");

    add(&ss, "a", "type=dense\nunits=4");
    add(&ss, "b", "type=dense\nunits=3");
    add(&ss, "c", "type=add\ninput=a,b");
    expect_error(&ss, shp(1, 4, 0, 0), CASCADE_EUSAGE, "model.c", "(4)");

    add(&ss, "a", "type=dense\nunits=abc");
    expect_error(&ss, shp(1, 4, 0, 0), CASCADE_EUSAGE, "units = abc", NULL);
}

/* J = sum(r * net(x)); analytic gradients from the executor vs central differences. */
static double objective(cascade_net *net, cascade_run *run, const float *r, int64_t n) {
    cascade_net_forward(net, run);
    const float *y = cascade_net_output(net);
    double j = 0;
    for (int64_t i = 0; i < n; i++) j += (double)r[i] * y[i];
    return j;
}

static void test_whole_net_gradient(void) {
    spec_set ss = {0};
    add(&ss, "c1", "type=conv2d\nfilters=3\nkernel=3\npadding=1\nactivation=tanh");
    add(&ss, "c2", "type=conv2d\nfilters=3\nkernel=1\ninput=x");
    add(&ss, "cat", "type=concat\ninput=c1,c2");
    add(&ss, "pool", "type=avgpool\nsize=2");
    add(&ss, "f", "type=flatten");
    add(&ss, "out", "type=dense\nunits=2\nactivation=sigmoid");
    cascade_net net;
    CU_ASSERT_EQUAL_FATAL(build(&ss, &net, shp(3, 2, 5, 5)), CASCADE_OK);
    int n = 3;
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(&net, n, 1), CASCADE_OK);
    float x[3 * 50], r[3 * 2];
    for (int i = 0; i < 150; i++) x[i] = (float)sin(0.37 * i);
    for (int i = 0; i < 6; i++) r[i] = (float)cos(1.3 * i);
    cascade_run run = {.n = n, .training = 1};
    run.ext[0] = x;
    objective(&net, &run, r, 6);
    memset(net.grads, 0, (size_t)net.n_params * sizeof(float));
    cascade_net_backward(&net, &run, r);
    double worst = 0;
    for (int64_t i = 0; i < net.n_params; i += 7) {
        float keep = net.params[i];
        const float h = 1e-2f;
        net.params[i] = keep + h;
        double jp = objective(&net, &run, r, 6);
        net.params[i] = keep - h;
        double jm = objective(&net, &run, r, 6);
        net.params[i] = keep;
        double num = (jp - jm) / (2 * h), e = fabs(num - net.grads[i]) / (fabs(num) + 1e-2);
        if (e > worst) worst = e;
    }
    for (int i = 0; i < 150; i += 11) {
        float keep = x[i];
        x[i] = keep + 1e-2f;
        double jp = objective(&net, &run, r, 6);
        x[i] = keep - 1e-2f;
        double jm = objective(&net, &run, r, 6);
        x[i] = keep;
        double num = (jp - jm) / 2e-2, e = fabs(num - net.dext[0][i]) / (fabs(num) + 1e-2);
        if (e > worst) worst = e;
    }
    printf("\nwhole-net float finite-difference worst relative error %.2e\n", worst);
    CU_ASSERT(worst < 2e-2);
    cascade_net_free(&net);
    release(&ss);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("graph", NULL, NULL);
    CU_add_test(s, "build and shapes", test_build_and_shapes);
    CU_add_test(s, "errors", test_errors);
    CU_add_test(s, "whole-net gradient", test_whole_net_gradient);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
