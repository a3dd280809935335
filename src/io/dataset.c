/* Reading HDF5 data sets: open with clear errors, shapes and types, collective row reads
 * (ranges and index lists) converted to float32, whole float arrays with a shape check,
 * finiteness checks, group listings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"

const char *cascade_h5_filename(const cascade_h5file *f) { return f->path; }

/* The HDF5 signature sits at byte 0, 512, 1024, 2048, ... (after a user block). Read here
 * rather than with H5Fis_hdf5, which opens through the serial driver and so takes a file lock
 * (fails on Lustre/NFS mounts without flock); the MPI-IO driver takes none. */
static int has_hdf5_signature(FILE *fp, long long size) {
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    for (long long at = 0; at + 8 <= size; at = at ? 2 * at : 512) {
        if (fseek(fp, (long)at, SEEK_SET) != 0 || fread(head, 1, 8, fp) != 8) return 0;
        if (memcmp(head, signature, 8) == 0) return 1;
    }
    return 0;
}

/* Local checks before the collective H5Fopen: missing file, directory, no HDF5 signature. */
static cascade_status probe_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return cascade_fail(CASCADE_EIO, "%s: no such file", path);
        return cascade_fail(CASCADE_EIO, "%s: cannot access: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        return cascade_fail(CASCADE_EIO, "%s: is a directory, not an HDF5 file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return cascade_fail(CASCADE_EIO, "%s: cannot open: %s", path, strerror(errno));
    int is_hdf5 = has_hdf5_signature(fp, (long long)sb.st_size);
    fclose(fp);
    if (!is_hdf5)
        return cascade_fail(CASCADE_EIO, "%s: not an HDF5 file (no HDF5 signature in its %lld bytes)",
                            path, (long long)sb.st_size);
    return CASCADE_OK;
}

static cascade_status open_file(const char *path, MPI_Comm comm, int mode, cascade_h5file **out) {
    h5_quiet();
    *out = NULL;
    cascade_status st = probe_file(path);
    if (strlen(path) >= PATH_MAX && st == CASCADE_OK)
        st = cascade_fail(CASCADE_EIO, "%.200s...: path too long", path);
    CASCADE_TRY(h5_agree(comm, st));

    cascade_h5file *f = cascade_alloc(sizeof *f, "HDF5 file handle");
    st = f ? CASCADE_OK : CASCADE_EINTERNAL;
    if (f) {
        f->id = H5I_INVALID_HID;
        f->comm = comm;
        snprintf(f->path, sizeof f->path, "%s", path);
        st = h5_comm_info(comm, path, &f->rank, &f->size);
    }
    st = h5_agree(comm, st);
    if (st == CASCADE_OK) st = h5_file_open(path, comm, mode, &f->id);
    if (st != CASCADE_OK) {
        cascade_free(f);
        return st;
    }
    *out = f;
    return CASCADE_OK;
}

cascade_status cascade_h5_open(const char *path, MPI_Comm comm, cascade_h5file **out) {
    return open_file(path, comm, 0, out);
}

cascade_status cascade_h5_open_data(const char *path, MPI_Comm comm, cascade_h5file **out) {
    return open_file(path, comm, H5_READ_ALIKE, out);
}

void cascade_h5_close(cascade_h5file *f) {
    if (!f) return;
    if (f->id >= 0 && H5Fclose(f->id) < 0) H5Eclear2(H5E_DEFAULT);
    cascade_free(f);
}

static const char *class_name(H5T_class_t cls) {
    switch (cls) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating-point";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum (e.g. h5py bool)";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield";
    default: return "unknown";
    }
}

/* Shapes whose element count or byte size does not fit in 62 bits: no file holds them, and
 * every size computed from them would overflow. */
static cascade_status check_declared_size(const char *file, const char *name, const cascade_shape *shape,
                                          size_t type_bytes) {
    const int64_t limit = (int64_t)1 << 62;
    int64_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < shape->ndim; i++) {
        if (shape->d[i] < 0 || shape->d[i] >= limit) overflow = 1;
        else if (shape->d[i] && numel > limit / shape->d[i]) overflow = 1;
        else numel *= shape->d[i];
    }
    if (!overflow && type_bytes && numel > limit / (int64_t)type_bytes) overflow = 1;
    if (!overflow) return CASCADE_OK;
    char sbuf[160];
    snprintf(sbuf, sizeof sbuf, "(");
    for (int i = 0; i < shape->ndim; i++)
        snprintf(sbuf + strlen(sbuf), sizeof sbuf - strlen(sbuf), "%s%llu", i ? "," : "",
                 (unsigned long long)shape->d[i]);
    snprintf(sbuf + strlen(sbuf), sizeof sbuf - strlen(sbuf), ")");
    return cascade_fail(CASCADE_EDATA, "%s: data set '%s' declares shape %s of %zu-byte elements: more than 2^62 "
                        "bytes, which no file holds (a corrupt or crafted header?)", file, name, sbuf, type_bytes);
}

/* Opens data set `name` and describes it; *dset must be closed by the caller when >= 0. */
static cascade_status open_dataset(cascade_h5file *f, const char *name, hid_t *dset,
                                   cascade_h5_info *info, H5T_class_t *cls) {
    *dset = H5I_INVALID_HID;
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", name);
    if (!h5_path_exists(f->id, name)) return h5_missing(f->id, f->path, name, "data set");
    hid_t obj = H5Oopen(f->id, name, H5P_DEFAULT);
    if (obj < 0) return h5_fail(CASCADE_EIO, f->path, "cannot open '%s'", name);
    if (H5Iget_type(obj) != H5I_DATASET) {
        H5Oclose(obj);
        return cascade_fail(CASCADE_EDATA, "%s: '%s' is a group, not a data set", f->path, name);
    }
    *dset = obj;
    hid_t space = H5Dget_space(obj), type = H5Dget_type(obj);
    cascade_status st = CASCADE_OK;
    if (space < 0 || type < 0) st = h5_fail(CASCADE_EIO, f->path, "cannot read the header of '%s'", name);
    if (st == CASCADE_OK) st = h5_space_shape(space, f->path, name, &info->shape);
    if (st == CASCADE_OK) st = check_declared_size(f->path, name, &info->shape, H5Tget_size(type));
    if (st == CASCADE_OK) {
        *cls = H5Tget_class(type);
        info->type_bytes = (int)H5Tget_size(type);
        if (*cls == H5T_FLOAT) info->type_class = CASCADE_H5_FLOAT;
        else if (*cls == H5T_INTEGER)
            info->type_class = H5Tget_sign(type) == H5T_SGN_NONE ? CASCADE_H5_UINT : CASCADE_H5_INT;
        else info->type_class = CASCADE_H5_OTHER;
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return st;
}

cascade_status cascade_h5_info_of(cascade_h5file *f, const char *dataset, cascade_h5_info *info) {
    h5_quiet();
    hid_t dset;
    H5T_class_t cls;
    cascade_status st = open_dataset(f, dataset, &dset, info, &cls);
    if (dset >= 0) H5Dclose(dset);
    return st;
}

/* "12.3 GiB" */
static const char *human_bytes(double bytes, char *buf, size_t cap) {
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, u++;
    snprintf(buf, cap, u ? "%.3g %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}

/* Chunked: every chunk of the shape must exist. A missing one (a resized data set whose new
 * rows were never written, an interrupted writer) reads as the fill value, i.e. zeros that
 * would be trained on; the first missing one is found by looking the chunks up in order
 * (at most `have` + 1 lookups: at most `have` chunks exist before it). */
static cascade_status check_chunks(cascade_h5file *f, hid_t dset, const cascade_h5_info *info, const hsize_t *chunk,
                                   const char *sbuf) {
    const cascade_shape *s = &info->shape;
    hsize_t grid[CASCADE_MAX_DIMS], want = 1, have = 0;
    for (int i = 0; i < s->ndim; i++) {
        grid[i] = ((hsize_t)s->d[i] + chunk[i] - 1) / chunk[i];
        want *= grid[i]; /* <= numel < 2^62 (check_declared_size) */
    }
    hid_t space = H5Dget_space(dset); /* 1.10 takes no H5S_ALL here */
    herr_t rc = space >= 0 ? H5Dget_num_chunks(dset, space, &have) : -1;
    if (space >= 0) H5Sclose(space);
    if (rc < 0) return h5_fail(CASCADE_EIO, f->path, "cannot count the chunks of '%s'", info->name);
    if (have >= want) return CASCADE_OK;
    hsize_t at[CASCADE_MAX_DIMS] = {0}, off[CASCADE_MAX_DIMS];
    for (hsize_t k = 0; k <= have && k < want; k++) {
        hsize_t rest = k;
        for (int i = s->ndim - 1; i >= 0; i--) {
            at[i] = rest % grid[i];
            rest /= grid[i];
            off[i] = at[i] * chunk[i];
        }
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        if (H5Dget_chunk_info_by_coord(dset, off, &mask, &addr, &size) < 0)
            return h5_fail(CASCADE_EIO, f->path, "cannot look up a chunk of '%s'", info->name);
        if (addr == HADDR_UNDEF) break;
    }
    long long r0 = (long long)off[0], r1 = (long long)(off[0] + chunk[0] < (hsize_t)s->d[0] ? off[0] + chunk[0] : (hsize_t)s->d[0]);
    return cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s was never fully written: %llu of its %llu chunks "
                        "hold no data (they would read as zeros), the first in rows %lld to %lld", f->path, info->name,
                        sbuf, (unsigned long long)(want - have), (unsigned long long)want, r0, r1 - 1);
}

/* Contiguous: the storage must hold the shape and lie inside the file. */
static cascade_status check_contiguous(cascade_h5file *f, hid_t dset, const cascade_h5_info *info, double bytes,
                                       const char *sbuf) {
    char hb[32], hs[32];
    hsize_t stored = H5Dget_storage_size(dset);
    if ((double)stored < bytes)
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s needs %s but the file stores %s of it "
                            "(a corrupt header or an interrupted writer?)", f->path, info->name, sbuf,
                            human_bytes(bytes, hb, sizeof hb), human_bytes((double)stored, hs, sizeof hs));
    haddr_t at = H5Dget_offset(dset);
    struct stat sb;
    if (at != HADDR_UNDEF && stat(f->path, &sb) == 0 && (double)at + bytes > (double)sb.st_size)
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s (%s from byte %llu) reaches past the end "
                            "of the file (%lld bytes): a truncated copy, or a corrupt header", f->path, info->name, sbuf,
                            human_bytes(bytes, hb, sizeof hb), (unsigned long long)at, (long long)sb.st_size);
    return CASCADE_OK;
}

static cascade_status check_storage(cascade_h5file *f, hid_t dset, const cascade_h5_info *info) {
    char sbuf[128], hb[32];
    cascade_shape_str(&info->shape, sbuf, sizeof sbuf);
    double bytes = (double)cascade_shape_numel(&info->shape) * (double)info->type_bytes;
    if (bytes == 0) return CASCADE_OK;
    hid_t dcpl = H5Dget_create_plist(dset);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    int external = dcpl >= 0 ? H5Pget_external_count(dcpl) : -1;
    hsize_t chunk[CASCADE_MAX_DIMS] = {0};
    int chunk_rank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, CASCADE_MAX_DIMS, chunk) : 0;
    if (dcpl >= 0) H5Pclose(dcpl);
    H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
    if (layout < 0 || external < 0 || chunk_rank < 0 || H5Dget_space_status(dset, &status) < 0)
        return h5_fail(CASCADE_EIO, f->path, "cannot read the storage layout of '%s'", info->name);
    if (layout == H5D_COMPACT || layout == H5D_VIRTUAL || external > 0) return CASCADE_OK;
    if (status == H5D_SPACE_STATUS_NOT_ALLOCATED)
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s (%s) was never written: the file holds no "
                            "data for it", f->path, info->name, sbuf, human_bytes(bytes, hb, sizeof hb));
    if (layout == H5D_CONTIGUOUS) return check_contiguous(f, dset, info, bytes, sbuf);
    if (layout == H5D_CHUNKED) {
        for (int i = 0; i < info->shape.ndim; i++)
            if (chunk_rank != info->shape.ndim || chunk[i] == 0)
                return cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s has a chunk shape of rank %d",
                                    f->path, info->name, sbuf, chunk_rank);
        return check_chunks(f, dset, info, chunk, sbuf);
    }
    return CASCADE_OK;
}

cascade_status cascade_h5_check_stored(cascade_h5file *f, const char *dataset) {
    h5_quiet();
    hid_t dset;
    H5T_class_t cls;
    cascade_h5_info info;
    cascade_status st = open_dataset(f, dataset, &dset, &info, &cls);
    if (st == CASCADE_OK) st = check_storage(f, dset, &info);
    if (dset >= 0) H5Dclose(dset);
    return st;
}

cascade_h5_kind cascade_h5_kind_of(cascade_h5file *f, const char *path) {
    h5_quiet();
    if (!h5_path_exists(f->id, path)) return CASCADE_H5_NONE;
    hid_t obj = H5Oopen(f->id, path, H5P_DEFAULT);
    if (obj < 0) {
        H5Eclear2(H5E_DEFAULT);
        return CASCADE_H5_NONE;
    }
    H5I_type_t type = H5Iget_type(obj);
    H5Oclose(obj);
    return type == H5I_GROUP ? CASCADE_H5_GROUP : type == H5I_DATASET ? CASCADE_H5_DATASET : CASCADE_H5_NONE;
}

cascade_status cascade_h5_children(cascade_h5file *f, const char *group, cascade_h5_names *out) {
    h5_quiet();
    out->count = 0;
    out->names = NULL;
    cascade_h5_kind kind = cascade_h5_kind_of(f, group);
    if (kind == CASCADE_H5_NONE) return h5_missing(f->id, f->path, group, "group");
    if (kind != CASCADE_H5_GROUP)
        return cascade_fail(CASCADE_EDATA, "%s: '%s' is a data set, not a group", f->path, group);
    return h5_list_links(f->id, group, f->path, out);
}

/* ---- collective reads: each rank selects its part (maybe nothing), one H5Dread ---- */

/* Selects in `space` what this rank reads; *n = number of elements selected. */
typedef cascade_status (*select_fn)(const char *file, const cascade_h5_info *info, hid_t space,
                                    const void *arg, int64_t *n);

static int64_t row_numel(const cascade_shape *s) {
    int64_t n = 1;
    for (int i = 1; i < s->ndim; i++) n *= s->d[i];
    return n;
}

static cascade_status need_rows(const char *file, const cascade_h5_info *info, int64_t first, int64_t end) {
    char sbuf[128];
    cascade_shape_str(&info->shape, sbuf, sizeof sbuf);
    if (info->shape.ndim < 1)
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' is a scalar, expected rows (N, ...)",
                            file, info->name);
    if (first < 0 || end > info->shape.d[0])
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s has %lld rows; "
                            "row %lld asked for (length mismatch between data sets?)", file, info->name,
                            sbuf, (long long)info->shape.d[0], (long long)(first < 0 ? first : end - 1));
    return CASCADE_OK;
}

struct row_range {
    int64_t start, count;
};

static cascade_status select_row_range(const char *file, const cascade_h5_info *info, hid_t space,
                                       const void *arg, int64_t *n) {
    const struct row_range *r = arg;
    if (r->count < 0)
        return cascade_fail(CASCADE_EINTERNAL, "%s: '%s': negative row count %lld", file, info->name,
                            (long long)r->count);
    if (r->count > 0) CASCADE_TRY(need_rows(file, info, r->start, r->start + r->count));
    int64_t rn = row_numel(&info->shape);
    *n = r->count * rn;
    return h5_select_flat(space, &info->shape, r->count ? r->start * rn : 0, *n, file, info->name);
}

struct row_list {
    const int64_t *rows;
    int64_t n;
};

/* Rows run[i] .. of runs [i, j) (start and length of each run of consecutive rows) OR-ed into
 * space, halves first: one OR per run on a growing selection copies the selection each time
 * (quadratic: minutes for 10^5 scattered rows), merging halves is n log n. */
static herr_t select_runs(hid_t space, const hsize_t *start, const hsize_t *len, int64_t i, int64_t j,
                          const hsize_t *count_row) {
    hsize_t st[CASCADE_MAX_DIMS] = {0}, cnt[CASCADE_MAX_DIMS];
    if (j - i <= 8) { /* a few runs: one OR each */
        for (int64_t k = i; k < j; k++) {
            memcpy(cnt, count_row, sizeof cnt);
            st[0] = start[k];
            cnt[0] = len[k];
            if (H5Sselect_hyperslab(space, k == i ? H5S_SELECT_SET : H5S_SELECT_OR, st, NULL, cnt, NULL) < 0) return -1;
        }
        return 0;
    }
    int64_t mid = i + (j - i) / 2;
    hid_t right = H5Scopy(space);
    if (right < 0) return -1;
    herr_t rc = select_runs(space, start, len, i, mid, count_row);
    if (rc >= 0) rc = select_runs(right, start, len, mid, j, count_row);
    if (rc >= 0) rc = H5Smodify_select(space, H5S_SELECT_OR, right);
    H5Sclose(right);
    return rc;
}

static cascade_status select_row_list(const char *file, const cascade_h5_info *info, hid_t space,
                                      const void *arg, int64_t *n) {
    const struct row_list *r = arg;
    *n = 0;
    if (H5Sselect_none(space) < 0) return h5_fail(CASCADE_EINTERNAL, file, "cannot select in '%s'", info->name);
    if (r->n == 0) return CASCADE_OK;
    CASCADE_TRY(need_rows(file, info, r->rows[0], r->rows[r->n - 1] + 1));
    hsize_t count_row[CASCADE_MAX_DIMS] = {0};
    for (int k = 1; k < info->shape.ndim; k++) count_row[k] = (hsize_t)info->shape.d[k];
    hsize_t *start = malloc((size_t)r->n * 2 * sizeof(hsize_t)), *len = start ? start + r->n : NULL;
    if (!start) return cascade_fail(CASCADE_EINTERNAL, "%s: out of memory selecting %lld rows of '%s'", file,
                                    (long long)r->n, info->name);
    int64_t runs = 0;
    for (int64_t i = 0; i < r->n;) {
        int64_t j = i + 1; /* run of consecutive rows [rows[i], rows[j-1]] */
        while (j < r->n && r->rows[j] == r->rows[j - 1] + 1) j++;
        if (j < r->n && r->rows[j] <= r->rows[j - 1]) {
            free(start);
            return cascade_fail(CASCADE_EINTERNAL, "%s: '%s': row indices must increase strictly "
                                "(index %lld is %lld after %lld)", file, info->name, (long long)j,
                                (long long)r->rows[j], (long long)r->rows[j - 1]);
        }
        start[runs] = (hsize_t)r->rows[i];
        len[runs++] = (hsize_t)(j - i);
        i = j;
    }
    herr_t rc = select_runs(space, start, len, 0, runs, count_row);
    free(start);
    if (rc < 0) return h5_fail(CASCADE_EINTERNAL, file, "cannot select rows of '%s'", info->name);
    *n = r->n * row_numel(&info->shape);
    return CASCADE_OK;
}

struct flat_part {
    int64_t offset, count;
};

static cascade_status select_flat_part(const char *file, const cascade_h5_info *info, hid_t space,
                                       const void *arg, int64_t *n) {
    const struct flat_part *p = arg;
    *n = p->count;
    return h5_select_flat(space, &info->shape, p->offset, p->count, file, info->name);
}

static cascade_status read_collective(cascade_h5file *f, const char *name, const cascade_shape *expected,
                                      select_fn select, const void *arg, float *out) {
    h5_quiet();
    hid_t dset, fspace = H5I_INVALID_HID;
    cascade_h5_info info;
    H5T_class_t cls = H5T_NO_CLASS;
    int64_t n = 0;
    char sbuf[128], ebuf[128];
    cascade_status st = open_dataset(f, name, &dset, &info, &cls);
    cascade_shape_str(&info.shape, sbuf, sizeof sbuf);
    if (st == CASCADE_OK && info.type_class == CASCADE_H5_OTHER)
        st = cascade_fail(CASCADE_EDATA, "%s: data set '%s' of shape %s holds %s elements; only integer "
                          "and floating-point data can be read as float32", f->path, name, sbuf,
                          class_name(cls));
    if (st == CASCADE_OK && expected && !cascade_shape_equal(&info.shape, expected))
        st = cascade_fail(CASCADE_EDATA, "%s: '%s' has shape %s, expected %s", f->path, name, sbuf,
                          cascade_shape_str(expected, ebuf, sizeof ebuf));
    if (st == CASCADE_OK && (fspace = H5Dget_space(dset)) < 0)
        st = h5_fail(CASCADE_EIO, f->path, "cannot read the dataspace of '%s'", name);
    if (st == CASCADE_OK) st = select(f->path, &info, fspace, arg, &n);
    return h5_transfer(f->comm, f->path, name, &info.shape, dset, fspace, n, 0, out, st);
}

cascade_status cascade_h5_read_rows(cascade_h5file *f, const char *dataset, int64_t start,
                                    int64_t count, float *out) {
    struct row_range r = {start, count};
    return read_collective(f, dataset, NULL, select_row_range, &r, out);
}

cascade_status cascade_h5_read_rows_at(cascade_h5file *f, const char *dataset, const int64_t *rows,
                                       int64_t n, float *out) {
    struct row_list r = {rows, n};
    return read_collective(f, dataset, NULL, select_row_list, &r, out);
}

cascade_status cascade_h5_read_floats_part(cascade_h5file *f, const char *path,
                                           const cascade_shape *expected, int64_t offset,
                                           int64_t count, float *out) {
    struct flat_part p = {offset, count};
    return read_collective(f, path, expected, select_flat_part, &p, out);
}

cascade_status cascade_h5_read_floats(cascade_h5file *f, const char *path,
                                      const cascade_shape *expected, float *out) {
    if (!expected)
        return cascade_fail(CASCADE_EINTERNAL, "%s: reading '%s' needs the expected shape", f->path, path);
    return cascade_h5_read_floats_part(f, path, expected, 0, cascade_shape_numel(expected), out);
}
