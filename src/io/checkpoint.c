/* Checkpoints (CONTRACT.md "Checkpoint"): NAME.h5.tmp written collectively (every data set
 * with its CRC-32C), flushed, renamed, and only then named in LATEST (itself replaced
 * atomically) with the file's size and CRC-32C. Rank 0 does the file-system steps; all ranks
 * return its status. Readers resolve RUNDIR -> checkpoints/LATEST -> file and verify it
 * (ckpt_verify.c). With early stopping, BEST (written the same way) names the checkpoint of the
 * lowest validation loss; pruning keeps it. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "parallel/parallel.h"

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
    CASCADE_TRY(cascade_h5w_create(path, comm, out));
    (*out)->checksums = 1;
    return CASCADE_OK;
}

cascade_status cascade_ckpt_write_meta(cascade_h5writer *w, const cascade_ckpt_meta *meta) {
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "format", CASCADE_CKPT_FORMAT));
    CASCADE_TRY(cascade_h5w_attr_int(w, "/", "version", CASCADE_CKPT_VERSION));
    CASCADE_TRY(cascade_h5w_attr_string(w, "/", "checksums", "crc32c")); /* every data set has one */
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

/* Rank 0: the record (size, CRC-32C) of dir/name, read back, into `pointer`. */
static cascade_status record_in(const char *dir, const char *name, const char *pointer) {
    char path[PATH_MAX + 256];
    ckpt_record rec;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (strcmp(pointer, BEST) != 0 || !ckpt_find_record(path, &rec)) CASCADE_TRY(ckpt_file_record(path, &rec));
    return ckpt_write_pointer(dir, pointer, &rec);
}

cascade_status cascade_ckpt_finish(cascade_h5writer *w) {
    /* commit frees w: keep what the LATEST step needs. */
    char dir[PATH_MAX], name[256];
    snprintf(name, sizeof name, "%s", fs_split(w->path, dir, sizeof dir));
    MPI_Comm comm = w->comm;
    int rank = w->rank;
    CASCADE_TRY(cascade_h5w_commit(w));
    return h5_agree(comm, rank == 0 ? record_in(dir, name, LATEST) : CASCADE_OK);
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
                strcmp(e->d_name, "BEST.tmp") == 0 || strcmp(e->d_name, "LATEST.sums.tmp") == 0 ||
                strcmp(e->d_name, "BEST.sums.tmp") == 0)
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
    return h5_agree(comm, rank == 0 ? record_in(dir, name, BEST) : CASCADE_OK);
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

/* The checkpoints directory of a run directory, a checkpoints directory or a file in one. */
static void ckpt_dir_of(const char *file_or_dir, const char *resolved, char *dir, size_t cap) {
    struct stat sb;
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/checkpoints", file_or_dir);
    if (resolved[0]) fs_split(resolved, dir, cap);
    else if (snprintf(dir, cap, "%s", stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) ? sub : file_or_dir) >= (int)cap)
        dir[0] = 0; /* too long: listing "" fails with a message */
}

static cascade_status verify(const char *path) {
    ckpt_record rec;
    int known = ckpt_find_record(path, &rec);
    return ckpt_verify_local(path, known ? &rec : NULL);
}

/* --resume auto after `why` (the message of the damaged or missing newest checkpoint): the
 * newest intact step-*.h5 of dir older than step `below`, into path. */
static cascade_status fall_back(const char *dir, int64_t below, cascade_status why, char *path, size_t cap) {
    char reason[2048];
    snprintf(reason, sizeof reason, "%s", cascade_errmsg());
    DIR *d = opendir(dir);
    if (!d) return cascade_fail(why, "%s; and %s cannot be listed for an older checkpoint", reason, dir);
    step_file found[CKPT_MAX_RECORDS];
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t step = step_of(e->d_name, "");
        if (step < 0 || step >= below || strlen(e->d_name) >= sizeof found[0].name) continue;
        if (n == CKPT_MAX_RECORDS) { /* keep the newest: replace the oldest so far */
            qsort(found, (size_t)n, sizeof *found, newest_first);
            if (step < found[n - 1].step) continue;
            n--;
        }
        found[n].step = step;
        snprintf(found[n].name, sizeof found[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    qsort(found, (size_t)n, sizeof *found, newest_first);
    for (int i = 0; i < n; i++) {
        snprintf(path, cap, "%s/%s", dir, found[i].name);
        if (verify(path) == CASCADE_OK) {
            cascade_log("warning: %s\nwarning: resuming from %s instead (the newest intact checkpoint)\n", reason, path);
            return CASCADE_OK;
        }
        cascade_log("warning: skipping %s as well: %s\n", path, cascade_errmsg());
    }
    return cascade_fail(why, "%s; and no older checkpoint in %s is intact", reason, dir);
}

cascade_status cascade_ckpt_select(const char *file_or_dir, int fallback, MPI_Comm comm, char *path, size_t cap) {
    int rank, size;
    CASCADE_TRY(h5_comm_info(comm, file_or_dir, &rank, &size));
    cascade_status st = CASCADE_OK;
    if (rank == 0) {
        path[0] = 0;
        st = cascade_ckpt_resolve(file_or_dir, path, cap);
        if (!st) st = verify(path);
        if (st && fallback) {
            char dir[PATH_MAX];
            const char *name = path;
            ckpt_dir_of(file_or_dir, path, dir, sizeof dir);
            if (strrchr(path, '/')) name = strrchr(path, '/') + 1;
            int64_t below = path[0] && step_of(name, "") >= 0 ? step_of(name, "") : INT64_MAX;
            st = fall_back(dir, below, st, path, cap);
        }
    }
    CASCADE_TRY(h5_agree(comm, st));
    return size > 1 ? cascade_par_bcast(comm, path, cap) : CASCADE_OK;
}

cascade_status cascade_ckpt_open_selected(const char *path, MPI_Comm comm, cascade_h5file **out) {
    *out = NULL;
    return cascade_h5_open(path, comm, out);
}

cascade_status cascade_ckpt_open(const char *file_or_dir, MPI_Comm comm, cascade_h5file **out) {
    char path[PATH_MAX];
    *out = NULL;
    CASCADE_TRY(cascade_ckpt_select(file_or_dir, 0, comm, path, sizeof path));
    return cascade_h5_open(path, comm, out);
}

cascade_status cascade_ckpt_attr_int_in(cascade_h5file *f, const char *object, const char *name, int64_t lo,
                                        int64_t hi, int64_t *value) {
    CASCADE_TRY(cascade_h5_attr_int(f, object, name, value));
    if (*value < lo || *value > hi)
        return cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' is %" PRId64 ", expected %" PRId64 " .. %" PRId64
                            " (a damaged or edited checkpoint)", cascade_h5_filename(f), name, object, *value, lo, hi);
    return CASCADE_OK;
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
    const int64_t big = (int64_t)1 << 53; /* counters stay exact as doubles and far from overflow */
    const struct {
        const char *name;
        int64_t *value, lo, hi;
    } ints[] = {{"step", &meta->step, 0, big},
                {"epoch", &meta->epoch, 0, big},
                {"samples_seen", &meta->samples_seen, 0, big},
                {"world_size", &meta->world_size, 1, 1 << 24},
                {"seed", &meta->seed, INT64_MIN, INT64_MAX}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        CASCADE_TRY(cascade_ckpt_attr_int_in(f, "/", ints[i].name, ints[i].lo, ints[i].hi, ints[i].value));
    return cascade_h5_attr_string(f, "/", "job", &meta->job);
}
