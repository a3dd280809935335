/* Test helpers: reading reference HDF5 files, comparing arrays, building a single layer from
 * a spec text, and running it in float (engine) or double (finite differences). */
#ifndef CASCADE_TEST_TH_H
#define CASCADE_TEST_TH_H

#include <hdf5.h>
#include <stdint.h>

#include "nn/layer.h"
#include "nn/op.h"

/* Path of a reference file: $CASCADE_REFS/name. */
const char *th_ref_path(const char *name);
/* Reads a data set as double (any numeric type); returns malloc'd data, shape in `shape`
 * (all dims, including the leading one); NULL if absent. */
double *th_read(hid_t loc, const char *name, cascade_shape *shape);
/* Reads a string or numeric attribute; returns 0 if absent. */
int th_attr_str(hid_t loc, const char *name, char *buf, size_t n);
int th_attr_int(hid_t loc, const char *name, long *out);
int th_attr_double(hid_t loc, const char *name, double *out);

/* Normwise relative error max|a-b| / max(max|b|, tiny). */
double th_relerr_f(const float *a, const double *b, int64_t n);
double th_relerr_d(const double *a, const double *b, int64_t n);

/* Builds a section from "key=value\nkey=value" text (lines), named `name`. */
cascade_status th_section(cascade_section *s, const char *name, const char *text);
/* Sets up a layer of `type` from spec text and per-sample input shapes. */
cascade_status th_layer(cascade_layer *L, const char *type, const char *spec, int n_in,
                        const cascade_shape *in_shapes);

#endif
