/* --mask NAME[=V[,V...]]: how much of an attribution's absolute mass lies inside a region given
 * per sample by a data set of the data file (an injected signal's footprint, the shower pixels
 * of a LArTPC event), against chance = the region's share of the pixels. A "pixel" is a
 * position of the per-sample input with all its channels, as for pixel flipping: with the
 * channels layout x is (C, spatial...) and the mask is (spatial...); otherwise x and the mask
 * have the same shape (C = 1). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cascade/h5io.h"
#include "explain/explain.h"

cascade_status cascade_mask_parse(const char *text, cascade_mask_spec *out) {
    memset(out, 0, sizeof *out);
    const char *eq = strchr(text, '=');
    size_t len = eq ? (size_t)(eq - text) : strlen(text);
    if (len == 0 || len >= sizeof out->name)
        return cascade_fail(CASCADE_EUSAGE, "explain: --mask '%s' is not NAME or NAME=V[,V...] (NAME: a data set of "
                            "the --data file)", text);
    memcpy(out->name, text, len);
    if (!eq) return CASCADE_OK; /* every nonzero entry is in the region */
    const char *p = eq + 1;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (*end != ',' && *end != 0))
            return cascade_fail(CASCADE_EUSAGE, "explain: --mask '%s': the values after '=' must be numbers separated "
                                "by commas, e.g. pixel_label=2 or pixel_label=1,2", text);
        if (out->n_values == CASCADE_MASK_MAX_VALUES)
            return cascade_fail(CASCADE_EUSAGE, "explain: --mask '%s': at most %d values", text,
                                CASCADE_MASK_MAX_VALUES);
        out->values[out->n_values++] = v;
        if (*end == 0) return CASCADE_OK;
        p = end + 1;
    }
}

static int in_region(const cascade_mask_spec *s, float label) {
    if (s->n_values == 0) return label != 0;
    for (int k = 0; k < s->n_values; k++)
        if ((double)label == s->values[k]) return 1;
    return 0;
}

void cascade_mask_fractions(const float *attr, const float *labels, const cascade_mask_spec *spec, int64_t n,
                            int64_t C, int64_t P, double *fraction, double *area) {
    for (int64_t i = 0; i < n; i++) {
        const float *a = attr + i * C * P, *m = labels + i * P;
        double inside = 0, total = 0;
        int64_t count = 0;
        for (int64_t p = 0; p < P; p++) {
            double mass = 0;
            for (int64_t c = 0; c < C; c++) mass += fabs((double)a[c * P + p]);
            int in = in_region(spec, m[p]);
            inside += in ? mass : 0;
            total += mass;
            count += in;
        }
        area[i] = (double)count / (double)P;
        fraction[i] = count > 0 && total > 0 ? inside / total : NAN;
    }
}

cascade_mask_summary cascade_mask_summarise(const double *fraction, const double *area, int64_t n) {
    cascade_mask_summary s = {0, 0, 0};
    for (int64_t i = 0; i < n; i++)
        if (isfinite(fraction[i])) {
            s.fraction += fraction[i];
            s.chance += area[i];
            s.used++;
        }
    if (s.used) s.fraction /= (double)s.used, s.chance /= (double)s.used;
    else s.fraction = s.chance = NAN;
    return s;
}

/* The positions of x a mask labels: (spatial...) for the channels layout, else x's shape. */
static cascade_shape pixel_shape(const cascade_shape *xshape, int channels, int64_t *C) {
    *C = 1;
    if (!channels || xshape->ndim < 2) return *xshape;
    *C = xshape->d[0];
    return cascade_shape_make(xshape->ndim - 1, xshape->d + 1);
}

cascade_status cascade_explain_mask_read(const char *file, const cascade_mask_spec *spec, int64_t n_file,
                                         const cascade_shape *xshape, int channels, int64_t first, int64_t n,
                                         MPI_Comm comm, float **labels) {
    int64_t C;
    cascade_shape px = pixel_shape(xshape, channels, &C);
    int64_t dims[CASCADE_MAX_DIMS] = {n_file};
    for (int k = 0; k < px.ndim && k + 1 < CASCADE_MAX_DIMS; k++) dims[k + 1] = px.d[k];
    cascade_shape want = cascade_shape_make(px.ndim + 1, dims);
    cascade_h5file *f;
    CASCADE_TRY(cascade_h5_open(file, comm, &f));
    cascade_h5_info info;
    cascade_status st = cascade_h5_info_of(f, spec->name, &info);
    if (st) cascade_error_context("explain: --mask: ");
    char got[96], need[96], xs[96];
    if (!st && !cascade_shape_equal(&info.shape, &want))
        st = cascade_fail(CASCADE_EDATA, "explain: --mask: data set '%s' in %s has shape %s, but it must be %s: one "
                          "value per sample and position of the input x %s per sample", spec->name, file,
                          cascade_shape_str(&info.shape, got, sizeof got), cascade_shape_str(&want, need, sizeof need),
                          cascade_shape_str(xshape, xs, sizeof xs));
    float *m = st ? NULL : cascade_alloc((size_t)(n * cascade_shape_numel(&px)) * sizeof(float), "mask");
    if (!st && !m) st = CASCADE_EINTERNAL;
    if (!st) st = cascade_h5_read_rows(f, spec->name, first, n, m);
    cascade_h5_close(f);
    if (st) {
        cascade_free(m);
        return st;
    }
    *labels = m;
    return CASCADE_OK;
}

cascade_status cascade_explain_mask_write(cascade_h5writer *w, const char *spec_text, const cascade_mask_spec *spec,
                                          const float *labels, const cascade_shape *xshape, int channels, int64_t n,
                                          const float *attr, int rank) {
    int64_t C;
    cascade_shape px = pixel_shape(xshape, channels, &C);
    int64_t P = cascade_shape_numel(&px);
    double *fraction = cascade_alloc((size_t)(2 * n) * sizeof(double), "mask fractions"), *area = fraction + n;
    float *rows = cascade_alloc((size_t)(2 * n) * sizeof(float), "mask fractions");
    if (!fraction || !rows) {
        cascade_free(fraction), cascade_free(rows);
        return CASCADE_EINTERNAL;
    }
    cascade_mask_fractions(attr, labels, spec, n, C, P, fraction, area);
    cascade_mask_summary s = cascade_mask_summarise(fraction, area, n);
    for (int64_t i = 0; i < n; i++) rows[i] = (float)fraction[i], rows[n + i] = (float)area[i];
    cascade_shape sh = cascade_shape_make(1, &n);
    cascade_status st = cascade_h5w_write_floats(w, "mask_fraction", &sh, rows, 0, rank == 0 ? n : 0);
    if (!st) st = cascade_h5w_write_floats(w, "mask_area", &sh, rows + n, 0, rank == 0 ? n : 0);
    if (!st) st = cascade_h5w_attr_string(w, "/", "mask", spec_text);
    if (!st) st = cascade_h5w_attr_double(w, "/", "mask_fraction", s.fraction);
    if (!st) st = cascade_h5w_attr_double(w, "/", "mask_chance", s.chance);
    if (!st) st = cascade_h5w_attr_int(w, "/", "mask_samples", s.used);
    if (!st) {
        cascade_log("explain: mask %s: %.3f of |attribution| inside the region (mean over %lld of %lld samples), "
                    "chance %.3f (region area / %lld pixels): %.1fx chance\n", spec_text, s.fraction,
                    (long long)s.used, (long long)n, s.chance, (long long)P, s.fraction / s.chance);
        if (s.used < n)
            cascade_log("explain: mask %s: %lld sample(s) left out: empty region or zero attribution\n", spec_text,
                        (long long)(n - s.used));
    }
    cascade_free(fraction);
    cascade_free(rows);
    return st;
}
