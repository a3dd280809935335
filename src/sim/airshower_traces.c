/* Air-shower station traces (80 bins of 25 ns) and the normal quantile the arrival times use. */
#include <math.h>
#include <string.h>

#include "sim/airshower.h"

#define EXPLICIT_MUONS 64  /* up to this many muons are drawn one by one (spikes) */
#define LIGHT_DECAY_NS 30.0 /* tank light decay smearing a muon's spike over the next bins */

double airshower_normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* P. J. Acklam's algorithm: rational approximations in the central region and the tails. */
double airshower_normal_quantile(double p) {
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    const double low = 0.02425;
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    if (p < low || p > 1 - low) {
        double q = sqrt(-2 * log(p < low ? p : 1 - p));
        double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        return p < low ? x : -x;
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* Adds `weight` spread over the bins as a log-normal delay (median, sigma) truncated below
 * at the first particle t0 (bin 0 starts there); normalised within the trace window. */
static void add_lognormal(double *bins, double weight, double t0, double median, double sigma) {
    double frac[AIRSHOWER_BINS], lm = log(median), total = 0;
    double prev = airshower_normal_cdf((log(t0) - lm) / sigma);
    for (int k = 0; k < AIRSHOWER_BINS; k++) {
        double c = airshower_normal_cdf((log(t0 + AIRSHOWER_BIN_NS * (k + 1)) - lm) / sigma);
        frac[k] = c - prev;
        prev = c;
        total += frac[k];
    }
    if (!(total > 1e-300)) { /* far in the tail: everything arrives at once */
        bins[0] += weight;
        return;
    }
    for (int k = 0; k < AIRSHOWER_BINS; k++) bins[k] += weight * frac[k] / total;
}

/* Muon counts per bin: the first muon (when it was the first particle) at t0, the others
 * from the log-normal truncated at t0 (inverse CDF). */
static void add_muons(double *counts, const airshower_trace_in *in, sim_rng *r) {
    double lm = log(in->median_mu);
    double f0 = airshower_normal_cdf((log(in->first_delay_ns) - lm) / AIRSHOWER_SIGMA_MU);
    for (long j = 0; j < in->n_mu; j++) {
        double u = f0 + (1.0 - f0) * sim_uniform(r);
        double t = in->first_delay_ns;
        if (!(j == 0 && in->first_is_muon) && u < 1.0) t = exp(lm + AIRSHOWER_SIGMA_MU * airshower_normal_quantile(u));
        if (t < in->first_delay_ns) t = in->first_delay_ns; /* quantile rounding */
        double k = (t - in->first_delay_ns) / AIRSHOWER_BIN_NS;
        if (k < AIRSHOWER_BINS) counts[(int)k] += 1.0;
    }
}

void airshower_trace(const airshower_trace_in *in, sim_rng *r, float *out) {
    double bins[AIRSHOWER_BINS] = {0}, muons[AIRSHOWER_BINS] = {0};
    if (in->em > 0) add_lognormal(bins, in->em, in->first_delay_ns, in->median_em, AIRSHOWER_SIGMA_EM);
    if (in->n_mu > EXPLICIT_MUONS) {
        add_lognormal(muons, (double)in->n_mu, in->first_delay_ns, in->median_mu, AIRSHOWER_SIGMA_MU);
    } else if (in->n_mu > 0) {
        add_muons(muons, in, r);
    }
    /* light decay: y[k] = (1 - a) sum_j<=k a^(k-j) x[j] keeps the sum (up to the window end) */
    double a = exp(-AIRSHOWER_BIN_NS / LIGHT_DECAY_NS), acc = 0, total = 0;
    for (int k = 0; k < AIRSHOWER_BINS; k++) {
        acc = a * acc + muons[k];
        bins[k] += (1.0 - a) * acc;
        total += bins[k];
    }
    if (!(total > 0)) { /* only noise triggered: all in the first bin */
        bins[0] = 1.0;
        total = 1.0;
    }
    double scale = in->signal / total;
    for (int k = 0; k < AIRSHOWER_BINS; k++) out[k] = (float)(bins[k] * scale);
}
