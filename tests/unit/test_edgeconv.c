/* edgeconv and permute: the kNN selection on hand-made points with distance ties (the
 * smaller index wins, the point itself never), shapes, parameters and scratch sizes, shape
 * and key errors, backward accumulating and honouring NULL gradients. Numerical agreement
 * with PyTorch: tests/torch/ref_edgeconv.py and ref_permute.py. */
#include <CUnit/Basic.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layercheck.h"
#include "nn/graph.h"
#include "nn/ops/knn.h"

void edgeconv_knn_f64(const double *coords, int gstride, int P, int G, int k, double *nbr, double *scratch);

/* Six points in the plane (small integers: every distance is exact in float). Point 0 has
 * four neighbours at distance 1 (1..4), point 1 two at squared distance 2 (2 and 4). */
static const float plane[6][2] = {{0, 0}, {1, 0}, {0, 1}, {-1, 0}, {0, -1}, {2, 2}};

static void expect_neighbours(const float *nbr, int k, int point, const int *want) {
    for (int t = 0; t < k; t++) {
        if ((int)nbr[point * k + t] != want[t])
            printf("\npoint %d neighbour %d: %d, want %d\n", point, t, (int)nbr[point * k + t], want[t]);
        CU_ASSERT_EQUAL(nbr[point * k + t], (float)want[t]);
    }
}

static void test_knn_ties(void) {
    float nbr[6 * 5], scratch[KNN_SCRATCH(6)];
    edgeconv_knn(&plane[0][0], 2, 6, 2, 2, nbr, scratch);
    expect_neighbours(nbr, 2, 0, (int[]){1, 2}); /* 3 and 4 tie with them but come later */
    expect_neighbours(nbr, 2, 1, (int[]){0, 2});
    expect_neighbours(nbr, 2, 5, (int[]){1, 2}); /* squared distance 5 each; 0 is at 8 */
    edgeconv_knn(&plane[0][0], 2, 6, 2, 3, nbr, scratch);
    expect_neighbours(nbr, 3, 1, (int[]){0, 2, 4});
    expect_neighbours(nbr, 3, 3, (int[]){0, 2, 4});
    edgeconv_knn(&plane[0][0], 2, 6, 2, 5, nbr, scratch); /* k = P - 1: everything but itself */
    expect_neighbours(nbr, 5, 0, (int[]){1, 2, 3, 4, 5});
    expect_neighbours(nbr, 5, 5, (int[]){1, 2, 0, 3, 4});
    /* the same points as features 1..2 of rows of 4 (graph = x:1:3): strided coordinates */
    float rows[6][4];
    for (int p = 0; p < 6; p++) {
        rows[p][0] = 100.0f * (float)p; /* must be ignored */
        rows[p][1] = plane[p][0];
        rows[p][2] = plane[p][1];
        rows[p][3] = -50.0f * (float)p;
    }
    edgeconv_knn(&rows[0][1], 4, 6, 2, 3, nbr, scratch);
    expect_neighbours(nbr, 3, 0, (int[]){1, 2, 3});
    expect_neighbours(nbr, 3, 1, (int[]){0, 2, 4});
}

/* Integer points on a small grid (many exactly equal distances, every one exact in float): the
 * k nearest of every point for k = 1 .. 20 (the SSE lanes up to 16, the scalar buffer above,
 * several windows and row blocks) equal a brute-force stable sort by (distance, index) and
 * the double build's selection, with few coordinates (distances computed directly) and with
 * more than KNN_DIRECT_G (distances by GEMM). */
static void knn_brute_force(int G) {
    enum { P = 150, GMAX = 12, KMAX = 20 };
    static float c[P * GMAX], nbr[P * KMAX], scratch[KNN_SCRATCH(P)];
    static double cd[P * GMAX], nbrd[P * KMAX], scratchd[KNN_SCRATCH(P)];
    for (int i = 0; i < P * G; i++) cd[i] = c[i] = (float)((i * 7919 + 13) % 9);
    int bad = 0;
    for (int k = 1; k <= KMAX; k++) {
        edgeconv_knn(c, G, P, G, k, nbr, scratch);
        edgeconv_knn_f64(cd, G, P, G, k, nbrd, scratchd);
        for (int i = 0; i < P; i++) {
            int order[P], m = 0;
            float dist[P];
            for (int j = 0; j < P; j++) {
                dist[j] = 0;
                for (int g = 0; g < G; g++) {
                    float d = c[i * G + g] - c[j * G + g];
                    dist[j] += d * d;
                }
                if (j == i) continue;
                int pos = m++; /* stable insertion: equal distances keep index order */
                while (pos > 0 && dist[order[pos - 1]] > dist[j]) order[pos] = order[pos - 1], pos--;
                order[pos] = j;
            }
            for (int t = 0; t < k; t++) bad += (int)nbr[i * k + t] != order[t] || (int)nbrd[i * k + t] != order[t];
        }
    }
    if (bad) printf("\nG = %d: %d neighbours differ from the brute-force order\n", G, bad);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_knn_brute_force(void) {
    CU_ASSERT_TRUE(2 <= KNN_DIRECT_G && 12 > KNN_DIRECT_G);
    knn_brute_force(2);
    knn_brute_force(3);
    knn_brute_force(12);
}

/* The batched build (samples on the threads, one scratch slot each) gives every sample the
 * graph of the single-sample build, at 1 and 2 threads and with more samples than slots. */
static void test_knn_batch_threads(void) {
    enum { N = 11, P = 90, G = 3, K = 8 };
    static float c[N * P * (G + 1)], one[N * P * K], batch[N * P * K], scratch[KNN_SLOTS * KNN_SCRATCH(P)];
    for (int i = 0; i < N * P * (G + 1); i++) c[i] = (float)((i * 7919 + 13) % 23) / 7.0f;
    for (int s = 0; s < N; s++) edgeconv_knn(c + s * P * (G + 1) + 1, G + 1, P, G, K, one + s * P * K, scratch);
    int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        memset(batch, 0, sizeof batch);
        edgeconv_knn_batch(c + 1, P * (G + 1), G + 1, N, P, G, K, batch, scratch);
        CU_ASSERT_EQUAL(memcmp(one, batch, sizeof batch), 0);
    }
    omp_set_num_threads(saved);
}

/* The op end to end on the plane with the identity-like MLP: units = 2, weight picks
 * x_j - x_i, no bias, edge_activation none, max: out_i = max over neighbours of x_j - x_i. */
static void test_forward_by_hand(void) {
    cascade_layer L;
    cascade_shape in = th_shp(2, 6, 2, 0, 0);
    CU_ASSERT_FATAL(th_setup(&L, "edgeconv", "units=2\nk=2\nedge_activation=none", in));
    float w[2 * 4] = {0, 0, 1, 0, 0, 0, 0, 1}, b[2] = {0, 0}, out[12];
    float *saved = calloc(L.saved_per_sample + L.saved_fixed, sizeof(float));
    float *work = calloc(L.work_per_sample + L.work_fixed, sizeof(float));
    cascade_fwd fw = {.n = 1, .in = {&plane[0][0]}, .out = out, .param = {w, b}, .saved = saved, .work = work};
    L.op->forward(&L, &fw);
    /* point 0: neighbours 1 (1,0), 2 (0,1) -> max (1, 1); point 1: 0 (-1,0), 2 (-1,1) -> (-1, 1) */
    CU_ASSERT_EQUAL(out[0], 1);
    CU_ASSERT_EQUAL(out[1], 1);
    CU_ASSERT_EQUAL(out[2], -1);
    CU_ASSERT_EQUAL(out[3], 1);
    free(saved), free(work);
    cascade_layer_release(&L);
}

static void test_shapes(void) {
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, "edgeconv", "units=8,4\nk=3", th_shp(2, 10, 3, 0, 0)));
    th_expect_shape(&L.out_shape, "(10,4)", "edgeconv out");
    CU_ASSERT_EQUAL_FATAL(L.n_params, 4);
    const char *names[4] = {"weight_l0", "bias_l0", "weight_l1", "bias_l1"};
    const char *shapes[4] = {"(8,6)", "(8)", "(4,8)", "(4)"};
    for (int p = 0; p < 4; p++) {
        CU_ASSERT_STRING_EQUAL(L.params[p].name, names[p]);
        th_expect_shape(&L.params[p].shape, shapes[p], names[p]);
        CU_ASSERT(fabs(L.params[p].init_bound - 1 / sqrt(p < 2 ? 6.0 : 8.0)) < 1e-12);
    }
    CU_ASSERT_EQUAL(L.saved_per_sample, 10 * 3 * (1 + 8 + 4));
    cascade_layer_release(&L);
    cascade_shape two[2] = {th_shp(2, 10, 3, 0, 0), th_shp(2, 10, 5, 0, 0)};
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "edgeconv", "units=2\ngraph=x:2:5\naggregation=mean", 2, two), CASCADE_OK);
    th_expect_shape(&L.out_shape, "(10,2)", "edgeconv x:2:5");
    cascade_layer_release(&L);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "edgeconv", "units=2\ngraph=input", 2, two), CASCADE_OK);
    cascade_layer_release(&L);
    th_expect_out("permute", "order=0,2,1", th_shp(2, 5, 4, 0, 0), "(4,5)");
    th_expect_out("permute", "order=0,3,1,2", th_shp(3, 2, 3, 4, 0), "(4,2,3)");
}

static void test_errors(void) {
    cascade_shape pf = th_shp(2, 10, 3, 0, 0);
    th_expect_error("edgeconv", "units=4", th_shp(1, 10, 0, 0, 0), "(10)", "(P, F)", NULL);
    th_expect_error("edgeconv", "units=4\nk=10", pf, "k = 10", "(10,3)", "at least 11 points");
    th_expect_error("edgeconv", "k=3", pf, "needs `units`", NULL, NULL);
    th_expect_error("edgeconv", "units=4,0", pf, "units = 4,0", NULL, NULL);
    th_expect_error("edgeconv", "units=4,4,4,4,4,4\nbatchnorm=true", pf, "units = 4,4,4,4,4,4", "at most 5 layers", NULL);
    th_expect_error("edgeconv", "units=4\nbatchnorm=maybe", pf, "batchnorm = maybe", NULL, NULL);
    th_expect_error("edgeconv", "units=4\naggregation=sum", pf, "aggregation = sum", NULL, NULL);
    th_expect_error("edgeconv", "units=4\nedge_activation=gelu", pf, "edge_activation = gelu", NULL, NULL);
    th_expect_error("edgeconv", "units=4\nactivation_edge=relu", pf, "unknown key 'activation_edge'", NULL, NULL);
    th_expect_error("edgeconv", "units=4\ngraph=x:3:1", pf, "graph = x:3:1", "0 <= A < B", NULL);
    th_expect_error("edgeconv", "units=4\ngraph=knn", pf, "graph = knn", "dynamic", NULL);
    th_expect_error("edgeconv", "units=4\ngraph=x:0:3", pf, "x:A:B", "takes 2 input(s), got 1", NULL);
    th_expect_error("edgeconv", "units=4\ngraph=x:0:3\ninput=a, b", pf, "input = a, b", "`input = <layer>, x`",
                    NULL);
    cascade_shape two[2] = {pf, th_shp(2, 10, 4, 0, 0)};
    th_expect_error_n("edgeconv", "units=4", 2, two, "graph = dynamic", "takes 1 input(s), got 2", NULL);
    th_expect_error_n("edgeconv", "units=4\ngraph=x:2:5", 2, two, "x:2:5 needs 5 features", "(10,4)", NULL);
    cascade_shape short_coords[2] = {pf, th_shp(2, 9, 3, 0, 0)};
    th_expect_error_n("edgeconv", "units=4\ngraph=input", 2, short_coords, "(9,3)", "P = 10", NULL);

    th_expect_error("permute", "order=1,0,2", pf, "order = 1,0,2", "start with 0", NULL);
    th_expect_error("permute", "order=0,1,1", pf, "order = 0,1,1", "permutation of 0..2", NULL);
    th_expect_error("permute", "order=0,3,1", pf, "order = 0,3,1", "permutation", NULL);
    th_expect_error("permute", "", pf, "needs `order`", NULL, NULL);
    th_expect_error("permute", "order=0,2,3,1", pf, "(10,3)", "4 axes", NULL);
}

/* Backward accumulates: two calls give twice one call; NULL din and weight gradients are
 * skipped without changing the others. Graph on a second input, which gets no gradient. */
static void test_backward(void) {
    enum { N = 2, P = 12, F = 3, G = 2, K = 4, U0 = 5, U1 = 3 };
    cascade_layer L;
    cascade_shape in[2] = {th_shp(2, P, F, 0, 0), th_shp(2, P, G, 0, 0)};
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "edgeconv", "units=5,3\nk=4\ngraph=input\nedge_activation=tanh", 2, in),
                          CASCADE_OK);
    float x[N * P * F], coords[N * P * G], y[N * P * U1], dy[N * P * U1], dx1[N * P * F] = {0},
        dx2[N * P * F] = {0};
    int64_t np[4];
    float *param[4], *g1[4], *g2[4];
    for (int p = 0; p < 4; p++) {
        np[p] = cascade_shape_numel(&L.params[p].shape);
        param[p] = malloc(np[p] * sizeof(float));
        g1[p] = calloc(np[p], sizeof(float));
        g2[p] = calloc(np[p], sizeof(float));
        th_fill(param[p], np[p], 10 + p);
    }
    th_fill(x, N * P * F, 1);
    th_fill(coords, N * P * G, 2);
    th_fill(dy, N * P * U1, 3);
    float *saved = calloc(L.saved_per_sample * N + L.saved_fixed, sizeof(float));
    float *work = calloc(L.work_per_sample * N + L.work_fixed, sizeof(float));
    cascade_fwd fw = {.n = N, .training = 1, .in = {x, coords}, .out = y, .param = {param[0], param[1], param[2], param[3]},
                      .saved = saved, .work = work};
    L.op->forward(&L, &fw);
    cascade_bwd bw = {.n = N, .training = 1, .in = {x, coords}, .out = y, .dout = dy, .din = {dx1},
                      .param = {param[0], param[1], param[2], param[3]}, .dparam = {g1[0], g1[1], g1[2], g1[3]},
                      .saved = saved, .work = work};
    L.op->backward(&L, &bw);
    bw.din[0] = dx2;
    for (int p = 0; p < 4; p++) bw.dparam[p] = g2[p];
    L.op->backward(&L, &bw);
    L.op->backward(&L, &bw);
    int nonzero = 0;
    for (int i = 0; i < N * P * F; i++) {
        CU_ASSERT(fabsf(dx2[i] - 2 * dx1[i]) <= 1e-5f * (1 + fabsf(dx1[i])));
        nonzero += dx1[i] != 0;
    }
    CU_ASSERT(nonzero > N * P * F / 2);
    for (int p = 0; p < 4; p++)
        for (int64_t i = 0; i < np[p]; i++) CU_ASSERT(fabsf(g2[p][i] - 2 * g1[p][i]) <= 1e-5f * (1 + fabsf(g1[p][i])));
    /* only the biases */
    for (int p = 0; p < 4; p++) memset(g2[p], 0, np[p] * sizeof(float));
    bw.din[0] = NULL;
    bw.dparam[0] = bw.dparam[2] = NULL;
    L.op->backward(&L, &bw);
    for (int p = 1; p < 4; p += 2)
        for (int64_t i = 0; i < np[p]; i++) CU_ASSERT_EQUAL(g2[p][i], g1[p][i]);
    for (int p = 0; p < 4; p++) free(param[p]), free(g1[p]), free(g2[p]);
    free(saved), free(work);
    cascade_layer_release(&L);
}

/* batchnorm = true: the batchnorm op's parameters per MLP layer, statistics exported per
 * call equal to the in-place running update, eval mode normalising with the running
 * statistics, and no double backward. Numbers against PyTorch: ref_edgeconv.py. */
static void test_batchnorm(void) {
    enum { N = 2, P = 10, F = 3, K = 3, U0 = 4, U1 = 2, NP = 12 };
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, "edgeconv", "units=4,2\nk=3\nbatchnorm=true\nedge_activation=tanh",
                             th_shp(2, P, F, 0, 0)));
    CU_ASSERT_EQUAL_FATAL(L.n_params, NP);
    const char *names[6] = {"weight_l0", "bias_l0", "bn_weight_l0", "bn_bias_l0", "bn_running_mean_l0",
                            "bn_running_var_l0"};
    for (int p = 0; p < 6; p++) CU_ASSERT_STRING_EQUAL(L.params[p].name, names[p]);
    CU_ASSERT_STRING_EQUAL(L.params[11].name, "bn_running_var_l1");
    th_expect_shape(&L.params[8].shape, "(2)", "bn_weight_l1");
    CU_ASSERT(L.params[2].trainable && L.params[3].trainable && !L.params[4].trainable && !L.params[5].trainable);
    CU_ASSERT_EQUAL(L.params[2].init, CASCADE_INIT_ONES);
    CU_ASSERT_EQUAL(L.params[5].init, CASCADE_INIT_ONES);
    CU_ASSERT_EQUAL(L.params[4].init, CASCADE_INIT_ZEROS);
    CU_ASSERT_EQUAL(L.stat_count, 2 * (U0 + U1));
    CU_ASSERT_EQUAL(L.saved_per_sample, P * K * (1 + U0 + U1)); /* the normalised values are recomputed */
    CU_ASSERT_EQUAL(L.saved_fixed, 4 * (U0 + U1));
    CU_ASSERT_PTR_NOT_NULL(L.no_backward2_reason);
    float *param[NP], x[N * P * F], y1[N * P * U1], y2[N * P * U1];
    for (int p = 0; p < NP; p++) {
        int64_t n = cascade_shape_numel(&L.params[p].shape);
        param[p] = malloc(n * sizeof(float));
        th_fill(param[p], n, 30 + p);
        if (p % 6 == 5)
            for (int64_t i = 0; i < n; i++) param[p][i] = 1.5f + param[p][i]; /* variances > 0 */
    }
    th_fill(x, N * P * F, 4);
    float *saved = calloc(L.saved_per_sample * N + L.saved_fixed, sizeof(float));
    float *work = calloc(L.work_per_sample * N + L.work_fixed, sizeof(float));
    double stats[2 * (U0 + U1)];
    float keep_mean[U0], keep_var[U0];
    memcpy(keep_mean, param[4], sizeof keep_mean);
    memcpy(keep_var, param[5], sizeof keep_var);
    cascade_fwd fw = {.n = N, .training = 1, .in = {x}, .out = y1, .saved = saved, .work = work, .stats = stats};
    for (int p = 0; p < NP; p++) fw.param[p] = param[p];
    L.op->forward(&L, &fw); /* exports, leaves the running statistics alone */
    CU_ASSERT_EQUAL(memcmp(keep_mean, param[4], sizeof keep_mean), 0);
    fw.stats = NULL;
    fw.update_stats = 1;
    fw.out = y2;
    L.op->forward(&L, &fw); /* in place */
    float updated_mean[U0], updated_var[U0];
    memcpy(updated_mean, param[4], sizeof updated_mean);
    memcpy(updated_var, param[5], sizeof updated_var);
    memcpy(param[4], keep_mean, sizeof keep_mean);
    memcpy(param[5], keep_var, sizeof keep_var);
    L.op->apply_stats(&L, param, stats);
    for (int c = 0; c < U0; c++) {
        CU_ASSERT_DOUBLE_EQUAL(param[4][c], updated_mean[c], 1e-7);
        CU_ASSERT_DOUBLE_EQUAL(param[5][c], updated_var[c], 1e-6);
        CU_ASSERT(fabs(param[4][c] - keep_mean[c]) > 1e-4); /* they did move */
    }
    CU_ASSERT_EQUAL(memcmp(y1, y2, sizeof y1), 0);
    /* eval with running statistics = this batch's (biased variance): the training output */
    double m = N * P * K;
    for (int l = 0, off = 0; l < 2; off += l ? U1 : U0, l++) {
        int u = l ? U1 : U0;
        for (int c = 0; c < u; c++) {
            param[6 * l + 4][c] = (float)stats[2 * off + c];
            param[6 * l + 5][c] = (float)(stats[2 * off + u + c] * (m - 1) / m);
        }
    }
    fw.training = 0;
    fw.update_stats = 0;
    L.op->forward(&L, &fw);
    for (int i = 0; i < N * P * U1; i++) CU_ASSERT(fabsf(y2[i] - y1[i]) < 2e-4f * (1 + fabsf(y1[i])));
    for (int p = 0; p < NP; p++) free(param[p]);
    free(saved), free(work);
    cascade_layer_release(&L);
}

/* The book's model through the graph builder: two EdgeConv layers on the fixed sky
 * coordinates (features 0..2 of x, `input = <layer>, x`), then points to the last axis
 * (permute), pooled over the points and a dense head. Whole-net float finite differences
 * on the parameters agree with backward. */
static cascade_status build_net(cascade_net *net, const char *const *texts, int n, cascade_section *secs) {
    static const char *names[] = {"ec1", "ec2", "perm", "pool", "out"};
    cascade_layer_ref refs[5];
    for (int i = 0; i < n; i++) {
        char full[64];
        snprintf(full, sizeof full, "model.%s", names[i]);
        CASCADE_TRY(th_section(&secs[i], full, texts[i]));
        refs[i].section = &secs[i];
        refs[i].name = names[i];
    }
    const char *ext[] = {"x"};
    cascade_shape x = th_shp(2, 12, 5, 0, 0);
    return cascade_net_build(net, "model", refs, n, 1, ext, &x, 7);
}

static double net_objective(cascade_net *net, const cascade_run *run, const float *r, int n) {
    cascade_net_forward(net, run);
    const float *y = cascade_net_output(net);
    double j = 0;
    for (int i = 0; i < n; i++) j += (double)r[i] * y[i];
    return j;
}

static void test_net(void) {
    const char *texts[] = {"type=edgeconv\ninput=x, x\nunits=4,4\nk=3\ngraph=x:0:3\nedge_activation=tanh",
                           "type=edgeconv\ninput=ec1, x\nunits=3\nk=4\ngraph=x:0:3\naggregation=mean\n"
                           "edge_activation=tanh\nactivation=tanh",
                           "type=permute\norder=0,2,1", "type=globalavgpool", "type=dense\nunits=2"};
    cascade_section secs[5] = {0};
    cascade_net net;
    cascade_status st = build_net(&net, texts, 5, secs);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(cascade_net_out_shape(&net)->d[0], 2);
    enum { N = 2 };
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(&net, N, 0), CASCADE_OK);
    float x[N * 12 * 5], r[N * 2] = {0.7f, -1.1f, 0.4f, 0.9f};
    th_fill(x, N * 12 * 5, 5);
    cascade_run run = {.n = N, .training = 1};
    run.ext[0] = x;
    net_objective(&net, &run, r, N * 2);
    memset(net.grads, 0, (size_t)net.n_params * sizeof(float));
    cascade_net_backward(&net, &run, r);
    double worst = 0;
    for (int64_t i = 0; i < net.n_params; i += 3) {
        float keep = net.params[i];
        const float h = 1e-2f;
        net.params[i] = keep + h;
        double jp = net_objective(&net, &run, r, N * 2);
        net.params[i] = keep - h;
        double jm = net_objective(&net, &run, r, N * 2);
        net.params[i] = keep;
        double num = (jp - jm) / (2 * h), e = fabs(num - net.grads[i]) / (fabs(num) + 1e-2);
        if (e > worst) worst = e;
    }
    printf("\nedgeconv net: float finite-difference worst relative error %.2e\n", worst);
    CU_ASSERT(worst < 2e-2);
    CU_ASSERT_EQUAL(net.peer[cascade_net_find(&net, "ec2")], -1); /* k differs: its own graph */
    cascade_net_free(&net);
    for (int i = 0; i < 5; i++) cascade_section_free(&secs[i]);

    /* batch norm in the edge MLP: no double backward (a WGAN-GP critic cannot hold it) */
    const char *bn_texts[] = {"type=edgeconv\ninput=x, x\nunits=4\nk=3\ngraph=x:0:3", "type=edgeconv\ninput=ec1, x\n"
                              "units=3\nk=4\ngraph=x:0:3\nbatchnorm=true", "type=permute\norder=0,2,1",
                              "type=globalavgpool", "type=dense\nunits=2"};
    cascade_section bn_secs[5] = {0};
    CU_ASSERT_EQUAL_FATAL(build_net(&net, bn_texts, 5, bn_secs), CASCADE_OK);
    CU_ASSERT_EQUAL(net.n_stats, 2 * 3);
    cascade_clear_error();
    CU_ASSERT_EQUAL(cascade_net_check_backward2(&net, "a WGAN-GP critic"), CASCADE_EUSAGE);
    if (!strstr(cascade_errmsg(), "model.ec2") || !strstr(cascade_errmsg(), "batch norm in the edge MLP"))
        printf("\nmessage: %s\n", cascade_errmsg());
    CU_ASSERT(strstr(cascade_errmsg(), "model.ec2") && strstr(cascade_errmsg(), "batch norm in the edge MLP"));
    cascade_net_free(&net);
    for (int i = 0; i < 5; i++) cascade_section_free(&bn_secs[i]);

    /* a fixed graph on x without x as the second input */
    const char *wrong[] = {"type=edgeconv\ninput=x\nunits=4\ngraph=x:0:3", "type=edgeconv\nunits=4\ngraph=x:0:3"};
    for (int w = 0; w < 2; w++) {
        cascade_section one[1] = {0};
        cascade_clear_error();
        CU_ASSERT_EQUAL(build_net(&net, &wrong[w], 1, one), CASCADE_EUSAGE);
        const char *want = w ? "takes 2 input(s), got 1" : "`input = <layer>, x`";
        if (!strstr(cascade_errmsg(), want)) printf("\nmessage lacks '%s': %s\n", want, cascade_errmsg());
        CU_ASSERT(strstr(cascade_errmsg(), want) != NULL);
        cascade_section_free(&one[0]);
    }
}

/* One training step's output and gradients (bitwise) of a net. */
static void net_step(cascade_net *net, const float *x, const float *r, float *y, float *grads) {
    enum { N = 2 };
    cascade_run run = {.n = N, .training = 1};
    run.ext[0] = x;
    net_objective(net, &run, r, N * 2);
    memcpy(y, cascade_net_output(net), N * 2 * sizeof(float));
    memset(net->grads, 0, (size_t)net->n_params * sizeof(float));
    cascade_net_backward(net, &run, r);
    memcpy(grads, net->grads, (size_t)net->n_params * sizeof(float));
}

/* ec2's fixed graph is ec1's (same coordinates, k): the builder links it to ec1 and its forward
 * copies ec1's neighbours — outputs and gradients bitwise those of computing its own graph;
 * the dynamic ec3 and a layer on other features keep their own. */
static void test_shared_graph(void) {
    const char *texts[] = {"type=edgeconv\ninput=x, x\nunits=4\nk=3\ngraph=x:0:3\nbatchnorm=true",
                           "type=edgeconv\ninput=ec1, x\nunits=3\nk=3\ngraph=x:0:3\naggregation=mean",
                           "type=edgeconv\nunits=3\nk=3\ngraph=dynamic", "type=edgeconv\ninput=ec3, x\nunits=3\n"
                           "k=3\ngraph=x:1:4", "type=permute\norder=0,2,1", "type=globalavgpool", "type=dense\nunits=2"};
    static const char *names[] = {"ec1", "ec2", "ec3", "ec4", "perm", "pool", "out"};
    enum { NL = 7, N = 2 };
    cascade_section secs[NL] = {0};
    cascade_layer_ref refs[NL];
    for (int i = 0; i < NL; i++) {
        char full[64];
        snprintf(full, sizeof full, "model.%s", names[i]);
        CU_ASSERT_EQUAL_FATAL(th_section(&secs[i], full, texts[i]), CASCADE_OK);
        refs[i].section = &secs[i];
        refs[i].name = names[i];
    }
    const char *ext[] = {"x"};
    cascade_shape xs = th_shp(2, 12, 5, 0, 0);
    cascade_net net;
    cascade_status st = cascade_net_build(&net, "model", refs, NL, 1, ext, &xs, 7);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    int ec1 = cascade_net_find(&net, "ec1"), ec2 = cascade_net_find(&net, "ec2");
    CU_ASSERT_EQUAL(net.peer[ec1], -1);
    CU_ASSERT_EQUAL(net.peer[ec2], ec1);
    CU_ASSERT_EQUAL(net.peer[cascade_net_find(&net, "ec3")], -1);
    CU_ASSERT_EQUAL(net.peer[cascade_net_find(&net, "ec4")], -1);
    CU_ASSERT_EQUAL_FATAL(cascade_net_prepare(&net, N, 0), CASCADE_OK);
    float x[N * 12 * 5], r[N * 2] = {0.7f, -1.1f, 0.4f, 0.9f}, y1[N * 2], y2[N * 2];
    th_fill(x, N * 12 * 5, 11);
    float *g1 = malloc((size_t)net.n_params * sizeof(float)), *g2 = malloc((size_t)net.n_params * sizeof(float));
    CU_ASSERT_FATAL(g1 && g2);
    float *keep = malloc((size_t)(net.n_params + net.n_buffers) * sizeof(float));
    CU_ASSERT_FATAL(keep != NULL);
    memcpy(keep, net.params, (size_t)net.n_params * sizeof(float));
    memcpy(keep + net.n_params, net.buffers, (size_t)net.n_buffers * sizeof(float));
    net_step(&net, x, r, y1, g1);
    /* the same from the start without the link: ec2 builds its own graph */
    memcpy(net.params, keep, (size_t)net.n_params * sizeof(float));
    memcpy(net.buffers, keep + net.n_params, (size_t)net.n_buffers * sizeof(float));
    memset(net.saved[ec2], 0, (size_t)N * 12 * 3 * sizeof(float)); /* no stale neighbours */
    net.peer[ec2] = -1;
    net_step(&net, x, r, y2, g2);
    CU_ASSERT_EQUAL(memcmp(y1, y2, sizeof y1), 0);
    CU_ASSERT_EQUAL(memcmp(g1, g2, (size_t)net.n_params * sizeof(float)), 0);
    /* ec2's forward takes the neighbours it is given: another graph (each point's next k
     * points) as peer_saved lands in its saved state */
    const cascade_layer *L2 = &net.layers[ec2];
    float ring[N * 12 * 3];
    for (int e = 0; e < N * 12 * 3; e++) ring[e] = (float)((e / 3 % 12 + 1 + e % 3) % 12);
    cascade_fwd fw = {.n = N, .training = 1, .out = net.act[ec2], .saved = net.saved[ec2], .work = net.work,
                      .peer_saved = ring};
    fw.in[0] = net.act[net.inputs[ec2][0]];
    fw.in[1] = x;
    for (int p = 0; p < L2->n_params; p++) fw.param[p] = net.params + net.param_off[ec2][p];
    L2->op->forward(L2, &fw);
    CU_ASSERT_EQUAL(memcmp(net.saved[ec2], ring, sizeof ring), 0);
    free(g1);
    free(g2);
    free(keep);
    cascade_net_free(&net);
    for (int i = 0; i < NL; i++) cascade_section_free(&secs[i]);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("edgeconv", NULL, NULL);
    CU_add_test(s, "kNN and tie-breaking", test_knn_ties);
    CU_add_test(s, "kNN against brute force, k = 1..20", test_knn_brute_force);
    CU_add_test(s, "kNN of a batch on 1 and 2 threads", test_knn_batch_threads);
    CU_add_test(s, "forward by hand", test_forward_by_hand);
    CU_add_test(s, "shapes and parameters", test_shapes);
    CU_add_test(s, "shape and key errors", test_errors);
    CU_add_test(s, "backward accumulates, NULL gradients", test_backward);
    CU_add_test(s, "batch norm in the edge MLP", test_batchnorm);
    CU_add_test(s, "two fixed-graph layers in a net", test_net);
    CU_add_test(s, "a fixed graph shared by two layers", test_shared_graph);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0;
}
