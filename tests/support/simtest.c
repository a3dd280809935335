/* Simulator test helpers (see simtest.h). */
#include "simtest.h"

cascade_status simtest_configure(const sim_kind *k, void *cfg, const char *const *kv, int *all_used) {
    sim_options o = {0};
    for (int i = 0; kv && kv[i] && o.n < SIM_MAX_OPTIONS; i += 2, o.n++) {
        o.opt[o.n].key = kv[i];
        o.opt[o.n].value = kv[i + 1];
    }
    cascade_status st = k->configure(cfg, &o);
    if (all_used) {
        *all_used = 1;
        for (int i = 0; i < o.n; i++) *all_used &= o.opt[i].used;
    }
    return st;
}
