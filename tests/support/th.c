/* Test helpers (see th.h). */
#include "th.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *th_ref_path(const char *name) {
    static char path[4096];
    const char *dir = getenv("CASCADE_REFS");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "refs", name);
    return path;
}

double *th_read(hid_t loc, const char *name, cascade_shape *shape) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return NULL;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[CASCADE_MAX_DIMS];
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    memset(shape, 0, sizeof *shape);
    shape->ndim = nd;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) shape->d[i] = (int64_t)dims[i], n *= (int64_t)dims[i];
    double *buf = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (buf && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
    }
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

int th_attr_str(hid_t loc, const char *name, char *buf, size_t n) {
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int ok = 0;
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Aread(a, mt, &s) >= 0 && s) {
            snprintf(buf, n, "%s", s);
            H5free_memory(s);
            ok = 1;
        }
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(t);
        char *tmp = calloc(sz + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        if (tmp && H5Aread(a, mt, tmp) >= 0) {
            snprintf(buf, n, "%s", tmp);
            ok = 1;
        }
        free(tmp);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return ok;
}

int th_attr_double(hid_t loc, const char *name, double *out) {
    if (H5Aexists(loc, name) <= 0) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    int ok = H5Aread(a, H5T_NATIVE_DOUBLE, out) >= 0;
    H5Aclose(a);
    return ok;
}

int th_attr_int(hid_t loc, const char *name, long *out) {
    double v;
    if (!th_attr_double(loc, name, &v)) return 0;
    *out = (long)v;
    return 1;
}

double th_relerr_f(const float *a, const double *b, int64_t n) {
    double num = 0, den = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= num)) num = e; /* NaN propagates */
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / den;
}

double th_relerr_d(const double *a, const double *b, int64_t n) {
    double num = 0, den = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (!(e <= num)) num = e;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / den;
}

cascade_status th_section(cascade_section *s, const char *name, const char *text) {
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->file = "<test>";
    s->line = 1;
    int line = 1;
    const char *p = text ? text : "";
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char buf[512];
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, p, len);
        buf[len] = 0;
        char *eq = strchr(buf, '=');
        if (eq) {
            *eq = 0;
            char *k = buf, *v = eq + 1;
            while (*k == ' ') k++;
            for (char *t = eq - 1; t >= k && *t == ' '; t--) *t = 0;
            while (*v == ' ') v++;
            CASCADE_TRY(cascade_section_set(s, k, v, ++line));
        }
        p = end ? end + 1 : p + len;
    }
    return CASCADE_OK;
}

cascade_status th_layer(cascade_layer *L, const char *type, const char *spec, int n_in,
                        const cascade_shape *in_shapes) {
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", "layer");
    snprintf(L->full, sizeof L->full, "test.%s", type);
    L->seed = 1234;
    L->layer_id = 7;
    const cascade_op *op = cascade_op_find(type);
    if (!op) return cascade_fail(CASCADE_EUSAGE, "unknown layer type '%s'", type);
    cascade_section s;
    CASCADE_TRY(th_section(&s, L->full, spec));
    cascade_status st = cascade_layer_setup(L, op, &s, n_in, in_shapes);
    cascade_section_free(&s);
    return st;
}
