/* Reading attributes (root attributes of data sets and checkpoints, `cascade info`):
 * strings (variable or fixed length), integers, doubles, and any of them as display text. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"

static herr_t count_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)loc, (void)name, (void)info;
    (*(int *)data)++;
    return 0;
}

static herr_t copy_attr_name(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)loc, (void)info;
    cascade_h5_names *out = data;
    size_t len = strlen(name);
    char *copy = cascade_alloc(len + 1, "attribute name");
    if (!copy) return -1;
    memcpy(copy, name, len + 1);
    out->names[out->count++] = copy;
    return 0;
}

static cascade_status need_object(cascade_h5file *f, const char *object) {
    if (!h5_path_exists(f->id, object)) return h5_missing(f->id, f->path, object, "object");
    return CASCADE_OK;
}

cascade_status cascade_h5_attr_names(cascade_h5file *f, const char *object, cascade_h5_names *out) {
    h5_quiet();
    out->count = 0;
    out->names = NULL;
    CASCADE_TRY(need_object(f, object));
    hid_t obj = H5Oopen(f->id, object, H5P_DEFAULT);
    if (obj < 0) return h5_fail(CASCADE_EIO, f->path, "cannot open '%s'", object);
    int n = 0;
    cascade_status st = CASCADE_OK;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, count_attr, &n) < 0)
        st = h5_fail(CASCADE_EIO, f->path, "cannot list the attributes of '%s'", object);
    if (st == CASCADE_OK) {
        out->names = cascade_alloc((size_t)(n ? n : 1) * sizeof(char *), "attribute names");
        if (!out->names) st = CASCADE_EINTERNAL;
    }
    if (st == CASCADE_OK && H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr_name, out) < 0)
        st = h5_fail(CASCADE_EIO, f->path, "cannot list the attributes of '%s'", object);
    H5Oclose(obj);
    if (st != CASCADE_OK) cascade_h5_names_free(out);
    return st;
}

int cascade_h5_attr_exists(cascade_h5file *f, const char *object, const char *name) {
    h5_quiet();
    if (!h5_path_exists(f->id, object)) return 0;
    htri_t there = H5Aexists_by_name(f->id, object, name, H5P_DEFAULT);
    if (there < 0) H5Eclear2(H5E_DEFAULT);
    return there > 0;
}

/* An open attribute with its class and number of elements; caller closes attr. */
typedef struct {
    hid_t attr, type;
    H5T_class_t cls;
    int64_t count;
} attr_handle;

static void attr_close(attr_handle *a) {
    if (a->type >= 0) H5Tclose(a->type);
    if (a->attr >= 0) H5Aclose(a->attr);
    a->type = a->attr = H5I_INVALID_HID;
}

/* An attribute's declared size checked before it is read: at most ATTR_MAX_BYTES (64 MiB;
 * ours hold a job file at most), and fixed-size values must be in the file's storage of it. A
 * corrupt header otherwise makes us allocate or HDF5 read what is not there. */
#define ATTR_MAX_BYTES ((double)(64 << 20))
static cascade_status attr_check_size(cascade_h5file *f, const char *object, const char *name, attr_handle *a) {
    size_t size = H5Tget_size(a->type);
    htri_t variable = H5Tis_variable_str(a->type);
    double bytes = (double)a->count * (double)(size ? size : 1);
    cascade_status st = CASCADE_OK;
    if (size == 0 || variable < 0 || a->cls == H5T_NO_CLASS)
        st = h5_fail(CASCADE_EIO, f->path, "cannot read the type of attribute '%s' of '%s'", name, object);
    else if (bytes > ATTR_MAX_BYTES)
        st = cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' declares %lld values of %zu bytes, more than "
                          "an attribute can hold (a corrupt file?)", f->path, name, object, (long long)a->count, size);
    else if (!variable && a->cls != H5T_VLEN && (double)H5Aget_storage_size(a->attr) < bytes)
        st = cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' declares %lld values of %zu bytes but the file "
                          "stores %llu bytes of it (a corrupt file?)", f->path, name, object, (long long)a->count, size,
                          (unsigned long long)H5Aget_storage_size(a->attr));
    if (st) attr_close(a);
    return st;
}

static cascade_status attr_open(cascade_h5file *f, const char *object, const char *name, attr_handle *a) {
    h5_quiet();
    a->attr = a->type = H5I_INVALID_HID;
    CASCADE_TRY(need_object(f, object));
    if (!cascade_h5_attr_exists(f, object, name)) {
        cascade_h5_names names;
        char list[512] = "nothing";
        if (cascade_h5_attr_names(f, object, &names) == CASCADE_OK) {
            h5_names_joined(&names, 24, list, sizeof list);
            cascade_h5_names_free(&names);
        }
        return cascade_fail(CASCADE_EDATA, "%s: '%s' has no attribute '%s' (its attributes: %s)", f->path,
                            object, name, list);
    }
    a->attr = H5Aopen_by_name(f->id, object, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a->attr < 0) return h5_fail(CASCADE_EIO, f->path, "cannot open attribute '%s' of '%s'", name, object);
    a->type = H5Aget_type(a->attr);
    hid_t space = H5Aget_space(a->attr);
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0) H5Sclose(space);
    if (a->type < 0 || count < 0) {
        cascade_status st = h5_fail(CASCADE_EIO, f->path, "cannot read attribute '%s' of '%s'", name, object);
        attr_close(a);
        return st;
    }
    a->cls = H5Tget_class(a->type);
    a->count = (int64_t)count;
    return attr_check_size(f, object, name, a);
}

static cascade_status attr_expect(cascade_h5file *f, const char *object, const char *name,
                                  const attr_handle *a, int class_ok, const char *expected) {
    if (!class_ok)
        return cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' is not %s", f->path, name, object,
                            expected);
    if (a->count != 1)
        return cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' holds %lld values, expected %s",
                            f->path, name, object, (long long)a->count, expected);
    return CASCADE_OK;
}

/* ---- the watchdog: libhdf5 1.10.8 can loop forever (H5HG__protect) reading a variable-length
 * string whose global heap is damaged; such a read is bounded in time when the program asked
 * for it (cascade_h5_set_watchdog), and then ends the process with exit 4 and a message. ---- */
static unsigned watchdog_seconds;
static char watchdog_msg[PATH_MAX + 512];

void cascade_h5_set_watchdog(unsigned seconds) { watchdog_seconds = seconds; }

static void watchdog_fired(int sig) {
    (void)sig;
    ssize_t rc = write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg));
    (void)rc;
    _exit(CASCADE_EIO);
}

static int watchdog_arm(cascade_h5file *f, const char *object, const char *name, struct sigaction *old) {
    if (!watchdog_seconds) return 0;
    snprintf(watchdog_msg, sizeof watchdog_msg, "cascade: error: %s: reading attribute '%s' of '%s' did not finish "
             "in %u s: the file is corrupt (libhdf5 can loop forever on a damaged global heap; docs/hdf5.md)\n",
             f->path, name, object, watchdog_seconds);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_fired;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, old) != 0) return 0;
    alarm(watchdog_seconds);
    return 1;
}

static void watchdog_disarm(int armed, const struct sigaction *old) {
    if (!armed) return;
    alarm(0);
    sigaction(SIGALRM, old, NULL);
}

/* Reads a string attribute's first element (variable or fixed length) into *text. */
static cascade_status read_string(cascade_h5file *f, const char *object, const char *name,
                                  const attr_handle *a, char **text) {
    *text = NULL;
    htri_t variable = H5Tis_variable_str(a->type);
    hid_t mem = H5Tcopy(a->type);
    if (variable < 0 || mem < 0) {
        if (mem >= 0) H5Tclose(mem);
        return h5_fail(CASCADE_EIO, f->path, "cannot read the type of attribute '%s' of '%s'", name, object);
    }
    cascade_status st = CASCADE_OK;
    if (variable) {
        char **values = cascade_alloc((size_t)a->count * sizeof(char *), "string attribute");
        struct sigaction old;
        int armed = values ? watchdog_arm(f, object, name, &old) : 0;
        herr_t rc = values ? H5Aread(a->attr, mem, values) : -1;
        watchdog_disarm(armed, &old);
        if (!values) st = CASCADE_EINTERNAL;
        else if (rc < 0)
            st = h5_fail(CASCADE_EIO, f->path, "cannot read attribute '%s' of '%s'", name, object);
        else {
            const char *first = values[0] ? values[0] : "";
            size_t len = strlen(first);
            *text = cascade_alloc(len + 1, "string attribute");
            if (*text) memcpy(*text, first, len + 1);
            else st = CASCADE_EINTERNAL;
            for (int64_t i = 0; i < a->count; i++) H5free_memory(values[i]);
        }
        cascade_free(values);
    } else {
        size_t size = H5Tget_size(a->type);
        char *all = cascade_alloc(size * (size_t)a->count + 1, "string attribute");
        if (!all) st = CASCADE_EINTERNAL;
        else if (H5Aread(a->attr, mem, all) < 0)
            st = h5_fail(CASCADE_EIO, f->path, "cannot read attribute '%s' of '%s'", name, object);
        else {
            all[size] = 0; /* first element; fixed strings need no terminator */
            size_t len = strlen(all);
            while (len > 0 && all[len - 1] == ' ') all[--len] = 0; /* space-padded (Fortran) */
            *text = all;
            all = NULL;
        }
        cascade_free(all);
    }
    H5Tclose(mem);
    return st;
}

cascade_status cascade_h5_attr_string(cascade_h5file *f, const char *object, const char *name,
                                      char **text) {
    *text = NULL;
    attr_handle a;
    CASCADE_TRY(attr_open(f, object, name, &a));
    cascade_status st = attr_expect(f, object, name, &a, a.cls == H5T_STRING, "a string");
    if (st == CASCADE_OK) st = read_string(f, object, name, &a, text);
    attr_close(&a);
    return st;
}

/* Reads one number as int64 (integer attributes only) or double, after checking the class. */
static cascade_status read_number(cascade_h5file *f, const char *object, const char *name, int is_int,
                                  void *value) {
    attr_handle a;
    CASCADE_TRY(attr_open(f, object, name, &a));
    hid_t mem = is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
    int ok = a.cls == H5T_INTEGER || (!is_int && a.cls == H5T_FLOAT);
    cascade_status st = attr_expect(f, object, name, &a, ok, is_int ? "an integer" : "a number");
    if (st == CASCADE_OK && H5Aread(a.attr, mem, value) < 0)
        st = h5_fail(CASCADE_EIO, f->path, "cannot read attribute '%s' of '%s'", name, object);
    attr_close(&a);
    return st;
}

cascade_status cascade_h5_attr_int(cascade_h5file *f, const char *object, const char *name,
                                   int64_t *value) {
    return read_number(f, object, name, 1, value);
}

cascade_status cascade_h5_attr_double(cascade_h5file *f, const char *object, const char *name,
                                      double *value) {
    return read_number(f, object, name, 0, value);
}

cascade_status cascade_h5_attr_ints(cascade_h5file *f, const char *object, const char *name, int64_t *values,
                                    int64_t cap, int64_t *count) {
    attr_handle a;
    *count = 0;
    CASCADE_TRY(attr_open(f, object, name, &a));
    cascade_status st = CASCADE_OK;
    if (a.cls != H5T_INTEGER)
        st = cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' is not integers", f->path, name, object);
    else if (a.count > cap)
        st = cascade_fail(CASCADE_EDATA, "%s: attribute '%s' of '%s' holds %lld values, at most %lld expected",
                          f->path, name, object, (long long)a.count, (long long)cap);
    else if (a.count > 0 && H5Aread(a.attr, H5T_NATIVE_INT64, values) < 0)
        st = h5_fail(CASCADE_EIO, f->path, "cannot read attribute '%s' of '%s'", name, object);
    if (!st) *count = a.count;
    attr_close(&a);
    return st;
}

/* Numbers as "v" or "[a, b, ...]" (the first 16). */
static cascade_status format_numbers(cascade_h5file *f, const char *object, const char *name,
                                     const attr_handle *a, char **text) {
    enum { SHOWN = 16 };
    int is_int = a->cls == H5T_INTEGER;
    void *values = cascade_alloc((size_t)(a->count ? a->count : 1) * 8, "attribute values");
    if (!values) return CASCADE_EINTERNAL;
    cascade_status st = CASCADE_OK;
    if (H5Aread(a->attr, is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, values) < 0)
        st = h5_fail(CASCADE_EIO, f->path, "cannot read attribute '%s' of '%s'", name, object);
    size_t cap = SHOWN * 32 + 64, used = 0;
    char *out = st == CASCADE_OK ? cascade_alloc(cap, "attribute text") : NULL;
    if (st == CASCADE_OK && !out) st = CASCADE_EINTERNAL;
    if (out) {
        int bracket = a->count != 1;
        if (bracket) used += (size_t)snprintf(out + used, cap - used, "[");
        for (int64_t i = 0; i < a->count && i < SHOWN; i++) {
            const char *sep = i ? ", " : "";
            if (is_int)
                used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64, sep, ((int64_t *)values)[i]);
            else
                used += (size_t)snprintf(out + used, cap - used, "%s%.9g", sep, ((double *)values)[i]);
        }
        if (a->count > SHOWN) used += (size_t)snprintf(out + used, cap - used, ", ... (%lld values)",
                                                       (long long)a->count);
        if (bracket) snprintf(out + used, cap - used, "]");
    }
    cascade_free(values);
    *text = out;
    return st;
}

cascade_status cascade_h5_attr_text(cascade_h5file *f, const char *object, const char *name,
                                    char **text) {
    *text = NULL;
    attr_handle a;
    CASCADE_TRY(attr_open(f, object, name, &a));
    cascade_status st;
    if (a.cls == H5T_STRING && a.count >= 1) st = read_string(f, object, name, &a, text);
    else if (a.cls == H5T_INTEGER || a.cls == H5T_FLOAT) st = format_numbers(f, object, name, &a, text);
    else {
        const char *kind = a.cls == H5T_COMPOUND ? "compound" : a.cls == H5T_ENUM ? "enum" : "other";
        size_t cap = 64;
        *text = cascade_alloc(cap, "attribute text");
        st = *text ? CASCADE_OK : CASCADE_EINTERNAL;
        if (*text) snprintf(*text, cap, "<%s value, %lld elements>", kind, (long long)a.count);
    }
    attr_close(&a);
    return st;
}
