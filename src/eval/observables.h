/* Observables for judging generated samples against real ones (GAN evaluation,
 * docs/gan-evaluation.md): per-sample observables, histograms on a common binning and the
 * separation power 1/2 sum (h1 - h2)^2 / (h1 + h2) of the normalised histograms.
 * Pure computations on arrays in memory: no I/O, no MPI. */
#ifndef CASCADE_EVAL_OBSERVABLES_H
#define CASCADE_EVAL_OBSERVABLES_H

#include <stdint.h>

#include "cascade/core.h"

/* ---- histograms and separation power ---- */
typedef enum { OBS_LINEAR, OBS_LOG, OBS_INTEGER } cascade_obs_scale;

/* nbins equal bins between lo and hi (log: equal in log10 of the value, lo/hi are log10),
 * plus an underflow bin (index 0) and an overflow bin (index nbins + 1). */
typedef struct {
    double lo, hi;
    int nbins;
    cascade_obs_scale scale;
} cascade_binning;

/* The common binning of an observable, from the reference (real) sample: its [min, max]
 * (log: of its positive values, in log10); integer: unit-wide bins centred on the integers,
 * merged in groups when there are more than nbins of them. A constant reference gets one bin
 * of width 1 (linear, integer) or 0.1 decade (log) around its value; an empty one [0, 1]. */
cascade_binning cascade_binning_from(const double *ref, int64_t n, int nbins, cascade_obs_scale scale);
/* Bin index of v in [0, nbins + 1]. NaN goes to the underflow bin. */
int cascade_bin_of(const cascade_binning *b, double v);
/* Lower edge of bin k (1 <= k <= nbins + 1: k = nbins + 1 is the upper edge), in the
 * observable's own units (not log10). */
double cascade_bin_edge(const cascade_binning *b, int k);
/* Normalised histogram (sum 1; all 0 when n == 0) of n values into h[nbins + 2]. */
void cascade_hist_fill(const cascade_binning *b, const double *v, int64_t n, double *h);
/* 1/2 sum_k (h1_k - h2_k)^2 / (h1_k + h2_k) over bins with h1_k + h2_k > 0, for two
 * normalised histograms: 0 for identical, 1 for disjoint ones. */
double cascade_separation_power(const double *h1, const double *h2, int nbins);
/* Median of n values (a sorted copy; NaN when n == 0). */
double cascade_median(const double *v, int64_t n);

/* ---- sets of per-sample observables ---- */
#define CASCADE_OBS_MAX 96

typedef struct {
    char name[64];
    char unit[16];
    cascade_obs_scale scale;
    int highlevel; /* part of the kind's high-level (physics) set */
    double *v;     /* n values, one per sample (owned) */
} cascade_obs;

typedef struct {
    int64_t n; /* samples */
    int count;
    cascade_obs o[CASCADE_OBS_MAX];
} cascade_obs_set;

void cascade_obs_init(cascade_obs_set *s, int64_t n);
void cascade_obs_free(cascade_obs_set *s);
/* A new observable (values zeroed); NULL after an error (set: full or out of memory). */
double *cascade_obs_add(cascade_obs_set *s, const char *name, const char *unit, cascade_obs_scale scale,
                        int highlevel);
/* Index of the observable called name, -1 if none. */
int cascade_obs_find(const cascade_obs_set *s, const char *name);

/* Generic observables of a data set x (n samples of `cells` values each):
 * NAME.sum (sum of the cells), NAME.nonzero (hit cells: |v| > threshold), NAME.mean and
 * NAME.std (mean and population std of the sample's hit cells; 0 without any). */
cascade_status cascade_obs_generic(cascade_obs_set *s, const char *name, const float *x, int64_t cells,
                                   double threshold);

/* Calorimeter (CaloGAN layout, energies in MeV). layers[l] (l = 0, 1, 2; NULL when absent)
 * holds n samples of rows[l] x cols[l] cells (rows = y = phi, columns = x = eta). e_inc: the
 * incident energy per sample in GeV, or NULL. Cells count as hit above `threshold` MeV.
 * Per present layer l: E_l [MeV], eta_l and phi_l (energy-weighted centroid, cell units from
 * the layer's centre), width_eta_l and width_phi_l (energy-weighted std, cell units),
 * sparsity_l (share of cells not hit). Then Etot_over_Einc (with e_inc; E_tot = sum of the
 * present layers) and, with two or more layers, E_total, frac_l = E_l / E_total and
 * shower_depth = sum_l l E_l / E_total (layer index 0..2). Negative cell values count as 0
 * in the energy weights of centroids and widths. */
cascade_status cascade_obs_calorimeter(cascade_obs_set *s, const float *const layers[3], const int rows[3],
                                       const int cols[3], const float *e_inc, double threshold);

/* Air-shower footprints: signal (n, 9, 9) [VEM] on the CONTRACT grid of `spacing` metres.
 * total_signal [VEM], n_triggered (stations with signal >= trigger), max_signal [VEM] and
 * barycentre_r [m] (distance of the signal-weighted barycentre of the triggered stations from
 * the central station; 0 without a triggered station). */
cascade_status cascade_obs_airshower(cascade_obs_set *s, const float *signal, double spacing, double trigger);

/* Position [m] of station (r, c) of the 9x9 grid (CONTRACT: odd rows shifted by half). */
void cascade_station_xy(int r, int c, double spacing, double *x, double *y);
/* Lateral profile: mean signal of all stations (triggered or not) in bins of distance
 * [k*width, (k+1)*width) from the event's signal-weighted barycentre of the triggered stations
 * (events without a triggered station are skipped). mean[nbins] (NaN for an empty bin),
 * count[nbins] the station count per bin. */
void cascade_lateral_profile(const float *signal, int64_t n, double spacing, double trigger, double width,
                             int nbins, double *mean, int64_t *count);

#endif
