/* Writing HDF5 files atomically (PATH.tmp, renamed on commit) on a communicator: float arrays
 * written in parts by their owners, chunked row data sets, attributes. Every call is
 * collective; local checks are agreed before each collective HDF5 step so no rank hangs.
 * Large data sets start at aligned addresses (CASCADE_H5_ALIGN, docs/hdf5.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "parallel/parallel.h"

const char *cascade_h5w_filename(const cascade_h5writer *w) { return w->tmp; }

/* The directory of `path` must exist and be writable (MPI-IO's own message is vague). */
static cascade_status check_directory(const char *path) {
    char dir[PATH_MAX];
    fs_split(path, dir, sizeof dir);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return cascade_fail(CASCADE_EIO, "%s: cannot create: directory %s: %s", path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cascade_fail(CASCADE_EIO, "%s: cannot create: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cascade_fail(CASCADE_EIO, "%s: cannot create: directory %s: %s", path, dir, strerror(errno));
    return CASCADE_OK;
}

/* "64K", "1M", "0": a size in bytes (binary suffixes K, M, G); -1 when malformed. */
static int64_t parse_size(const char *s, const char **end) {
    char *e;
    long long v = strtoll(s, &e, 10);
    if (e == s || v < 0) return -1;
    int shift = *e == 'K' || *e == 'k' ? 10 : *e == 'M' || *e == 'm' ? 20 : *e == 'G' || *e == 'g' ? 30 : 0;
    if (shift) e++;
    if (v > (INT64_MAX >> shift)) return -1;
    *end = e;
    return (int64_t)v << shift;
}

/* The file-space alignment {threshold, alignment} from CASCADE_H5_ALIGN ("THRESHOLD,ALIGNMENT"
 * or "off"); by default objects of at least 1 MiB start on 1 MiB boundaries (a common stripe
 * size), smaller ones are packed so small files stay small. */
static cascade_status alignment_from_env(int64_t v[2]) {
    const char *env = getenv("CASCADE_H5_ALIGN"), *e = NULL;
    v[0] = v[1] = 1 << 20;
    if (!env || !*env) return CASCADE_OK;
    if (strcmp(env, "off") == 0 || strcmp(env, "0") == 0) {
        v[0] = 0, v[1] = 1; /* HDF5's default: no alignment */
        return CASCADE_OK;
    }
    v[0] = parse_size(env, &e);
    if (v[0] >= 0 && *e == ',') v[1] = parse_size(e + 1, &e);
    if (v[0] < 0 || !e || *e || v[1] < 1 || v[1] > (1 << 30))
        return cascade_fail(CASCADE_EUSAGE, "CASCADE_H5_ALIGN=%s: expected THRESHOLD,ALIGNMENT in bytes (suffix K, M "
                            "or G; alignment 1 byte .. 1G), e.g. 1M,1M, or off", env);
    return CASCADE_OK;
}

/* The access list of a new file: MPI-IO on comm, metadata written collectively (rank 0 on
 * behalf of all at flush), the alignment (rank 0's setting: every rank must place the same
 * objects at the same addresses) and metadata gathered in 64 KiB blocks (fewer small writes). */
static cascade_status writer_fapl(cascade_h5writer *w, hid_t *fapl) {
    int64_t align[2] = {0, 1};
    cascade_status st = w->rank == 0 ? alignment_from_env(align) : CASCADE_OK;
    CASCADE_TRY(h5_agree(w->comm, st));
    CASCADE_TRY(cascade_par_bcast(w->comm, align, sizeof align));
    *fapl = h5_fapl(w->comm, w->tmp);
    if (*fapl < 0) st = CASCADE_EINTERNAL;
    /* The 1.8 format at least: superblock v2 and object headers v2 carry checksums of the
     * metadata (libhdf5 refuses a damaged header instead of misreading it); 1.8 readers read it. */
    if (st == CASCADE_OK && (H5Pset_coll_metadata_write(*fapl, 1) < 0 ||
                             H5Pset_libver_bounds(*fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0 ||
                             H5Pset_alignment(*fapl, (hsize_t)align[0], (hsize_t)align[1]) < 0 ||
                             H5Pset_meta_block_size(*fapl, 64 << 10) < 0))
        st = h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot set the file access properties (alignment %lld,%lld)",
                     (long long)align[0], (long long)align[1]);
    return h5_agree(w->comm, st);
}

/* Creates (truncates) w->tmp collectively. */
static cascade_status create_file(cascade_h5writer *w) {
    hid_t fapl = H5I_INVALID_HID;
    cascade_status st = writer_fapl(w, &fapl);
    if (st == CASCADE_OK && (w->id = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        st = h5_fail(CASCADE_EIO, w->tmp, "cannot create the HDF5 file");
    if (fapl >= 0) H5Pclose(fapl);
    st = h5_agree(w->comm, st);
    if (st != CASCADE_OK && w->id >= 0) {
        H5Fclose(w->id);
        w->id = H5I_INVALID_HID;
    }
    return st;
}

cascade_status cascade_h5w_create(const char *path, MPI_Comm comm, cascade_h5writer **out) {
    h5_quiet();
    *out = NULL;
    cascade_h5writer *w = cascade_alloc(sizeof *w, "HDF5 writer");
    cascade_status st = w ? CASCADE_OK : CASCADE_EINTERNAL;
    if (w) {
        w->id = H5I_INVALID_HID;
        w->comm = comm;
        if (strlen(path) + 4 >= sizeof w->path) st = cascade_fail(CASCADE_EIO, "%.200s...: path too long", path);
        snprintf(w->path, sizeof w->path, "%s", path);
        snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
        if (st == CASCADE_OK) st = h5_comm_info(comm, path, &w->rank, &w->size);
    }
    if (st == CASCADE_OK) st = check_directory(path);
    /* a stale tmp goes first: H5Fcreate would truncate whatever a link left there points to */
    if (st == CASCADE_OK && w->rank == 0 && unlink(w->tmp) != 0 && errno != ENOENT)
        st = cascade_fail(CASCADE_EIO, "%s: cannot remove the stale file: %s", w->tmp, strerror(errno));
    st = h5_agree(comm, st);
    if (st == CASCADE_OK) st = create_file(w);
    if (st != CASCADE_OK) {
        cascade_free(w);
        return st;
    }
    *out = w;
    return CASCADE_OK;
}

static cascade_status check_shape(const cascade_h5writer *w, const char *path, const cascade_shape *shape) {
    if (!shape || shape->ndim < 0 || shape->ndim > CASCADE_MAX_DIMS)
        return cascade_fail(CASCADE_EINTERNAL, "%s: '%s': invalid shape", w->tmp, path);
    for (int i = 0; i < shape->ndim; i++)
        if (shape->d[i] < 0) return cascade_fail(CASCADE_EINTERNAL, "%s: '%s': negative dimension", w->tmp, path);
    return CASCADE_OK;
}

/* Checks a flat part [offset, offset+count) of `shape` before any collective step. */
static cascade_status check_part(const cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                 int64_t offset, int64_t count, const void *data) {
    int64_t total = cascade_shape_numel(shape);
    char sbuf[128];
    if (offset < 0 || count < 0 || offset > total - count)
        return cascade_fail(CASCADE_EINTERNAL, "%s: part [%lld, %lld) is outside '%s' of shape %s", w->tmp,
                            (long long)offset, (long long)(offset + count), path,
                            cascade_shape_str(shape, sbuf, sizeof sbuf));
    if (count > 0 && !data)
        return cascade_fail(CASCADE_EINTERNAL, "%s: '%s': no data for %lld values", w->tmp, path, (long long)count);
    return CASCADE_OK;
}

/* Creates a float32 data set (intermediate groups too); chunked with unlimited axis 0 when
 * chunk_rows > 0. Collective. */
static cascade_status create_dataset(cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                     int64_t chunk_rows, hid_t file_type, int compress, hid_t *dset) {
    *dset = H5I_INVALID_HID;
    if (h5_path_exists(w->id, path))
        return cascade_fail(CASCADE_EINTERNAL, "%s: '%s' is written twice", w->tmp, path);
    hsize_t dims[CASCADE_MAX_DIMS], maxdims[CASCADE_MAX_DIMS], chunk[CASCADE_MAX_DIMS];
    for (int i = 0; i < shape->ndim; i++) {
        dims[i] = maxdims[i] = (hsize_t)shape->d[i];
        chunk[i] = shape->d[i] > 0 ? (hsize_t)shape->d[i] : 1;
    }
    hid_t space = shape->ndim ? H5Screate_simple(shape->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cascade_status st = CASCADE_OK;
    /* No fill pass: parallel HDF5 allocates the space at creation and would write fill
     * values over it before our data (twice the I/O); new file space reads as zeros anyway. */
    if (space < 0 || lcpl < 0 || dcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0)
        st = h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot prepare data set '%s'", path);
    if (st == CASCADE_OK && chunk_rows > 0 && compress) { /* contiguous unless compressed: cheaper writes */
        maxdims[0] = H5S_UNLIMITED;
        chunk[0] = (hsize_t)chunk_rows;
        H5Sclose(space);
        space = H5Screate_simple(shape->ndim, dims, maxdims);
        if (space < 0 || H5Pset_chunk(dcpl, shape->ndim, chunk) < 0)
            st = h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot set up chunks for '%s'", path);
        if (st == CASCADE_OK && compress && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0))
            st = h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot set up compression for '%s'", path);
    }
    /* Contiguous: allocated at creation (parallel HDF5 needs it; said explicitly), so every
     * rank knows the addresses of its part and large ones start aligned. */
    if (st == CASCADE_OK && !(chunk_rows > 0 && compress) && H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0)
        st = h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot set early allocation for '%s'", path);
    if (st == CASCADE_OK) {
        *dset = H5Dcreate2(w->id, path, file_type, space, lcpl, dcpl, H5P_DEFAULT);
        if (*dset < 0) st = h5_fail(CASCADE_EIO, w->tmp, "cannot create data set '%s'", path);
    }
    if (space >= 0) H5Sclose(space);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

/* This rank's flat part of an open data set, one collective H5Dwrite; closes dset. */
static cascade_status write_part(cascade_h5writer *w, const char *path, hid_t dset, cascade_status st,
                                 const cascade_shape *shape, int64_t offset, int64_t count,
                                 const void *data, hid_t mem_type) {
    hid_t fspace = H5I_INVALID_HID;
    if (st == CASCADE_OK && (fspace = H5Dget_space(dset)) < 0)
        st = h5_fail(CASCADE_EIO, w->tmp, "cannot read the dataspace of '%s'", path);
    if (st == CASCADE_OK) st = h5_select_flat(fspace, shape, offset, count, w->tmp, path);
    return h5_transfer_typed(w->comm, w->tmp, path, shape, dset, fspace, count, 1, (void *)data, mem_type, st);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checksums are of the little-endian bytes of the file: swap before cascade_crc32c on this host"
#endif

static cascade_status write_attr(cascade_h5writer *w, const char *object, const char *name, hid_t file_type,
                                 hid_t mem_type, int64_t count, const void *value);

/* Attribute crc32c of data set `path`: the CRC-32C of its float32 little-endian bytes in
 * row-major order (docs/hdf5.md). Every rank has the CRC of its part; shifted over the bytes
 * after the part and XORed over the ranks they give the whole (the parts tile the data set). */
static cascade_status write_checksum(cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                     int64_t offset, int64_t count, const float *data) {
    int64_t after = cascade_shape_numel(shape) - offset - count;
    uint32_t crc = cascade_crc32c_shift(cascade_crc32c(0, data, (size_t)count * sizeof(float)),
                                        (uint64_t)after * sizeof(float));
    CASCADE_TRY(cascade_par_xor_u32(w->comm, &crc, 1));
    return write_attr(w, path, CASCADE_CKPT_CRC_ATTR, H5T_STD_U32LE, H5T_NATIVE_UINT32, -1, &crc);
}

cascade_status cascade_h5w_write_floats(cascade_h5writer *w, const char *path,
                                        const cascade_shape *shape, const float *data,
                                        int64_t offset, int64_t count) {
    h5_quiet();
    cascade_status st = check_shape(w, path, shape);
    if (st == CASCADE_OK) st = check_part(w, path, shape, offset, count, data);
    CASCADE_TRY(h5_agree(w->comm, st));
    hid_t dset;
    st = h5_agree(w->comm, create_dataset(w, path, shape, 0, H5T_IEEE_F32LE, 0, &dset));
    st = write_part(w, path, dset, st, shape, offset, count, data, H5T_NATIVE_FLOAT);
    return st == CASCADE_OK && w->checksums ? write_checksum(w, path, shape, offset, count, data) : st;
}

static hid_t file_type_of(cascade_h5_elem type) {
    return type == CASCADE_H5_I32 ? H5T_STD_I32LE : type == CASCADE_H5_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE;
}

static hid_t mem_type_of(cascade_h5_elem type) {
    return type == CASCADE_H5_I32 ? H5T_NATIVE_INT32 : type == CASCADE_H5_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
}

static int elem_bytes(cascade_h5_elem type) { return type == CASCADE_H5_I32 ? 4 : type == CASCADE_H5_U8 ? 1 : 4; }

cascade_status cascade_h5w_create_rows_typed(cascade_h5writer *w, const char *path, const cascade_shape *shape,
                                             cascade_h5_elem type, int compress) {
    h5_quiet();
    cascade_status st = check_shape(w, path, shape);
    if (st == CASCADE_OK && w->checksums) /* rows get no crc32c: verification would refuse the file */
        st = cascade_fail(CASCADE_EINTERNAL, "%s: '%s': row data sets are not for checkpoints (no checksum)", w->tmp, path);
    if (st == CASCADE_OK && shape->ndim < 1)
        st = cascade_fail(CASCADE_EINTERNAL, "%s: '%s': rows need a shape (N, ...)", w->tmp, path);
    CASCADE_TRY(h5_agree(w->comm, st));
    /* Chunks of whole rows, about 1 MiB each. */
    int64_t row_bytes = elem_bytes(type);
    for (int i = 1; i < shape->ndim; i++) row_bytes *= shape->d[i] > 0 ? shape->d[i] : 1;
    int64_t chunk_rows = (1 << 20) / row_bytes;
    if (chunk_rows > shape->d[0]) chunk_rows = shape->d[0];
    if (chunk_rows < 1) chunk_rows = 1;
    hid_t dset;
    st = create_dataset(w, path, shape, chunk_rows, file_type_of(type), compress, &dset);
    if (dset >= 0) H5Dclose(dset);
    return h5_agree(w->comm, st);
}

cascade_status cascade_h5w_create_rows(cascade_h5writer *w, const char *path, const cascade_shape *shape) {
    return cascade_h5w_create_rows_typed(w, path, shape, CASCADE_H5_F32, 0);
}

cascade_status cascade_h5w_write_rows(cascade_h5writer *w, const char *path, int64_t start,
                                      int64_t count, const float *data) {
    return cascade_h5w_write_rows_typed(w, path, start, count, data, CASCADE_H5_F32);
}

cascade_status cascade_h5w_write_rows_typed(cascade_h5writer *w, const char *path, int64_t start, int64_t count,
                                            const void *data, cascade_h5_elem type) {
    h5_quiet();
    cascade_shape shape = {0};
    hid_t dset = h5_path_exists(w->id, path) ? H5Dopen2(w->id, path, H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t space = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
    cascade_status st = CASCADE_OK;
    if (space < 0) st = h5_fail(CASCADE_EINTERNAL, w->tmp, "no data set '%s' to write rows to", path);
    if (st == CASCADE_OK) st = h5_space_shape(space, w->tmp, path, &shape);
    if (space >= 0) H5Sclose(space);
    int64_t row_numel = 1;
    for (int i = 1; i < shape.ndim; i++) row_numel *= shape.d[i];
    if (st == CASCADE_OK && (shape.ndim < 1 || start < 0 || count < 0 || start > shape.d[0] - count)) {
        char sbuf[128];
        st = cascade_fail(CASCADE_EINTERNAL, "%s: rows [%lld, %lld) are outside '%s' of shape %s", w->tmp,
                          (long long)start, (long long)(start + count), path,
                          cascade_shape_str(&shape, sbuf, sizeof sbuf));
    }
    if (st == CASCADE_OK) st = check_part(w, path, &shape, start * row_numel, count * row_numel, data);
    return write_part(w, path, dset, st, &shape, start * row_numel, count * row_numel, data, mem_type_of(type));
}

/* Writes an attribute on `object` (a scalar when count < 0, else a 1-D array of count values),
 * creating it as a group (with parents) if missing and replacing an attribute of the same name.
 * Collective; every rank passes the same value. */
static cascade_status write_attr(cascade_h5writer *w, const char *object, const char *name, hid_t file_type,
                                 hid_t mem_type, int64_t count, const void *value) {
    h5_quiet();
    cascade_status st = CASCADE_OK;
    if (!h5_path_exists(w->id, object)) {
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        hid_t g = lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0
                      ? H5Gcreate2(w->id, object, lcpl, H5P_DEFAULT, H5P_DEFAULT)
                      : H5I_INVALID_HID;
        if (g < 0) st = h5_fail(CASCADE_EIO, w->tmp, "cannot create group '%s'", object);
        if (g >= 0) H5Gclose(g);
        if (lcpl >= 0) H5Pclose(lcpl);
    }
    hid_t obj = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    if (st == CASCADE_OK && (obj = H5Oopen(w->id, object, H5P_DEFAULT)) < 0)
        st = h5_fail(CASCADE_EIO, w->tmp, "cannot open '%s'", object);
    if (st == CASCADE_OK && H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0)
        st = h5_fail(CASCADE_EIO, w->tmp, "cannot replace attribute '%s' of '%s'", name, object);
    hsize_t dims[1] = {(hsize_t)(count > 0 ? count : 0)};
    if (st == CASCADE_OK && (space = count < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL)) < 0)
        st = h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot create a dataspace for attribute '%s'", name);
    if (st == CASCADE_OK && (attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        st = h5_fail(CASCADE_EIO, w->tmp, "cannot create attribute '%s' of '%s'", name, object);
    if (st == CASCADE_OK && H5Awrite(attr, mem_type, value) < 0)
        st = h5_fail(CASCADE_EIO, w->tmp, "cannot write attribute '%s' of '%s'", name, object);
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (obj >= 0) H5Oclose(obj);
    return h5_agree(w->comm, st);
}

cascade_status cascade_h5w_attr_int(cascade_h5writer *w, const char *object, const char *name,
                                    int64_t value) {
    return write_attr(w, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, -1, &value);
}

cascade_status cascade_h5w_attr_double(cascade_h5writer *w, const char *object, const char *name,
                                       double value) {
    return write_attr(w, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, -1, &value);
}

cascade_status cascade_h5w_attr_ints(cascade_h5writer *w, const char *object, const char *name,
                                     const int64_t *values, int64_t count) {
    return write_attr(w, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, count, values);
}

cascade_status cascade_h5w_attr_string(cascade_h5writer *w, const char *object, const char *name,
                                       const char *value) {
    hid_t type = h5_vlen_string_type();
    if (type < 0) return h5_agree(w->comm, h5_fail(CASCADE_EINTERNAL, w->tmp, "cannot create a string type"));
    const char *text = value ? value : "";
    cascade_status st = write_attr(w, object, name, type, type, -1, &text);
    H5Tclose(type);
    return st;
}

cascade_status cascade_h5w_commit(cascade_h5writer *w) {
    h5_quiet();
    cascade_status st = CASCADE_OK;
    /* H5Fflush with the MPI-IO driver ends in MPI_File_sync: every rank's data is on disk. */
    if (H5Fflush(w->id, H5F_SCOPE_GLOBAL) < 0) st = h5_fail(CASCADE_EIO, w->tmp, "cannot flush (disk full?)");
    if (H5Fclose(w->id) < 0 && st == CASCADE_OK) st = h5_fail(CASCADE_EIO, w->tmp, "cannot close");
    w->id = H5I_INVALID_HID;
    st = cascade_output_finish(w->tmp, w->path, st, w->comm);
    cascade_free(w);
    return st;
}

void cascade_h5w_abort(cascade_h5writer *w) {
    if (!w) return;
    h5_quiet();
    if (w->id >= 0 && H5Fclose(w->id) < 0) H5Eclear2(H5E_DEFAULT);
    MPI_Barrier(w->comm); /* everyone closed before the file goes */
    if (w->rank == 0) unlink(w->tmp);
    cascade_free(w);
}
