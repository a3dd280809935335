/* Blocks: sub-networks defined once and instantiated many times (residual units, inception
 * modules, separable blocks), expanded into plain layer sections before validation.
 *
 *   [block.res]            ; optional: default values of the block's parameters
 *   filters = 16
 *   [block.res.c1]         ; the block's layers in order; `in` is the instance's input
 *   type = conv2d
 *   input = in
 *   filters = ${filters}
 *   ...
 *   [block.res.sum]        ; the last layer is the block's output
 *   type = add
 *   input = in, bn2
 *
 *   [model.res1]           ; an instance: type = the block; other keys set its parameters
 *   type = res
 *   filters = 32
 *
 * An instance INST of a block with layers L1..Lk becomes the sections [NET.INST-L1] ...
 * [NET.INST-L(k-1)] and [NET.INST] (the last one keeps the instance's name, so `input = INST`
 * and the default "previous layer" refer to the block's output). `in` stands for the
 * instance's `input` (default: the previous layer). ${name} in any value is replaced by the
 * instance's value or the block's default. Blocks may use blocks. Errors name the file:line
 * of the block definition or of the instance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job_internal.h"

#define MAX_BLOCK_DEPTH 8

/* "block.NAME" -> NAME, "block.NAME.LAYER" -> NAME and LAYER */
static int block_parts(const char *section, char *name, char *layer) {
    if (strncmp(section, "block.", 6) != 0) return 0;
    const char *rest = section + 6, *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
    if (n == 0 || n >= 64) return 0;
    memcpy(name, rest, n);
    name[n] = 0;
    snprintf(layer, 64, "%s", dot ? dot + 1 : "");
    return 1;
}

/* The distinct block names of the job (definitions are not created by expansion, so one list
 * serves every pass): a malloc'd array of n names of 64 bytes, NULL + *n = 0 when none. */
static char (*block_names(const cascade_job *job, int *n))[64] {
    char (*names)[64] = NULL, name[64], layer[64];
    int count = 0, cap = 0;
    *n = 0;
    for (int i = 0; i < job->n_sections; i++) {
        if (!block_parts(job->sections[i].name, name, layer)) continue;
        int k = 0;
        while (k < count && strcmp(names[k], name) != 0) k++;
        if (k < count) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            char (*grown)[64] = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) {
                free(names);
                *n = -1;
                return NULL;
            }
            names = grown;
        }
        memcpy(names[count++], name, 64);
    }
    *n = count;
    return names;
}

static int in_names(char (*names)[64], int n, const char *type) {
    for (int k = 0; k < n; k++)
        if (strcmp(names[k], type) == 0) return 1;
    return 0;
}

/* Substitutes ${param} in value from the instance (marking its keys used) or the defaults. */
static cascade_status substitute(const char *value, cascade_section *inst, cascade_section *defaults,
                                 const cascade_section *where, const cascade_kv *wkv, char *out, size_t cap) {
    size_t used = 0;
    for (const char *p = value; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p, '}');
            if (!end || end - p - 2 >= 64) return cascade_cfg_error(where, wkv, "unterminated ${...}");
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(end - p - 2), p + 2);
            cascade_kv *kv = cascade_section_find(inst, key);
            if (!kv && defaults) kv = cascade_section_find(defaults, key);
            if (!kv)
                return cascade_cfg_error(where, wkv, "block parameter '%s' is set neither by the instance [%s] "
                                         "(%s:%d) nor by a default in [block.%s]", key, inst->name,
                                         inst->file ? inst->file : "<job>", inst->line, key);
            used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s", kv->value);
            p = end + 1;
        } else {
            if (used + 1 < cap) out[used] = *p;
            used++;
            p++;
        }
    }
    if (used >= cap) return cascade_cfg_error(where, wkv, "value too long after substitution");
    out[used] = 0;
    return CASCADE_OK;
}

/* Rewrites an `input` list of a block layer for instance `inst` of net `net`. */
static cascade_status rewrite_inputs(const char *value, const char *inst_input, const char *inst, char layers[][64],
                                     int n_layers, const cascade_section *where, const cascade_kv *wkv, char *out,
                                     size_t cap) {
    size_t used = 0;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", value);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ' || *tok == '\t') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        char name[160] = "";
        if (strcmp(tok, "in") == 0) {
            if (!inst_input)
                return cascade_cfg_error(where, wkv, "`in` of the first block layer needs a layer before the "
                                         "instance [%s] or an `input` key there", inst);
            snprintf(name, sizeof name, "%s", inst_input);
        } else {
            int k = 0;
            while (k < n_layers && strcmp(layers[k], tok) != 0) k++;
            if (k == n_layers)
                return cascade_cfg_error(where, wkv, "a block layer reads `in` or the block's own layers, not '%s'",
                                         tok);
            if (k == n_layers - 1)
                snprintf(name, sizeof name, "%s", inst);
            else
                snprintf(name, sizeof name, "%s-%s", inst, layers[k]);
        }
        used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%s", used ? ", " : "", name);
    }
    if (used >= cap) return cascade_cfg_error(where, wkv, "input list too long");
    return CASCADE_OK;
}

/* Expands instance section `at`; the replacement sections take its place. */
static cascade_status expand(cascade_job *job, int at, const char *block) {
    cascade_section *inst = &job->sections[at];
    char net[64], inst_name[64];
    const char *dot = strchr(inst->name, '.');
    snprintf(net, sizeof net, "%.*s", (int)(dot - inst->name), inst->name);
    snprintf(inst_name, sizeof inst_name, "%s", dot + 1);
    /* the block's layers (file order) and defaults */
    int idx[64], n = 0, defaults = -1;
    char layers[64][64];
    for (int i = 0; i < job->n_sections; i++) {
        char name[64], layer[64];
        if (!block_parts(job->sections[i].name, name, layer) || strcmp(name, block) != 0) continue;
        if (!layer[0]) {
            defaults = i;
        } else {
            if (n == 64) return cascade_cfg_error(&job->sections[i], NULL, "a block has at most 64 layers");
            idx[n] = i;
            snprintf(layers[n++], 64, "%s", layer);
        }
    }
    if (n == 0)
        return cascade_cfg_error(inst, cascade_section_find(inst, "type"), "block '%s' has no layers [block.%s.NAME]",
                                 block, block);
    /* the instance's input: its `input` key, else the previous layer of its net */
    char inst_input[512] = "";
    cascade_kv *in_kv = cascade_section_find(inst, "input");
    if (in_kv) {
        snprintf(inst_input, sizeof inst_input, "%s", in_kv->value);
    } else {
        for (int i = at - 1; i >= 0 && !inst_input[0]; i--) {
            const char *d = strchr(job->sections[i].name, '.');
            if (d && (size_t)(d - job->sections[i].name) == strlen(net) &&
                strncmp(job->sections[i].name, net, strlen(net)) == 0)
                snprintf(inst_input, sizeof inst_input, "%s", d + 1);
        }
    }
    cascade_section_find(inst, "type"); /* not a parameter */
    /* the new sections go right after the instance, which is dropped at the end */
    cascade_status st = CASCADE_OK;
    int pos = at + 1;
    for (int k = 0; k < n && !st; k++) {
        char sname[192];
        if (k == n - 1)
            snprintf(sname, sizeof sname, "%s.%s", net, inst_name);
        else
            snprintf(sname, sizeof sname, "%s.%s-%s", net, inst_name, layers[k]);
        if (strlen(strchr(sname, '.') + 1) > 63) {
            st = cascade_cfg_error(&job->sections[at], NULL, "layer name %s is longer than 63 characters", sname);
            break;
        }
        int ni = cascade_job_add_section(job, sname, job->sections[idx[k]].line, pos);
        if (ni < 0) {
            st = CASCADE_EINTERNAL;
            break;
        }
        for (int m = 0; m < n; m++) /* sections at or after pos moved by one */
            if (idx[m] >= pos) idx[m]++;
        if (defaults >= pos) defaults++;
        int src_i = idx[k];
        cascade_section *src = &job->sections[src_i], *dst = &job->sections[ni];
        cascade_section *inst_s = &job->sections[at];
        cascade_section *def_s = defaults >= 0 ? &job->sections[defaults] : NULL;
        dst->file = src->file;
        int has_input = 0;
        for (int q = 0; q < src->nkv && !st; q++) {
            cascade_kv *kv = &src->kv[q];
            char value[1024];
            st = substitute(kv->value, inst_s, def_s, src, kv, value, sizeof value);
            if (!st && strcmp(kv->key, "input") == 0) {
                char rewritten[1024];
                has_input = 1;
                st = rewrite_inputs(value, inst_input[0] ? inst_input : NULL, inst_name, layers, n, src, kv,
                                    rewritten, sizeof rewritten);
                if (!st) st = cascade_section_set(dst, "input", rewritten, kv->line);
            } else if (!st) {
                st = cascade_section_set(dst, kv->key, value, kv->line);
            }
        }
        if (!st && !has_input && k > 0) { /* default: the previous layer of the block */
            char prev[160];
            snprintf(prev, sizeof prev, "%s-%s", inst_name, layers[k - 1]);
            st = cascade_section_set(dst, "input", prev, src->line);
        } else if (!st && !has_input && k == 0 && in_kv) {
            st = cascade_section_set(dst, "input", inst_input, in_kv->line);
        }
        pos++;
    }
    if (!st) { /* every instance key must have been a parameter */
        cascade_section *inst_s = &job->sections[at];
        for (int q = 0; q < inst_s->nkv; q++)
            if (!inst_s->kv[q].used)
                st = cascade_cfg_error(inst_s, &inst_s->kv[q], "block '%s' has no parameter ${%s}", block,
                                       inst_s->kv[q].key);
    }
    if (st) return st;
    /* drop the instance section */
    cascade_section_free(&job->sections[at]);
    memmove(&job->sections[at], &job->sections[at + 1], (size_t)(job->n_sections - at - 1) * sizeof *job->sections);
    job->n_sections--;
    return CASCADE_OK;
}

/* Files without blocks cost one pass; each block instance costs O(sections) (its expansion
 * inserts sections in place). */
cascade_status cascade_job_expand_blocks(cascade_job *job) {
    int n_blocks;
    char (*blocks)[64] = block_names(job, &n_blocks);
    if (n_blocks < 0) return cascade_fail(CASCADE_EINTERNAL, "out of memory listing the job's blocks");
    cascade_status st = CASCADE_OK;
    for (int depth = 0; n_blocks && !st; depth++) {
        int expanded = 0;
        for (int i = 0; i < job->n_sections; i++) {
            cascade_section *s = &job->sections[i];
            char bn[64], bl[64];
            if (block_parts(s->name, bn, bl) || cascade_job_is_fixed_section(s->name) || !strchr(s->name, '.') ||
                strncmp(s->name, "optimizer.", 10) == 0)
                continue;
            const cascade_kv *type = cascade_section_peek(s, "type");
            if (!type || !in_names(blocks, n_blocks, type->value)) continue;
            if (depth == MAX_BLOCK_DEPTH) {
                st = cascade_cfg_error(s, type, "blocks nested deeper than %d (a block using itself?)",
                                       MAX_BLOCK_DEPTH);
                break;
            }
            char block[64];
            snprintf(block, sizeof block, "%s", type->value);
            if ((st = expand(job, i, block))) break;
            expanded = 1;
            break; /* indices moved: rescan */
        }
        if (!expanded) break;
    }
    free(blocks);
    if (st) return st;
    /* the definitions are no longer needed: one compacting pass */
    int kept = 0;
    for (int i = 0; i < job->n_sections; i++) {
        char bn[64], bl[64];
        if (block_parts(job->sections[i].name, bn, bl)) cascade_section_free(&job->sections[i]);
        else job->sections[kept++] = job->sections[i];
    }
    job->n_sections = kept;
    return CASCADE_OK;
}
