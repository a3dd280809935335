/* Bump allocator for activations: sized once per batch shape, reset between uses. */
#include "cascade/core.h"
#include "core/region.h"

#include <string.h>

cascade_status cascade_arena_init(cascade_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->base = cascade_region_alloc(bytes, "activation arena");
    if (!a->base) return CASCADE_EINTERNAL;
    a->size = bytes;
    return CASCADE_OK;
}

void *cascade_arena_alloc(cascade_arena *a, size_t bytes) {
    size_t start = (a->used + 63) / 64 * 64;
    size_t need = (bytes + 63) / 64 * 64;
    if (start + need > a->size) {
        cascade_fail(CASCADE_EINTERNAL, "arena of %zu bytes cannot hold %zu more bytes", a->size,
                     bytes);
        return NULL;
    }
    a->used = start + need;
    return a->base + start;
}

void cascade_arena_reset(cascade_arena *a) { a->used = 0; }

void cascade_arena_free(cascade_arena *a) {
    cascade_region_free(a->base);
    memset(a, 0, sizeof *a);
}
