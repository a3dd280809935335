/* Exact order-independent sums with 48-bit digits (see xsum.h). */
#include "cascade/xsum.h"

#include <math.h>
#include <string.h>

#define DIG CASCADE_XSUM_DIGITS
#define MASK48 ((1ULL << 48) - 1)

/* Adds one term; returns 1 if it was not representable (NaN, Inf, |v| >= 2^64). */
static int add_term(int64_t *d, double v) {
    if (v == 0) return 0;
    if (!isfinite(v)) return 1;
    int e;
    double f = frexp(fabs(v), &e);           /* |v| = f 2^e, f in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(f, 53);     /* exact 53-bit integer */
    int p = e - 53 + CASCADE_XSUM_LOW;       /* |v| = m 2^(p - LOW) */
    if (p + 53 > 48 * DIG) return 1;
    if (p < 0) {
        if (p <= -53) return 0;               /* below the resolution: truncated to 0 */
        m >>= -p;                             /* truncation toward zero, per term */
        p = 0;
    }
    int k = p / 48;
    __uint128_t x = (__uint128_t)m << (p % 48);
    int64_t sign = v < 0 ? -1 : 1;
    for (; x && k < DIG; k++, x >>= 48) d[k] += sign * (int64_t)(uint64_t)(x & MASK48);
    return 0;
}

int64_t cascade_xsum_add_floats(int64_t *acc, const float *v, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += add_term(acc + DIG * i, (double)v[i]);
    return bad;
}

int64_t cascade_xsum_add_doubles(int64_t *acc, const double *v, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += add_term(acc + DIG * i, v[i]);
    return bad;
}

/* Exact value as a double: propagate carries so every digit but the top is in [0, 2^48),
 * then add from the top digit down (the top holds the sign). Deterministic in the digits. */
static double value(const int64_t *d) {
    int64_t c[DIG];
    memcpy(c, d, sizeof c);
    for (int k = 0; k < DIG - 1; k++) {
        int64_t carry = c[k] >> 48; /* arithmetic shift: floor division */
        c[k] -= carry * (int64_t)(1LL << 48);
        c[k + 1] += carry;
    }
    /* the value is c[3] 2^144 + c[2] 2^96 + c[1] 2^48 + c[0], scaled by 2^-LOW; combine the
     * two top digits exactly in long double-free integer form where possible */
    double hi = ldexp((double)c[DIG - 1], 48 * (DIG - 1) - CASCADE_XSUM_LOW);
    double r = 0;
    /* sum small to large parts with error-free compensation (TwoSum), deterministic */
    double parts[DIG];
    for (int k = 0; k < DIG - 1; k++) parts[k] = ldexp((double)c[k], 48 * k - CASCADE_XSUM_LOW);
    parts[DIG - 1] = hi;
    double s = 0, comp = 0;
    for (int k = DIG - 1; k >= 0; k--) {
        double t = s + parts[k];
        double bp = t - s;
        comp += (s - (t - bp)) + (parts[k] - bp);
        s = t;
    }
    r = s + comp;
    return r;
}

void cascade_xsum_to_floats(const int64_t *acc, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)value(acc + DIG * i);
}

void cascade_xsum_to_doubles(const int64_t *acc, double *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = value(acc + DIG * i);
}
