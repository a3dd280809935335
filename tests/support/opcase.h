/* One op test case read from a reference file written by tests/torch/refutil.py:
 * group caseNNN with attrs type, spec, training, step; data sets in0.., out, dout, din0..,
 * param/NAME, grad/NAME, param_after/NAME. Shared by op_torch_check and op_fd_check. */
#ifndef CASCADE_TEST_OPCASE_H
#define CASCADE_TEST_OPCASE_H

#include "th.h"

typedef struct {
    char group[64], type[64], spec[1024];
    char spec_line[1024]; /* spec on one line, for reports */
    int training;
    long step;
    int n;                                  /* batch */
    cascade_layer L;
    double *in[CASCADE_MAX_INPUTS];         /* (n, in_shape) */
    int has_din[CASCADE_MAX_INPUTS];
    double *param[CASCADE_MAX_PARAMS];
    double *out, *dout;
    double rtol, fd_rtol;
    int64_t saved_n, work_n;
    int64_t *sample_ids;
    /* double backward cases (refutil double=True): R = sum_k <w_k, din_k>; NULL otherwise */
    double *w[CASCADE_MAX_INPUTS];
    int has_double;
} opcase;

/* Loads group `name` of file f and sets up the layer; returns 0 on failure (message printed). */
int opcase_load(hid_t f, const char *name, opcase *c);
void opcase_free(opcase *c);
/* Iterates over groups "case*" in file order; calls fn for each; returns failures. */
int opcase_each(const char *path, int (*fn)(hid_t f, opcase *c));

#endif
