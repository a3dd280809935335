/* slice: a contiguous range of one axis of each sample, x[:, ..., start:stop, ...] in torch
 * (torch.narrow(x, axis, start, stop - start)). `axis` counts the batch axis as torch does
 * (1 = channels, negative from the end; default -1 = the last axis); `start` [0] and `stop`
 * [the axis' size] follow Python's slicing: negative values count from the end, both are
 * clamped to the axis and the range must keep at least one element.
 *   in (n, ..., a, ...) -> out (n, ..., stop - start, ...)
 * Seen per sample, the input is `outer` rows of a * inner contiguous elements; each output
 * row is the run of (stop - start) * inner elements at start * inner in its input row.
 * Used to split a features-layout input again, e.g. traces and per-station time of
 * jobs/airshower-xmax.ini. */
#include <stdio.h>
#include <string.h>

#include "nn/op.h"

#define SLICE_END (1L << 40) /* `stop` not given: the end of the axis */

typedef struct {
    long axis, start, stop; /* as given */
    int sample_axis;        /* resolved by infer: axis within the per-sample shape */
    int64_t first, count;   /* resolved range along that axis */
} slice_cfg;

static cascade_status slice_configure(void *cfg, cascade_section *spec) {
    slice_cfg *c = cfg;
    CASCADE_TRY(cascade_cfg_int(spec, "axis", -1, -(CASCADE_MAX_DIMS + 1), CASCADE_MAX_DIMS, &c->axis));
    if (c->axis == 0)
        return cascade_cfg_error(spec, cascade_section_find(spec, "axis"),
                                 "axis 0 is the batch axis; slice cuts the samples' axes (1 = channels, -1 = last)");
    CASCADE_TRY(cascade_cfg_int(spec, "start", 0, -SLICE_END, SLICE_END - 1, &c->start));
    return cascade_cfg_int(spec, "stop", SLICE_END, -SLICE_END, SLICE_END, &c->stop);
}

/* Python's slice index: negative counts from the end, then clamped to [0, size]. */
static int64_t slice_index(long v, int64_t size) {
    int64_t i = v < 0 ? (int64_t)v + size : (int64_t)v;
    return i < 0 ? 0 : i > size ? size : i;
}

static cascade_status slice_infer(cascade_layer *L) {
    slice_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    char a[128];
    long axis = c->axis < 0 ? c->axis + in->ndim + 1 : c->axis; /* torch dim with the batch axis */
    if (axis < 1 || axis > in->ndim)
        return cascade_fail(CASCADE_EUSAGE, "slice axis %ld is %s for the input %s (%d axes with the batch axis)",
                            c->axis, axis == 0 ? "the batch axis" : "out of range",
                            cascade_shape_str(in, a, sizeof a), in->ndim + 1);
    c->sample_axis = (int)axis - 1;
    int64_t size = in->d[c->sample_axis];
    int64_t lo = slice_index(c->start, size), hi = slice_index(c->stop, size);
    if (hi <= lo) {
        char stop[32];
        snprintf(stop, sizeof stop, c->stop == SLICE_END ? "end" : "%ld", c->stop);
        return cascade_fail(CASCADE_EUSAGE, "slice start = %ld, stop = %s of axis %ld (size %lld) of the input %s "
                            "is empty", c->start, stop, c->axis, (long long)size,
                            cascade_shape_str(in, a, sizeof a));
    }
    c->first = lo;
    c->count = hi - lo;
    L->out_shape = *in;
    L->out_shape.d[c->sample_axis] = c->count;
    return CASCADE_OK;
}

/* A call on n samples as rows: rows = n * (per-sample axes before the cut one), each
 * in_row elements in the input and out_row in the output, the kept run at `offset`. */
typedef struct {
    int64_t rows, in_row, out_row, offset;
} slice_rows;

static slice_rows slice_layout(const cascade_layer *L, int n) {
    const slice_cfg *c = L->cfg;
    const cascade_shape *in = &L->in_shape[0];
    int64_t rows = n, inner = 1;
    for (int i = 0; i < in->ndim; i++) {
        if (i < c->sample_axis) rows *= in->d[i];
        if (i > c->sample_axis) inner *= in->d[i];
    }
    return (slice_rows){rows, in->d[c->sample_axis] * inner, c->count * inner, c->first * inner};
}

static void slice_forward(const cascade_layer *L, const OPSYM(cascade_fwd) *c) {
    slice_rows g = slice_layout(L, c->n);
#pragma omp parallel for if (g.rows * g.out_row > 65536)
    for (int64_t r = 0; r < g.rows; r++)
        memcpy(c->out + r * g.out_row, c->in[0] + r * g.in_row + g.offset, (size_t)g.out_row * sizeof(real));
}

/* The output gradient goes back to its range; the rest of the input gets nothing. */
static void slice_backward(const cascade_layer *L, const OPSYM(cascade_bwd) *c) {
    if (!c->din[0]) return;
    slice_rows g = slice_layout(L, c->n);
#pragma omp parallel for if (g.rows * g.out_row > 65536)
    for (int64_t r = 0; r < g.rows; r++) {
        real *dx = c->din[0] + r * g.in_row + g.offset;
        for (int64_t i = 0; i < g.out_row; i++) dx[i] += c->dout[r * g.out_row + i];
    }
}

/* Double backward (op_types.h): linear, so the tangent is the slice of the input's tangent;
 * no second-order term. */
static void slice_backward2(const cascade_layer *L, const OPSYM(cascade_bwd2) *c) {
    if (!c->uin[0]) return;
    slice_rows g = slice_layout(L, c->n);
#pragma omp parallel for if (g.rows * g.out_row > 65536)
    for (int64_t r = 0; r < g.rows; r++) {
        const real *u = c->uin[0] + r * g.in_row + g.offset;
        for (int64_t i = 0; i < g.out_row; i++) c->uout[r * g.out_row + i] += u[i];
    }
}

const OPSYM(cascade_op) OPSYM(cascade_op_slice) = {
    .type = "slice",
    .cfg_size = sizeof(slice_cfg),
    .min_inputs = 1,
    .max_inputs = 1,
    .configure = slice_configure,
    .infer = slice_infer,
    .forward = slice_forward,
    .backward = slice_backward,
    .backward2 = slice_backward2,
};
