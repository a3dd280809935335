/* CUnit checks on single layers built from spec text (th_layer): output shapes, usage errors
 * and their messages, and deterministic test data. */
#ifndef CASCADE_TEST_LAYERCHECK_H
#define CASCADE_TEST_LAYERCHECK_H

#include "th.h"

/* A per-sample shape of ndim (<= 4) of the sizes a, b, c, d. */
cascade_shape th_shp(int ndim, int64_t a, int64_t b, int64_t c, int64_t d);
/* th_layer with one input; prints the message on failure; 1 on success. */
int th_setup(cascade_layer *L, const char *type, const char *spec, cascade_shape in);
/* Asserts the shape prints as `want`, e.g. "(8,7,7)". */
void th_expect_shape(const cascade_shape *got, const char *want, const char *what);
/* Sets up `type` with spec and one input shape; asserts success and the output shape. */
void th_expect_out(const char *type, const char *spec, cascade_shape in, const char *want);
/* Asserts CASCADE_EUSAGE with a message containing every non-NULL needle. */
void th_expect_error_n(const char *type, const char *spec, int n_in, const cascade_shape *in, const char *n1,
                       const char *n2, const char *n3);
void th_expect_error(const char *type, const char *spec, cascade_shape in, const char *n1, const char *n2,
                     const char *n3);
/* Deterministic pseudo-random values in [-1, 1). */
void th_fill(float *v, int64_t n, unsigned seed);

#endif
