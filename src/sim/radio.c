/* `cascade simulate radio`: single-antenna traces of 512 samples at 1 ns (µV) holding a
 * band-limited (30-80 MHz) air-shower pulse plus coloured (Galactic + thermal) noise.
 * Both are built in the frequency domain and brought to the time domain as analytic signals
 * with a complex inverse FFT (radix-2, written here): the real part is the trace, the modulus
 * its Hilbert envelope. Parametrisations: datasets/README.md (radio). */
#include <math.h>
#include <string.h>

#include "sim/sim.h"

#define RADIO_KIND_ID 5
#define RADIO_SAMPLES 512    /* trace length; 1 ns sampling: bin k is k/512 GHz */
#define RADIO_LOG2_SAMPLES 9
#define RADIO_SAMPLE_NS 1.0
#define RADIO_BAND_LO_MHZ 30.0
#define RADIO_BAND_HI_MHZ 80.0
#define RADIO_TAPER_MHZ 5.0  /* cos² edges of the system response inside the band */
#define RADIO_GALACTIC_INDEX (-2.5)    /* noise power ∝ ν^index (Galactic synchrotron) */
#define RADIO_THERMAL_RATIO 0.1        /* flat thermal power / Galactic power at 50 MHz */
#define RADIO_AMP_REF_UV 200.0         /* envelope peak at 1 EeV, on the axis, sin α = 1 */
#define RADIO_R_MAX_M 500.0            /* antenna uniform on a disc of this radius */
#define RADIO_LDF_R0_M 200.0           /* lateral fall-off exp(-r/r0) */
#define RADIO_CHARGE_EXCESS 0.14       /* AERA: charge-excess / geomagnetic amplitude */
#define RADIO_SLOPE_MAX_PER_MHZ 0.03   /* spectral slope at r = r_max */
#define RADIO_SLOPE_PIVOT_MHZ 55.0
#define RADIO_T0_MIN_NS 128.0          /* pulse arrival window, away from the edges */
#define RADIO_T0_MAX_NS 384.0

typedef struct {
    double noise_rms_uv, emin_eev, emax_eev, signal_fraction;
    int k_lo, k_hi;                        /* bins of the band (inclusive) */
    double response[RADIO_SAMPLES / 2];    /* system amplitude response |H(f_k)| */
    double noise_amp[RADIO_SAMPLES / 2];   /* a_k: E|noise bin k|² = a_k², gives the set RMS */
    double cos_table[RADIO_SAMPLES / 2];   /* cos, sin of 2πj/N for the FFT */
    double sin_table[RADIO_SAMPLES / 2];
    unsigned short bit_reverse[RADIO_SAMPLES];
} radio_cfg;

enum { F_NOISY, F_CLEAN, F_ENERGY, F_SNR, F_HAS_SIGNAL, F_COUNT };

static double bin_mhz(int k) { return 1e3 * k / (RADIO_SAMPLES * RADIO_SAMPLE_NS); }

/* System response: 1 in [lo+taper, hi-taper], cos² roll-off to 0 at lo and hi, 0 outside —
 * a strictly band-limited digital band-pass (the band edges are the zeros). */
static double system_response(double f_mhz) {
    double lo = RADIO_BAND_LO_MHZ, hi = RADIO_BAND_HI_MHZ, w = RADIO_TAPER_MHZ;
    if (f_mhz <= lo || f_mhz >= hi) return 0.0;
    double edge = f_mhz < lo + w ? (f_mhz - lo) / w : f_mhz > hi - w ? (hi - f_mhz) / w : 1.0;
    double s = sin(0.5 * M_PI * edge);
    return s * s;
}

/* Noise power spectral density (relative): Galactic ν^-2.5 plus flat thermal. */
static double noise_psd(double f_mhz) {
    return pow(f_mhz / 50.0, RADIO_GALACTIC_INDEX) + RADIO_THERMAL_RATIO;
}

/* In-place inverse DFT, x_n = Σ_k X_k e^{+2πikn/N} (no 1/N), iterative radix-2. */
static void inverse_fft(const radio_cfg *c, double *re, double *im) {
    const int n = RADIO_SAMPLES;
    for (int i = 0; i < n; i++) {
        int j = c->bit_reverse[i];
        if (j > i) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int len = 2; len <= n; len <<= 1) {
        int half = len / 2, stride = n / len;
        for (int start = 0; start < n; start += len)
            for (int j = 0; j < half; j++) {
                double wr = c->cos_table[j * stride], wi = c->sin_table[j * stride];
                int a = start + j, b = a + half;
                double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
    }
}

static cascade_status radio_configure(void *cfgp, sim_options *o) {
    radio_cfg *c = cfgp;
    memset(c, 0, sizeof *c);
    CASCADE_TRY(sim_opt_double(o, "noise", 10.0, 0.0, 1e9, &c->noise_rms_uv));
    CASCADE_TRY(sim_opt_double(o, "emin", 0.1, 1e-6, 1e6, &c->emin_eev));
    CASCADE_TRY(sim_opt_double(o, "emax", 10.0, 1e-6, 1e6, &c->emax_eev));
    CASCADE_TRY(sim_opt_double(o, "signal-fraction", 1.0, 0.0, 1.0, &c->signal_fraction));
    if (!(c->noise_rms_uv > 0))
        return cascade_fail(CASCADE_EUSAGE, "--noise %g: the noise RMS [µV] must be positive", c->noise_rms_uv);
    if (!(c->emin_eev < c->emax_eev))
        return cascade_fail(CASCADE_EUSAGE, "--emin %g --emax %g: emin must be below emax (EeV)", c->emin_eev,
                            c->emax_eev);
    const int n = RADIO_SAMPLES;
    for (int j = 0; j < n / 2; j++) {
        c->cos_table[j] = cos(2.0 * M_PI * j / n);
        c->sin_table[j] = sin(2.0 * M_PI * j / n);
    }
    for (int i = 0; i < n; i++) {
        int r = 0;
        for (int b = 0; b < RADIO_LOG2_SAMPLES; b++)
            if (i & (1 << b)) r |= 1 << (RADIO_LOG2_SAMPLES - 1 - b);
        c->bit_reverse[i] = (unsigned short)r;
    }
    /* noise: E|M_k|² = a_k² ∝ |H|² PSD; time-domain variance (2/N²) Σ a_k² = σ² */
    double total = 0;
    c->k_lo = -1;
    for (int k = 1; k < n / 2; k++) {
        c->response[k] = system_response(bin_mhz(k));
        if (c->response[k] <= 0) continue;
        if (c->k_lo < 0) c->k_lo = k;
        c->k_hi = k;
        c->noise_amp[k] = c->response[k] * c->response[k] * noise_psd(bin_mhz(k));
        total += c->noise_amp[k];
    }
    for (int k = c->k_lo; k <= c->k_hi; k++)
        c->noise_amp[k] = c->noise_rms_uv * n * sqrt(c->noise_amp[k] / (2.0 * total));
    return CASCADE_OK;
}

static int radio_fields(const void *cfgp, sim_field *f) {
    (void)cfgp;
    const char *names[F_COUNT] = {"noisy", "clean", "energy", "snr", "has_signal"};
    for (int i = 0; i < F_COUNT; i++) {
        memset(&f[i], 0, sizeof f[i]);
        strcpy(f[i].name, names[i]);
        f[i].type = i == F_HAS_SIGNAL ? CASCADE_H5_I32 : CASCADE_H5_F32;
        f[i].ndim = i <= F_CLEAN ? 1 : 0;
        f[i].dims[0] = RADIO_SAMPLES;
    }
    return F_COUNT;
}


static int radio_attrs(const void *cfgp, sim_attr *a) {
    const radio_cfg *c = cfgp;
    int n = 0;
    sim_attr_number(a, &n, "samples", RADIO_SAMPLES);
    sim_attr_number(a, &n, "sample_ns", RADIO_SAMPLE_NS);
    sim_attr_text(a, &n, "trace_unit", "uV");
    sim_attr_text(a, &n, "energy_unit", "EeV");
    sim_attr_number(a, &n, "band_lo_MHz", RADIO_BAND_LO_MHZ);
    sim_attr_number(a, &n, "band_hi_MHz", RADIO_BAND_HI_MHZ);
    sim_attr_number(a, &n, "taper_MHz", RADIO_TAPER_MHZ);
    sim_attr_number(a, &n, "noise_rms_uV", c->noise_rms_uv);
    sim_attr_number(a, &n, "galactic_index", RADIO_GALACTIC_INDEX);
    sim_attr_number(a, &n, "thermal_ratio_50MHz", RADIO_THERMAL_RATIO);
    sim_attr_number(a, &n, "emin_EeV", c->emin_eev);
    sim_attr_number(a, &n, "emax_EeV", c->emax_eev);
    sim_attr_text(a, &n, "energy_spectrum", "log-uniform (dN/dE ∝ 1/E)");
    sim_attr_number(a, &n, "signal_fraction", c->signal_fraction);
    sim_attr_number(a, &n, "amp_ref_uV", RADIO_AMP_REF_UV);
    sim_attr_number(a, &n, "r_max_m", RADIO_R_MAX_M);
    sim_attr_number(a, &n, "ldf_r0_m", RADIO_LDF_R0_M);
    sim_attr_number(a, &n, "charge_excess", RADIO_CHARGE_EXCESS);
    sim_attr_number(a, &n, "slope_max_per_MHz", RADIO_SLOPE_MAX_PER_MHZ);
    sim_attr_number(a, &n, "slope_pivot_MHz", RADIO_SLOPE_PIVOT_MHZ);
    sim_attr_number(a, &n, "t0_min_ns", RADIO_T0_MIN_NS);
    sim_attr_number(a, &n, "t0_max_ns", RADIO_T0_MAX_NS);
    sim_attr_text(a, &n, "snr_definition", "max Hilbert envelope of clean / noise_rms_uV (0 without signal)");
    return n;
}

/* Pulse parameters of one event, drawn from its own sub-stream. */
typedef struct {
    double energy_eev, peak_uv, t0_ns, phase, slope_per_mhz;
} radio_pulse;

static void draw_pulse(const radio_cfg *c, sim_rng *r, radio_pulse *p) {
    p->energy_eev = c->emin_eev * pow(c->emax_eev / c->emin_eev, sim_uniform(r));
    double axis_distance_m = RADIO_R_MAX_M * sqrt(sim_uniform(r));
    double cos_alpha = 2.0 * sim_uniform(r) - 1.0; /* angle between axis and geomagnetic field */
    double a = RADIO_CHARGE_EXCESS;
    double geometry = sqrt((1.0 - cos_alpha * cos_alpha + a * a) / (1.0 + a * a)) *
                      exp(-axis_distance_m / RADIO_LDF_R0_M);
    p->peak_uv = RADIO_AMP_REF_UV * p->energy_eev * geometry;
    p->slope_per_mhz = RADIO_SLOPE_MAX_PER_MHZ * axis_distance_m / RADIO_R_MAX_M;
    p->t0_ns = RADIO_T0_MIN_NS + (RADIO_T0_MAX_NS - RADIO_T0_MIN_NS) * sim_uniform(r);
    double polarity = sim_uniform(r) < 0.5 ? M_PI : 0.0;
    p->phase = polarity + M_PI * (sim_uniform(r) - 0.5);
}

/* Clean spectrum C_k = A S_k H_k e^{i(φ - 2π f_k t0)} for k in band, scaled so that the
 * analytic signal (2/N) Σ C_k e^{2πikn/N} peaks at |z(t0)| = peak (all terms in phase;
 * the sampled envelope maximum is within ~1e-3 of it, t0 being between samples). */
static void pulse_spectrum(const radio_cfg *c, const radio_pulse *p, double *cre, double *cim) {
    double sum = 0;
    for (int k = c->k_lo; k <= c->k_hi; k++) {
        double s = exp(-p->slope_per_mhz * (bin_mhz(k) - RADIO_SLOPE_PIVOT_MHZ)) * c->response[k];
        cre[k] = s;
        sum += s;
    }
    double scale = p->peak_uv * RADIO_SAMPLES / (2.0 * sum);
    for (int k = c->k_lo; k <= c->k_hi; k++) {
        double psi = p->phase - 2.0 * M_PI * k * p->t0_ns / (RADIO_SAMPLES * RADIO_SAMPLE_NS);
        double amp = cre[k] * scale;
        cre[k] = amp * cos(psi);
        cim[k] = amp * sin(psi);
    }
}

/* Analytic signal of a band spectrum X_k (k in band, positive frequencies only):
 * z_n = (2/N) Σ_k X_k e^{2πikn/N}; Re z is the real trace, |z| its Hilbert envelope. */
static void analytic_signal(const radio_cfg *c, const double *xre, const double *xim, double *zre, double *zim) {
    memset(zre, 0, sizeof(double) * RADIO_SAMPLES);
    memset(zim, 0, sizeof(double) * RADIO_SAMPLES);
    for (int k = c->k_lo; k <= c->k_hi; k++) {
        zre[k] = 2.0 / RADIO_SAMPLES * xre[k];
        zim[k] = 2.0 / RADIO_SAMPLES * xim[k];
    }
    inverse_fft(c, zre, zim);
}

/* Rows: noisy (512), clean (512), energy [EeV], snr, has_signal (int32). Sub-streams:
 * 0 signal present?, 1 pulse, 2 noise — the noise of an event does not depend on its pulse,
 * and pulse and noise go through separate transforms (clean is exactly noise-free). */
static void radio_generate(const void *cfgp, uint64_t seed, int64_t index, void *const *rows) {
    const radio_cfg *c = cfgp;
    const int n = RADIO_SAMPLES;
    sim_rng event, sub;
    sim_rng_init(&event, seed, RADIO_KIND_ID, index);
    sim_rng_sub(&sub, &event, 0);
    int has_signal = sim_uniform(&sub) < c->signal_fraction;
    double xre[RADIO_SAMPLES / 2] = {0}, xim[RADIO_SAMPLES / 2] = {0};
    double clean[RADIO_SAMPLES] = {0}, clean_quadrature[RADIO_SAMPLES]; /* Re, Im of z */
    radio_pulse pulse = {0};
    double peak = 0;
    if (has_signal) {
        sim_rng_sub(&sub, &event, 1);
        draw_pulse(c, &sub, &pulse);
        pulse_spectrum(c, &pulse, xre, xim);
        analytic_signal(c, xre, xim, clean, clean_quadrature);
        for (int i = 0; i < n; i++) {
            double env2 = clean[i] * clean[i] + clean_quadrature[i] * clean_quadrature[i];
            if (env2 > peak) peak = env2;
        }
        peak = sqrt(peak);
    }
    /* noise bins M_k: complex Gaussian, E|M_k|² = a_k² (Rayleigh amplitude, uniform phase) */
    sim_rng_sub(&sub, &event, 2);
    for (int k = c->k_lo; k <= c->k_hi; k++) {
        double a = c->noise_amp[k] * M_SQRT1_2;
        xre[k] = a * sim_normal(&sub);
        xim[k] = a * sim_normal(&sub);
    }
    double noise[RADIO_SAMPLES], quadrature[RADIO_SAMPLES];
    analytic_signal(c, xre, xim, noise, quadrature);

    float *noisy_row = rows[F_NOISY], *clean_row = rows[F_CLEAN];
    for (int i = 0; i < n; i++) {
        clean_row[i] = (float)clean[i];
        noisy_row[i] = (float)(clean[i] + noise[i]);
    }
    *(float *)rows[F_ENERGY] = (float)pulse.energy_eev;
    *(float *)rows[F_SNR] = (float)(peak / c->noise_rms_uv);
    *(int32_t *)rows[F_HAS_SIGNAL] = has_signal;
}

const sim_kind sim_kind_radio = {
    .kind = "radio",
    .id = RADIO_KIND_ID,
    .help = "  --noise RMS             noise RMS per sample [µV] (Galactic ν^-2.5 + thermal, 30-80 MHz) [10]\n"
            "  --emin E, --emax E      energy range [EeV], log-uniform [0.1, 10]\n"
            "  --signal-fraction F     fraction of events with a pulse; the rest are noise only\n"
            "                          (has_signal 0: clean 0, energy 0, snr 0) [1]\n",
    .cfg_size = sizeof(radio_cfg),
    .configure = radio_configure,
    .fields = radio_fields,
    .attrs = radio_attrs,
    .generate = radio_generate,
};
