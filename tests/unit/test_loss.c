/* Losses (src/nn/loss.c) against torch.nn.functional (tests/torch/loss_ref.py, run into the
 * build dir): the mean (sum / terms) and its gradient (scale = 1/terms) in float within 1e-5
 * normwise; the gradient of the sum by double-precision central differences; the number of
 * terms; invalid ce labels give NaN without reading out of range. */
#include <CUnit/Basic.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/loss.h"
#include "th.h"

#define TORCH_RTOL 1e-5
#define FD_RTOL 1e-6 /* as op_fd_check; huber at |d| = 1 exactly gives h/4 = 2.5e-7 */

static const char *const kind_names[] = {"mse", "mae", "huber", "bce", "ce", "angular"};

static char ref_path[4096];

/* Runs loss_ref.py once into $CASCADE_BUILD_DIR/loss_ref.h5. */
static int make_refs(void) {
    const char *py = getenv("CASCADE_PYTHON"), *src = getenv("CASCADE_SOURCE_DIR");
    const char *build = getenv("CASCADE_BUILD_DIR");
    if (!py || !src || !build) {
        printf("CASCADE_PYTHON, CASCADE_SOURCE_DIR and CASCADE_BUILD_DIR must be set (run via ctest)\n");
        return -1;
    }
    snprintf(ref_path, sizeof ref_path, "%s/loss_ref.h5", build);
    char cmd[3 * 4096 + 64];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/torch/loss_ref.py' '%s'", py, src, ref_path);
    if (system(cmd) != 0) {
        printf("failed: %s\n", cmd);
        return -1;
    }
    return 0;
}

typedef struct {
    int kind, n;
    long elems, classes;
    double *pred, *target, *grad, loss;
    double *weights; /* ce class weights or NULL */
    int64_t total; /* n * elems */
} loss_case;

static int load_case(hid_t f, const char *name, loss_case *c) {
    memset(c, 0, sizeof *c);
    hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
    if (g < 0) return 0;
    char kind[16] = "";
    long n = 0;
    th_attr_str(g, "kind", kind, sizeof kind);
    th_attr_int(g, "n", &n);
    th_attr_int(g, "elems", &c->elems);
    th_attr_int(g, "classes", &c->classes);
    c->n = (int)n;
    c->kind = -1;
    for (int k = 0; k < 6; k++)
        if (strcmp(kind, kind_names[k]) == 0) c->kind = k;
    cascade_shape sh;
    c->pred = th_read(g, "pred", &sh);
    c->target = th_read(g, "target", &sh);
    c->grad = th_read(g, "grad", &sh);
    c->weights = th_read(g, "weights", &sh);
    double *loss = th_read(g, "loss", &sh);
    if (loss) c->loss = *loss;
    free(loss);
    H5Gclose(g);
    c->total = (int64_t)c->n * c->elems;
    return c->kind >= 0 && c->pred && c->target && c->grad && loss;
}

static void free_case(loss_case *c) {
    free(c->pred);
    free(c->target);
    free(c->grad);
    free(c->weights);
}

static float *to_float(const double *d, int64_t n) {
    float *f = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; f && i < n; i++) f[i] = (float)d[i];
    return f;
}

/* Float engine vs torch: mean and gradient of the mean. */
static int check_torch(const char *name, const loss_case *c) {
    int64_t terms = cascade_loss_terms(c->kind, c->n, c->elems, c->classes);
    int64_t target_n = c->kind == LOSS_CE ? terms : c->total;
    float *pred = to_float(c->pred, c->total), *target = to_float(c->target, target_n);
    float *dpred = malloc((size_t)c->total * sizeof(float));
    if (!pred || !target || !dpred) return 1;
    double denom = (double)terms;
    if (c->weights) { /* weighted mean divides by the labels' weights, as torch */
        double *w = malloc((size_t)target_n * sizeof(double));
        cascade_ce_label_weights(1, target_n, target, c->weights, c->classes, w);
        denom = 0;
        for (int64_t i = 0; i < target_n; i++) denom += w[i];
        free(w);
    }
    double sum = cascade_loss_weighted(c->kind, c->n, c->elems, c->classes, pred, target, c->weights, dpred,
                                       (float)(1.0 / denom));
    double mean = sum / denom;
    double loss_err = fabs(mean - c->loss) / (fabs(c->loss) > 1e-30 ? fabs(c->loss) : 1);
    double grad_err = th_relerr_f(dpred, c->grad, c->total);
    int bad = !(loss_err <= TORCH_RTOL) || !(grad_err <= TORCH_RTOL);
    printf("\n  %s %-5s n=%d elems=%ld: mean %.8g (torch %.8g) relerr %.1e, grad relerr %.1e%s", name,
           kind_names[c->kind], c->n, c->elems, mean, c->loss, loss_err, grad_err, bad ? "  FAIL" : "");
    free(pred);
    free(target);
    free(dpred);
    return bad;
}

/* Double precision: analytic d(sum)/d(pred) (scale 1) vs central differences. */
static int check_fd(const char *name, const loss_case *c) {
    const double h = 1e-6;
    double *dpred = malloc((size_t)c->total * sizeof(double)), *p = malloc((size_t)c->total * sizeof(double));
    if (!dpred || !p) return 1;
    memcpy(p, c->pred, (size_t)c->total * sizeof(double));
    cascade_loss_weighted_f64(c->kind, c->n, c->elems, c->classes, p, c->target, c->weights, dpred, 1.0);
    double err = 0, scale = 1e-3;
    for (int64_t i = 0; i < c->total; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double up = cascade_loss_weighted_f64(c->kind, c->n, c->elems, c->classes, p, c->target, c->weights, NULL, 1.0);
        p[i] = keep - h;
        double down = cascade_loss_weighted_f64(c->kind, c->n, c->elems, c->classes, p, c->target, c->weights, NULL, 1.0);
        p[i] = keep;
        double e = fabs((up - down) / (2 * h) - dpred[i]);
        if (!(e <= err)) err = e;
        if (fabs(dpred[i]) > scale) scale = fabs(dpred[i]);
    }
    int bad = !(err / scale <= FD_RTOL);
    printf("\n  %s %-5s fd relerr %.1e%s", name, kind_names[c->kind], err / scale, bad ? "  FAIL" : "");
    free(dpred);
    free(p);
    return bad;
}

static herr_t each_case(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    int *counts = data; /* cases, failures */
    loss_case c;
    if (!load_case(g, name, &c)) {
        printf("\n  %s: incomplete reference case", name);
        counts[1]++;
    } else {
        counts[1] += check_torch(name, &c) + check_fd(name, &c);
    }
    counts[0]++;
    free_case(&c);
    return 0;
}

static void test_against_torch(void) {
    CU_ASSERT_EQUAL_FATAL(make_refs(), 0);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(ref_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    int counts[2] = {0, 0};
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, each_case, counts);
    H5Fclose(f);
    printf("\n  %d cases, %d failed\n", counts[0], counts[1]);
    CU_ASSERT(counts[0] >= 16);
    CU_ASSERT_EQUAL(counts[1], 0);
}

static void test_terms(void) {
    CU_ASSERT_EQUAL(cascade_loss_terms(LOSS_MSE, 4, 30, 1), 120);
    CU_ASSERT_EQUAL(cascade_loss_terms(LOSS_BCE, 2, 7, 1), 14);
    CU_ASSERT_EQUAL(cascade_loss_terms(LOSS_CE, 4, 30, 3), 40); /* (4, 3, 10) logits */
    CU_ASSERT_EQUAL(cascade_loss_terms(LOSS_CE, 5, 10, 10), 5);
}

/* Labels outside [0, classes) or not integers: NaN sum, gradient written, nothing read out of
 * range (the caller validates labels before training). */
static void test_invalid_labels(void) {
    float pred[2 * 3] = {0.1f, 0.2f, 0.3f, -1, 0, 1}, dpred[6];
    const float bad_labels[] = {3, -1, 1.5f, NAN};
    for (int k = 0; k < 4; k++) {
        float target[2] = {0, bad_labels[k]};
        double sum = cascade_loss(LOSS_CE, 2, 3, 3, pred, target, dpred, 1.0f);
        CU_ASSERT(isnan(sum));
        for (int i = 0; i < 3; i++) CU_ASSERT(isfinite(dpred[i]));
    }
    float target[2] = {2, 0};
    CU_ASSERT(isfinite(cascade_loss(LOSS_CE, 2, 3, 3, pred, target, dpred, 1.0f)));
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("loss", NULL, NULL);
    CU_add_test(s, "terms", test_terms);
    CU_add_test(s, "invalid ce labels", test_invalid_labels);
    CU_add_test(s, "against torch and finite differences", test_against_torch);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
