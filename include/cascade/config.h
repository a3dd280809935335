/* Sections of `key = value` lines with their file and line, and typed getters that
 * produce errors naming file:line, section and key. Used by the job parser (all sections)
 * and by the ops (their own layer sections). Free of libinih: the parser fills these. */
#ifndef CASCADE_CONFIG_H
#define CASCADE_CONFIG_H

#include "cascade/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *key, *value;
    int line; /* 1-based line in `file` */
    int used; /* set by the getters; unused keys are errors */
} cascade_kv;

typedef struct {
    char *name;       /* "train", "optimizer.critic", "model.conv1" */
    const char *file; /* job file path (not owned) */
    int line;         /* line of the [section] header, 0 if made by --set */
    int nkv, cap;
    cascade_kv *kv;
} cascade_section;

/* Adds or replaces key (a later value wins, keeping the later line). */
cascade_status cascade_section_set(cascade_section *s, const char *key, const char *value, int line);
void cascade_section_free(cascade_section *s);
/* Finds a key and marks it used; NULL when absent. */
cascade_kv *cascade_section_find(cascade_section *s, const char *key);
/* Looks without marking. */
const cascade_kv *cascade_section_peek(const cascade_section *s, const char *key);

/* Typed getters: absent key -> default; present but malformed/out of range -> CASCADE_EUSAGE
 * with "FILE:LINE: [SECTION] KEY = VALUE: reason". */
cascade_status cascade_cfg_int(cascade_section *s, const char *key, long dflt, long min, long max,
                               long *out);
cascade_status cascade_cfg_double(cascade_section *s, const char *key, double dflt, double min,
                                  double max, double *out);
cascade_status cascade_cfg_bool(cascade_section *s, const char *key, int dflt, int *out);
/* choices: NULL-terminated list; *out = index of the match (dflt when absent). */
cascade_status cascade_cfg_enum(cascade_section *s, const char *key, const char *const *choices,
                                int dflt, int *out);
/* String (not copied: valid while the section lives); dflt may be NULL. */
cascade_status cascade_cfg_string(cascade_section *s, const char *key, const char *dflt,
                                  const char **out);
/* Comma list of integers, 1..maxn entries, each in [min, max]; absent -> *n = 0. */
cascade_status cascade_cfg_intlist(cascade_section *s, const char *key, int maxn, long min, long max,
                                   long *out, int *n);
/* Comma list of doubles, 1..maxn entries; absent -> *n = 0. */
cascade_status cascade_cfg_doublelist(cascade_section *s, const char *key, int maxn, double *out,
                                      int *n);
/* Comma list of names (trimmed, copied into out[i] of cap bytes); absent -> *n = 0. */
cascade_status cascade_cfg_namelist(cascade_section *s, const char *key, int maxn, char (*out)[64],
                                    int *n);
/* First key not marked used -> CASCADE_EUSAGE "FILE:LINE: unknown key 'K' in [SECTION]". */
cascade_status cascade_cfg_check_unused(const cascade_section *s);
/* Error for a key's value with location; returns CASCADE_EUSAGE. */
cascade_status cascade_cfg_error(const cascade_section *s, const cascade_kv *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
