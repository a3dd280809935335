/* Spectral normalisation beyond the PyTorch reference cases (ref_dense.py, ref_conv.py, which
 * check forward, backward through sigma and double backward with fixed u, v): the power
 * iteration of begin_update converges to the largest singular value, after which the
 * normalised weight has spectral norm 1; parameter names and buffers are torch's. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layercheck.h"

/* 3 x 4 weight with singular values 3, 1, 0.5 (rows of an orthogonal-ish frame) */
static void test_power_iteration(void) {
    cascade_layer L;
    cascade_shape in = th_shp(1, 4, 0, 0, 0);
    CU_ASSERT_EQUAL_FATAL(th_layer(&L, "dense", "units=3\nbias=false\nspectral_norm=true", 1, &in), CASCADE_OK);
    CU_ASSERT_EQUAL(L.n_params, 3);
    CU_ASSERT_STRING_EQUAL(L.params[0].name, "weight_orig");
    CU_ASSERT_STRING_EQUAL(L.params[1].name, "weight_u");
    CU_ASSERT_STRING_EQUAL(L.params[2].name, "weight_v");
    CU_ASSERT_FALSE(L.params[1].trainable);
    CU_ASSERT_EQUAL(L.params[1].init, CASCADE_INIT_CONSTANT);
    /* W = U diag(3, 1, 0.5) V^T with U a rotation in the (0, 1) plane, V rows e0..e2 rotated */
    const double c = cos(0.3), s = sin(0.3), sv[3] = {3, 1, 0.5};
    double U[3][3] = {{c, -s, 0}, {s, c, 0}, {0, 0, 1}};
    double V[3][4] = {{0.6, 0.8, 0, 0}, {-0.8, 0.6, 0, 0}, {0, 0, 0.6, 0.8}};
    float W[12], u[3], v[4], out[3], x[4] = {1, 0, 0, 0}, saved[13], work[13];
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 4; k++) {
            double acc = 0;
            for (int j = 0; j < 3; j++) acc += U[r][j] * sv[j] * V[j][k];
            W[r * 4 + k] = (float)acc;
        }
    for (int i = 0; i < 3; i++) u[i] = (float)(1 / sqrt(3.0));
    for (int i = 0; i < 4; i++) v[i] = 0.5f;
    float *param[3] = {W, u, v};
    for (int it = 0; it < 40; it++) L.op->begin_update(&L, param);
    cascade_fwd fw = {.n = 1, .out = out, .saved = saved, .work = work};
    fw.in[0] = x;
    for (int p = 0; p < 3; p++) fw.param[p] = param[p];
    L.op->forward(&L, &fw);
    CU_ASSERT_DOUBLE_EQUAL(saved[12], 3.0, 1e-4); /* sigma = the largest singular value */
    /* the normalised weight's largest singular value is 1: |W_sn v1| = 1 for v1 = V[0] */
    double norm = 0;
    for (int r = 0; r < 3; r++) {
        double acc = 0;
        for (int k = 0; k < 4; k++) acc += saved[r * 4 + k] * V[0][k];
        norm += acc * acc;
    }
    CU_ASSERT_DOUBLE_EQUAL(sqrt(norm), 1.0, 1e-4);
    /* and the output is W_sn x */
    for (int r = 0; r < 3; r++) CU_ASSERT_DOUBLE_EQUAL(out[r], saved[r * 4], 1e-7);
    cascade_layer_release(&L);
}

static void test_keys(void) {
    th_expect_error("dense", "units=2\nspectral_norm=maybe", th_shp(1, 3, 0, 0, 0), "spectral_norm", "<test>:", NULL);
    th_expect_error("conv2d", "filters=2\nkernel=3\nspectral_norm=2", th_shp(3, 1, 5, 5, 0), "spectral_norm", NULL,
                    NULL);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite suite = CU_add_suite("spectral_norm", NULL, NULL);
    CU_add_test(suite, "power iteration, parameters", test_power_iteration);
    CU_add_test(suite, "keys", test_keys);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
