/* Job files: INI text -> sections with the file:line of every key, then the --set overrides,
 * the validation into typed fields (validate.c) and the canonical text of the job as run
 * (job->text, written to RUNDIR/job.ini and into checkpoints).
 *
 * libinih splits the lines into sections and `key = value` pairs; it is fed by our own line
 * reader because the packaged library does not pass line numbers to the handler. The reader
 * also makes the result independent of how libinih was built: it removes comments itself,
 * rejects continuation lines (an indented line after a key), keeps section names of any
 * length (libinih truncates them to 49 characters) and hands over values longer than
 * libinih's line buffer (200 bytes by default) outside that buffer. */
#include "cascade/job.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fsops.h"
#include "job/job_internal.h"

typedef struct {
    cascade_job *job;
    const char *text;
    size_t pos, len;
    int line;               /* lines handed to libinih so far = its line number */
    int section;            /* index of the current section in job->sections, -1 before any */
    char last_key[64];      /* the current section's last key and its line (0: none yet) */
    int last_key_line;
    char *raw;              /* the current line, NUL-terminated, without its newline */
    size_t raw_cap;
    const char *long_value; /* value of the current line when it is too long for libinih */
    cascade_status status;  /* first error found by the reader or the handler */
    int error_line;
    int *seen;              /* hash set of section indices by name (open addressing, -1 empty) */
    size_t seen_cap;
} line_reader;

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

cascade_section *cascade_job_section(cascade_job *job, const char *name) {
    for (int i = 0; i < job->n_sections; i++)
        if (strcmp(job->sections[i].name, name) == 0) return &job->sections[i];
    return NULL;
}

int cascade_job_add_section(cascade_job *job, const char *name, int line, int at) {
    int n = job->n_sections;
    /* capacity doubles at powers of two (reading stays linear in the sections) */
    int full = n >= 8 && (n & (n - 1)) == 0;
    cascade_section *grown = n == 0 || full ? realloc(job->sections, (size_t)(n ? 2 * n : 8) * sizeof *grown)
                                            : job->sections;
    if (grown) job->sections = grown;
    char *copy = dup_string(name);
    if (!grown || !copy) {
        free(copy);
        cascade_fail(CASCADE_EINTERNAL, "out of memory adding section [%s]", name);
        return -1;
    }
    if (at < 0 || at > n) at = n;
    memmove(&grown[at + 1], &grown[at], (size_t)(n - at) * sizeof *grown);
    memset(&grown[at], 0, sizeof *grown);
    grown[at].name = copy;
    grown[at].file = job->origin;
    grown[at].line = line;
    job->n_sections = n + 1;
    return at;
}

/* ---- reading: the line reader (libinih's fgets-like input) and the key handler ---- */

static int reader_fail(line_reader *r, cascade_status status) {
    r->status = status;
    r->error_line = r->line;
    return 0;
}

/* Cuts a comment: a line starting with ';' or '#', or ';' after whitespace (as libinih). */
static void cut_comment(char *s) {
    if (*s == ';' || *s == '#') {
        *s = 0;
        return;
    }
    for (int was_space = 0; *s; s++) {
        if (was_space && *s == ';') {
            *s = 0;
            return;
        }
        was_space = isspace((unsigned char)*s);
    }
}

/* ---- the sections read so far, by name: a hash set, so that reading is linear in them ---- */

static size_t name_hash(const char *s) { /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static const cascade_section *seen_find(const line_reader *r, const char *name) {
    for (size_t i = r->seen_cap ? name_hash(name) & (r->seen_cap - 1) : 0; r->seen_cap; i = (i + 1) & (r->seen_cap - 1)) {
        if (r->seen[i] < 0) return NULL;
        if (strcmp(r->job->sections[r->seen[i]].name, name) == 0) return &r->job->sections[r->seen[i]];
    }
    return NULL;
}

/* Adds section `at` (the reader appends, so indices stay valid); the table stays half empty. */
static cascade_status seen_add(line_reader *r, int at) {
    if ((size_t)r->job->n_sections * 2 > r->seen_cap) {
        size_t cap = r->seen_cap ? 2 * r->seen_cap : 64;
        int *slot = malloc(cap * sizeof *slot);
        if (!slot) return cascade_fail(CASCADE_EINTERNAL, "out of memory reading section [%s]", r->job->sections[at].name);
        for (size_t i = 0; i < cap; i++) slot[i] = -1;
        free(r->seen);
        r->seen = slot;
        r->seen_cap = cap;
        for (int k = 0; k < r->job->n_sections; k++) { /* all sections so far, `at` among them */
            size_t i = name_hash(r->job->sections[k].name) & (cap - 1);
            while (slot[i] >= 0) i = (i + 1) & (cap - 1);
            slot[i] = k;
        }
        return CASCADE_OK;
    }
    size_t i = name_hash(r->job->sections[at].name) & (r->seen_cap - 1);
    while (r->seen[i] >= 0) i = (i + 1) & (r->seen_cap - 1);
    r->seen[i] = at;
    return CASCADE_OK;
}

/* A "[name]" line: opens the section; libinih gets a stand-in header (we track the name). */
static char *section_header(line_reader *r, char *s, char *buf) {
    const char *file = r->job->origin;
    char *end = strchr(s, ']');
    if (!end) return strcpy(buf, "["); /* libinih reports it as a syntax error on this line */
    *end = 0;
    const char *name = s + 1, *rest = trim(end + 1);
    if (*rest) {
        reader_fail(r, cascade_fail(CASCADE_EUSAGE, "%s:%d: unexpected '%s' after [%s]", file,
                                    r->line, rest, name));
        return NULL;
    }
    if (!*name) {
        reader_fail(r, cascade_fail(CASCADE_EUSAGE, "%s:%d: empty section name []", file, r->line));
        return NULL;
    }
    const cascade_section *old = seen_find(r, name);
    if (old) {
        reader_fail(r, cascade_fail(CASCADE_EUSAGE, "%s:%d: section [%s] appears twice (first at line %d)",
                                    file, r->line, name, old->line));
        return NULL;
    }
    r->section = cascade_job_add_section(r->job, name, r->line, -1);
    cascade_status st = r->section < 0 ? CASCADE_EINTERNAL : seen_add(r, r->section);
    if (st) {
        reader_fail(r, st);
        return NULL;
    }
    r->last_key_line = 0;
    return strcpy(buf, "[s]");
}

/* libinih's reader: hands over one line per call, cleaned (no comment, no indentation). */
static char *read_line(char *buf, int cap, void *stream) {
    line_reader *r = stream;
    if (r->status != CASCADE_OK || r->pos >= r->len) return NULL;
    const char *p = r->text + r->pos;
    const char *nl = memchr(p, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - p) : r->len - r->pos;
    r->pos += n + (nl != NULL);
    r->line++;
    r->long_value = NULL;
    if (n + 1 > r->raw_cap) {
        char *grown = realloc(r->raw, n + 1);
        if (!grown) {
            reader_fail(r, cascade_fail(CASCADE_EINTERNAL, "out of memory reading %s", r->job->origin));
            return NULL;
        }
        r->raw = grown;
        r->raw_cap = n + 1;
    }
    memcpy(r->raw, p, n);
    r->raw[n] = 0;
    char *s = r->raw;
    if (r->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3; /* UTF-8 byte order mark */
    int indented = isspace((unsigned char)*s);
    s = trim(s);
    cut_comment(s);
    s = trim(s);
    if (!*s) return strcpy(buf, ""); /* blank or comment: libinih still counts the line */
    if (indented && r->last_key_line > 0) {
        reader_fail(r, cascade_fail(CASCADE_EUSAGE,
                                    "%s:%d: indented line after '%s' (line %d): continuation lines "
                                    "are not supported; write every key unindented, with its "
                                    "value on one line",
                                    r->job->origin, r->line, r->last_key, r->last_key_line));
        return NULL;
    }
    if (*s == '[') return section_header(r, s, buf);
    size_t len = strlen(s);
    if (len < (size_t)cap) return memcpy(buf, s, len + 1);
    /* Too long for libinih's buffer: it gets "key =" and the handler takes the value from here. */
    char *sep = strpbrk(s, "=:");
    if (!sep || (size_t)(sep - s) + 2 > (size_t)cap) {
        reader_fail(r, cascade_fail(CASCADE_EUSAGE, "%s:%d: syntax error: a line of %zu characters "
                                    "that is not `key = value`", r->job->origin, r->line, len));
        return NULL;
    }
    memcpy(buf, s, (size_t)(sep - s) + 1);
    buf[sep - s + 1] = 0;
    r->long_value = trim(sep + 1);
    return buf;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    line_reader *r = user;
    const char *file = r->job->origin;
    (void)section; /* ours (r->section) is not truncated */
    if (r->status != CASCADE_OK) return 0;
    if (r->long_value) value = r->long_value;
    if (r->section < 0)
        return reader_fail(r, cascade_fail(CASCADE_EUSAGE, "%s:%d: key '%s' before the first [section]",
                                           file, r->line, name));
    cascade_section *s = &r->job->sections[r->section];
    if (!*name)
        return reader_fail(r, cascade_fail(CASCADE_EUSAGE, "%s:%d: [%s] value without a key name",
                                           file, r->line, s->name));
    const cascade_kv *old = cascade_section_peek(s, name);
    if (old)
        return reader_fail(r, cascade_fail(CASCADE_EUSAGE,
                                           "%s:%d: [%s] %s: key given twice in this section "
                                           "(first at line %d)",
                                           file, r->line, s->name, name, old->line));
    if (cascade_section_set(s, name, value, r->line) != CASCADE_OK)
        return reader_fail(r, CASCADE_EINTERNAL);
    snprintf(r->last_key, sizeof r->last_key, "%s", name);
    r->last_key_line = r->line;
    return 1;
}

/* "FILE:LINE: syntax error" quoting the line. */
static cascade_status syntax_error(const char *file, const char *text, int line) {
    const char *p = text;
    for (int i = 1; i < line && p; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    char quote[81] = "";
    if (p) {
        size_t n = strcspn(p, "\r\n");
        while (n && isspace((unsigned char)*p)) p++, n--;
        snprintf(quote, sizeof quote, "%.*s", (int)(n < 80 ? n : 80), p);
    }
    return cascade_fail(CASCADE_EUSAGE, "%s:%d: syntax error in '%s': expected `key = value`, a "
                        "[section] header or a ; comment", file, line, quote);
}

static cascade_status read_sections(cascade_job *job, const char *text) {
    line_reader r = {.job = job, .text = text, .len = strlen(text), .section = -1};
    int line = ini_parse_stream(read_line, &r, on_key, &r);
    free(r.raw);
    free(r.seen);
    if (line < 0)
        return cascade_fail(CASCADE_EINTERNAL, "%s: the INI parser failed (%d)", job->origin, line);
    if (line > 0 && (r.status == CASCADE_OK || line < r.error_line))
        return syntax_error(job->origin, text, line);
    return r.status;
}

/* ---- --set SECTION.KEY=VALUE ---- */

static void remove_key(cascade_section *s, const char *key) {
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, key) != 0) continue;
        free(s->kv[i].key);
        free(s->kv[i].value);
        memmove(&s->kv[i], &s->kv[i + 1], (size_t)(s->nkv - i - 1) * sizeof *s->kv);
        s->nkv--;
        return;
    }
}

/* Splits at the first '=' and then at the last '.' before it: "model.conv1.filters=32" sets
 * filters in [model.conv1]. An empty value removes the key (its default applies again). */
static cascade_status apply_override(cascade_job *job, char *arg) {
    char *eq = strchr(arg, '=');
    if (eq) *eq = 0;
    char *section = trim(arg), *dot = strrchr(section, '.');
    if (!eq || !dot || dot == section || !dot[1])
        return cascade_fail(CASCADE_EUSAGE, "--set %s%s: expected SECTION.KEY=VALUE, e.g. "
                            "--set train.batch=64", section, eq ? "=..." : "");
    *dot = 0;
    const char *key = dot + 1, *value = trim(eq + 1);
    if (!cascade_job_name_ok(key, ""))
        return cascade_fail(CASCADE_EUSAGE, "--set %s.%s: a key has only letters, digits, '_' and '-'",
                            section, key);
    if (strpbrk(value, ";\r\n"))
        return cascade_fail(CASCADE_EUSAGE, "--set %s.%s=%s: a value cannot hold ';' or a line "
                            "break (it is written to job.ini)", section, key, value);
    cascade_section *s = cascade_job_section(job, section);
    if (!s && !cascade_job_is_fixed_section(section))
        return cascade_fail(CASCADE_EUSAGE, "--set %s.%s: %s has no section [%s]; --set adds only "
                            "job, data, train, optimizer, optimizer.NET, gan and refiner (layer "
                            "sections must be in the job file)", section, key, job->origin, section);
    if (!*value) {
        if (s) remove_key(s, key);
        return CASCADE_OK;
    }
    if (!s) {
        int at = cascade_job_add_section(job, section, 0, -1);
        if (at < 0) return CASCADE_EINTERNAL;
        s = &job->sections[at];
    }
    return cascade_section_set(s, key, value, 0);
}

/* [job] name defaults to the job file's name without extension. It is written into [job] so
 * that RUNDIR/job.ini and a checkpoint's copy keep naming the run the same way. */
static cascade_status default_name(cascade_job *job) {
    cascade_section *js = cascade_job_section(job, "job");
    if (js && cascade_section_peek(js, "name")) return CASCADE_OK;
    const char *base = strrchr(job->origin, '/');
    char name[128];
    snprintf(name, sizeof name, "%s", base ? base + 1 : job->origin);
    char *ext = strrchr(name, '.');
    if (ext && ext != name) *ext = 0;
    if (!cascade_job_name_ok(name, ".") || name[0] == '.') strcpy(name, "job");
    if (!js) {
        int at = cascade_job_add_section(job, "job", 0, 0);
        if (at < 0) return CASCADE_EINTERNAL;
        js = &job->sections[at];
    }
    return cascade_section_set(js, "name", name, 0);
}

/* ---- the job as run: canonical INI text ---- */

#define TEXT_HEADER "; job as run by cascade (after --set overrides)\n"

static cascade_status make_text(cascade_job *job) {
    size_t n = sizeof TEXT_HEADER;
    for (int i = 0; i < job->n_sections; i++) {
        const cascade_section *s = &job->sections[i];
        n += strlen(s->name) + 4;
        for (int k = 0; k < s->nkv; k++) n += strlen(s->kv[k].key) + strlen(s->kv[k].value) + 4;
    }
    char *text = malloc(n), *p = text;
    if (!text) return cascade_fail(CASCADE_EINTERNAL, "out of memory writing the job text");
    p += sprintf(p, "%s", TEXT_HEADER);
    for (int i = 0; i < job->n_sections; i++) {
        const cascade_section *s = &job->sections[i];
        p += sprintf(p, "\n[%s]\n", s->name);
        for (int k = 0; k < s->nkv; k++) { /* "k =;v" keeps ';v', "k = ;v" would not */
            const char *v = s->kv[k].value;
            p += sprintf(p, v[0] == ';' ? "%s =%s\n" : "%s = %s\n", s->kv[k].key, v);
        }
    }
    job->text = text;
    return CASCADE_OK;
}

/* ---- API ---- */

static cascade_status parse_job(const char *text, const char *const *overrides, int n_overrides,
                                cascade_job *job) {
    CASCADE_TRY(read_sections(job, text));
    for (int i = 0; i < n_overrides; i++) {
        char *arg = dup_string(overrides[i]);
        if (!arg) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
        cascade_status status = apply_override(job, arg);
        free(arg);
        CASCADE_TRY(status);
    }
    CASCADE_TRY(default_name(job));
    CASCADE_TRY(cascade_job_expand_blocks(job));
    CASCADE_TRY(cascade_job_validate(job));
    return make_text(job);
}

cascade_status cascade_job_parse(const char *text, const char *origin, const char *const *overrides,
                                 int n_overrides, cascade_job *job) {
    memset(job, 0, sizeof *job);
    if (!origin) origin = "<job>";
    snprintf(job->path, sizeof job->path, "%s", origin);
    job->origin = dup_string(origin);
    if (!job->origin) return cascade_fail(CASCADE_EINTERNAL, "out of memory");
    cascade_status status = text ? parse_job(text, overrides, n_overrides, job)
                                 : cascade_fail(CASCADE_EINTERNAL, "%s: no job text", origin);
    if (status != CASCADE_OK) cascade_job_free(job);
    return status;
}

/* Whole file as a string; a NUL byte means this is no job file (e.g. an HDF5 file). */
static cascade_status read_file(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return cascade_fail(CASCADE_EIO, "cannot open job file %s: %s", path, strerror(errno));
    size_t n = 0, cap = 0;
    char *buf = NULL;
    cascade_status status = CASCADE_OK;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = 2 * cap + 4096 + 1;
            char *grown = realloc(buf, cap);
            if (!grown) {
                status = cascade_fail(CASCADE_EINTERNAL, "out of memory reading %s", path);
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        if (got == 0) {
            if (ferror(f))
                status = cascade_fail(CASCADE_EIO, "cannot read job file %s: %s", path, strerror(errno));
            break;
        }
        const char *nul = memchr(buf + n, 0, got);
        if (nul) {
            status = cascade_fail(CASCADE_EUSAGE, "%s: not a job file (a NUL byte at offset %zu)",
                                  path, (size_t)(nul - buf));
            break;
        }
        n += got;
    }
    fclose(f);
    if (status != CASCADE_OK) {
        free(buf);
        return status;
    }
    buf[n] = 0;
    *out = buf;
    return CASCADE_OK;
}

cascade_status cascade_job_load(const char *path, const char *const *overrides, int n_overrides,
                                cascade_job *job) {
    char *text = NULL;
    memset(job, 0, sizeof *job);
    CASCADE_TRY(read_file(path, &text));
    cascade_status status = cascade_job_parse(text, path, overrides, n_overrides, job);
    free(text);
    return status;
}

void cascade_job_free(cascade_job *job) {
    if (!job) return;
    for (int i = 0; i < job->n_sections; i++) cascade_section_free(&job->sections[i]);
    free(job->sections);
    free(job->layers);
    free(job->text);
    free(job->origin);
    memset(job, 0, sizeof *job);
}

cascade_section *cascade_job_layer(cascade_job *job, const char *net, const char *layer) {
    size_t n = strlen(net);
    for (int i = 0; i < job->n_layers; i++) {
        cascade_section *s = &job->sections[job->layers[i]];
        if (strncmp(s->name, net, n) == 0 && s->name[n] == '.' && strcmp(s->name + n + 1, layer) == 0)
            return s;
    }
    return NULL;
}

void cascade_job_split_layer(const cascade_section *s, char *net, char *layer) {
    const char *dot = strchr(s->name, '.');
    size_t n = dot ? (size_t)(dot - s->name) : strlen(s->name);
    snprintf(net, 64, "%.*s", (int)(n < 63 ? n : 63), s->name);
    snprintf(layer, 64, "%s", dot ? dot + 1 : "");
}

cascade_status cascade_job_write(const cascade_job *job, const char *path) {
    if (!job->text) return cascade_fail(CASCADE_EINTERNAL, "job %s has no text to write", job->path);
    char dir[CASCADE_PATH_MAX];
    const char *name = fs_split(path, dir, sizeof dir);
    return fs_write_atomic(dir, name, job->text); /* PATH.tmp renamed: a link at PATH is replaced */
}

int cascade_job_net_index(const cascade_job *job, const char *net) {
    for (int i = 0; i < job->n_nets; i++)
        if (strcmp(job->nets[i], net) == 0) return i;
    return -1;
}
