/* Thread-local error message with context, and checked aligned allocation. */
#include "cascade/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_CAP 2048
static _Thread_local char message[MSG_CAP];

cascade_status cascade_fail(cascade_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char raw[MSG_CAP];
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    cascade_printable(raw, message, sizeof message); /* names and strings from files may hold any byte */
    return code;
}

void cascade_error_context(const char *fmt, ...) {
    char prefix[512], old[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    char raw[512];
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    cascade_printable(raw, prefix, sizeof prefix);
    memcpy(old, message, sizeof old);
    size_t plen = strlen(prefix);
    if (plen >= MSG_CAP) plen = MSG_CAP - 1;
    memcpy(message, prefix, plen);
    size_t olen = strnlen(old, MSG_CAP - 1 - plen);
    memcpy(message + plen, old, olen);
    message[plen + olen] = 0;
}

const char *cascade_errmsg(void) { return message[0] ? message : "unknown error"; }
void cascade_clear_error(void) { message[0] = 0; }

void *cascade_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    size_t n = bytes ? (bytes + 63) / 64 * 64 : 64;
    if (posix_memalign(&p, 64, n) != 0 || !p) {
        cascade_fail(CASCADE_EINTERNAL, "out of memory allocating %zu bytes for %s", bytes,
                     what ? what : "a buffer");
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

void cascade_free(void *p) { free(p); }
