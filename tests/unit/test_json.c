/* JSON strings in the metrics files: user paths with quotes, backslashes and control
 * characters come out as valid, reversible JSON; a short buffer is cut but terminated and the
 * needed length reported. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/core.h"

static void test_escapes(void) {
    char buf[128];
    size_t n = cascade_json_string(buf, sizeof buf, "runs/a\"b\\c\n\t\x01/ü.h5");
    CU_ASSERT_STRING_EQUAL(buf, "\"runs/a\\\"b\\\\c\\n\\t\\u0001/ü.h5\"");
    CU_ASSERT_EQUAL(n, strlen(buf));
    cascade_json_string(buf, sizeof buf, NULL);
    CU_ASSERT_STRING_EQUAL(buf, "\"\"");
}

static void test_short_buffer(void) {
    char buf[6];
    size_t n = cascade_json_string(buf, sizeof buf, "abc\"def");
    CU_ASSERT_EQUAL(n, strlen("\"abc\\\"def\""));
    CU_ASSERT_STRING_EQUAL(buf, "\"abc"); /* whole escapes only: \" does not fit */
}

static void test_file_matches_buffer(void) {
    const char *s = "x\"y\r\b\f\\z";
    char want[64], got[64] = {0};
    cascade_json_string(want, sizeof want, s);
    FILE *f = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    cascade_json_fputs(f, s);
    rewind(f);
    CU_ASSERT_PTR_NOT_NULL(fgets(got, sizeof got, f));
    fclose(f);
    CU_ASSERT_STRING_EQUAL(got, want);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("json", NULL, NULL);
    CU_add_test(s, "escapes", test_escapes);
    CU_add_test(s, "short buffer", test_short_buffer);
    CU_add_test(s, "file matches buffer", test_file_matches_buffer);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
