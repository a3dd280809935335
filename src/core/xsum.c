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

/* One float term straight from its bits (no frexp): |v| = m 2^(e - 150) with m the 24-bit
 * significand, so the fixed-point position of m's lowest bit is p = e - 150 + LOW. Same
 * digits as add_term; returns 1 if not representable (NaN, Inf, |v| >= 2^64). */
static inline int add_float_term(int64_t *d, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t e = (bits >> 23) & 0xff;
    uint64_t m = bits & 0x7fffff;
    if (e == 0xff) return 1;
    if (e) m |= 0x800000;
    else e = 1;
    if (!m) return 0;
    int p = (int)e - 150 + CASCADE_XSUM_LOW;
    if (p + 24 > 48 * DIG) return 1;
    if (p < 0) {
        if (p <= -24) return 0;
        m >>= -p;
        p = 0;
    }
    int k = p / 48;
    __uint128_t x = (__uint128_t)m << (p % 48);
    int64_t lo = (int64_t)(uint64_t)(x & MASK48), hi = (int64_t)(uint64_t)(x >> 48);
    if (bits >> 31) lo = -lo, hi = -hi;
    d[k] += lo;
    if (hi && k + 1 < DIG) d[k + 1] += hi;
    return 0;
}

/* Elements are independent: parallel over i is deterministic. */
int64_t cascade_xsum_add_floats(int64_t *acc, const float *v, int64_t n) {
    int64_t bad = 0;
#pragma omp parallel for reduction(+ : bad) if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) bad += add_float_term(acc + DIG * i, v[i]);
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

/* ---- fast paths (see xsum.h) ---- */

/* A double that is a multiple of 2^-LOW with |s| < 2^64 into digits d, exactly (its 53-bit
 * significand spans at most three digits). */
static inline void add_exact_double(int64_t *d, double s) {
    if (s == 0) return;
    uint64_t bits;
    memcpy(&bits, &s, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (e) m |= 1ULL << 52;
    else e = 1;
    int p = e - 1075 + CASCADE_XSUM_LOW; /* |s| = m 2^(p - LOW) */
    if (p < 0) {                         /* the bits shifted out are zero: s is a multiple of 2^-LOW */
        m >>= -p;
        p = 0;
    }
    int64_t sign = bits >> 63 ? -1 : 1;
    __uint128_t x = (__uint128_t)m << (p % 48);
    for (int k = p / 48; x && k < DIG; k++, x >>= 48) d[k] += sign * (int64_t)(uint64_t)(x & MASK48);
}

/* value() with exact power-of-two multiplications instead of ldexp: the same operations on
 * the same values, so the same bits. */
static inline double value_fast(const int64_t *d) {
    static const double scale[DIG] = {0x1p-128, 0x1p-80, 0x1p-32, 0x1p16}; /* 2^(48 k - LOW) */
    _Static_assert(DIG == 4 && CASCADE_XSUM_LOW == 128, "scale[] assumes 4 digits and LOW = 128");
    int64_t c[DIG];
    memcpy(c, d, sizeof c);
    for (int k = 0; k < DIG - 1; k++) {
        int64_t carry = c[k] >> 48;
        c[k] -= carry * (int64_t)(1LL << 48);
        c[k + 1] += carry;
    }
    double s = 0, comp = 0;
    for (int k = DIG - 1; k >= 0; k--) {
        double part = (double)c[k] * scale[k];
        double t = s + part;
        double bp = t - s;
        comp += (s - (t - bp)) + (part - bp);
        s = t;
    }
    return s + comp;
}

#define FOLD_BLOCK 256

/* The k terms of elements [i0, i0 + n) summed in double with TwoSum; flag[i] != 0 where that
 * sum may be inexact or a term needs the integer path (zero, tiny below 2^-105 = not a
 * multiple of 2^-128, >= 2^64, NaN/Inf). Branch-free, vectorised. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
__attribute__((target_clones("avx2", "default")))
#endif
static void fold_block(const float *terms, int64_t stride, int k, int64_t i0, int n, double *sum, int *flag) {
    for (int i = 0; i < n; i++) sum[i] = 0, flag[i] = 0;
    for (int j = 0; j < k; j++) {
        const float *t = terms + (int64_t)j * stride + i0;
#pragma omp simd
        for (int i = 0; i < n; i++) {
            double x = t[i], a = sum[i], u = a + x, bp = u - a;
            double err = (a - (u - bp)) + (x - bp), ax = fabs(x);
            int fine = ax == 0 || (ax >= 0x1p-105 && ax < 0x1p64);
            flag[i] |= (err != 0) | !fine;
            sum[i] = u;
        }
    }
    for (int i = 0; i < n; i++) flag[i] |= !(fabs(sum[i]) < 0x1p64);
}

/* Digits of element i: acc's (when given) plus its k terms; the bad-term count. */
static inline int64_t element_digits(const int64_t *acc, const float *terms, int64_t stride, int k, int64_t i,
                                     double sum, int flag, int64_t *d) {
    if (!acc) memset(d, 0, DIG * sizeof(int64_t));
    else if (d != acc + DIG * i) memcpy(d, acc + DIG * i, DIG * sizeof(int64_t)); /* (in place: nothing to copy) */
    if (!flag) {
        add_exact_double(d, sum);
        return 0;
    }
    int64_t bad = 0;
    for (int j = 0; j < k; j++) bad += add_float_term(d, terms[(int64_t)j * stride + i]);
    return bad;
}

/* The fold of elements [lo, hi): digits into acc_out, or (acc_out NULL) rounded into out;
 * acc_in (may be NULL) holds digits to add. Blocks of elements on the threads. */
static int64_t fold(const int64_t *acc_in, int64_t *acc_out, const float *terms, int64_t stride, int k, int64_t lo,
                    int64_t hi, float *out) {
    int64_t bad = 0, nb = (hi - lo + FOLD_BLOCK - 1) / FOLD_BLOCK;
#pragma omp parallel for reduction(+ : bad) if ((hi - lo) * k > 65536) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        double sum[FOLD_BLOCK];
        int flag[FOLD_BLOCK];
        int64_t i0 = lo + b * FOLD_BLOCK;
        int n = (int)(hi - i0 < FOLD_BLOCK ? hi - i0 : FOLD_BLOCK);
        fold_block(terms, stride, k, i0, n, sum, flag);
        for (int i = 0; i < n; i++) {
            if (!acc_out && !acc_in && !flag[i]) { /* the exact sum is this double: value() gives it back */
                out[i0 + i] = (float)sum[i];
                continue;
            }
            int64_t d[DIG];
            bad += element_digits(acc_in, terms, stride, k, i0 + i, sum[i], flag[i], acc_out ? acc_out + DIG * (i0 + i) : d);
            if (!acc_out) out[i0 + i] = (float)value_fast(d);
        }
    }
    return bad;
}

int64_t cascade_xsum_fold_to_digits(int64_t *acc, int accumulate, const float *terms, int64_t stride, int k,
                                    int64_t lo, int64_t hi) {
    return fold(accumulate ? acc : NULL, acc, terms, stride, k, lo, hi, NULL);
}

int64_t cascade_xsum_fold_to_floats(const int64_t *acc, const float *terms, int64_t stride, int k, int64_t lo,
                                    int64_t hi, float *out) {
    return fold(acc, NULL, terms, stride, k, lo, hi, out);
}

void cascade_xsum_digits_to_floats(const int64_t *acc, float *out, int64_t n) {
#pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = (float)value_fast(acc + DIG * i);
}
