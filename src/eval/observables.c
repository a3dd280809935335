/* GAN evaluation observables, histograms and separation power (see observables.h). */
#include "eval/observables.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- histograms ---- */

cascade_binning cascade_binning_from(const double *ref, int64_t n, int nbins, cascade_obs_scale scale) {
    cascade_binning b = {.lo = 0, .hi = 1, .nbins = nbins > 0 ? nbins : 1, .scale = scale};
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = ref[i];
        if (!isfinite(v) || (scale == OBS_LOG && v <= 0)) continue;
        if (scale == OBS_LOG) v = log10(v);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (!(lo <= hi)) return b; /* no usable reference value */
    if (scale == OBS_INTEGER) {
        double first = floor(lo + 0.5), last = floor(hi + 0.5), k = last - first + 1;
        double group = ceil(k / b.nbins);
        b.nbins = (int)ceil(k / group);
        b.lo = first - 0.5;
        b.hi = b.lo + group * b.nbins;
        return b;
    }
    if (hi == lo) {
        double half = scale == OBS_LOG ? 0.05 : 0.5;
        lo -= half, hi += half;
        b.nbins = 1;
    }
    b.lo = lo, b.hi = hi;
    return b;
}

int cascade_bin_of(const cascade_binning *b, double v) {
    if (isnan(v)) return 0;
    if (b->scale == OBS_LOG) {
        if (v <= 0) return 0;
        v = log10(v);
    }
    if (v < b->lo) return 0;
    if (v > b->hi) return b->nbins + 1;
    int k = (int)floor((v - b->lo) / (b->hi - b->lo) * b->nbins);
    if (k >= b->nbins) k = b->nbins - 1; /* v == hi: the last bin holds its upper edge */
    return k + 1;
}

double cascade_bin_edge(const cascade_binning *b, int k) {
    double e = b->lo + (b->hi - b->lo) * (double)(k - 1) / b->nbins;
    return b->scale == OBS_LOG ? pow(10.0, e) : e;
}

void cascade_hist_fill(const cascade_binning *b, const double *v, int64_t n, double *h) {
    memset(h, 0, (size_t)(b->nbins + 2) * sizeof(double));
    for (int64_t i = 0; i < n; i++) h[cascade_bin_of(b, v[i])] += 1;
    if (n > 0)
        for (int k = 0; k < b->nbins + 2; k++) h[k] /= (double)n;
}

double cascade_separation_power(const double *h1, const double *h2, int nbins) {
    double s = 0;
    for (int k = 0; k < nbins; k++) {
        double a = h1[k] + h2[k], d = h1[k] - h2[k];
        if (a > 0) s += d * d / a;
    }
    return 0.5 * s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cascade_median(const double *v, int64_t n) {
    if (n <= 0) return NAN;
    double *c = malloc((size_t)n * sizeof(double));
    if (!c) return NAN;
    memcpy(c, v, (size_t)n * sizeof(double));
    qsort(c, (size_t)n, sizeof(double), cmp_double);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* ---- observable sets ---- */

void cascade_obs_init(cascade_obs_set *s, int64_t n) {
    memset(s, 0, sizeof *s);
    s->n = n;
}

void cascade_obs_free(cascade_obs_set *s) {
    for (int i = 0; i < s->count; i++) free(s->o[i].v);
    memset(s, 0, sizeof *s);
}

double *cascade_obs_add(cascade_obs_set *s, const char *name, const char *unit, cascade_obs_scale scale,
                        int highlevel) {
    if (s->count == CASCADE_OBS_MAX) {
        cascade_fail(CASCADE_EINTERNAL, "more than %d observables (at %s)", CASCADE_OBS_MAX, name);
        return NULL;
    }
    cascade_obs *o = &s->o[s->count];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    snprintf(o->unit, sizeof o->unit, "%s", unit);
    o->scale = scale;
    o->highlevel = highlevel;
    o->v = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof(double));
    if (!o->v) {
        cascade_fail(CASCADE_EINTERNAL, "out of memory for observable %s (%lld samples)", name, (long long)s->n);
        return NULL;
    }
    s->count++;
    return o->v;
}

int cascade_obs_find(const cascade_obs_set *s, const char *name) {
    for (int i = 0; i < s->count; i++)
        if (strcmp(s->o[i].name, name) == 0) return i;
    return -1;
}

static double *add_named(cascade_obs_set *s, const char *prefix, const char *what, const char *unit,
                         cascade_obs_scale scale, int highlevel) {
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, what);
    return cascade_obs_add(s, name, unit, scale, highlevel);
}

cascade_status cascade_obs_generic(cascade_obs_set *s, const char *name, const float *x, int64_t cells,
                                   double threshold) {
    char p[48];
    snprintf(p, sizeof p, "%s.", name);
    double *sum = add_named(s, p, "sum", "", OBS_LINEAR, 0);
    double *nz = sum ? add_named(s, p, "nonzero", "cells", OBS_INTEGER, 0) : NULL;
    double *mean = nz ? add_named(s, p, "mean", "", OBS_LINEAR, 0) : NULL;
    double *sd = mean ? add_named(s, p, "std", "", OBS_LINEAR, 0) : NULL;
    if (!sd) return CASCADE_EINTERNAL;
    for (int64_t i = 0; i < s->n; i++) {
        const float *r = x + i * cells;
        double t = 0, th = 0, q = 0;
        int64_t k = 0;
        for (int64_t e = 0; e < cells; e++) {
            int hit = fabs((double)r[e]) > threshold;
            t += r[e];
            k += hit;
            if (hit) th += r[e];
        }
        double m = k ? th / (double)k : 0;
        for (int64_t e = 0; e < cells; e++)
            if (fabs((double)r[e]) > threshold) q += ((double)r[e] - m) * ((double)r[e] - m);
        sum[i] = t, nz[i] = (double)k, mean[i] = m, sd[i] = k ? sqrt(q / (double)k) : 0;
    }
    return CASCADE_OK;
}

/* ---- calorimeter ---- */

cascade_status cascade_obs_calorimeter(cascade_obs_set *s, const float *const layers[3], const int rows[3],
                                       const int cols[3], const float *e_inc, double threshold) {
    double *E[3] = {0}, *eta[3] = {0}, *phi[3] = {0}, *weta[3] = {0}, *wphi[3] = {0}, *sp[3] = {0};
    int present = 0;
    for (int l = 0; l < 3; l++) {
        if (!layers[l]) continue;
        present++;
        char sfx[16];
        snprintf(sfx, sizeof sfx, "_layer_%d", l);
        char n[6][48];
        const char *what[6] = {"E", "eta", "phi", "width_eta", "width_phi", "sparsity"};
        for (int k = 0; k < 6; k++) snprintf(n[k], sizeof n[k], "%s%s", what[k], sfx);
        if (!(E[l] = cascade_obs_add(s, n[0], "MeV", OBS_LOG, 1))) return CASCADE_EINTERNAL;
        if (!(eta[l] = cascade_obs_add(s, n[1], "cells", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
        if (!(phi[l] = cascade_obs_add(s, n[2], "cells", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
        if (!(weta[l] = cascade_obs_add(s, n[3], "cells", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
        if (!(wphi[l] = cascade_obs_add(s, n[4], "cells", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
        if (!(sp[l] = cascade_obs_add(s, n[5], "", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
    }
    if (!present) return cascade_fail(CASCADE_EDATA, "calorimeter observables: no layer_0/1/2 data set to compute them on");
    double *tot = NULL; /* with one layer, E_total would repeat E_layer_l */
    if (present >= 2 && !(tot = cascade_obs_add(s, "E_total", "MeV", OBS_LOG, 1))) return CASCADE_EINTERNAL;
    double *ratio = NULL, *frac[3] = {0}, *depth = NULL;
    if (e_inc && !(ratio = cascade_obs_add(s, "Etot_over_Einc", "", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
    if (present >= 2) {
        for (int l = 0; l < 3; l++) {
            char n[32];
            snprintf(n, sizeof n, "frac_layer_%d", l);
            if (layers[l] && !(frac[l] = cascade_obs_add(s, n, "", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
        }
        if (!(depth = cascade_obs_add(s, "shower_depth", "layers", OBS_LINEAR, 1))) return CASCADE_EINTERNAL;
    }
    for (int64_t i = 0; i < s->n; i++) {
        double t = 0, lw = 0;
        for (int l = 0; l < 3; l++) {
            if (!layers[l]) continue;
            int R = rows[l], C = cols[l];
            const float *c = layers[l] + i * (int64_t)R * C;
            double e = 0, w = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
            int64_t empty = 0;
            for (int r = 0; r < R; r++)
                for (int k = 0; k < C; k++) {
                    double v = c[r * C + k], u = v > 0 ? v : 0;
                    double x = k - 0.5 * (C - 1), y = r - 0.5 * (R - 1);
                    e += v;
                    empty += !(v > threshold);
                    w += u, sx += u * x, sy += u * y, sxx += u * x * x, syy += u * y * y;
                }
            double mx = w > 0 ? sx / w : 0, my = w > 0 ? sy / w : 0;
            E[l][i] = e;
            eta[l][i] = mx, phi[l][i] = my;
            weta[l][i] = w > 0 ? sqrt(fmax(0, sxx / w - mx * mx)) : 0;
            wphi[l][i] = w > 0 ? sqrt(fmax(0, syy / w - my * my)) : 0;
            sp[l][i] = (double)empty / ((double)R * C);
            t += e, lw += l * e;
        }
        if (tot) tot[i] = t;
        if (ratio) ratio[i] = t / (1000.0 * e_inc[i]);
        if (depth) {
            for (int l = 0; l < 3; l++)
                if (frac[l]) frac[l][i] = t != 0 ? E[l][i] / t : 0;
            depth[i] = t != 0 ? lw / t : 0;
        }
    }
    return CASCADE_OK;
}

/* ---- air showers ---- */

void cascade_station_xy(int r, int c, double spacing, double *x, double *y) {
    *x = (c - 4 + 0.5 * (r % 2)) * spacing;
    *y = (r - 4) * spacing * sqrt(3.0) / 2;
}

/* Signal-weighted barycentre of the triggered stations of one 9x9 footprint; 0 without any. */
static int barycentre(const float *sig, double spacing, double trigger, double *bx, double *by) {
    double w = 0, sx = 0, sy = 0;
    for (int r = 0; r < 9; r++)
        for (int c = 0; c < 9; c++) {
            double v = sig[r * 9 + c], x, y;
            if (!(v >= trigger)) continue;
            cascade_station_xy(r, c, spacing, &x, &y);
            w += v, sx += v * x, sy += v * y;
        }
    if (!(w > 0)) return 0;
    *bx = sx / w, *by = sy / w;
    return 1;
}

cascade_status cascade_obs_airshower(cascade_obs_set *s, const float *signal, double spacing, double trigger) {
    double *tot = cascade_obs_add(s, "total_signal", "VEM", OBS_LOG, 1);
    double *ntr = tot ? cascade_obs_add(s, "n_triggered", "stations", OBS_INTEGER, 1) : NULL;
    double *mx = ntr ? cascade_obs_add(s, "max_signal", "VEM", OBS_LOG, 1) : NULL;
    double *br = mx ? cascade_obs_add(s, "barycentre_r", "m", OBS_LINEAR, 1) : NULL;
    if (!br) return CASCADE_EINTERNAL;
    for (int64_t i = 0; i < s->n; i++) {
        const float *sig = signal + i * 81;
        double t = 0, m = -INFINITY, bx = 0, by = 0;
        int k = 0;
        for (int e = 0; e < 81; e++) {
            t += sig[e];
            k += sig[e] >= trigger;
            if (sig[e] > m) m = sig[e];
        }
        tot[i] = t, ntr[i] = k, mx[i] = m;
        br[i] = barycentre(sig, spacing, trigger, &bx, &by) ? sqrt(bx * bx + by * by) : 0;
    }
    return CASCADE_OK;
}

void cascade_lateral_profile(const float *signal, int64_t n, double spacing, double trigger, double width,
                             int nbins, double *mean, int64_t *count) {
    for (int k = 0; k < nbins; k++) mean[k] = 0, count[k] = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *sig = signal + i * 81;
        double bx, by;
        if (!barycentre(sig, spacing, trigger, &bx, &by)) continue;
        for (int r = 0; r < 9; r++)
            for (int c = 0; c < 9; c++) {
                double x, y;
                cascade_station_xy(r, c, spacing, &x, &y);
                int k = (int)floor(sqrt((x - bx) * (x - bx) + (y - by) * (y - by)) / width);
                if (k < 0 || k >= nbins) continue;
                mean[k] += sig[r * 9 + c];
                count[k]++;
            }
    }
    for (int k = 0; k < nbins; k++) mean[k] = count[k] ? mean[k] / (double)count[k] : NAN;
}
