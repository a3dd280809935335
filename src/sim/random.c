/* Per-event random streams and the distributions the simulators draw from. */
#include <math.h>

#include "sim/sim.h"

void sim_rng_init(sim_rng *r, uint64_t seed, uint32_t kind_id, int64_t event) {
    r->seed = seed;
    r->purpose = CASCADE_RNG_SIM + kind_id;
    r->event = (uint64_t)event;
    r->draw = 0;
    r->left = 0;
}

void sim_rng_sub(sim_rng *r, const sim_rng *parent, uint64_t k) {
    *r = *parent;
    r->draw = (k + 1) << 40; /* 2^40 draws per sub-stream */
    r->left = 0;
}

static uint32_t next_word(sim_rng *r) {
    if (r->left == 0) {
        cascade_philox(r->seed, r->purpose, r->event, r->draw++, r->buf);
        r->left = 4;
    }
    return r->buf[4 - r->left--];
}

double sim_uniform(sim_rng *r) {
    uint32_t hi = next_word(r), lo = next_word(r);
    return cascade_u01d(hi, lo);
}

double sim_uniform_pos(sim_rng *r) { return 1.0 - sim_uniform(r); }

double sim_normal(sim_rng *r) {
    /* Box-Muller, one value per call (keeps the stream position simple) */
    double u1 = sim_uniform_pos(r), u2 = sim_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sim_exponential(sim_rng *r, double mean) { return -mean * log(sim_uniform_pos(r)); }

double sim_gamma(sim_rng *r, double shape, double scale) {
    if (shape < 1.0) { /* boost: G(a) = G(a+1) * U^(1/a) */
        double u = sim_uniform_pos(r);
        return sim_gamma(r, shape + 1.0, scale) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = sim_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = sim_uniform_pos(r);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v * scale;
    }
}

long sim_poisson(sim_rng *r, double mean) {
    if (mean <= 0) return 0;
    if (mean < 30) { /* Knuth: multiply uniforms until below e^-mean */
        double limit = exp(-mean), p = 1.0;
        long k = -1;
        do {
            k++;
            p *= sim_uniform_pos(r);
        } while (p > limit);
        return k;
    }
    double x = floor(mean + sqrt(mean) * sim_normal(r) + 0.5);
    return x < 0 ? 0 : (long)x;
}

double sim_gumbel(sim_rng *r, double mu, double beta) { return mu - beta * log(-log(sim_uniform_pos(r))); }
