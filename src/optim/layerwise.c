/* LARS and LAMB (formulas in cascade/optim.h): element-wise float32 updates scaled per
 * parameter tensor by a trust ratio from the tensor's norms. The sums of squares are exact
 * (the digits of cascade/xsum.h), so a tensor split over threads or ZeRO-1 shards — whose
 * partial sums the caller adds over the ranks — gives the same norms, bit for bit. */
#include <string.h>

#include "cascade/xsum.h"
#include "optim/optim_internal.h"

#define DIG CASCADE_XSUM_DIGITS
#define MASK48 ((INT64_C(1) << 48) - 1)
#define SQ_WORDS (DIG + 1) /* digits + count of terms out of range */
/* a term adds < 2^48 to each digit it touches: carry well before an int64 digit could overflow */
#define CARRY_EVERY 16384

/* x^2 (exact: a 48-bit significand) added to digits d, truncated to a multiple of
 * 2^-CASCADE_XSUM_LOW as cascade_xsum_add_doubles would; |x| >= 2^32 or not finite: counted. */
static inline void add_square(int64_t *d, float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint32_t e = (bits >> 23) & 0xff;
    uint64_t m = bits & 0x7fffff;
    if (e == 0xff) {
        d[DIG]++;
        return;
    }
    if (e) m |= 0x800000;
    else e = 1;
    if (!m) return;
    uint64_t m2 = m * m;                          /* < 2^48 */
    int p = 2 * ((int)e - 150) + CASCADE_XSUM_LOW; /* x^2 = m2 2^(p - LOW) */
    if (p + 48 > 48 * DIG) {
        d[DIG]++;
        return;
    }
    if (p < 0) {
        if (p <= -48) return; /* below the resolution */
        m2 >>= -p;
        p = 0;
    }
    int k = p / 48;
    __uint128_t v = (__uint128_t)m2 << (p % 48);
    d[k] += (int64_t)(uint64_t)(v & MASK48);
    uint64_t hi = (uint64_t)(v >> 48);
    if (hi) d[k + 1] += (int64_t)hi; /* k + 1 < DIG whenever hi != 0 (range check above) */
}

/* Carries so that every digit but the top is in [0, 2^48). */
static void carry(int64_t *d) {
    for (int k = 0; k < DIG - 1; k++) {
        int64_t c = d[k] >> 48; /* arithmetic shift: floor */
        d[k] -= c * (INT64_C(1) << 48);
        d[k + 1] += c;
    }
}

/* The norm from summed digits; +Inf when a term was out of range. */
static double norm_of(const int64_t *d) {
    if (d[DIG] != 0) return INFINITY;
    double sq;
    cascade_xsum_to_doubles(d, &sq, 1);
    return sqrt(sq);
}

/* The element-wise constants of one update. */
typedef struct {
    float beta1, omb1, beta2, omb2, bc1, bc2, eps; /* lamb */
    float momentum;                                /* lars */
    float wd;                                      /* this tensor's weight decay (0: not adapted) */
} lw_consts;

static lw_consts consts(const cascade_opt_cfg *cfg, int64_t step) {
    lw_consts k;
    k.beta1 = (float)cfg->beta1, k.omb1 = (float)(1.0 - cfg->beta1);
    k.beta2 = (float)cfg->beta2, k.omb2 = (float)(1.0 - cfg->beta2);
    k.bc1 = (float)(1.0 - pow(cfg->beta1, (double)step));
    k.bc2 = (float)(1.0 - pow(cfg->beta2, (double)step));
    k.eps = (float)cfg->eps;
    k.momentum = (float)cfg->momentum;
    k.wd = (float)cfg->weight_decay;
    return k;
}

/* lamb: the new moments of element i and its update direction r (before the trust ratio). */
static inline float lamb_r(const lw_consts *k, float p, float g, float *m, float *v) {
    *m = k->beta1 * *m + k->omb1 * g;
    *v = k->beta2 * *v + (k->omb2 * g) * g;
    const float mhat = *m / k->bc1, vhat = *v / k->bc2;
    return mhat / (sqrtf(vhat) + k->eps) + k->wd * p;
}

/* This range's part of tensor t, as local indices [*a, *b); 0 if empty. */
static int tensor_range(const cascade_optimizer *o, int t, int64_t lo, int64_t hi, int64_t *a, int64_t *b) {
    int64_t ta = o->tensors[t].off - o->offset, tb = ta + o->tensors[t].n;
    *a = ta > lo ? ta : lo;
    *b = tb < hi ? tb : hi;
    return *b > *a;
}

/* Partial sums of |w|^2 and |u|^2 over [a, b) into acc (u = g for lars, r for lamb). */
static void partial_squares(const cascade_optimizer *o, const lw_consts *k, const float *params,
                                         const float *grads, int64_t a, int64_t b, int64_t *acc) {
    const int lamb = o->cfg.type == OPT_LAMB;
    const float *ms = lamb ? o->state[0] : NULL, *vs = lamb ? o->state[1] : NULL;
#pragma omp parallel if (b - a >= OPTIM_PARALLEL_MIN)
    {
        int64_t dw[SQ_WORDS] = {0}, du[SQ_WORDS] = {0};
        int since = 0;
#pragma omp for schedule(static) nowait
        for (int64_t i = a; i < b; i++) {
            float u = grads[i];
            if (lamb) {
                float m = ms[i], v = vs[i];
                u = lamb_r(k, params[i], grads[i], &m, &v);
            }
            add_square(dw, params[i]);
            add_square(du, u);
            if (++since == CARRY_EVERY) carry(dw), carry(du), since = 0;
        }
        carry(dw), carry(du);
#pragma omp critical(cascade_optim_norms)
        { /* integer sums: the order of the threads does not matter */
            for (int w = 0; w < SQ_WORDS; w++) acc[w] += dw[w], acc[SQ_WORDS + w] += du[w];
            carry(acc), carry(acc + SQ_WORDS);
        }
    }
}

int64_t cascade_optimizer_norm_words(const cascade_optimizer *o) {
    return o->cfg.type == OPT_LARS || o->cfg.type == OPT_LAMB ? (int64_t)o->n_tensors * CASCADE_OPT_NORM_WORDS : 0;
}

int64_t *cascade_optimizer_norm_partials(cascade_optimizer *o, const float *params, const float *grads, int64_t lo,
                                         int64_t hi) {
    const int64_t words = cascade_optimizer_norm_words(o);
    if (!words) return NULL;
    if (o->tensors[0].n < 0) o->tensors[0].n = o->offset + o->n; /* no set_tensors: the whole buffer */
    memset(o->norm_acc, 0, (size_t)words * sizeof(int64_t));
    lw_consts k = consts(&o->cfg, o->step + 1);
    for (int t = 0; t < o->n_tensors; t++) {
        int64_t a, b;
        if (!o->tensors[t].adapt || !tensor_range(o, t, lo, hi, &a, &b)) continue;
        partial_squares(o, &k, params, grads, a, b, o->norm_acc + (int64_t)t * CASCADE_OPT_NORM_WORDS);
    }
    o->norms_ready = 1;
    return o->norm_acc;
}

/* The trust ratio of tensor t from its summed norms (1 when not adapted or a norm is 0; 0
 * when a norm is infinite: the tensor is not moved). */
static double trust_ratio(const cascade_optimizer *o, int t) {
    if (!o->tensors[t].adapt) return 1.0;
    const int64_t *acc = o->norm_acc + (int64_t)t * CASCADE_OPT_NORM_WORDS;
    const double wn = norm_of(acc), un = norm_of(acc + SQ_WORDS);
    if (!isfinite(wn) || !isfinite(un)) return 0.0;
    if (!(wn > 0) || !(un > 0)) return 1.0;
    if (o->cfg.type == OPT_LAMB) return wn / un;
    return o->cfg.trust_coefficient * wn / (un + o->cfg.weight_decay * wn);
}

static void lars_apply(const lw_consts *k, float scale, float *params, const float *grads,
                                    float *buf, int64_t a, int64_t b) {
#pragma omp parallel for simd schedule(static) if (b - a >= OPTIM_PARALLEL_MIN)
    for (int64_t i = a; i < b; i++) {
        const float d = grads[i] + k->wd * params[i];
        if (buf) {
            const float v = k->momentum * buf[i] + scale * d;
            buf[i] = v;
            params[i] = params[i] - v;
        } else {
            params[i] = params[i] - scale * d;
        }
    }
}

static void lamb_apply(const lw_consts *k, float scale, float *params, const float *grads, float *ms,
                                    float *vs, int64_t a, int64_t b) {
#pragma omp parallel for simd schedule(static) if (b - a >= OPTIM_PARALLEL_MIN)
    for (int64_t i = a; i < b; i++) {
        float m = ms[i], v = vs[i];
        const float r = lamb_r(k, params[i], grads[i], &m, &v);
        ms[i] = m, vs[i] = v;
        params[i] = params[i] - scale * r;
    }
}

/* Phase 3 (o->step already counts this update; norm_acc holds the summed norms). */
void cascade_layerwise_update(cascade_optimizer *o, float *params, const float *grads, int64_t lo, int64_t hi,
                              double lr) {
    o->norms_ready = 0;
    lw_consts k = consts(&o->cfg, o->step);
    const float wd = k.wd;
    for (int t = 0; t < o->n_tensors; t++) {
        int64_t a, b;
        if (!tensor_range(o, t, lo, hi, &a, &b)) continue;
        k.wd = o->tensors[t].adapt ? wd : 0.0f;
        const float scale = (float)(lr * trust_ratio(o, t));
        if (o->cfg.type == OPT_LAMB) lamb_apply(&k, scale, params, grads, o->state[0], o->state[1], a, b);
        else lars_apply(&k, scale, params, grads, cascade_optimizer_state(o, "momentum_buffer"), a, b);
    }
}
