/* Simulator options (`--key value` / `--flag`) and the registry from sims.def. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define SIM_KIND(id) extern const sim_kind sim_kind_##id;
#include "sims.def"
#undef SIM_KIND

static const sim_kind *const all_kinds[] = {
#define SIM_KIND(id) &sim_kind_##id,
#include "sims.def"
#undef SIM_KIND
    NULL};

const sim_kind *sim_find(const char *kind) {
    for (int i = 0; all_kinds[i]; i++)
        if (strcmp(all_kinds[i]->kind, kind) == 0) return all_kinds[i];
    return NULL;
}

const char *sim_kinds(void) {
    static char list[256];
    list[0] = 0;
    for (int i = 0; all_kinds[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " | " : "", all_kinds[i]->kind);
    return list;
}

static int find(sim_options *o, const char *key) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->opt[i].key, key) == 0) {
            o->opt[i].used = 1;
            return i;
        }
    return -1;
}

cascade_status sim_opt_double(sim_options *o, const char *key, double dflt, double min, double max, double *out) {
    int i = find(o, key);
    *out = dflt;
    if (i < 0) return CASCADE_OK;
    const char *v = o->opt[i].value;
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || errno || end == v || *end)
        return cascade_fail(CASCADE_EUSAGE, "--%s needs a number, got '%s'", key, v ? v : "");
    if (x < min || x > max) return cascade_fail(CASCADE_EUSAGE, "--%s %s: must be between %g and %g", key, v, min, max);
    *out = x;
    return CASCADE_OK;
}

cascade_status sim_opt_int(sim_options *o, const char *key, long dflt, long min, long max, long *out) {
    int i = find(o, key);
    *out = dflt;
    if (i < 0) return CASCADE_OK;
    const char *v = o->opt[i].value;
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || end == v || *end)
        return cascade_fail(CASCADE_EUSAGE, "--%s needs an integer, got '%s'", key, v ? v : "");
    if (x < min || x > max)
        return cascade_fail(CASCADE_EUSAGE, "--%s %s: must be between %ld and %ld", key, v, min, max);
    *out = x;
    return CASCADE_OK;
}

cascade_status sim_opt_enum(sim_options *o, const char *key, const char *const *choices, int dflt, int *out) {
    int i = find(o, key);
    *out = dflt;
    if (i < 0) return CASCADE_OK;
    const char *v = o->opt[i].value;
    for (int k = 0; v && choices[k]; k++)
        if (strcmp(v, choices[k]) == 0) {
            *out = k;
            return CASCADE_OK;
        }
    char list[256] = "";
    for (int k = 0; choices[k]; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? "|" : "", choices[k]);
    return cascade_fail(CASCADE_EUSAGE, "--%s %s: expected one of %s", key, v ? v : "(nothing)", list);
}

cascade_status sim_opt_flag(sim_options *o, const char *key, int *out) {
    int i = find(o, key);
    *out = i >= 0;
    if (i >= 0 && o->opt[i].value)
        return cascade_fail(CASCADE_EUSAGE, "--%s is a flag and takes no value (got '%s')", key, o->opt[i].value);
    return CASCADE_OK;
}
