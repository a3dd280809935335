/* Checkpoints you can trust (docs/hdf5.md "Checksums"): the file's size and CRC-32C recorded in
 * LATEST.sums / BEST.sums beside the pointer (LATEST and BEST stay one line, the file name, as
 * CONTRACT.md says), checked before libhdf5 parses the file; then every data set's
 * crc32c attribute and finiteness, on one rank with a serial open; `--resume auto` falls back to
 * the newest intact checkpoint. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "parallel/parallel.h"

/* ---- file records: "NAME size=BYTES crc32c=HEX" lines of LATEST.sums / BEST.sums ---- */

cascade_status ckpt_file_record(const char *path, ckpt_record *r) {
    memset(r, 0, sizeof r->name);
    snprintf(r->name, sizeof r->name, "%s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cascade_fail(CASCADE_EIO, "%s: cannot read: %s", path, strerror(errno));
    unsigned char *buf = cascade_alloc(1 << 22, "checksum buffer");
    cascade_status st = buf ? CASCADE_OK : CASCADE_EINTERNAL;
    uint32_t crc = 0;
    int64_t size = 0;
    for (ssize_t n; st == CASCADE_OK && (n = read(fd, buf, 1 << 22)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) st = cascade_fail(CASCADE_EIO, "%s: cannot read: %s", path, strerror(errno));
        else crc = cascade_crc32c(crc, buf, (size_t)n), size += n;
    }
    close(fd);
    cascade_free(buf);
    r->size = size, r->crc = crc;
    return st;
}

int ckpt_read_records(const char *pointer_path, ckpt_record *recs, int cap) {
    char sums[PATH_MAX + 32];
    if (snprintf(sums, sizeof sums, "%s.sums", pointer_path) >= (int)sizeof sums) return 0;
    FILE *fp = fopen(sums, "r");
    if (!fp) return 0;
    char line[512];
    int n = 0;
    while (n < cap && fgets(line, sizeof line, fp)) {
        char name[256];
        long long size;
        unsigned crc;
        if (sscanf(line, "%255s size=%lld crc32c=%8x", name, &size, &crc) == 3 && size >= 0 && !strchr(name, '/')) {
            snprintf(recs[n].name, sizeof recs[n].name, "%s", name);
            recs[n].size = size, recs[n].crc = crc;
            n++;
        }
    }
    fclose(fp);
    return n;
}

/* Appends r's line "NAME size=BYTES crc32c=HEX" to text (cap bytes, *used so far). */
static void append_record(char *text, size_t cap, size_t *used, const ckpt_record *r) {
    if (*used < cap)
        *used += (size_t)snprintf(text + *used, cap - *used, "%s size=%" PRId64 " crc32c=%08" PRIx32 "\n", r->name,
                                  r->size, r->crc);
}

cascade_status ckpt_write_pointer(const char *dir, const char *pointer, const ckpt_record *rec) {
    /* POINTER.sums: rec first, then (LATEST) the records of its other files that still exist
     * (the fallbacks); written before POINTER, so the file POINTER names always has its record */
    char path[PATH_MAX + 272], text[CKPT_MAX_RECORDS * 300 + 300], sums[64], name_line[300];
    ckpt_record old[CKPT_MAX_RECORDS];
    int n_old = 0;
    if (strcmp(pointer, "LATEST") == 0 && snprintf(path, sizeof path, "%s/LATEST", dir) < (int)sizeof path)
        n_old = ckpt_read_records(path, old, CKPT_MAX_RECORDS - 1);
    size_t used = 0;
    append_record(text, sizeof text, &used, rec);
    for (int i = 0; i < n_old; i++) {
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s", dir, old[i].name) >= (int)sizeof path) continue;
        if (strcmp(old[i].name, rec->name) == 0 || stat(path, &sb) != 0) continue;
        append_record(text, sizeof text, &used, &old[i]);
    }
    snprintf(sums, sizeof sums, "%s.sums", pointer);
    snprintf(name_line, sizeof name_line, "%s\n", rec->name);
    CASCADE_TRY(fs_write_atomic(dir, sums, text));
    return fs_write_atomic(dir, pointer, name_line);
}

int ckpt_find_record(const char *path, ckpt_record *out) {
    char dir[PATH_MAX], pointer[PATH_MAX + 16];
    const char *name = fs_split(path, dir, sizeof dir);
    ckpt_record recs[CKPT_MAX_RECORDS];
    for (int k = 0; k < 2; k++) {
        snprintf(pointer, sizeof pointer, "%s/%s", dir, k ? "BEST" : "LATEST");
        int n = ckpt_read_records(pointer, recs, CKPT_MAX_RECORDS);
        for (int i = 0; i < n; i++)
            if (strcmp(recs[i].name, name) == 0) {
                *out = recs[i];
                return 1;
            }
    }
    return 0;
}

/* ---- the data sets ---- */

typedef struct {
    const char *file;
    int require_crc;     /* the file says every data set has one */
    float *buf;          /* cap floats */
    size_t cap;
    cascade_status st;
} walk_state;

enum { BLOCK = 1 << 20 }; /* elements read at a time (whole rows) */

/* Reads the rows [r, r + m) of dset (row `row` elements) into w->buf as mem_type. */
static cascade_status read_rows(walk_state *w, hid_t dset, hid_t fspace, const char *name, int ndim,
                                const hsize_t *dims, hsize_t r, hsize_t m, hsize_t row, hid_t mem_type) {
    hsize_t start[CASCADE_MAX_DIMS] = {0}, count[CASCADE_MAX_DIMS], n = m * row;
    for (int i = 0; i < ndim; i++) count[i] = dims[i];
    if (ndim) start[0] = r, count[0] = m;
    hid_t mspace = H5Screate_simple(1, &n, NULL);
    herr_t rc = mspace < 0 ? -1 : ndim ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) : 0;
    if (rc >= 0) rc = H5Dread(dset, mem_type, mspace, fspace, H5P_DEFAULT, w->buf);
    if (mspace >= 0) H5Sclose(mspace);
    if (rc < 0) return h5_fail(CASCADE_EDATA, w->file, "data set '/%s' cannot be read (damaged?)", name);
    return CASCADE_OK;
}

/* CRC-32C of the stored bytes and finiteness of data set `name` (float32 little-endian, as
 * cascade writes; other types are converted to float for the finiteness check and carry no
 * checksum of ours). */
static cascade_status check_dataset(walk_state *w, hid_t dset, const char *name) {
    hid_t type = H5Dget_type(dset), fspace = H5Dget_space(dset);
    cascade_status st = type < 0 || fspace < 0 ? h5_fail(CASCADE_EDATA, w->file, "data set '/%s' cannot be read", name)
                                               : CASCADE_OK;
    int ndim = st ? 0 : H5Sget_simple_extent_ndims(fspace);
    hsize_t dims[CASCADE_MAX_DIMS];
    if (!st && (ndim < 0 || ndim > CASCADE_MAX_DIMS || H5Sget_simple_extent_dims(fspace, dims, NULL) < 0))
        st = cascade_fail(CASCADE_EDATA, "%s: data set '/%s' has an unreadable or unsupported shape", w->file, name);
    int is_f32 = !st && H5Tequal(type, H5T_IEEE_F32LE) > 0, is_float = !st && H5Tget_class(type) == H5T_FLOAT;
    htri_t has_crc = st ? 0 : H5Aexists(dset, CASCADE_CKPT_CRC_ATTR);
    uint32_t want = 0, crc = 0;
    if (!st && has_crc > 0) {
        hid_t a = H5Aopen(dset, CASCADE_CKPT_CRC_ATTR, H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_UINT32, &want) < 0 || !is_f32)
            st = h5_fail(CASCADE_EDATA, w->file, "data set '/%s': attribute %s is unreadable or not of float32 data",
                         name, CASCADE_CKPT_CRC_ATTR);
        if (a >= 0) H5Aclose(a);
    } else if (!st && (has_crc < 0 || w->require_crc)) {
        st = cascade_fail(CASCADE_EDATA, "%s: data set '/%s' has no checksum (attribute %s), which every data set of "
                          "this checkpoint carries: the file is damaged", w->file, name, CASCADE_CKPT_CRC_ATTR);
    }
    /* declared size against the bytes stored: a damaged header must not make us read 2^40 */
    hsize_t numel = 1, row = 1;
    for (int i = 0; !st && i < ndim; i++) {
        if (dims[i] && numel > (hsize_t)INT64_MAX / 64 / dims[i]) numel = (hsize_t)INT64_MAX / 64;
        else numel *= dims[i];
        if (i) row *= dims[i];
    }
    hsize_t stored = st ? 0 : H5Dget_storage_size(dset);
    size_t esize = st ? 0 : H5Tget_size(type);
    hid_t dcpl = st ? H5I_INVALID_HID : H5Dget_create_plist(dset);
    int contiguous = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS;
    if (dcpl >= 0) H5Pclose(dcpl);
    /* chunks may be compressed (deflate: at most ~1030:1) or never written (fill values) */
    hsize_t most = contiguous ? stored : stored * 1100 + (1 << 20);
    if (!st && (is_float || has_crc > 0) && numel && numel * esize > most)
        st = cascade_fail(CASCADE_EDATA, "%s: data set '/%s' declares %llu values of %zu bytes, the file stores %llu "
                          "bytes of it (damaged or unwritten)", w->file, name, (unsigned long long)numel, esize,
                          (unsigned long long)stored);
    if (!st && row > w->cap) { /* one row at a time; its size was checked against the file above */
        float *bigger = cascade_alloc((size_t)row * sizeof(float), "checkpoint check buffer");
        if (!bigger) st = CASCADE_EINTERNAL;
        else cascade_free(w->buf), w->buf = bigger, w->cap = (size_t)row;
    }
    hsize_t nrows = ndim ? dims[0] : 1, step = (hsize_t)w->cap / row;
    for (hsize_t r = 0; !st && (is_float || has_crc > 0) && numel && r < nrows; r += step) {
        hsize_t m = nrows - r < step ? nrows - r : step;
        st = read_rows(w, dset, fspace, name, ndim, dims, r, m, row, is_f32 ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT);
        if (!st && has_crc > 0) crc = cascade_crc32c(crc, w->buf, (size_t)(m * row) * sizeof(float));
        for (hsize_t i = 0; !st && i < m * row; i++)
            if (!isfinite(w->buf[i]))
                st = cascade_fail(CASCADE_EDATA, "%s: data set '/%s' holds %s at element %llu of %llu: a checkpoint "
                                  "must hold finite parameters and optimizer state", w->file, name,
                                  isnan(w->buf[i]) ? "NaN" : "Inf", (unsigned long long)(r * row + i),
                                  (unsigned long long)numel);
    }
    if (!st && has_crc > 0 && crc != want)
        st = cascade_fail(CASCADE_EDATA, "%s: data set '/%s' is damaged: its CRC-32C is %08" PRIx32 ", attribute %s "
                          "says %08" PRIx32 " (the file changed after it was written)", w->file, name, crc,
                          CASCADE_CKPT_CRC_ATTR, want);
    if (type >= 0) H5Tclose(type);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

static herr_t visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    walk_state *w = data;
    if (info->type != H5L_TYPE_HARD) { /* a soft or external link could lead libhdf5 to another file */
        w->st = cascade_fail(CASCADE_EDATA, "%s: '/%s' is a %s link; a checkpoint holds none", w->file, name,
                             info->type == H5L_TYPE_SOFT ? "soft" : "external");
        return -1;
    }
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0) {
        w->st = h5_fail(CASCADE_EDATA, w->file, "object '/%s' cannot be opened (damaged?)", name);
        return -1;
    }
    if (H5Iget_type(obj) == H5I_DATASET) w->st = check_dataset(w, obj, name);
    H5Oclose(obj);
    return w->st ? -1 : 0;
}

/* Local: every data set of `path` (opened serially) checked. */
static cascade_status check_datasets(const char *path) {
    h5_quiet();
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) {
        char detail[512];
        h5_detail(detail, sizeof detail);
        return cascade_fail(CASCADE_EDATA, "%s: damaged, libhdf5 cannot open it (HDF5: %s)", path,
                            detail[0] ? detail : "no detail");
    }
    walk_state w = {.file = path};
    htri_t declared = H5Aexists(fid, "checksums");
    w.require_crc = declared > 0; /* written by a cascade that writes checksums (cascade_ckpt_write_meta) */
    w.buf = cascade_alloc(BLOCK * sizeof(float), "checkpoint check buffer");
    w.cap = BLOCK;
    if (!w.buf) w.st = CASCADE_EINTERNAL;
    if (!w.st && declared < 0) w.st = h5_fail(CASCADE_EDATA, path, "the root attributes cannot be read (damaged?)");
    if (!w.st && H5Lvisit(fid, H5_INDEX_NAME, H5_ITER_INC, visit_link, &w) < 0 && !w.st)
        w.st = h5_fail(CASCADE_EDATA, path, "its groups cannot be listed (damaged?)");
    cascade_free(w.buf);
    H5Fclose(fid);
    H5Eclear2(H5E_DEFAULT);
    return w.st;
}

cascade_status ckpt_verify_local(const char *path, const ckpt_record *expected) {
    if (expected) {
        ckpt_record got;
        CASCADE_TRY(ckpt_file_record(path, &got));
        if (got.size != expected->size || got.crc != expected->crc)
            return cascade_fail(CASCADE_EDATA, "%s is damaged: %" PRId64 " bytes with CRC-32C %08" PRIx32 ", but "
                                "%" PRId64 " bytes with %08" PRIx32 " were written (truncated or changed since)", path,
                                got.size, got.crc, expected->size, expected->crc);
    }
    return check_datasets(path);
}
