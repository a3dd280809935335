/* The SMPI build's input (CMake CASCADE_SMPI=ON, docs/scaling.md): the HDF5 reader API of
 * cascade/h5io.h served from synthetic in-memory data, because the system HDF5 is built for
 * Open MPI and cannot run under SimGrid's MPI. The job names the data sets as usual; their
 * per-sample shapes and the sample count come from the environment:
 *
 *   CASCADE_SYNTHETIC="4096 time=9x9 signal=9x9 logE data/showers-valid.h5=256"
 *
 *   N                 samples in every file (first token)
 *   NAME              one value per sample, shape (N,)
 *   NAME=AxB...       per-sample shape, (N, A, B, ...)
 *   NAME=AxB/K        integer class labels in [0, K) (e.g. pixel_label=64x64/3)
 *   FILE.h5=M         M samples in that file instead (e.g. a small validation file)
 *
 * Values are uniform in [0, 1) (so log_inputs accepts them), a Philox stream keyed by the
 * file and data set names, counter (row, element): the same on every rank and rank count.
 * Nothing here calls MPI: every rank computes the same answers, so errors need no agreement. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/h5io.h"

#define SYNTH_ENV "CASCADE_SYNTHETIC"
#define SYNTH_MAX_SETS 32
#define SYNTH_MAX_FILES 8
#define SYNTH_PURPOSE 0x53594eu /* "SYN": a Philox purpose of its own */

typedef struct {
    char name[128];
    cascade_shape sample; /* per-sample shape */
    int classes;          /* > 0: integer labels in [0, classes) */
} synth_set;

struct cascade_h5file {
    char path[PATH_MAX];
    int64_t rows;
    int n_sets;
    synth_set sets[SYNTH_MAX_SETS];
};

const char *cascade_h5_filename(const cascade_h5file *f) { return f->path; }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "9x9" or "64x64/3" -> shape and classes; "" -> shape (). */
static cascade_status parse_dims(const char *text, synth_set *set) {
    set->sample.ndim = 0;
    set->classes = 0;
    const char *p = text;
    while (*p && *p != '/') {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 1 || set->sample.ndim == CASCADE_MAX_DIMS - 1)
            return cascade_fail(CASCADE_EUSAGE, SYNTH_ENV ": bad shape '%s' for '%s' (expected e.g. 9x9 or 64x64/3)",
                                text, set->name);
        set->sample.d[set->sample.ndim++] = d;
        p = *end == 'x' ? end + 1 : end;
        if (*end && *end != 'x' && *end != '/')
            return cascade_fail(CASCADE_EUSAGE, SYNTH_ENV ": bad shape '%s' for '%s'", text, set->name);
    }
    if (*p == '/') {
        char *end;
        long k = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || k < 1)
            return cascade_fail(CASCADE_EUSAGE, SYNTH_ENV ": bad class count in '%s' for '%s'", text, set->name);
        set->classes = (int)k;
    }
    return CASCADE_OK;
}

/* One token "NAME[=DIMS]" or "FILE.h5=M" of the spec, for file `path`. */
static cascade_status parse_token(char *tok, const char *path, cascade_h5file *f) {
    char *eq = strchr(tok, '=');
    if (eq) *eq = '\0';
    if (ends_with(tok, ".h5")) {
        char *end;
        long long m = eq ? strtoll(eq + 1, &end, 10) : 0;
        if (!eq || *end || m < 1)
            return cascade_fail(CASCADE_EUSAGE, SYNTH_ENV ": '%s' needs a sample count (FILE.h5=M)", tok);
        if (strcmp(tok, path) == 0) f->rows = m;
        return CASCADE_OK;
    }
    if (f->n_sets == SYNTH_MAX_SETS)
        return cascade_fail(CASCADE_EUSAGE, SYNTH_ENV ": more than %d data sets", SYNTH_MAX_SETS);
    synth_set *set = &f->sets[f->n_sets++];
    if (snprintf(set->name, sizeof set->name, "%s", tok[0] == '/' ? tok + 1 : tok) >= (int)sizeof set->name)
        return cascade_fail(CASCADE_EUSAGE, SYNTH_ENV ": data set name '%.40s...' too long", tok);
    return parse_dims(eq ? eq + 1 : "", set);
}

static cascade_status parse_spec(const char *spec, const char *path, cascade_h5file *f) {
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return cascade_fail(CASCADE_EINTERNAL, "out of memory for " SYNTH_ENV);
    char *tok = strtok_r(copy, " \t\n,;", &save), *end = NULL;
    long long n = tok ? strtoll(tok, &end, 10) : 0;
    cascade_status st = CASCADE_OK;
    if (!tok || *end || n < 1)
        st = cascade_fail(CASCADE_EUSAGE, SYNTH_ENV " = '%s': the first token must be the sample count", spec);
    f->rows = n;
    while (!st && (tok = strtok_r(NULL, " \t\n,;", &save))) st = parse_token(tok, path, f);
    free(copy);
    return st;
}

cascade_status cascade_h5_open(const char *path, MPI_Comm comm, cascade_h5file **out) {
    (void)comm;
    *out = NULL;
    const char *spec = getenv(SYNTH_ENV);
    if (!spec || !spec[0])
        return cascade_fail(CASCADE_EUSAGE, "%s: this is the SMPI build (synthetic input, no HDF5): set " SYNTH_ENV
                            " to the sample count and the data sets' per-sample shapes, e.g. "
                            "'4096 time=9x9 signal=9x9 logE' (docs/scaling.md)", path);
    if (strlen(path) >= PATH_MAX) return cascade_fail(CASCADE_EIO, "%.200s...: path too long", path);
    cascade_h5file *f = cascade_alloc(sizeof *f, "synthetic file handle");
    if (!f) return CASCADE_EINTERNAL;
    snprintf(f->path, sizeof f->path, "%s", path);
    cascade_status st = parse_spec(spec, path, f);
    if (st) {
        cascade_free(f);
        return st;
    }
    *out = f;
    return CASCADE_OK;
}

cascade_status cascade_h5_open_data(const char *path, MPI_Comm comm, cascade_h5file **out) {
    return cascade_h5_open(path, comm, out);
}

void cascade_h5_close(cascade_h5file *f) { cascade_free(f); }

static const synth_set *find_set(const cascade_h5file *f, const char *name) {
    if (name[0] == '/') name++;
    for (int i = 0; i < f->n_sets; i++)
        if (strcmp(f->sets[i].name, name) == 0) return &f->sets[i];
    return NULL;
}

static cascade_status missing(const cascade_h5file *f, const char *name) {
    char listed[512] = "";
    size_t used = 0;
    for (int i = 0; i < f->n_sets && used < sizeof listed; i++)
        used += (size_t)snprintf(listed + used, sizeof listed - used, "%s%s", i ? ", " : "", f->sets[i].name);
    return cascade_fail(CASCADE_EDATA, "%s: no data set '%s' (synthetic input: " SYNTH_ENV " lists %s)", f->path,
                        name, f->n_sets ? listed : "nothing");
}

cascade_status cascade_h5_info_of(cascade_h5file *f, const char *dataset, cascade_h5_info *info) {
    const synth_set *set = find_set(f, dataset);
    if (!set) return missing(f, dataset);
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", dataset);
    info->shape.ndim = set->sample.ndim + 1;
    info->shape.d[0] = f->rows;
    for (int k = 0; k < set->sample.ndim; k++) info->shape.d[k + 1] = set->sample.d[k];
    info->type_class = set->classes ? CASCADE_H5_INT : CASCADE_H5_FLOAT;
    info->type_bytes = 4;
    return CASCADE_OK;
}

cascade_h5_kind cascade_h5_kind_of(cascade_h5file *f, const char *path) {
    if (strcmp(path, "/") == 0) return CASCADE_H5_GROUP;
    return find_set(f, path) ? CASCADE_H5_DATASET : CASCADE_H5_NONE;
}

/* FNV-1a of the file and data set names: the Philox seed of one data set. */
static uint64_t set_key(const char *file, const char *name) {
    uint64_t h = 1469598103934665603ull;
    for (const char *s = file; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *s = name; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Row `row` of a data set: `numel` values, four per Philox call. */
static void fill_row(uint64_t key, const synth_set *set, int64_t row, int64_t numel, float *out) {
    for (int64_t e = 0; e < numel; e += 4) {
        uint32_t r[4];
        cascade_philox(key, SYNTH_PURPOSE, (uint64_t)row, (uint64_t)(e / 4), r);
        for (int j = 0; j < 4 && e + j < numel; j++) {
            float u = cascade_u01f(r[j]);
            out[e + j] = set->classes ? (float)(int)(u * (float)set->classes) : u;
        }
    }
}

/* Rows rows[i] (or first + i when rows is NULL), i < n, into out. */
static cascade_status read_synthetic(cascade_h5file *f, const char *dataset, const int64_t *rows, int64_t first,
                                     int64_t n, float *out) {
    const synth_set *set = find_set(f, dataset);
    if (!set) return missing(f, dataset);
    int64_t numel = cascade_shape_numel(&set->sample);
    uint64_t key = set_key(f->path, set->name);
    for (int64_t i = 0; i < n; i++) {
        int64_t row = rows ? rows[i] : first + i;
        if (row < 0 || row >= f->rows)
            return cascade_fail(CASCADE_EDATA, "%s: row %lld of data set '%s' is outside its %lld rows", f->path,
                                (long long)row, dataset, (long long)f->rows);
        fill_row(key, set, row, numel, out + i * numel);
    }
    return CASCADE_OK;
}

cascade_status cascade_h5_read_rows(cascade_h5file *f, const char *dataset, int64_t start, int64_t count,
                                    float *out) {
    return read_synthetic(f, dataset, NULL, start, count, out);
}

cascade_status cascade_h5_read_rows_at(cascade_h5file *f, const char *dataset, const int64_t *rows, int64_t n,
                                       float *out) {
    return read_synthetic(f, dataset, rows, 0, n, out);
}

/* Whole arrays are parameters (--init, checkpoints): there are none in synthetic input. */
cascade_status cascade_h5_read_floats_part(cascade_h5file *f, const char *path, const cascade_shape *expected,
                                           int64_t offset, int64_t count, float *out) {
    (void)expected, (void)offset, (void)count, (void)out;
    return cascade_fail(CASCADE_EDATA, "%s: cannot read '%s': the SMPI build has synthetic input only, no "
                        "parameter files", f->path, path);
}

cascade_status cascade_h5_read_floats(cascade_h5file *f, const char *path, const cascade_shape *expected,
                                      float *out) {
    return cascade_h5_read_floats_part(f, path, expected, 0, 0, out);
}

cascade_status cascade_h5_children(cascade_h5file *f, const char *group, cascade_h5_names *out) {
    out->count = 0;
    out->names = NULL;
    if (strcmp(group, "/") != 0) return missing(f, group);
    out->names = cascade_alloc((size_t)(f->n_sets ? f->n_sets : 1) * sizeof(char *), "data set names");
    if (!out->names) return CASCADE_EINTERNAL;
    for (int i = 0; i < f->n_sets; i++) {
        out->names[i] = cascade_alloc(strlen(f->sets[i].name) + 1, "data set name");
        if (!out->names[i]) {
            cascade_h5_names_free(out);
            return CASCADE_EINTERNAL;
        }
        strcpy(out->names[i], f->sets[i].name);
        out->count = i + 1;
    }
    return CASCADE_OK;
}

/* ---- attributes: synthetic files have none ---- */

cascade_status cascade_h5_attr_names(cascade_h5file *f, const char *object, cascade_h5_names *out) {
    (void)f, (void)object;
    out->count = 0;
    out->names = NULL;
    return CASCADE_OK;
}

int cascade_h5_attr_exists(cascade_h5file *f, const char *object, const char *name) {
    (void)f, (void)object, (void)name;
    return 0;
}

static cascade_status no_attr(const cascade_h5file *f, const char *object, const char *name) {
    return cascade_fail(CASCADE_EDATA, "%s: no attribute '%s' on '%s' (synthetic input has no attributes)", f->path,
                        name, object);
}

cascade_status cascade_h5_attr_string(cascade_h5file *f, const char *object, const char *name, char **text) {
    *text = NULL;
    return no_attr(f, object, name);
}

cascade_status cascade_h5_attr_int(cascade_h5file *f, const char *object, const char *name, int64_t *value) {
    (void)value;
    return no_attr(f, object, name);
}

cascade_status cascade_h5_attr_double(cascade_h5file *f, const char *object, const char *name, double *value) {
    (void)value;
    return no_attr(f, object, name);
}

cascade_status cascade_h5_attr_text(cascade_h5file *f, const char *object, const char *name, char **text) {
    *text = NULL;
    return no_attr(f, object, name);
}

/* Synthetic data sets are always complete. */
cascade_status cascade_h5_check_stored(cascade_h5file *f, const char *dataset) {
    (void)f, (void)dataset;
    return CASCADE_OK;
}

/* No HDF5 attribute reads to bound. */
void cascade_h5_set_watchdog(unsigned seconds) { (void)seconds; }
