/* HDF5 layer internals: quiet error stack with captured details, agreement of errors across
 * ranks, property lists, flat-range selections, group listings. */
#include "io/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void h5_quiet(void) {
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

struct detail_buf {
    char *text;
    size_t cap;
};

static herr_t keep_innermost(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    struct detail_buf *out = data;
    if (err->desc && err->desc[0]) snprintf(out->text, out->cap, "%s", err->desc);
    return 0;
}

const char *h5_detail(char *buf, size_t cap) {
    buf[0] = 0;
    struct detail_buf out = {buf, cap};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, &out);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

cascade_status h5_fail(cascade_status code, const char *file, const char *fmt, ...) {
    char detail[512], what[1024];
    h5_detail(detail, sizeof detail); /* first: any other HDF5 call clears the stack */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (detail[0]) return cascade_fail(code, "%s: %s (HDF5: %s)", file, what, detail);
    return cascade_fail(code, "%s: %s", file, what);
}

hid_t h5_fapl(MPI_Comm comm, const char *file) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) {
        h5_fail(CASCADE_EINTERNAL, file, "cannot create a file access property list");
        return H5I_INVALID_HID;
    }
    if (comm == MPI_COMM_NULL) { /* this process alone, no MPI: POSIX I/O (h5io.h) */
        herr_t rc = H5Pset_fapl_sec2(fapl);
#if H5_VERSION_GE(1, 10, 7)
        /* read-only: a shared lock where the file system has them, none where it has not */
        if (rc >= 0) rc = H5Pset_file_locking(fapl, 1, 1);
#endif
        if (rc < 0) {
            h5_fail(CASCADE_EINTERNAL, file, "cannot select the POSIX (sec2) driver");
            H5Pclose(fapl);
            return H5I_INVALID_HID;
        }
        return fapl;
    }
    if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) {
        h5_fail(CASCADE_EINTERNAL, file, "cannot select the MPI-IO driver");
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

cascade_status h5_file_open(const char *path, MPI_Comm comm, int alike, hid_t *id) {
    *id = H5I_INVALID_HID;
    cascade_status st = CASCADE_OK;
    hid_t fapl = h5_fapl(comm, path);
    if (fapl < 0) st = CASCADE_EINTERNAL;
    alike = alike == H5_READ_ALIKE && comm != MPI_COMM_NULL;
    /* Data read alike: metadata read by one rank and broadcast, not by every rank from the
     * file system (P ranks' header reads become one). Not for the other readers: their Local
     * functions (h5io.h) may be called by one rank alone. (Files are only read here; the
     * writer sets collective metadata writes.) */
    if (st == CASCADE_OK && alike && H5Pset_all_coll_metadata_ops(fapl, 1) < 0)
        st = h5_fail(CASCADE_EINTERNAL, path, "cannot select collective metadata reads");
    st = h5_agree(comm, st);
    if (st == CASCADE_OK) {
        *id = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        char detail[512];
        if (*id < 0 && strstr(h5_detail(detail, sizeof detail), "truncated"))
            st = cascade_fail(CASCADE_EIO, "%s: truncated HDF5 file, shorter than its header says "
                              "(an interrupted copy or write?) (HDF5: %s)", path, detail);
        else if (*id < 0)
            st = cascade_fail(CASCADE_EIO, "%s: cannot open the HDF5 file (HDF5: %s)", path,
                              detail[0] ? detail : "no detail");
        st = h5_agree(comm, st);
    }
    if (fapl >= 0) H5Pclose(fapl);
    if (st != CASCADE_OK && *id >= 0) {
        H5Fclose(*id);
        *id = H5I_INVALID_HID;
    }
    return st;
}

cascade_status h5_comm_info(MPI_Comm comm, const char *path, int *rank, int *size) {
    if (comm == MPI_COMM_NULL) { /* this process alone, no MPI */
        *rank = 0, *size = 1;
        return CASCADE_OK;
    }
    if (MPI_Comm_rank(comm, rank) != MPI_SUCCESS || MPI_Comm_size(comm, size) != MPI_SUCCESS)
        return cascade_fail(CASCADE_EINTERNAL, "%s: invalid MPI communicator", path);
    return CASCADE_OK;
}

hid_t h5_dxpl_collective(const char *file) {
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl < 0) {
        h5_fail(CASCADE_EINTERNAL, file, "cannot create a transfer property list");
        return H5I_INVALID_HID;
    }
    if (H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) {
        h5_fail(CASCADE_EINTERNAL, file, "cannot select collective MPI-IO transfers");
        H5Pclose(dxpl);
        return H5I_INVALID_HID;
    }
    return dxpl;
}

cascade_status h5_space_shape(hid_t space, const char *file, const char *name, cascade_shape *out) {
    memset(out, 0, sizeof *out);
    H5S_class_t cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_NO_CLASS) return h5_fail(CASCADE_EIO, file, "cannot read the shape of '%s'", name);
    if (cls == H5S_NULL)
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' is empty (null dataspace)", file, name);
    int ndim = H5Sget_simple_extent_ndims(space);
    if (ndim < 0) return h5_fail(CASCADE_EIO, file, "cannot read the rank of '%s'", name);
    if (ndim > CASCADE_MAX_DIMS)
        return cascade_fail(CASCADE_EDATA, "%s: data set '%s' has %d dimensions, at most %d are supported",
                            file, name, ndim, CASCADE_MAX_DIMS);
    hsize_t dims[CASCADE_MAX_DIMS];
    if (ndim > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        return h5_fail(CASCADE_EIO, file, "cannot read the dimensions of '%s'", name);
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->d[i] = (int64_t)dims[i];
    return CASCADE_OK;
}

cascade_status h5_select_flat(hid_t space, const cascade_shape *shape, int64_t offset,
                              int64_t count, const char *file, const char *name) {
    int64_t total = cascade_shape_numel(shape);
    char sbuf[128];
    if (offset < 0 || count < 0 || offset > total - count)
        return cascade_fail(CASCADE_EINTERNAL,
                            "%s: part [%lld, %lld) is outside '%s' of shape %s (%lld elements)", file,
                            (long long)offset, (long long)(offset + count), name,
                            cascade_shape_str(shape, sbuf, sizeof sbuf), (long long)total);
    if (H5Sselect_none(space) < 0) return h5_fail(CASCADE_EINTERNAL, file, "cannot select in '%s'", name);
    if (count == 0) return CASCADE_OK;
    if (shape->ndim == 0) {
        if (H5Sselect_all(space) < 0) return h5_fail(CASCADE_EINTERNAL, file, "cannot select '%s'", name);
        return CASCADE_OK;
    }
    /* Greedy: from position a, take the largest aligned block (a whole sub-array along axis j)
     * that fits before b, as many of them as fit along axis j. At most 2*ndim-1 blocks. */
    const int n = shape->ndim;
    int64_t stride[CASCADE_MAX_DIMS];
    stride[n - 1] = 1;
    for (int k = n - 2; k >= 0; k--) stride[k] = stride[k + 1] * shape->d[k + 1];
    int64_t a = offset, b = offset + count;
    H5S_seloper_t op = H5S_SELECT_SET;
    while (a < b) {
        int j = 0;
        while (j < n - 1 && !(a % stride[j] == 0 && a + stride[j] <= b)) j++;
        hsize_t start[CASCADE_MAX_DIMS], cnt[CASCADE_MAX_DIMS];
        int64_t rest = a;
        for (int k = 0; k < n; k++) {
            start[k] = (hsize_t)(rest / stride[k]);
            rest %= stride[k];
            cnt[k] = k < j ? 1 : (hsize_t)shape->d[k];
        }
        int64_t m = (b - a) / stride[j];
        if (m > shape->d[j] - (int64_t)start[j]) m = shape->d[j] - (int64_t)start[j];
        cnt[j] = (hsize_t)m;
        if (H5Sselect_hyperslab(space, op, start, NULL, cnt, NULL) < 0)
            return h5_fail(CASCADE_EINTERNAL, file, "cannot select part of '%s'", name);
        op = H5S_SELECT_OR;
        a += m * stride[j];
    }
    return CASCADE_OK;
}

cascade_status h5_transfer(MPI_Comm comm, const char *file, const char *name, const cascade_shape *shape,
                           hid_t dset, hid_t fspace, int64_t n, int write, void *buf, cascade_status st) {
    return h5_transfer_typed(comm, file, name, shape, dset, fspace, n, write, buf, H5T_NATIVE_FLOAT, st);
}

cascade_status h5_transfer_typed(MPI_Comm comm, const char *file, const char *name, const cascade_shape *shape,
                                 hid_t dset, hid_t fspace, int64_t n, int write, void *buf, hid_t mem_type,
                                 cascade_status st) {
    hid_t mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    if (st == CASCADE_OK && (mspace = h5_mem_space(n)) < 0)
        st = h5_fail(CASCADE_EINTERNAL, file, "cannot create a memory space of %lld floats", (long long)n);
    /* collective transfers are for the MPI-IO driver only (no comm: the default list) */
    if (st == CASCADE_OK && comm != MPI_COMM_NULL && (dxpl = h5_dxpl_collective(file)) < 0) st = CASCADE_EINTERNAL;
    st = h5_agree(comm, st);
    if (st == CASCADE_OK) {
        float none = 0; /* ranks with nothing selected still pass a buffer */
        void *data = n ? buf : &none;
        herr_t rc = write ? H5Dwrite(dset, mem_type, mspace, fspace, dxpl >= 0 ? dxpl : H5P_DEFAULT, data)
                          : H5Dread(dset, mem_type, mspace, fspace, dxpl >= 0 ? dxpl : H5P_DEFAULT, data);
        char sbuf[128];
        if (rc < 0)
            st = h5_fail(CASCADE_EIO, file, "cannot %s %lld values of '%s' of shape %s%s", write ? "write" : "read",
                         (long long)n, name, cascade_shape_str(shape, sbuf, sizeof sbuf),
                         write ? " (disk full?)" : "");
        st = h5_agree(comm, st);
    }
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    return st;
}

hid_t h5_mem_space(int64_t n) {
    hsize_t dim = n > 0 ? (hsize_t)n : 1;
    hid_t space = H5Screate_simple(1, &dim, NULL);
    if (space >= 0 && n == 0 && H5Sselect_none(space) < 0) {
        H5Sclose(space);
        return H5I_INVALID_HID;
    }
    return space;
}

cascade_status h5_list_links(hid_t file, const char *group, const char *filename,
                             cascade_h5_names *out) {
    out->count = 0;
    out->names = NULL;
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) return h5_fail(CASCADE_EDATA, filename, "cannot open group '%s'", group);
    cascade_status st = CASCADE_OK;
    H5G_info_t ginfo;
    if (H5Gget_info(g, &ginfo) < 0) {
        st = h5_fail(CASCADE_EIO, filename, "cannot list group '%s'", group);
        goto done;
    }
    out->names = cascade_alloc((ginfo.nlinks ? ginfo.nlinks : 1) * sizeof(char *), "group listing");
    if (!out->names) {
        st = CASCADE_EINTERNAL;
        goto done;
    }
    for (hsize_t i = 0; i < ginfo.nlinks; i++) {
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (len < 0) {
            st = h5_fail(CASCADE_EIO, filename, "cannot read a link name in group '%s'", group);
            goto done;
        }
        char *name = cascade_alloc((size_t)len + 1, "link name");
        if (!name) {
            st = CASCADE_EINTERNAL;
            goto done;
        }
        out->names[out->count++] = name;
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, (size_t)len + 1,
                               H5P_DEFAULT) < 0) {
            st = h5_fail(CASCADE_EIO, filename, "cannot read a link name in group '%s'", group);
            goto done;
        }
    }
done:
    H5Gclose(g);
    if (st != CASCADE_OK) cascade_h5_names_free(out);
    return st;
}

char *h5_names_joined(const cascade_h5_names *names, int max, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    if (names->count == 0) {
        snprintf(buf, cap, "nothing");
        return buf;
    }
    for (int i = 0; i < names->count && i < max && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names->names[i]);
    if (names->count > max && used < cap) snprintf(buf + used, cap - used, ", ... (%d in all)", names->count);
    return buf;
}

int h5_path_exists(hid_t file, const char *path) {
    char prefix[1024];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof prefix) return 0;
    if (strcmp(path, "/") == 0) return 1;
    /* H5Lexists checks only the last component; walk down so "/a/b/c" with "/a" missing
     * answers 0 instead of failing. */
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/') continue;
        memcpy(prefix, path, i);
        prefix[i] = 0;
        if (strcmp(prefix, "/") == 0) continue;
        htri_t there = H5Lexists(file, prefix, H5P_DEFAULT);
        if (there <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    return 1;
}

static int is_group(hid_t file, const char *path) {
    if (!h5_path_exists(file, path)) return 0;
    hid_t obj = H5Oopen(file, path, H5P_DEFAULT);
    if (obj < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    int group = H5Iget_type(obj) == H5I_GROUP;
    H5Oclose(obj);
    return group;
}

cascade_status h5_missing(hid_t file, const char *filename, const char *path, const char *what) {
    /* The deepest existing parent group: its contents tell the user what is there instead. */
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash) snprintf(parent, sizeof parent, "/");
    else if (slash == parent) parent[1] = 0;
    else *slash = 0;
    while (strcmp(parent, "/") != 0 && !is_group(file, parent)) {
        slash = strrchr(parent, '/');
        if (!slash || slash == parent) snprintf(parent, sizeof parent, "/");
        else *slash = 0;
    }
    cascade_h5_names names;
    char list[768];
    if (h5_list_links(file, parent, filename, &names) != CASCADE_OK)
        return cascade_fail(CASCADE_EDATA, "%s: no %s '%s'", filename, what, path);
    h5_names_joined(&names, 24, list, sizeof list);
    cascade_h5_names_free(&names);
    if (strcmp(parent, "/") == 0)
        return cascade_fail(CASCADE_EDATA, "%s: no %s '%s' (the file's root holds: %s)", filename,
                            what, path, list);
    return cascade_fail(CASCADE_EDATA, "%s: no %s '%s' (group '%s' holds: %s)", filename, what,
                        path, parent, list);
}

hid_t h5_vlen_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return H5I_INVALID_HID;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}
