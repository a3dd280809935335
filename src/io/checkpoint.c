/* Checkpoints (CONTRACT.md "Checkpoint"): NAME.h5.tmp written collectively, flushed, renamed,
 * and only then named in LATEST (itself replaced atomically). Rank 0 does the file-system
 * steps; all ranks return its status. Readers resolve RUNDIR -> checkpoints/LATEST -> file.
 * With early stopping, BEST (written the same way) names the checkpoint of the lowest
 * validation loss; pruning keeps it. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"

static const char LATEST[] = "LATEST", BEST[] = "BEST";

cascade_status cascade_ckpt_begin(const char *dir, const char *name, MPI_Comm comm,
                                  cascade_h5writer **out) {
    *out = NULL;
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "checkpoint %s/%s: invalid MPI communicator", dir, name);
    size_t len = strlen(name);
    if (len == 0 || strchr(name, '/') || strcmp(name, LATEST) == 0 || strcmp(name, BEST) == 0 ||
        (len >= 4 && strcmp(name + len - 4, ".tmp") == 0))
        return cascade_fail(CASCADE_EINTERNAL, "checkpoint %s/%s: invalid file name", dir, name);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path - 4)
        return cascade_fail(CASCADE_EIO, "%.200s...: path too long", dir);
    CASCADE_TRY(h5_agree(comm, rank == 0 ? cascade_mkdir_p(dir) : CASCADE_OK));
    return cascade_h5w_create(path, comm, out);
}

cascade_status cascade_ckpt_write_meta(cascade_h5writer *w, const cascade_ckpt_meta *meta) {
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "format", CASCADE_CKPT_FORMAT));
    CASCADE_TRY(cascade_h5w_attr_int(w, "/", "version", CASCADE_CKPT_VERSION));
    const struct {
        const char *name;
        int64_t value;
    } ints[] = {{"step", meta->step},
                {"epoch", meta->epoch},
                {"samples_seen", meta->samples_seen},
                {"world_size", meta->world_size},
                {"seed", meta->seed}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        CASCADE_TRY(cascade_h5w_attr_int(w, "/", ints[i].name, ints[i].value));
    return cascade_h5w_attr_string(w, "/", "job", meta->job ? meta->job : "");
}

cascade_status cascade_ckpt_finish(cascade_h5writer *w) {
    /* commit frees w: keep what the LATEST step needs. */
    char dir[PATH_MAX], line[PATH_MAX];
    snprintf(line, sizeof line, "%s\n", fs_split(w->path, dir, sizeof dir));
    MPI_Comm comm = w->comm;
    int rank = w->rank;
    CASCADE_TRY(cascade_h5w_commit(w));
    return h5_agree(comm, rank == 0 ? fs_write_atomic(dir, LATEST, line) : CASCADE_OK);
}

/* The file name that `dir`/`pointer` (LATEST or BEST) holds, without surrounding white space. */
static cascade_status read_pointer(const char *dir, const char *pointer, char *name, size_t cap) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, pointer);
    FILE *fp = fopen(path, "r");
    if (!fp) return cascade_fail(CASCADE_EIO, "%s: cannot read: %s", path, strerror(errno));
    char text[512] = "";
    size_t n = fread(text, 1, sizeof text - 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return cascade_fail(CASCADE_EIO, "%s: cannot read", path);
    text[n] = 0;
    char *start = text;
    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r') start++;
    size_t len = strcspn(start, " \t\r\n");
    start[len] = 0;
    if (len == 0) return cascade_fail(CASCADE_EDATA, "%s: empty, expected a checkpoint file name", path);
    if (strchr(start, '/') || len >= cap)
        return cascade_fail(CASCADE_EDATA, "%s: '%s' is not a checkpoint file name", path, start);
    memcpy(name, start, len + 1);
    return CASCADE_OK;
}

/* "step-<digits>.h5" (suffix "") or "step-<digits>.h5.tmp" (suffix ".tmp") -> step, else -1. */
static int64_t step_of(const char *name, const char *suffix) {
    if (strncmp(name, "step-", 5) != 0) return -1;
    const char *p = name + 5;
    if (*p < '0' || *p > '9') return -1;
    char *end;
    int64_t step = strtoll(p, &end, 10);
    if (strncmp(end, ".h5", 3) != 0 || strcmp(end + 3, suffix) != 0) return -1;
    return step;
}

typedef struct {
    int64_t step;
    char name[256];
} step_file;

static int newest_first(const void *a, const void *b) {
    int64_t x = ((const step_file *)a)->step, y = ((const step_file *)b)->step;
    return x < y ? 1 : x > y ? -1 : strcmp(((const step_file *)a)->name, ((const step_file *)b)->name);
}

static cascade_status remove_file(const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        return cascade_fail(CASCADE_EIO, "%s: cannot delete old checkpoint: %s", path, strerror(errno));
    return CASCADE_OK;
}

static cascade_status prune(const char *dir, int keep) {
    char latest[256] = "", best[256] = "";
    char pointer_path[PATH_MAX];
    snprintf(pointer_path, sizeof pointer_path, "%s/%s", dir, LATEST);
    if (access(pointer_path, F_OK) == 0) CASCADE_TRY(read_pointer(dir, LATEST, latest, sizeof latest));
    snprintf(pointer_path, sizeof pointer_path, "%s/%s", dir, BEST);
    if (access(pointer_path, F_OK) == 0) CASCADE_TRY(read_pointer(dir, BEST, best, sizeof best));
    DIR *d = opendir(dir);
    if (!d) return cascade_fail(CASCADE_EIO, "%s: cannot list checkpoints: %s", dir, strerror(errno));
    step_file *files = NULL;
    size_t n = 0, cap = 0;
    cascade_status st = CASCADE_OK;
    for (struct dirent *e; st == CASCADE_OK && (e = readdir(d));) {
        int64_t step = step_of(e->d_name, "");
        if (step < 0) {
            /* Left by an interrupted write: never complete, never named in LATEST. */
            if (step_of(e->d_name, ".tmp") >= 0 || strcmp(e->d_name, "LATEST.tmp") == 0 ||
                strcmp(e->d_name, "BEST.tmp") == 0)
                st = remove_file(dir, e->d_name);
            continue;
        }
        if (strlen(e->d_name) >= sizeof files[0].name) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            step_file *grown = cascade_alloc(cap * sizeof *grown, "checkpoint list");
            if (!grown) {
                st = CASCADE_EINTERNAL;
                break;
            }
            if (n) memcpy(grown, files, n * sizeof *files);
            cascade_free(files);
            files = grown;
        }
        files[n].step = step;
        snprintf(files[n].name, sizeof files[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (st == CASCADE_OK && keep > 0 && n > (size_t)keep) {
        qsort(files, n, sizeof *files, newest_first);
        for (size_t i = (size_t)keep; i < n && st == CASCADE_OK; i++)
            if (strcmp(files[i].name, latest) != 0 && strcmp(files[i].name, best) != 0)
                st = remove_file(dir, files[i].name);
    }
    cascade_free(files);
    return st;
}

cascade_status cascade_ckpt_mark_best(const char *dir, const char *name, MPI_Comm comm) {
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "%s: invalid MPI communicator", dir);
    char line[PATH_MAX];
    snprintf(line, sizeof line, "%s\n", name);
    return h5_agree(comm, rank == 0 ? fs_write_atomic(dir, BEST, line) : CASCADE_OK);
}

cascade_status cascade_ckpt_keep_last(const char *dir, int keep, MPI_Comm comm) {
    int rank;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "%s: invalid MPI communicator", dir);
    return h5_agree(comm, rank == 0 ? prune(dir, keep) : CASCADE_OK);
}

/* dir/NAME, NAME read from dir/pointer (LATEST or BEST); an error if that file is missing. */
static cascade_status follow_pointer(const char *dir, const char *pointer, char *path, size_t cap) {
    char name[256];
    struct stat sb;
    CASCADE_TRY(read_pointer(dir, pointer, name, sizeof name));
    if (snprintf(path, cap, "%s/%s", dir, name) >= (int)cap)
        return cascade_fail(CASCADE_EIO, "%.200s...: path too long", dir);
    if (stat(path, &sb) != 0)
        return cascade_fail(CASCADE_EIO, "%s/%s names %s, which is missing: %s", dir, pointer, path, strerror(errno));
    return CASCADE_OK;
}

cascade_status cascade_ckpt_resolve(const char *file_or_dir, char *path, size_t cap) {
    struct stat sb;
    if (stat(file_or_dir, &sb) != 0)
        return cascade_fail(CASCADE_EIO, "%s: no such checkpoint file or run directory", file_or_dir);
    const char *base = strrchr(file_or_dir, '/');
    base = base ? base + 1 : file_or_dir;
    if (!S_ISDIR(sb.st_mode) && (strcmp(base, LATEST) == 0 || strcmp(base, BEST) == 0)) {
        /* RUNDIR/checkpoints/BEST (or LATEST): the checkpoint it names, beside it */
        char dir[PATH_MAX];
        size_t dlen = (size_t)(base - file_or_dir);
        snprintf(dir, sizeof dir, "%.*s", (int)(dlen ? dlen - 1 : 1), dlen ? file_or_dir : ".");
        return follow_pointer(dir, base, path, cap);
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (snprintf(path, cap, "%s", file_or_dir) >= (int)cap)
            return cascade_fail(CASCADE_EIO, "%.200s...: path too long", file_or_dir);
        return CASCADE_OK;
    }
    char dir[PATH_MAX], latest[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/checkpoints", file_or_dir);
    snprintf(latest, sizeof latest, "%s/%s", dir, LATEST);
    if (access(latest, F_OK) != 0) { /* maybe the checkpoints directory itself */
        snprintf(dir, sizeof dir, "%s", file_or_dir);
        snprintf(latest, sizeof latest, "%s/%s", dir, LATEST);
        if (access(latest, F_OK) != 0)
            return cascade_fail(CASCADE_EIO, "%s: no complete checkpoint (no %s/checkpoints/LATEST; LATEST "
                                "is written after the first checkpoint is complete)", file_or_dir, file_or_dir);
    }
    return follow_pointer(dir, LATEST, path, cap);
}

cascade_status cascade_ckpt_open(const char *file_or_dir, MPI_Comm comm, cascade_h5file **out) {
    char path[PATH_MAX];
    *out = NULL;
    CASCADE_TRY(h5_agree(comm, cascade_ckpt_resolve(file_or_dir, path, sizeof path)));
    return cascade_h5_open(path, comm, out);
}

cascade_status cascade_ckpt_read_meta(cascade_h5file *f, cascade_ckpt_meta *meta) {
    memset(meta, 0, sizeof *meta);
    const char *path = cascade_h5_filename(f);
    if (!cascade_h5_attr_exists(f, "/", "format"))
        return cascade_fail(CASCADE_EDATA, "%s: not a cascade checkpoint (no root attribute 'format'); a file "
                            "holding only /params/NET/LAYER/PARAM (e.g. from a PyTorch state_dict) can "
                            "be loaded with --init", path);
    char *format = NULL;
    CASCADE_TRY(cascade_h5_attr_string(f, "/", "format", &format));
    int is_ckpt = strcmp(format, CASCADE_CKPT_FORMAT) == 0;
    cascade_status st = is_ckpt ? CASCADE_OK
                                : cascade_fail(CASCADE_EDATA, "%s: not a cascade checkpoint (format = '%s', "
                                               "expected '%s')", path, format, CASCADE_CKPT_FORMAT);
    cascade_free(format);
    CASCADE_TRY(st);
    CASCADE_TRY(cascade_h5_attr_int(f, "/", "version", &meta->version));
    if (meta->version != CASCADE_CKPT_VERSION)
        return cascade_fail(CASCADE_EDATA, "%s: checkpoint version %" PRId64 ", this cascade reads version %d",
                            path, meta->version, CASCADE_CKPT_VERSION);
    const struct {
        const char *name;
        int64_t *value;
    } ints[] = {{"step", &meta->step},
                {"epoch", &meta->epoch},
                {"samples_seen", &meta->samples_seen},
                {"world_size", &meta->world_size},
                {"seed", &meta->seed}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        CASCADE_TRY(cascade_h5_attr_int(f, "/", ints[i].name, ints[i].value));
    return cascade_h5_attr_string(f, "/", "job", &meta->job);
}
