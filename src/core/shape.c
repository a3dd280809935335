/* Per-sample tensor shapes (row-major, channels first). */
#include "cascade/core.h"

#include <stdio.h>
#include <string.h>

cascade_shape cascade_shape_make(int ndim, const int64_t *dims) {
    cascade_shape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim;
    for (int i = 0; i < ndim && i < CASCADE_MAX_DIMS; i++) s.d[i] = dims[i];
    return s;
}

int64_t cascade_shape_numel(const cascade_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

int cascade_shape_equal(const cascade_shape *a, const cascade_shape *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

char *cascade_shape_str(const cascade_shape *s, char *buf, size_t n) {
    size_t used = 0;
    if (n == 0) return buf;
    buf[0] = 0;
    used += (size_t)snprintf(buf + used, n - used, "(");
    for (int i = 0; i < s->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)s->d[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
    return buf;
}
