/* Blocks in job files: expansion into layer sections, parameter substitution with defaults,
 * `in` and local inputs, nesting, and errors naming the file:line. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "cascade/job.h"

static const char *head =
    "[job]\nname = b\n[data]\ntrain = t.h5\ninputs = x1\ntargets = y\n[train]\nbatch = 4\nsteps = 1\n";

static cascade_status parse(const char *body, cascade_job *job) {
    static char text[8192];
    snprintf(text, sizeof text, "%s%s", head, body);
    return cascade_job_parse(text, "blocks.ini", NULL, 0, job);
}

static const char *key(cascade_job *job, const char *section, const char *k) {
    cascade_section *s = NULL;
    for (int i = 0; i < job->n_sections; i++)
        if (strcmp(job->sections[i].name, section) == 0) s = &job->sections[i];
    if (!s) return NULL;
    const cascade_kv *kv = cascade_section_peek(s, k);
    return kv ? kv->value : NULL;
}

static void test_expand(void) {
    cascade_job job;
    cascade_status st = parse("[block.res]\nfilters = 8\n"
                              "[block.res.c1]\ntype = conv2d\ninput = in\nfilters = ${filters}\nkernel = 3\n"
                              "[block.res.c2]\ntype = conv2d\nfilters = ${filters}\nkernel = 1\n"
                              "[block.res.sum]\ntype = add\ninput = in, c2\n"
                              "[model.stem]\ntype = dense\nunits = 4\n"
                              "[model.a]\ntype = res\n"
                              "[model.b]\ntype = res\nfilters = 32\n"
                              "[model.out]\ntype = dense\nunits = 1\n",
                              &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.n_layers, 8);
    CU_ASSERT_STRING_EQUAL(key(&job, "model.a-c1", "input"), "stem");    /* `in` = previous layer */
    CU_ASSERT_STRING_EQUAL(key(&job, "model.a-c1", "filters"), "8");     /* the default */
    CU_ASSERT_STRING_EQUAL(key(&job, "model.a-c2", "input"), "a-c1");    /* previous block layer */
    CU_ASSERT_STRING_EQUAL(key(&job, "model.a", "input"), "stem, a-c2"); /* the output keeps the name */
    CU_ASSERT_STRING_EQUAL(key(&job, "model.b-c1", "input"), "a");
    CU_ASSERT_STRING_EQUAL(key(&job, "model.b-c2", "filters"), "32");
    CU_ASSERT_PTR_NULL(key(&job, "block.res.c1", "type")); /* definitions removed */
    /* the job as run re-parses to the same layers */
    cascade_job again;
    CU_ASSERT_EQUAL_FATAL(cascade_job_parse(job.text, "again", NULL, 0, &again), CASCADE_OK);
    CU_ASSERT_EQUAL(again.n_layers, 8);
    cascade_job_free(&again);
    cascade_job_free(&job);
}

static void test_nested(void) {
    cascade_job job;
    cascade_status st = parse("[block.pair]\n[block.pair.d1]\ntype = dense\nunits = ${u}\n"
                              "[block.pair.d2]\ntype = dense\nunits = ${u}\n"
                              "[block.quad]\n[block.quad.p1]\ntype = pair\nu = ${w}\n[block.quad.p2]\ntype = pair\nu = ${w}\n"
                              "[model.q]\ntype = quad\nw = 5\n",
                              &job);
    if (st) printf("\n%s\n", cascade_errmsg());
    CU_ASSERT_EQUAL_FATAL(st, CASCADE_OK);
    CU_ASSERT_EQUAL(job.n_layers, 4);
    CU_ASSERT_STRING_EQUAL(key(&job, "model.q", "units"), "5");
    CU_ASSERT_STRING_EQUAL(key(&job, "model.q", "input"), "q-d1");   /* p2 output: its d2 after its d1 */
    CU_ASSERT_STRING_EQUAL(key(&job, "model.q-d1", "input"), "q-p1"); /* p2 reads p1 (output of p1) */
    CU_ASSERT_STRING_EQUAL(key(&job, "model.q-p1", "input"), "q-p1-d1");
    cascade_job_free(&job);
}

static void expect(const char *body, const char *a, const char *b) {
    cascade_job job;
    cascade_status st = parse(body, &job);
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    if (st == CASCADE_OK) {
        cascade_job_free(&job);
        return;
    }
    if (!strstr(cascade_errmsg(), a) || (b && !strstr(cascade_errmsg(), b))) printf("\nmessage: %s\n", cascade_errmsg());
    CU_ASSERT(strstr(cascade_errmsg(), a) != NULL);
    CU_ASSERT(!b || strstr(cascade_errmsg(), b) != NULL);
}

static void test_errors(void) {
    /* missing parameter: names the block layer's line and the instance */
    expect("[block.r.c]\ntype = dense\nunits = ${n}\n[model.x]\ntype = r\n", "blocks.ini:12", "'n'");
    /* an instance key that is no parameter */
    expect("[block.r.c]\ntype = dense\nunits = 3\n[model.x]\ntype = r\nunit = 4\n", "blocks.ini:15", "${unit}");
    /* a block layer reading something outside the block */
    expect("[block.r.c]\ntype = dense\nunits = 3\ninput = stem\n[model.x]\ntype = r\n", "blocks.ini:13", "stem");
    /* a block using itself */
    expect("[block.r.c]\ntype = r\n[model.x]\ntype = r\n", "nested deeper", NULL);
    /* `in` with nothing before the instance is fine only when the net has an input: the graph
       default applies to the first layer without an input key; an explicit `in` needs one */
    expect("[block.r.c]\ntype = dense\nunits = 3\ninput = in\n[model.x]\ntype = r\n", "`in`", NULL);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("blocks", NULL, NULL);
    CU_add_test(s, "expand", test_expand);
    CU_add_test(s, "nested", test_nested);
    CU_add_test(s, "errors", test_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
