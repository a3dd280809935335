/* `cascade simulate airshower`: a parametric surface-detector simulation (Pierre Auger-like).
 * Per event: energy, direction, core, mass and Xmax from the event's Philox stream; per
 * station (own sub-stream): Poisson muons + Gaussian EM/detector fluctuations around the
 * lateral distribution, a trigger, and the first-particle arrival time on a curved front.
 * Every parametrisation with its source: datasets/README.md (airshower). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/airshower.h"

/* Signal scale and lateral distribution (PHYSICS.md "Air showers") */
#define S1000_VEM 900.0          /* S(1000) at 10^19 eV, reference development */
#define LDF_SLOPE_MU 4.7         /* (r/1000 m)^-4.7 */
#define LDF_SLOPE_EM 6.1         /* (r/1000 m)^-6.1 */
#define LDF_R_MIN_M 150.0        /* r clamped from below */
#define MUON_MASS_POWER 0.15     /* muon/EM odds grow as A^0.15 */
/* Atmosphere and EM attenuation */
#define GROUND_DEPTH 870.0       /* vertical depth of the array [g/cm^2] */
#define SCALE_HEIGHT_M 8000.0    /* isothermal atmosphere */
#define EM_ATTENUATION 200.0     /* [g/cm^2] beyond Xmax */
#define EM_REF_DISTANCE 100.0    /* Xmax-to-ground slant depth where the EM share is nominal */
#define FRONT_DEPTH_FRACTION 0.5 /* front centre of curvature at this fraction of Xmax */
/* Fluctuations and times */
#define EM_PARTICLE_VEM 0.2      /* mean EM deposit per particle: Poisson-like variance */
#define SKIP_VEM 0.01            /* stations expecting less: no draws (P(trigger) < 2e-7) */
#define DELAY_MU_NS 15.0, 45.0   /* median muon delay = a + b * r/km */
#define DELAY_EM_NS 30.0, 200.0  /* median EM delay */

/* De Domenico et al., JCAP 07 (2013) 050, EPOS-LHC: generalised Gumbel for Xmax with
 * mu = p0 + p1 l + p2 l^2, sigma = p0 + p1 l, lambda = p0 + p1 l (l = lgE - 19) and each
 * p_i = a + b lnA + c lnA^2. */
static const double gumbel_mu[3][3] = {{775.589, -7.047, -2.427}, {57.589, -0.743, 0.214}, {-0.820, -0.169, -0.027}};
static const double gumbel_sigma[2][3] = {{29.403, 13.553, -3.154}, {0.096, -0.961, 0.150}};
static const double gumbel_lambda[2][3] = {{0.563, 0.711, 0.058}, {0.039, 0.067, -0.004}};
static const double mass_number[4] = {1, 4, 14, 56};
static const char *const domains[] = {"sim", "data", NULL};

static double quadratic_in_lna(const double c[3], double lna) { return c[0] + c[1] * lna + c[2] * lna * lna; }

void airshower_station_xy(int row, int col, double *x, double *y) {
    *x = (col - 4 + (row % 2) * 0.5) * AIRSHOWER_SPACING_M;
    *y = (row - 4) * AIRSHOWER_SPACING_M * sqrt(3.0) / 2.0;
}

double airshower_muon_fraction(const airshower_cfg *cfg, double mass) {
    double f0 = cfg->muon_fraction_p, odds = f0 / (1.0 - f0) * pow(mass, MUON_MASS_POWER);
    return odds / (1.0 + odds);
}

/* Generalised Gumbel: x = mu - sigma ln(G / lambda), G ~ Gamma(lambda, 1). */
static double draw_xmax(sim_rng *r, double lge, double mass, double shift) {
    double l = lge - 19.0, lna = log(mass);
    double mu = quadratic_in_lna(gumbel_mu[0], lna) + quadratic_in_lna(gumbel_mu[1], lna) * l +
                quadratic_in_lna(gumbel_mu[2], lna) * l * l;
    double sigma = quadratic_in_lna(gumbel_sigma[0], lna) + quadratic_in_lna(gumbel_sigma[1], lna) * l;
    double lambda = quadratic_in_lna(gumbel_lambda[0], lna) + quadratic_in_lna(gumbel_lambda[1], lna) * l;
    double g = sim_gamma(r, lambda, 1.0 / lambda);
    return mu - sigma * log(g) + shift;
}

/* Uniform in the hexagonal (Voronoi) cell of the central station: three rhombi spanned by
 * vertex vectors 120 degrees apart, each a parallelogram sampled exactly. */
static void draw_core(sim_rng *r, double core[2]) {
    int k = (int)(3.0 * sim_uniform(r));
    double u1 = sim_uniform(r), u2 = sim_uniform(r);
    double a1 = (30.0 + 120.0 * k) * M_PI / 180.0, a2 = a1 + 120.0 * M_PI / 180.0;
    double rv = AIRSHOWER_SPACING_M / sqrt(3.0); /* centre-to-vertex distance */
    core[0] = rv * (u1 * cos(a1) + u2 * cos(a2));
    core[1] = rv * (u1 * sin(a1) + u2 * sin(a2));
}

void airshower_draw_event(const airshower_cfg *cfg, sim_rng *r, airshower_event *ev) {
    ev->lge = cfg->lge_min + (cfg->lge_max - cfg->lge_min) * sim_uniform(r);
    /* pdf ~ sin cos: sin^2 uniform */
    double s2max = sin(cfg->zenith_max_deg * M_PI / 180.0);
    s2max *= s2max;
    ev->zenith = asin(sqrt(s2max * sim_uniform(r)));
    ev->azimuth = 2.0 * M_PI * sim_uniform(r);
    double total = 0, pick = sim_uniform(r), cum = 0;
    for (int i = 0; i < 4; i++) total += cfg->mass_weight[i];
    int m = 3;
    for (int i = 0; i < 4; i++) {
        cum += cfg->mass_weight[i] / total;
        if (pick < cum && cfg->mass_weight[i] > 0) {
            m = i;
            break;
        }
    }
    while (cfg->mass_weight[m] <= 0) m--; /* rounding at the top end */
    ev->mass = mass_number[m];
    draw_core(r, ev->core);
    double st = sin(ev->zenith), ct = cos(ev->zenith);
    ev->axis[0] = st * cos(ev->azimuth);
    ev->axis[1] = st * sin(ev->azimuth);
    ev->axis[2] = ct;
    ev->xmax = draw_xmax(r, ev->lge, ev->mass, cfg->xmax_shift); /* last: variable draw count */

    double s0 = S1000_VEM * pow(10.0, ev->lge - 19.0), fmu = airshower_muon_fraction(cfg, ev->mass);
    double to_ground = GROUND_DEPTH / ct - ev->xmax;
    if (to_ground < 0) to_ground = 0; /* maximum below ground: EM at full strength */
    ev->s_mu1000 = s0 * fmu;
    ev->s_em1000 = s0 * (1.0 - fmu) * exp(-(to_ground - EM_REF_DISTANCE) / EM_ATTENUATION);
    /* centre of curvature: the axis point at slant depth FRONT_DEPTH_FRACTION * Xmax */
    double height = SCALE_HEIGHT_M * log(GROUND_DEPTH / (FRONT_DEPTH_FRACTION * ev->xmax * ct));
    ev->front_radius_m = height / ct > 1000.0 ? height / ct : 1000.0;
}

void airshower_station_expect(const airshower_event *ev, double x, double y, airshower_station *st) {
    static const double dmu[2] = {DELAY_MU_NS}, dem[2] = {DELAY_EM_NS};
    double dx = x - ev->core[0], dy = y - ev->core[1];
    double along = dx * ev->axis[0] + dy * ev->axis[1]; /* height of the station along the axis */
    double r2 = dx * dx + dy * dy - along * along;
    st->r_axis = r2 > 0 ? sqrt(r2) : 0;
    st->t_plane = -along / AIRSHOWER_C_M_PER_NS; /* upstream stations are reached first */
    st->t_front = (r2 > 0 ? r2 : 0) / (2.0 * ev->front_radius_m * AIRSHOWER_C_M_PER_NS);
    double lr = log((st->r_axis > LDF_R_MIN_M ? st->r_axis : LDF_R_MIN_M) / 1000.0);
    st->mu = ev->s_mu1000 * exp(-LDF_SLOPE_MU * lr);
    st->em = ev->s_em1000 * exp(-LDF_SLOPE_EM * lr);
    st->median_mu = dmu[0] + dmu[1] * st->r_axis / 1000.0;
    st->median_em = dem[0] + dem[1] * st->r_axis / 1000.0;
}

/* Delay of the earliest of n log-normal particles: the minimum's quantile is 1 - V^(1/n). */
static double first_delay(sim_rng *r, long n, double median, double sigma) {
    double v = sim_uniform_pos(r);
    if (n <= 0) return INFINITY;
    return median * exp(sigma * airshower_normal_quantile(-expm1(log(v) / (double)n)));
}

static void generate(const void *cfgv, uint64_t seed, int64_t index, void *const *rows) {
    const airshower_cfg *cfg = cfgv;
    sim_rng er;
    sim_rng_init(&er, seed, AIRSHOWER_KIND_ID, index);
    airshower_event ev;
    airshower_draw_event(cfg, &er, &ev);
    float *time = rows[0], *signal = rows[1], *traces = cfg->traces ? rows[2] : NULL;
    int lab = cfg->traces ? 3 : 2;
    *(float *)rows[lab] = (float)ev.lge;
    *(float *)rows[lab + 1] = (float)ev.xmax;
    for (int i = 0; i < 3; i++) ((float *)rows[lab + 2])[i] = (float)ev.axis[i];
    for (int i = 0; i < 2; i++) ((float *)rows[lab + 3])[i] = (float)ev.core[i];
    *(float *)rows[lab + 4] = (float)ev.mass;
    if (traces) memset(traces, 0, sizeof(float) * AIRSHOWER_STATIONS * AIRSHOWER_BINS);

    for (int s = 0; s < AIRSHOWER_STATIONS; s++) {
        time[s] = signal[s] = 0;
        double x, y;
        airshower_station_xy(s / AIRSHOWER_GRID, s % AIRSHOWER_GRID, &x, &y);
        airshower_station st;
        airshower_station_expect(&ev, x, y, &st);
        if (st.mu + st.em < SKIP_VEM) continue;
        sim_rng sr;
        sim_rng_sub(&sr, &er, (uint64_t)s);
        long n_mu = sim_poisson(&sr, st.mu);
        double mean = (double)n_mu + st.em;
        double var = EM_PARTICLE_VEM * st.em + cfg->noise_vem * cfg->noise_vem +
                     cfg->noise_rel * cfg->noise_rel * mean * mean;
        double s_obs = mean + sqrt(var) * sim_normal(&sr);
        if (s_obs < cfg->trigger_vem) continue;
        long n_em = (long)(st.em / EM_PARTICLE_VEM);
        double d_mu = first_delay(&sr, n_mu, st.median_mu, AIRSHOWER_SIGMA_MU);
        double d_em = first_delay(&sr, n_em, st.median_em, AIRSHOWER_SIGMA_EM);
        if (n_mu == 0 && n_em == 0) d_em = st.median_em; /* a noise-made trigger */
        double first = d_mu < d_em ? d_mu : d_em;
        time[s] = (float)(st.t_plane + st.t_front + first + cfg->jitter_ns * sim_normal(&sr));
        signal[s] = (float)s_obs;
        if (time[s] == 0) time[s] = 1e-3f; /* 0 means "no trigger" */
        if (traces) {
            sim_rng tr;
            sim_rng_sub(&tr, &er, (uint64_t)(AIRSHOWER_STATIONS + s));
            airshower_trace_in in = {first, d_mu <= d_em, n_mu, st.em, st.median_mu, st.median_em, s_obs};
            airshower_trace(&in, &tr, traces + (size_t)s * AIRSHOWER_BINS);
        }
    }
}

/* --mass-mix p,He,N,Fe: four non-negative weights, not all zero. */
static cascade_status opt_mass_mix(sim_options *o, double w[4]) {
    for (int i = 0; i < 4; i++) w[i] = 1.0;
    for (int i = 0; i < o->n; i++) {
        if (strcmp(o->opt[i].key, "mass-mix") != 0) continue;
        o->opt[i].used = 1;
        const char *v = o->opt[i].value ? o->opt[i].value : "";
        const char *p = v;
        double sum = 0;
        for (int k = 0; k < 4; k++) {
            char *end;
            w[k] = strtod(p, &end);
            if (end == p || w[k] < 0 || !isfinite(w[k]) || *end != (k < 3 ? ',' : '\0'))
                return cascade_fail(CASCADE_EUSAGE,
                                    "--mass-mix '%s': expected four non-negative weights p,He,N,Fe (e.g. 1,0,0,1)", v);
            sum += w[k];
            p = end + 1;
        }
        if (sum <= 0) return cascade_fail(CASCADE_EUSAGE, "--mass-mix '%s': the weights must not all be zero", v);
    }
    return CASCADE_OK;
}

static cascade_status configure(void *cfgv, sim_options *o) {
    airshower_cfg *cfg = cfgv;
    memset(cfg, 0, sizeof *cfg);
    CASCADE_TRY(sim_opt_enum(o, "domain", domains, AIRSHOWER_SIM, &cfg->domain));
    CASCADE_TRY(sim_opt_flag(o, "traces", &cfg->traces));
    CASCADE_TRY(opt_mass_mix(o, cfg->mass_weight));
    CASCADE_TRY(sim_opt_double(o, "zenith-max", 60.0, 0.0, 80.0, &cfg->zenith_max_deg));
    CASCADE_TRY(sim_opt_double(o, "lge-min", 18.5, 17.0, 21.0, &cfg->lge_min));
    CASCADE_TRY(sim_opt_double(o, "lge-max", 20.0, 17.0, 21.0, &cfg->lge_max));
    if (cfg->lge_max < cfg->lge_min)
        return cascade_fail(CASCADE_EUSAGE, "--lge-max %g is below --lge-min %g", cfg->lge_max, cfg->lge_min);
    CASCADE_TRY(sim_opt_double(o, "trigger", 3.0, 0.1, 1000.0, &cfg->trigger_vem));
    CASCADE_TRY(sim_opt_double(o, "xmax-shift", -58.0, -300.0, 300.0, &cfg->xmax_shift));
    int data = cfg->domain == AIRSHOWER_DATA;
    cfg->muon_fraction_p = data ? 0.7 : 0.3;
    cfg->noise_vem = data ? 0.6 : 0.2;
    cfg->noise_rel = data ? 0.15 : 0.04;
    cfg->jitter_ns = data ? 25.0 : 8.0;
    return CASCADE_OK;
}

static void set_field(sim_field *f, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->type = CASCADE_H5_F32;
    f->ndim = ndim;
    f->dims[0] = d0;
    f->dims[1] = d1;
    f->dims[2] = d2;
}

static int fields(const void *cfgv, sim_field *f) {
    const airshower_cfg *cfg = cfgv;
    int n = 0;
    set_field(&f[n++], "time", 2, AIRSHOWER_GRID, AIRSHOWER_GRID, 0);
    set_field(&f[n++], "signal", 2, AIRSHOWER_GRID, AIRSHOWER_GRID, 0);
    if (cfg->traces) set_field(&f[n++], "traces", 3, AIRSHOWER_GRID, AIRSHOWER_GRID, AIRSHOWER_BINS);
    set_field(&f[n++], "logE", 0, 0, 0, 0);
    set_field(&f[n++], "xmax", 0, 0, 0, 0);
    set_field(&f[n++], "axis", 1, 3, 0, 0);
    set_field(&f[n++], "core", 1, 2, 0, 0);
    set_field(&f[n++], "mass", 0, 0, 0, 0);
    return n;
}


static int attrs(const void *cfgv, sim_attr *a) {
    const airshower_cfg *cfg = cfgv;
    int n = 0;
    char mix[160];
    snprintf(mix, sizeof mix, "%g,%g,%g,%g", cfg->mass_weight[0], cfg->mass_weight[1], cfg->mass_weight[2],
             cfg->mass_weight[3]);
    sim_attr_text(a, &n, "domain", domains[cfg->domain]);
    sim_attr_number(a, &n, "spacing_m", AIRSHOWER_SPACING_M);
    sim_attr_number(a, &n, "traces", cfg->traces);
    sim_attr_number(a, &n, "trace_bin_ns", AIRSHOWER_BIN_NS);
    sim_attr_text(a, &n, "mass_mix", mix);
    sim_attr_text(a, &n, "mass_numbers", "1,4,14,56");
    sim_attr_number(a, &n, "zenith_max_deg", cfg->zenith_max_deg);
    sim_attr_number(a, &n, "lge_min", cfg->lge_min);
    sim_attr_number(a, &n, "lge_max", cfg->lge_max);
    sim_attr_number(a, &n, "trigger_vem", cfg->trigger_vem);
    sim_attr_text(a, &n, "xmax_model", "generalised Gumbel, EPOS-LHC (De Domenico et al., JCAP 07 (2013) 050) + xmax_shift");
    sim_attr_number(a, &n, "xmax_shift", cfg->xmax_shift);
    sim_attr_number(a, &n, "s1000_vem", S1000_VEM);
    sim_attr_number(a, &n, "muon_fraction_p", cfg->muon_fraction_p);
    sim_attr_number(a, &n, "muon_mass_power", MUON_MASS_POWER);
    sim_attr_number(a, &n, "ldf_slope_mu", LDF_SLOPE_MU);
    sim_attr_number(a, &n, "ldf_slope_em", LDF_SLOPE_EM);
    sim_attr_number(a, &n, "ldf_r_min_m", LDF_R_MIN_M);
    sim_attr_number(a, &n, "ground_depth", GROUND_DEPTH);
    sim_attr_number(a, &n, "em_attenuation", EM_ATTENUATION);
    sim_attr_number(a, &n, "em_ref_distance", EM_REF_DISTANCE);
    sim_attr_number(a, &n, "em_particle_vem", EM_PARTICLE_VEM);
    sim_attr_number(a, &n, "noise_vem", cfg->noise_vem);
    sim_attr_number(a, &n, "noise_rel", cfg->noise_rel);
    sim_attr_number(a, &n, "jitter_ns", cfg->jitter_ns);
    sim_attr_number(a, &n, "sigma_delay_mu", AIRSHOWER_SIGMA_MU);
    sim_attr_number(a, &n, "sigma_delay_em", AIRSHOWER_SIGMA_EM);
    return n;
}

const sim_kind sim_kind_airshower = {
    .kind = "airshower",
    .id = AIRSHOWER_KIND_ID,
    .help = "  --domain sim|data     sim: ~70% EM / 30% muonic S(1000), less noise; data: ~30% EM / 70% muonic,\n"
            "                        more signal and timing noise [sim]\n"
            "  --traces              also write traces (N,9,9,80), 25 ns bins summing to the signal\n"
            "  --mass-mix W,W,W,W    weights of p, He, N, Fe [1,1,1,1]\n"
            "  --zenith-max DEG      zenith pdf ~ sin cos up to DEG [60]\n"
            "  --lge-min X, --lge-max X   log10(E/eV) uniform in [18.5, 20]\n"
            "  --trigger VEM         station trigger threshold [3]\n"
            "  --xmax-shift G        added to EPOS-LHC's Xmax [-58 g/cm^2: <Xmax>_p(10^19 eV) = 750]\n",
    .cfg_size = sizeof(airshower_cfg),
    .configure = configure,
    .fields = fields,
    .attrs = attrs,
    .generate = generate,
};
