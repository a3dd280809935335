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

/* ---- fixed-point sums relative to the step's largest exponent (see xsum.h) ---- */

#define FIX CASCADE_XSUM_FIXED_BITS
#define BLOCK 256                        /* elements per block: a thread's unit of work */
#define ROUNDER 0x1.8p52                 /* x + ROUNDER, |x| < 2^51: x rounded to an integer in the low bits */
#define ROUNDER_BITS 0x4338000000000000LL /* the bits of ROUNDER */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#define XSUM_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define XSUM_SIMD_CLONES
#endif

static inline uint32_t float_bits(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* 2^(FIX + 126 - max(e, 1)) from its bits: every term with biased exponent <= e times this is
 * below 2^FIX in magnitude (exponent FIX + 126 - e in [-82, 171]: a normal double). */
static inline double fixed_scale(uint8_t e) {
    int64_t bits = (int64_t)(1023 + FIX + 126 - (e > 1 ? e : 1)) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* The largest biased exponent among the k terms of elements [i0, i0 + n) into emax (max with
 * what is there when accumulate); the number of NaN/Inf terms. */
XSUM_SIMD_CLONES static int64_t max_exponent_block(uint8_t *emax, int accumulate, const float *terms, int64_t stride,
                                                   int k, int64_t i0, int n) {
    uint32_t m[BLOCK];
    int64_t bad = 0;
    for (int i = 0; i < n; i++) m[i] = accumulate ? emax[i0 + i] : 0;
    for (int j = 0; j < k; j++) {
        const float *t = terms + (int64_t)j * stride + i0;
#pragma omp simd reduction(+ : bad)
        for (int i = 0; i < n; i++) {
            uint32_t e = (float_bits(t[i]) >> 23) & 0xff;
            m[i] = e > m[i] ? e : m[i];
            bad += e == 0xff;
        }
    }
    for (int i = 0; i < n; i++) emax[i0 + i] = (uint8_t)m[i];
    return bad;
}

/* acc[i] = sum over the k terms of round(term * fixed_scale(emax[i])), i in [i0, i0 + n):
 * the product is exact (a float times a power of two, in double), below 2^FIX, and adding
 * ROUNDER rounds it to the nearest integer (ties to even), read off the low bits. Sums wrap
 * modulo 2^64 (unsigned), which is exact whenever the total fits in an int64. */
XSUM_SIMD_CLONES static void fold_fixed_block(int64_t *acc, const uint8_t *emax, const float *terms, int64_t stride,
                                              int k, int64_t i0, int n) {
    double scale[BLOCK];
    uint64_t sum[BLOCK];
    for (int i = 0; i < n; i++) scale[i] = fixed_scale(emax[i0 + i]), sum[i] = 0;
    for (int j = 0; j < k; j++) {
        const float *t = terms + (int64_t)j * stride + i0;
#pragma omp simd
        for (int i = 0; i < n; i++) {
            double r = (double)t[i] * scale[i] + ROUNDER;
            uint64_t q;
            memcpy(&q, &r, sizeof q);
            sum[i] += q - (uint64_t)ROUNDER_BITS;
        }
    }
    for (int i = 0; i < n; i++) acc[i0 + i] = (int64_t)sum[i];
}

/* 1 / fixed_scale(e) = 2^(max(e, 1) - 126 - FIX): a fixed-point unit, from its bits. */
static inline double fixed_unscale(uint8_t e) {
    int64_t bits = (int64_t)(1023 - 126 - FIX + (e > 1 ? e : 1)) << 52;
    double u;
    memcpy(&u, &bits, sizeof u);
    return u;
}

/* s 2^x (a fixed-point sum, x = max(e, 1) - 126 - FIX) where it is below float's normal range:
 * the nearest multiple of 2^-149 (ties to even), in integers. Then s 2^x < 2^-126, so
 * shift = -149 - x <= 22 and a left shift stays below 2^23. */
static float subnormal_sum(int64_t s, int x) {
    uint64_t m = s < 0 ? 0 - (uint64_t)s : (uint64_t)s, q;
    int shift = -149 - x;
    if (shift <= 0) {
        q = m << -shift;
    } else {
        uint64_t rem = m & ((1ULL << shift) - 1), half = 1ULL << (shift - 1);
        q = m >> shift;
        q += rem > half || (rem == half && (q & 1));
    }
    float r = (float)q * 0x1p-149f; /* q <= 2^23: exact */
    return s < 0 ? -r : r;
}

/* The fixed-point sum s of an element with largest exponent e as a float, rounded once: (float)s
 * rounds to nearest, the scaling by 2^x = 1 / fixed_scale(e) (in double) is exact, and so is
 * the conversion to float in float's normal range (beyond FLT_MAX: Inf); below it, the
 * integer rounding of subnormal_sum. NaN where a term was NaN/Inf. */
static inline float fixed_to_float(int64_t s, uint8_t e) {
    if (e == 0xff) return NAN; /* a NaN/Inf term: no sum */
    float r = (float)((double)(float)s * fixed_unscale(e));
    return fabsf(r) >= 0x1p-126f || s == 0 ? r : subnormal_sum(s, (e > 1 ? e : 1) - 126 - FIX);
}

/* fixed_to_float of a block of sums; the number of non-finite results. Vectorised where
 * |sum| < 2^51 — then the sum is exact in double, read off ROUNDER's bits, so one rounding
 * to float — and the result is a normal float or Inf; the others one by one. */
XSUM_SIMD_CLONES static int64_t block_to_floats(const int64_t *sum, const uint8_t *emax, int n, float *out) {
    uint8_t slow[BLOCK];
    int64_t nonfinite = 0;
#pragma omp simd
    for (int i = 0; i < n; i++) {
        uint64_t bits = (uint64_t)sum[i] + (uint64_t)ROUNDER_BITS;
        double d;
        memcpy(&d, &bits, sizeof d);
        float r = (float)((d - ROUNDER) * fixed_unscale(emax[i]));
        out[i] = r;
        slow[i] = ((uint64_t)sum[i] + (1ULL << 51) >= (1ULL << 52)) | (emax[i] == 0xff) |
                  ((fabsf(r) < 0x1p-126f) & (sum[i] != 0));
    }
    for (int i = 0; i < n; i++) {
        if (slow[i]) out[i] = fixed_to_float(sum[i], emax[i]);
        nonfinite += !isfinite(out[i]);
    }
    return nonfinite;
}

int64_t cascade_xsum_max_exponents(uint8_t *emax, int accumulate, const float *terms, int64_t stride, int k,
                                   int64_t lo, int64_t hi) {
    int64_t bad = 0, nb = (hi - lo + BLOCK - 1) / BLOCK;
#pragma omp parallel for reduction(+ : bad) if ((hi - lo) * k > 65536) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = lo + b * BLOCK;
        bad += max_exponent_block(emax, accumulate, terms, stride, k, i0, (int)(hi - i0 < BLOCK ? hi - i0 : BLOCK));
    }
    return bad;
}

void cascade_xsum_fold_fixed(int64_t *acc, const uint8_t *emax, const float *terms, int64_t stride, int k,
                             int64_t lo, int64_t hi) {
    int64_t nb = (hi - lo + BLOCK - 1) / BLOCK;
#pragma omp parallel for if ((hi - lo) * k > 65536) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = lo + b * BLOCK;
        fold_fixed_block(acc, emax, terms, stride, k, i0, (int)(hi - i0 < BLOCK ? hi - i0 : BLOCK));
    }
}

int64_t cascade_xsum_fixed_to_floats(const int64_t *acc, const int64_t *more, int n_more, int64_t more_stride,
                                     const uint8_t *emax, float *out, int64_t n) {
    int64_t nonfinite = 0, nb = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for reduction(+ : nonfinite) if (n > 32768) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * BLOCK, sum[BLOCK];
        int m = (int)(n - i0 < BLOCK ? n - i0 : BLOCK);
        for (int i = 0; i < m; i++) sum[i] = acc[i0 + i];
        for (int q = 0; q < n_more; q++) /* unsigned: sums wrap modulo 2^64 */
            for (int i = 0; i < m; i++) sum[i] = (int64_t)((uint64_t)sum[i] + (uint64_t)more[q * more_stride + i0 + i]);
        nonfinite += block_to_floats(sum, emax + i0, m, out + i0);
    }
    return nonfinite;
}

int64_t cascade_xsum_fold_fixed_to_floats(const float *terms, int64_t stride, int k, int64_t lo, int64_t hi,
                                          float *out) {
    int64_t bad = 0, nb = (hi - lo + BLOCK - 1) / BLOCK;
#pragma omp parallel for reduction(+ : bad) if ((hi - lo) * k > 65536) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = lo + b * BLOCK, sum[BLOCK];
        uint8_t emax[BLOCK];
        int n = (int)(hi - i0 < BLOCK ? hi - i0 : BLOCK);
        /* the block's own arrays, indexed from 0: shift the terms instead */
        bad += max_exponent_block(emax, 0, terms + i0, stride, k, 0, n);
        fold_fixed_block(sum, emax, terms + i0, stride, k, 0, n);
        bad += block_to_floats(sum, emax, n, out + i0);
    }
    return bad;
}
