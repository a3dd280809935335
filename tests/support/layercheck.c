/* CUnit checks on single layers (see layercheck.h). */
#include "layercheck.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

cascade_shape th_shp(int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return cascade_shape_make(ndim, dims);
}

int th_setup(cascade_layer *L, const char *type, const char *spec, cascade_shape in) {
    cascade_status st = th_layer(L, type, spec, 1, &in);
    if (st != CASCADE_OK) printf("\n%s [%s]: %s\n", type, spec, cascade_errmsg());
    return st == CASCADE_OK;
}

void th_expect_shape(const cascade_shape *got, const char *want, const char *what) {
    char buf[128];
    cascade_shape_str(got, buf, sizeof buf);
    if (strcmp(buf, want) != 0) printf("\n%s: %s, want %s\n", what, buf, want);
    CU_ASSERT_STRING_EQUAL(buf, want);
}

void th_expect_out(const char *type, const char *spec, cascade_shape in, const char *want) {
    cascade_layer L;
    CU_ASSERT_FATAL(th_setup(&L, type, spec, in));
    th_expect_shape(&L.out_shape, want, spec);
    cascade_layer_release(&L);
}

void th_expect_error_n(const char *type, const char *spec, int n_in, const cascade_shape *in, const char *n1,
                       const char *n2, const char *n3) {
    cascade_layer L;
    cascade_clear_error();
    cascade_status st = th_layer(&L, type, spec, n_in, in);
    const char *msg = cascade_errmsg();
    CU_ASSERT_EQUAL(st, CASCADE_EUSAGE);
    const char *needles[] = {n1, n2, n3};
    for (int i = 0; i < 3; i++) {
        if (!needles[i]) continue;
        int found = msg && strstr(msg, needles[i]) != NULL;
        if (!found) printf("\n%s [%s]: message '%s' lacks '%s'\n", type, spec, msg ? msg : "", needles[i]);
        CU_ASSERT(found);
    }
    cascade_layer_release(&L);
}

void th_expect_error(const char *type, const char *spec, cascade_shape in, const char *n1, const char *n2,
                     const char *n3) {
    th_expect_error_n(type, spec, 1, &in, n1, n2, n3);
}

void th_fill(float *v, int64_t n, unsigned seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((s >> 8) * (2.0 / 16777216.0) - 1.0);
    }
}
