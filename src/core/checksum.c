/* CRC-32C of checkpoints (docs/hdf5.md "Checksums"), its shift for combining parts, and the
 * escaping of non-printable bytes in messages. */
#include "cascade/core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t table[8][256]; /* slicing by 8: table[k][b] = CRC of b followed by k zero bytes */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++) table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
}

static uint32_t crc_tables(uint32_t c, const unsigned char *p, size_t n) {
    pthread_once(&table_once, make_table);
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
    }
    while (n--) c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const unsigned char *p, size_t n) {
    uint64_t c64 = c;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* x86 is little-endian: the bytes in file order */
        c64 = _mm_crc32_u64(c64, v);
    }
    c = (uint32_t)c64;
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}
static int have_sse42(void) {
    static int known = -1; /* benign: every thread computes the same */
    if (known < 0) known = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    return known;
}
#endif

uint32_t cascade_crc32c_tables(uint32_t crc, const void *data, size_t n) { return ~crc_tables(~crc, data, n); }

uint32_t cascade_crc32c(uint32_t crc, const void *data, size_t n) {
    uint32_t c = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_sse42()) return ~crc_sse42(c, data, n);
#endif
    return ~crc_tables(c, data, n);
}

/* a * b modulo the polynomial (reflected bit order; zlib's multmodp). a != 0. */
static uint32_t multmodp(uint32_t a, uint32_t b) {
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return p;
}

uint32_t cascade_crc32c_shift(uint32_t crc, uint64_t n) {
    /* crc * x^(8n): x^(2^k) for the bits of 8n, by repeated squaring */
    uint32_t x2k = 1u << 30, power = 1u << 31; /* x^1, x^0 */
    for (int k = 0; k < 3; k++) x2k = multmodp(x2k, x2k); /* x^8: one byte */
    for (; n; n >>= 1, x2k = multmodp(x2k, x2k))
        if (n & 1) power = multmodp(x2k, power);
    return multmodp(power, crc);
}

/* Length of a well-formed UTF-8 sequence at p of a printable code point (>= U+00A0, not a
 * surrogate), else 0. */
static int utf8_printable(const unsigned char *p) {
    int len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? (p[0] < 0xf0 ? 3 : 0) : p[0] >= 0xc2 ? 2 : 0;
    if (!len) return 0;
    uint32_t cp = p[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    int shortest = len == 2 ? cp >= 0x80 : len == 3 ? cp >= 0x800 : cp >= 0x10000;
    if (!shortest || cp < 0xa0 || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff) return 0;
    return len;
}

char *cascade_printable(const char *in, char *out, size_t cap) {
    if (!cap) return out;
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p) {
        int len = *p >= 0x80 ? utf8_printable(p) : (*p >= 0x20 && *p < 0x7f) || *p == '\n' || *p == '\t';
        if (len) {
            if (k + (size_t)len >= cap) break;
            memcpy(out + k, p, (size_t)len);
            k += (size_t)len, p += len;
        } else {
            if (k + 4 >= cap) break;
            snprintf(out + k, 5, "\\x%02x", *p++);
            k += 4;
        }
    }
    out[k] = 0;
    return out;
}
