/* JSON text for the metrics files: strings escaped as RFC 8259 asks (quote, backslash and the
 * control characters), numbers that are not finite written as null. Paths and data-set names
 * come from users and may hold any of these. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cascade/core.h"

/* Writes the escaped form of one byte into out (at most 7 bytes: \u00XX and a NUL); returns
 * its length. Bytes ≥ 0x80 pass through: UTF-8 is valid JSON text. */
static int escape_byte(unsigned char c, char out[8]) {
    switch (c) {
    case '"': return snprintf(out, 8, "\\\"");
    case '\\': return snprintf(out, 8, "\\\\");
    case '\n': return snprintf(out, 8, "\\n");
    case '\r': return snprintf(out, 8, "\\r");
    case '\t': return snprintf(out, 8, "\\t");
    case '\b': return snprintf(out, 8, "\\b");
    case '\f': return snprintf(out, 8, "\\f");
    default:
        if (c < 0x20) return snprintf(out, 8, "\\u%04x", c);
        out[0] = (char)c, out[1] = '\0';
        return 1;
    }
}

size_t cascade_json_string(char *buf, size_t n, const char *s) {
    /* used: the length the whole text needs; written: what fits in buf, whole escapes only */
    size_t used = 0, written = 0;
    int full = 0;
    char piece[8];
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (int i = -1;; i++) {
        int len;
        if (i < 0)
            len = snprintf(piece, sizeof piece, "\"");
        else if (p[i])
            len = escape_byte(p[i], piece);
        else
            len = snprintf(piece, sizeof piece, "\"");
        if (!full && written + (size_t)len < n) {
            memcpy(buf + written, piece, (size_t)len);
            written += (size_t)len;
        } else {
            full = 1;
        }
        used += (size_t)len;
        if (i >= 0 && !p[i]) break;
    }
    if (n) buf[written] = '\0';
    return used;
}

void cascade_json_fputs(FILE *f, const char *s) {
    char piece[8];
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        escape_byte(*p, piece);
        fputs(piece, f);
    }
    fputc('"', f);
}
