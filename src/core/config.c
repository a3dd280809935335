/* Typed access to `key = value` sections with file:line error messages. */
#include "cascade/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

cascade_status cascade_section_set(cascade_section *s, const char *key, const char *value, int line) {
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, key) == 0) {
            char *v = dup_str(value);
            if (!v) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
            free(s->kv[i].value);
            s->kv[i].value = v;
            s->kv[i].line = line;
            return CASCADE_OK;
        }
    }
    if (s->nkv == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        cascade_kv *kv = realloc(s->kv, (size_t)cap * sizeof *kv);
        if (!kv) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
        s->kv = kv;
        s->cap = cap;
    }
    cascade_kv *kv = &s->kv[s->nkv];
    kv->key = dup_str(key);
    kv->value = dup_str(value);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    }
    kv->line = line;
    kv->used = 0;
    s->nkv++;
    return CASCADE_OK;
}

void cascade_section_free(cascade_section *s) {
    for (int i = 0; i < s->nkv; i++) {
        free(s->kv[i].key);
        free(s->kv[i].value);
    }
    free(s->kv);
    free(s->name);
    memset(s, 0, sizeof *s);
}

const cascade_kv *cascade_section_peek(const cascade_section *s, const char *key) {
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0) return &s->kv[i];
    return NULL;
}

cascade_kv *cascade_section_find(cascade_section *s, const char *key) {
    cascade_kv *kv = (cascade_kv *)cascade_section_peek(s, key);
    if (kv) kv->used = 1;
    return kv;
}

static void where(const cascade_section *s, int line, char *buf, size_t n) {
    if (line > 0)
        snprintf(buf, n, "%s:%d: [%s]", s->file ? s->file : "<job>", line, s->name);
    else
        snprintf(buf, n, "--set %s", s->name);
}

cascade_status cascade_cfg_error(const cascade_section *s, const cascade_kv *kv, const char *fmt, ...) {
    char loc[512], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (kv && kv->line <= 0) /* value from the command line */
        return cascade_fail(CASCADE_EUSAGE, "--set %s.%s=%s: %s", s->name, kv->key, kv->value, msg);
    if (kv) {
        where(s, kv->line, loc, sizeof loc);
        return cascade_fail(CASCADE_EUSAGE, "%s %s = %s: %s", loc, kv->key, kv->value, msg);
    }
    where(s, s->line, loc, sizeof loc);
    return cascade_fail(CASCADE_EUSAGE, "%s: %s", loc, msg);
}

static int parse_long(const char *t, long *out) {
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (errno || end == t || *end) return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *t, double *out) {
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    while (isspace((unsigned char)*end)) end++;
    if (errno || end == t || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

cascade_status cascade_cfg_int(cascade_section *s, const char *key, long dflt, long min, long max,
                               long *out) {
    cascade_kv *kv = cascade_section_find(s, key);
    if (!kv) {
        *out = dflt;
        return CASCADE_OK;
    }
    long v;
    if (!parse_long(kv->value, &v)) return cascade_cfg_error(s, kv, "not an integer");
    if (v < min || v > max)
        return cascade_cfg_error(s, kv, "must be between %ld and %ld", min, max);
    *out = v;
    return CASCADE_OK;
}

cascade_status cascade_cfg_double(cascade_section *s, const char *key, double dflt, double min,
                                  double max, double *out) {
    cascade_kv *kv = cascade_section_find(s, key);
    if (!kv) {
        *out = dflt;
        return CASCADE_OK;
    }
    double v;
    if (!parse_double(kv->value, &v)) return cascade_cfg_error(s, kv, "not a finite number");
    if (v < min || v > max) return cascade_cfg_error(s, kv, "must be between %g and %g", min, max);
    *out = v;
    return CASCADE_OK;
}

cascade_status cascade_cfg_bool(cascade_section *s, const char *key, int dflt, int *out) {
    static const char *const choices[] = {"false", "true", "no", "yes", "0", "1", "off", "on", NULL};
    int i;
    CASCADE_TRY(cascade_cfg_enum(s, key, choices, dflt, &i));
    *out = i & 1;
    return CASCADE_OK;
}

cascade_status cascade_cfg_enum(cascade_section *s, const char *key, const char *const *choices,
                                int dflt, int *out) {
    cascade_kv *kv = cascade_section_find(s, key);
    if (!kv) {
        *out = dflt;
        return CASCADE_OK;
    }
    for (int i = 0; choices[i]; i++) {
        if (strcmp(kv->value, choices[i]) == 0) {
            *out = i;
            return CASCADE_OK;
        }
    }
    char list[512] = "";
    for (int i = 0; choices[i]; i++) {
        strncat(list, i ? " | " : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    return cascade_cfg_error(s, kv, "expected one of: %s", list);
}

cascade_status cascade_cfg_string(cascade_section *s, const char *key, const char *dflt,
                                  const char **out) {
    cascade_kv *kv = cascade_section_find(s, key);
    *out = kv ? kv->value : dflt;
    return CASCADE_OK;
}

/* Splits a comma list into trimmed items; returns count or -1 for an empty item. */
static int split_list(const char *value, char items[][64], int maxn) {
    int n = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        if (len == 0 || len >= 64 || n == maxn) return -1 - (n == maxn);
        memcpy(items[n], p, len);
        items[n][len] = 0;
        n++;
        if (!comma) return n;
        p = comma + 1;
    }
}

/* The comma-separated items of a key (up to 16); *cnt = 0 when the key is absent. */
static cascade_status key_items(cascade_section *s, const char *key, int maxn, char items[][64], cascade_kv **kv,
                                int *cnt) {
    *kv = cascade_section_find(s, key);
    *cnt = 0;
    if (!*kv) return CASCADE_OK;
    *cnt = split_list((*kv)->value, items, maxn < 16 ? maxn : 16);
    if (*cnt == -2) return cascade_cfg_error(s, *kv, "at most %d values", maxn);
    if (*cnt < 0) return cascade_cfg_error(s, *kv, "empty or overlong item in the list");
    return CASCADE_OK;
}

cascade_status cascade_cfg_intlist(cascade_section *s, const char *key, int maxn, long min, long max,
                                   long *out, int *n) {
    char items[16][64];
    cascade_kv *kv;
    int cnt;
    *n = 0;
    CASCADE_TRY(key_items(s, key, maxn, items, &kv, &cnt));
    for (int i = 0; i < cnt; i++) {
        if (!parse_long(items[i], &out[i]))
            return cascade_cfg_error(s, kv, "'%s' is not an integer", items[i]);
        if (out[i] < min || out[i] > max)
            return cascade_cfg_error(s, kv, "values must be between %ld and %ld", min, max);
    }
    *n = cnt;
    return CASCADE_OK;
}

cascade_status cascade_cfg_doublelist(cascade_section *s, const char *key, int maxn, double *out,
                                      int *n) {
    char items[16][64];
    cascade_kv *kv;
    int cnt;
    *n = 0;
    CASCADE_TRY(key_items(s, key, maxn, items, &kv, &cnt));
    for (int i = 0; i < cnt; i++)
        if (!parse_double(items[i], &out[i]))
            return cascade_cfg_error(s, kv, "'%s' is not a finite number", items[i]);
    *n = cnt;
    return CASCADE_OK;
}

cascade_status cascade_cfg_namelist(cascade_section *s, const char *key, int maxn, char (*out)[64],
                                    int *n) {
    cascade_kv *kv = cascade_section_find(s, key);
    *n = 0;
    if (!kv) return CASCADE_OK;
    int cnt = split_list(kv->value, out, maxn);
    if (cnt == -2) return cascade_cfg_error(s, kv, "at most %d names", maxn);
    if (cnt < 0) return cascade_cfg_error(s, kv, "empty or overlong name in the list");
    *n = cnt;
    return CASCADE_OK;
}

cascade_status cascade_cfg_check_unused(const cascade_section *s) {
    for (int i = 0; i < s->nkv; i++) {
        if (!s->kv[i].used) {
            char loc[512];
            if (s->kv[i].line > 0)
                snprintf(loc, sizeof loc, "%s:%d", s->file ? s->file : "<job>", s->kv[i].line);
            else
                snprintf(loc, sizeof loc, "--set %s.%s", s->name, s->kv[i].key);
            return cascade_fail(CASCADE_EUSAGE, "%s: unknown key '%s' in [%s]", loc, s->kv[i].key,
                                s->name);
        }
    }
    return CASCADE_OK;
}
