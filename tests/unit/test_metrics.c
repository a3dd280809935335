/* Evaluation metrics: ROC AUC (Mann-Whitney with ties) on hand-computed cases, regression
 * bias/resolution/RMSE, and classification accuracy from logits. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

static void test_auc(void) {
    double s1[] = {0.1, 0.4, 0.35, 0.8};
    int l1[] = {0, 0, 1, 1};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s1, l1, 4), 0.75, 1e-12); /* sklearn's example */
    double s2[] = {1, 2, 3, 4};
    int l2[] = {0, 0, 1, 1};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s2, l2, 4), 1.0, 1e-12);
    int l3[] = {1, 1, 0, 0};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s2, l3, 4), 0.0, 1e-12);
    double s4[] = {0.5, 0.5, 0.5, 0.5};
    CU_ASSERT_DOUBLE_EQUAL(cascade_auc(s4, l2, 4), 0.5, 1e-12); /* all tied */
    int l5[] = {1, 1, 1, 1};
    CU_ASSERT(isnan(cascade_auc(s2, l5, 4)));
}

static double member(const char *json, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? atof(p + strlen(pat)) : NAN;
}

static void test_regression(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_MSE;
    job.n_targets = 2;
    strcpy(job.targets[0], "xmax");
    strcpy(job.targets[1], "logE");
    float pred[] = {1, 10, 2, 10, 3, 14, 4, 14};
    float y[] = {0, 10, 0, 10, 0, 10, 0, 10};
    char buf[1024];
    cascade_metrics_json(&job, pred, y, 4, 2, 2, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "xmax_bias"), 2.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "xmax_resolution"), sqrt(1.25), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "xmax_rmse"), sqrt(7.5), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "logE_bias"), 2.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "logE_resolution"), 2.0, 1e-6);
}

static void test_classification(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_CE;
    job.n_targets = 1;
    strcpy(job.targets[0], "label");
    /* 4 samples, 3 classes: predictions 0, 1, 2, 2; labels 0, 1, 2, 0 */
    float logits[] = {5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 1, 3};
    float y[] = {0, 1, 2, 0};
    char buf[1024];
    cascade_metrics_json(&job, logits, y, 4, 3, 1, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "accuracy"), 0.75, 1e-6);
    double auc = member(buf, "auc");
    CU_ASSERT(auc > 0.5 && auc <= 1.0);
    job.loss = LOSS_BCE;
    float z[] = {-2, 3, 0.5f, -1};
    float t[] = {0, 1, 0, 0};
    cascade_metrics_json(&job, z, t, 4, 1, 1, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "accuracy"), 0.75, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "auc"), 1.0, 1e-6);
}

static void test_angular(void) {
    cascade_job job;
    memset(&job, 0, sizeof job);
    job.loss = LOSS_ANGULAR;
    /* three samples: 0, 90 and 180 degrees (prediction length free) */
    float pred[] = {0, 0, 2, 5, 0, 0, 0, 0, -1};
    float y[] = {0, 0, 1, 0, 0, 1, 0, 0, 1};
    char buf[1024];
    cascade_metrics_json(&job, pred, y, 3, 3, 3, buf, sizeof buf);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "angle_median_deg"), 90, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "angle_mean_deg"), 90, 1e-4);
    CU_ASSERT_DOUBLE_EQUAL(member(buf, "angle_68_deg"), 0.68 * 2 * 90, 1e-3); /* interpolated */
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    CU_add_test(s, "auc", test_auc);
    CU_add_test(s, "regression", test_regression);
    CU_add_test(s, "classification", test_classification);
    CU_add_test(s, "angular", test_angular);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
