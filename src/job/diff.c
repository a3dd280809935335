/* Resuming with a job file that is not the checkpoint's job (job.h, cascade_job_resume_check).
 *
 * Both jobs are compared key by key on their sections (blocks expanded, --set applied). A
 * difference in what the samples are or what the model is — [data] (but memory_budget_mb),
 * [job] kind / seed / nets, [train] batch / loss, any layer section — would continue the
 * checkpoint on other data or another model: refused, naming every such key, unless the
 * user gave that key with --set. Other differences (lr, epochs, cadences) are logged, and so is
 * a data file that moved (CONTRACT: a resumed run may change paths): same file name, other
 * directory. */
#include <stdio.h>
#include <string.h>

#include "cascade/cascade.h"
#include "job/job_internal.h"

static const char *const DATA_FREE[] = {"memory_budget_mb", NULL};
static const char *const JOB_BOUND[] = {"kind", "seed", "nets", NULL};
static const char *const TRAIN_BOUND[] = {"batch", "loss", NULL};

static int listed(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

/* 1 when a change of section.key changes the data or the model. */
static int binds(const char *section, const char *key) {
    if (strcmp(section, "data") == 0) return !listed(DATA_FREE, key);
    if (strcmp(section, "job") == 0) return listed(JOB_BOUND, key);
    if (strcmp(section, "train") == 0) return listed(TRAIN_BOUND, key);
    return !cascade_job_is_fixed_section(section); /* a layer */
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A data file given by another path with the same name (staged to scratch, moved). */
static int moved_file(const char *section, const char *key, const char *now, const char *then) {
    static const char *const FILES[] = {"train", "valid", "target", NULL};
    return now && then && strcmp(section, "data") == 0 && listed(FILES, key) &&
           strcmp(base_name(now), base_name(then)) == 0;
}

/* 1 when --set section.key=... is among the overrides. */
static int overridden(const char *section, const char *key, const char *const *sets, int n_sets) {
    size_t ls = strlen(section), lk = strlen(key);
    for (int i = 0; i < n_sets; i++) {
        const char *s = sets[i];
        while (*s == ' ') s++;
        if (strncmp(s, section, ls) == 0 && s[ls] == '.' && strncmp(s + ls + 1, key, lk) == 0 &&
            (s[ls + 1 + lk] == '=' || s[ls + 1 + lk] == ' '))
            return 1;
    }
    return 0;
}

static const char *value_of(cascade_job *job, const char *section, const char *key) {
    cascade_section *s = cascade_job_section(job, section);
    const cascade_kv *kv = s ? cascade_section_peek(s, key) : NULL;
    return kv ? kv->value : NULL;
}

typedef struct {
    char text[2][2048]; /* 0: refused, 1: logged */
    int n[2];
} diffs;

static void note(diffs *d, int bound, const char *section, const char *key, const char *now, const char *then) {
    char *t = d->text[!bound];
    size_t len = strlen(t);
    if (len + 8 >= sizeof d->text[0]) return;
    snprintf(t + len, sizeof d->text[0] - len, "%s[%s] %s = %s (checkpoint: %s)", d->n[!bound] ? "; " : "", section,
             key ? key : "", now ? now : "(not set)", then ? then : "(not set)");
    d->n[!bound]++;
}

/* Keys of `a` whose value differs in `b`; with `a_is_new` == 0 only the keys b lacks (so each
 * difference is noted once). A section that only one job has is noted as a whole. */
static void compare(cascade_job *a, cascade_job *b, int a_is_new, const char *const *sets, int n_sets, diffs *d) {
    for (int i = 0; i < a->n_sections; i++) {
        const cascade_section *s = &a->sections[i];
        if (!cascade_job_section(b, s->name)) {
            if (!cascade_job_is_fixed_section(s->name)) {
                note(d, 1, s->name, "type", a_is_new ? value_of(a, s->name, "type") : NULL,
                     a_is_new ? NULL : value_of(a, s->name, "type"));
                continue;
            }
        }
        for (int k = 0; k < s->nkv; k++) {
            const char *key = s->kv[k].key, *other = value_of(b, s->name, key);
            if (other && (!a_is_new || strcmp(other, s->kv[k].value) == 0)) continue; /* same, or seen */
            int bound = binds(s->name, key) && !overridden(s->name, key, sets, n_sets) &&
                        !moved_file(s->name, key, s->kv[k].value, other);
            if (a_is_new) note(d, bound, s->name, key, s->kv[k].value, other);
            else note(d, bound, s->name, key, NULL, s->kv[k].value);
        }
    }
}

cascade_status cascade_job_resume_check(cascade_job *job, const char *ckpt_job_text, const char *ckpt_path,
                                        const char *const *sets, int n_sets) {
    cascade_job old;
    char origin[CASCADE_PATH_MAX + 16];
    snprintf(origin, sizeof origin, "%s (its job)", ckpt_path);
    if (cascade_job_parse(ckpt_job_text, origin, NULL, 0, &old)) {
        cascade_clear_error(); /* a job this cascade cannot read: the checkpoint reader judges the file */
        return CASCADE_OK;
    }
    static diffs d; /* 4 KB: off the stack */
    memset(&d, 0, sizeof d);
    compare(job, &old, 1, sets, n_sets, &d);
    compare(&old, job, 0, sets, n_sets, &d);
    const char *old_name = value_of(&old, "job", "name");
    char name[160];
    snprintf(name, sizeof name, "%s", old_name ? old_name : "?");
    cascade_job_free(&old);
    if (d.n[0])
        return cascade_fail(CASCADE_EUSAGE,
                            "--resume %s: the checkpoint is of job '%s', which differs from %s in what changes the "
                            "data or the model: %s. Resume with the checkpoint's values, give the new ones with --set "
                            "SECTION.KEY=VALUE to resume anyway, or train into a new run directory (--init CKPT "
                            "loads the parameters only)",
                            ckpt_path, name, job->path[0] ? job->path : job->origin, d.text[0]);
    if (d.n[1]) cascade_log("resuming job '%s' of %s with changes: %s\n", name, ckpt_path, d.text[1]);
    return CASCADE_OK;
}
