/* Air-shower simulator (`cascade simulate airshower`): the model pieces, shared by the
 * generator (airshower.c), the trace builder (airshower_traces.c) and the physics tests.
 * Parametrisations and their sources: datasets/airshower.md. */
#ifndef CASCADE_SIM_AIRSHOWER_H
#define CASCADE_SIM_AIRSHOWER_H

#include "sim/sim.h"

#define AIRSHOWER_KIND_ID 1
#define AIRSHOWER_GRID 9           /* 9 x 9 stations, offset coordinates (odd rows shifted) */
#define AIRSHOWER_STATIONS 81
#define AIRSHOWER_BINS 80          /* trace bins */
#define AIRSHOWER_BIN_NS 25.0
#define AIRSHOWER_SPACING_M 1500.0
#define AIRSHOWER_C_M_PER_NS 0.299792458

enum { AIRSHOWER_SIM = 0, AIRSHOWER_DATA = 1 };

typedef struct {
    int domain; /* AIRSHOWER_SIM | AIRSHOWER_DATA */
    int traces; /* write `traces` (N,9,9,80) */
    double mass_weight[4]; /* p, He, N, Fe (unnormalised) */
    double zenith_max_deg, lge_min, lge_max, trigger_vem, xmax_shift;
    /* set from the domain */
    double muon_fraction_p; /* muonic share of S(1000) for protons at the reference depth */
    double noise_vem, noise_rel; /* detector noise: sigma = noise_vem (+) noise_rel * S */
    double jitter_ns;            /* timing noise */
} airshower_cfg;

/* One shower: the labels and the derived quantities every station needs. */
typedef struct {
    double lge, zenith, azimuth, mass, xmax;
    double axis[3], core[2];
    double s_mu1000, s_em1000; /* expected muonic / EM signal at 1000 m from the axis [VEM] */
    double front_radius_m;     /* radius of curvature of the shower front */
} airshower_event;

/* Expected (noise-free) response of one station to a shower. */
typedef struct {
    double r_axis;          /* distance to the axis in the shower plane [m] (unclamped) */
    double t_plane, t_front; /* plane-front delay and curvature delay [ns] */
    double mu, em;          /* expected muonic and EM signal [VEM] */
    double median_mu, median_em; /* log-normal particle-delay medians [ns] */
} airshower_station;

/* Station [row][col] position on the ground [m]. */
void airshower_station_xy(int row, int col, double *x, double *y);
/* Muonic share of the reference S(1000) for mass number A (odds grow as A^0.15). */
double airshower_muon_fraction(const airshower_cfg *cfg, double mass);
/* Draws the shower-level quantities from the event's main stream. */
void airshower_draw_event(const airshower_cfg *cfg, sim_rng *r, airshower_event *ev);
void airshower_station_expect(const airshower_event *ev, double x, double y, airshower_station *st);

/* Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
double airshower_normal_quantile(double p);
double airshower_normal_cdf(double x);

/* One station's trace: what the summary draws decided, and the particle-delay model. */
typedef struct {
    double first_delay_ns; /* first particle after the (curved) front: trace bin 0 starts here */
    int first_is_muon;
    long n_mu;             /* muons in the station */
    double em;             /* expected EM signal [VEM] (smooth component) */
    double median_mu, median_em;
    double signal;         /* observed signal [VEM]: the trace sums to it */
} airshower_trace_in;

/* Fills out[AIRSHOWER_BINS]: muon spikes (individual muons when few, with the tank's light
 * decay) on a smooth EM component, both from the log-normal delays truncated at the first
 * particle, scaled so that the bins sum to in->signal. Draws from r (a station sub-stream). */
void airshower_trace(const airshower_trace_in *in, sim_rng *r, float *out);

/* Log-normal widths of the particle delays. */
#define AIRSHOWER_SIGMA_MU 0.5
#define AIRSHOWER_SIGMA_EM 0.7

#endif
