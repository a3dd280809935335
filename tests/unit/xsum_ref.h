/* The fixed-point sums of cascade/xsum.h from first principles, for the tests: the largest
 * exponent by frexpf, each term rounded with nearbyint(ldexp), the integers added in
 * __int128, the sum rounded once to float through long double (x86-64: 64-bit significand,
 * so the scaling is exact). */
#ifndef CASCADE_TEST_XSUM_REF_H
#define CASCADE_TEST_XSUM_REF_H

#include <math.h>
#include <stdint.h>

#include "cascade/xsum.h"

/* The biased exponent of a float term (0: zero or subnormal, 255: NaN/Inf). */
static inline int xsum_ref_exponent(float t) {
    if (!isfinite(t)) return 255;
    if (t == 0) return 0;
    int ex;
    frexpf(t, &ex); /* |t| = f 2^ex, f in [0.5, 1): biased exponent ex + 126 */
    return ex + 126 > 0 ? ex + 126 : 0;
}

/* log2 of the unit u of terms whose largest biased exponent is e. */
static inline int xsum_ref_unit_log2(int e) { return (e > 1 ? e : 1) - 126 - CASCADE_XSUM_FIXED_BITS; }

/* Term t as an integer multiple of the unit 2^x (rounded to nearest, ties to even). */
static inline int64_t xsum_ref_units(float t, int x) { return (int64_t)nearbyint(ldexp((double)t, -x)); }

/* The sum of the k terms t[j * stride] (one element) as the library defines it: *units = the
 * integer sum, *x = log2 of the unit; returns the float. */
static inline float xsum_ref_fixed(const float *t, int64_t stride, int k, __int128 *units, int *x) {
    int e = 0;
    for (int j = 0; j < k; j++) {
        int ej = xsum_ref_exponent(t[j * stride]);
        e = ej > e ? ej : e;
    }
    *x = xsum_ref_unit_log2(e);
    *units = 0;
    if (e == 255) return NAN; /* a NaN/Inf term: no sum */
    for (int j = 0; j < k; j++) *units += xsum_ref_units(t[j * stride], *x);
    return (float)ldexpl((long double)*units, *x);
}

#endif
