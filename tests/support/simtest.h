/* Simulator test helpers. */
#ifndef CASCADE_TEST_SIMTEST_H
#define CASCADE_TEST_SIMTEST_H

#include "sim/sim.h"

/* Configures a kind from "key", "value" pairs (NULL-terminated; a NULL value is a bare flag).
 * *all_used (if given) tells whether the kind consumed every option, as the CLI requires. */
cascade_status simtest_configure(const sim_kind *k, void *cfg, const char *const *kv, int *all_used);

#endif
