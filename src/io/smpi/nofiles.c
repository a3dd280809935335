/* The SMPI build's writers (CMake CASCADE_SMPI=ON, docs/scaling.md): HDF5 output files and
 * checkpoints are accepted and dropped — a simulated run predicts the training step, and
 * writing N simulated ranks' checkpoints into one process's memory would measure nothing of
 * the real machine. Arguments are still checked as the HDF5 writer checks them, so a caller's
 * mistake fails the same way in both builds. Reading a checkpoint is refused with a reason. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cascade/h5io.h"

struct cascade_h5writer {
    char path[PATH_MAX];
    char tmp[PATH_MAX + 8];
};

const char *cascade_h5w_filename(const cascade_h5writer *w) { return w->tmp; }

cascade_status cascade_h5w_create(const char *path, MPI_Comm comm, cascade_h5writer **out) {
    (void)comm;
    *out = NULL;
    if (strlen(path) + 4 >= PATH_MAX) return cascade_fail(CASCADE_EIO, "%.200s...: path too long", path);
    cascade_h5writer *w = cascade_alloc(sizeof *w, "synthetic writer");
    if (!w) return CASCADE_EINTERNAL;
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    *out = w;
    return CASCADE_OK;
}

/* The part [offset, offset + count) lies inside shape, as the HDF5 writer demands. */
static cascade_status check_part(const cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                 int64_t offset, int64_t count) {
    int64_t numel = cascade_shape_numel(shape);
    if (offset < 0 || count < 0 || offset + count > numel)
        return cascade_fail(CASCADE_EINTERNAL, "%s: part [%lld, %lld) of '%s' outside its %lld elements", w->tmp,
                            (long long)offset, (long long)(offset + count), path, (long long)numel);
    return CASCADE_OK;
}

cascade_status cascade_h5w_write_floats(cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                        const float *data, int64_t offset, int64_t count) {
    (void)data;
    return check_part(w, path, shape, offset, count);
}

cascade_status cascade_h5w_create_rows(cascade_h5writer *w, const char *path, const cascade_shape *shape) {
    (void)w, (void)path, (void)shape;
    return CASCADE_OK;
}

cascade_status cascade_h5w_write_rows(cascade_h5writer *w, const char *path, int64_t start, int64_t count,
                                      const float *data) {
    return cascade_h5w_write_rows_typed(w, path, start, count, data, CASCADE_H5_F32);
}

cascade_status cascade_h5w_create_rows_typed(cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                             cascade_h5_elem type, int compress) {
    (void)type, (void)compress;
    return cascade_h5w_create_rows(w, path, shape);
}

cascade_status cascade_h5w_write_rows_typed(cascade_h5writer *w, const char *path, int64_t start, int64_t count,
                                            const void *data, cascade_h5_elem type) {
    (void)data, (void)type;
    if (start < 0 || count < 0)
        return cascade_fail(CASCADE_EINTERNAL, "%s: rows [%lld, %lld) of '%s'", w->tmp, (long long)start,
                            (long long)(start + count), path);
    return CASCADE_OK;
}

cascade_status cascade_h5w_attr_int(cascade_h5writer *w, const char *object, const char *name, int64_t value) {
    (void)w, (void)object, (void)name, (void)value;
    return CASCADE_OK;
}

cascade_status cascade_h5w_attr_double(cascade_h5writer *w, const char *object, const char *name, double value) {
    (void)w, (void)object, (void)name, (void)value;
    return CASCADE_OK;
}

cascade_status cascade_h5w_attr_string(cascade_h5writer *w, const char *object, const char *name,
                                       const char *value) {
    (void)w, (void)object, (void)name, (void)value;
    return CASCADE_OK;
}

cascade_status cascade_h5w_attr_ints(cascade_h5writer *w, const char *object, const char *name,
                                     const int64_t *values, int64_t count) {
    (void)w, (void)object, (void)name, (void)values, (void)count;
    return CASCADE_OK;
}

cascade_status cascade_h5w_commit(cascade_h5writer *w) {
    cascade_free(w);
    return CASCADE_OK;
}

void cascade_h5w_abort(cascade_h5writer *w) { cascade_free(w); }

/* ---- checkpoints: nothing written, so nothing to resume from ---- */

cascade_status cascade_ckpt_begin(const char *dir, const char *name, MPI_Comm comm, cascade_h5writer **out) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path - 4)
        return cascade_fail(CASCADE_EIO, "%.200s...: path too long", dir);
    return cascade_h5w_create(path, comm, out);
}

cascade_status cascade_ckpt_write_meta(cascade_h5writer *w, const cascade_ckpt_meta *meta) {
    (void)w, (void)meta;
    return CASCADE_OK;
}

cascade_status cascade_ckpt_finish(cascade_h5writer *w) { return cascade_h5w_commit(w); }

cascade_status cascade_ckpt_mark_best(const char *dir, const char *name, MPI_Comm comm) {
    (void)dir, (void)name, (void)comm;
    return CASCADE_OK;
}

cascade_status cascade_ckpt_keep_last(const char *dir, int keep, MPI_Comm comm) {
    (void)dir, (void)keep, (void)comm;
    return CASCADE_OK;
}

cascade_status cascade_ckpt_resolve(const char *file_or_dir, char *path, size_t cap) {
    (void)path, (void)cap;
    return cascade_fail(CASCADE_EUSAGE, "%s: the SMPI build writes and reads no checkpoints (synthetic input, "
                        "docs/scaling.md)", file_or_dir);
}

cascade_status cascade_ckpt_open(const char *file_or_dir, MPI_Comm comm, cascade_h5file **out) {
    char path[PATH_MAX];
    (void)comm;
    *out = NULL;
    return cascade_ckpt_resolve(file_or_dir, path, sizeof path);
}

cascade_status cascade_ckpt_select(const char *file_or_dir, int fallback, MPI_Comm comm, char *path, size_t cap) {
    (void)fallback, (void)comm;
    return cascade_ckpt_resolve(file_or_dir, path, cap);
}

cascade_status cascade_ckpt_open_selected(const char *path, MPI_Comm comm, cascade_h5file **out) {
    return cascade_ckpt_open(path, comm, out);
}

cascade_status cascade_ckpt_attr_int_in(cascade_h5file *f, const char *object, const char *name, int64_t lo,
                                        int64_t hi, int64_t *value) {
    (void)object, (void)name, (void)lo, (void)hi, (void)value;
    return cascade_fail(CASCADE_EDATA, "%s: not a checkpoint (synthetic input)", cascade_h5_filename(f));
}

cascade_status cascade_ckpt_read_meta(cascade_h5file *f, cascade_ckpt_meta *meta) {
    memset(meta, 0, sizeof *meta);
    return cascade_fail(CASCADE_EDATA, "%s: not a checkpoint (synthetic input)", cascade_h5_filename(f));
}
