/* CRC-32C of checkpoints (core/checksum.c): the published check values, chaining, the SSE4.2
 * and table paths agreeing at every length and alignment, and the shift that combines the
 * parts ranks write into the CRC of the whole. The escaping of non-printable bytes in error
 * messages (cascade_printable, applied by cascade_fail). */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/core.h"

static void test_check_values(void) {
    /* "123456789" (the CRC catalogue) and RFC 3720 B.4 (iSCSI) */
    CU_ASSERT_EQUAL(cascade_crc32c(0, "123456789", 9), 0xe3069283u);
    unsigned char b[32];
    memset(b, 0, sizeof b);
    CU_ASSERT_EQUAL(cascade_crc32c(0, b, 32), 0x8a9136aau);
    memset(b, 0xff, sizeof b);
    CU_ASSERT_EQUAL(cascade_crc32c(0, b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    CU_ASSERT_EQUAL(cascade_crc32c(0, b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
    CU_ASSERT_EQUAL(cascade_crc32c(0, b, 32), 0x113fdb5cu);
    CU_ASSERT_EQUAL(cascade_crc32c(0, b, 0), 0u);
    CU_ASSERT_EQUAL(cascade_crc32c_tables(0, "123456789", 9), 0xe3069283u);
}

static void test_paths_agree_and_chain(void) {
    enum { N = 4099 };
    unsigned char *buf = malloc(N + 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N + 8; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    int bad = 0;
    for (int off = 0; off < 8; off++)
        for (int n = 0; n <= 80; n++) bad += cascade_crc32c(0, buf + off, (size_t)n) !=
                                             cascade_crc32c_tables(0, buf + off, (size_t)n);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(cascade_crc32c(0, buf, N), cascade_crc32c_tables(0, buf, N));
    uint32_t whole = cascade_crc32c(0, buf, N);
    for (int cut = 0; cut <= N; cut += 37)
        bad += cascade_crc32c(cascade_crc32c(0, buf, (size_t)cut), buf + cut, (size_t)(N - cut)) != whole;
    CU_ASSERT_EQUAL(bad, 0);
    buf[1234] ^= 0x10; /* one flipped bit changes it */
    CU_ASSERT_NOT_EQUAL(cascade_crc32c(0, buf, N), whole);
    free(buf);
}

/* The writer's combination: XOR over parts of shift(crc(part), bytes after it). */
static void test_shift_combines_parts(void) {
    enum { N = 1000 };
    unsigned char buf[N];
    for (int i = 0; i < N; i++) buf[i] = (unsigned char)(i * 7 + 3);
    uint32_t whole = cascade_crc32c(0, buf, N);
    const int cuts[][4] = {{0, 0, 0, N}, {0, 1, 999, N}, {0, 333, 333, N}, {0, 500, 1000, N}, {0, 17, 640, N}};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        uint32_t x = 0;
        for (int p = 0; p < 3; p++) {
            int a = cuts[k][p], b = cuts[k][p + 1];
            x ^= cascade_crc32c_shift(cascade_crc32c(0, buf + a, (size_t)(b - a)), (uint64_t)(N - b));
        }
        CU_ASSERT_EQUAL(x, whole);
    }
    /* A followed by n zero bytes */
    unsigned char zeros[300] = {0};
    uint32_t a = cascade_crc32c(0, "abc", 3);
    CU_ASSERT_EQUAL(cascade_crc32c(a, zeros, 300) ^ cascade_crc32c(0, zeros, 300), cascade_crc32c_shift(a, 300));
    CU_ASSERT_EQUAL(cascade_crc32c_shift(a, 0), a);
    CU_ASSERT_EQUAL(cascade_crc32c_shift(0, 12345), 0u);
}

static void test_printable(void) {
    char out[256];
    CU_ASSERT_STRING_EQUAL(cascade_printable("plain /params/model ü µ", out, sizeof out), "plain /params/model ü µ");
    CU_ASSERT_STRING_EQUAL(cascade_printable("a\x1b[31mb\x7f\r", out, sizeof out), "a\\x1b[31mb\\x7f\\x0d");
    CU_ASSERT_STRING_EQUAL(cascade_printable("keep\n\ttabs", out, sizeof out), "keep\n\ttabs");
    /* invalid UTF-8: a lone continuation, a cut sequence, an overlong '/', a C1 control, a surrogate */
    CU_ASSERT_STRING_EQUAL(cascade_printable("\x80|\xc3|\xc0\xaf|\xc2\x85|\xed\xa0\x80", out, sizeof out),
                           "\\x80|\\xc3|\\xc0\\xaf|\\xc2\\x85|\\xed\\xa0\\x80");
    CU_ASSERT_STRING_EQUAL(cascade_printable(NULL, out, sizeof out), "");
    char small[7];
    CU_ASSERT_STRING_EQUAL(cascade_printable("ab\x01\x02", small, sizeof small), "ab\\x01"); /* whole escapes */
}

static void test_messages_are_printable(void) {
    cascade_fail(CASCADE_EDATA, "f.h5: no data set '%s'", "x\x1b]0;owned\x07y");
    CU_ASSERT_STRING_EQUAL(cascade_errmsg(), "f.h5: no data set 'x\\x1b]0;owned\\x07y'");
    cascade_error_context("resuming from %s: ", "r\x08un");
    CU_ASSERT_STRING_EQUAL(cascade_errmsg(), "resuming from r\\x08un: f.h5: no data set 'x\\x1b]0;owned\\x07y'");
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("checksum", NULL, NULL);
    CU_add_test(s, "check values", test_check_values);
    CU_add_test(s, "SSE4.2 and tables agree, chaining", test_paths_agree_and_chain);
    CU_add_test(s, "shift combines parts", test_shift_combines_parts);
    CU_add_test(s, "printable", test_printable);
    CU_add_test(s, "messages are printable", test_messages_are_printable);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
