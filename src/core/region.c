/* Compute regions outside a simulator: every body runs, nothing is charged (see region.h). */
#include "core/region.h"

#include "cascade/core.h"

int cascade_region_begin(const char *kind, const char *name, int64_t n, int skippable) {
    (void)kind, (void)name, (void)n, (void)skippable;
    return 1;
}

void cascade_region_end(void) {}

void *cascade_region_alloc(size_t bytes, const char *what) { return cascade_alloc(bytes, what); }

void cascade_region_free(void *p) { cascade_free(p); }
