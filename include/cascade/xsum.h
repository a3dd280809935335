/* Exact, order-independent sums (the reduction behind `deterministic = true`).
 *
 * Each term is truncated toward zero to a multiple of 2^-CASCADE_XSUM_LOW (a property of the
 * term alone) and added as CASCADE_XSUM_DIGITS signed 48-bit digits kept in int64 words, so
 * integer addition — locally, or as MPI_SUM over MPI_INT64_T across ranks — is exact and
 * associative: the result does not depend on the order or grouping of the terms, hence not on
 * the number of ranks. Range: |term| < 2^(48*DIGITS - LOW) = 2^64; resolution 2^-128 (below
 * float's smallest normal number, so float terms are kept exactly). Up to 2^15 terms per
 * accumulator between normalisations. Converting back rounds the exact sum once. */
#ifndef CASCADE_XSUM_H
#define CASCADE_XSUM_H

#include <stdint.h>

#define CASCADE_XSUM_DIGITS 4
#define CASCADE_XSUM_LOW 128

/* acc[DIGITS * i + k]: digit k of element i. Returns the number of terms that were NaN/Inf
 * or out of range (those are not added; the caller treats the sum as non-finite). */
int64_t cascade_xsum_add_floats(int64_t *acc, const float *v, int64_t n);
int64_t cascade_xsum_add_doubles(int64_t *acc, const double *v, int64_t n);
/* The exact sums rounded once to float / double. */
void cascade_xsum_to_floats(const int64_t *acc, float *out, int64_t n);
void cascade_xsum_to_doubles(const int64_t *acc, double *out, int64_t n);

/* The fast paths of the exact reduction (no ldexp, threaded over blocks of elements, the
 * result independent of the thread count). Every one gives bitwise what the reference
 * functions above give for the same exact sum.
 *
 * Folding: element i in [lo, hi) has k float terms terms[j * stride + i] (j < k, one per
 * micro-batch); acc indexes digits of element i at acc[DIGITS * i]. Both return the number
 * of terms that were NaN/Inf or out of range (as cascade_xsum_add_floats). When all k terms
 * of an element are multiples of 2^-128 and their double sum is exact (checked with TwoSum,
 * the usual case), the sum is added as one term; otherwise term by term. */
/* acc[i] = (accumulate ? acc[i] : 0) + exact sum of the terms. */
int64_t cascade_xsum_fold_to_digits(int64_t *acc, int accumulate, const float *terms, int64_t stride, int k,
                                    int64_t lo, int64_t hi);
/* out[i] = the exact sum of the terms (plus acc[i]'s digits when acc is not NULL), rounded
 * once: bitwise cascade_xsum_to_floats of the digits of that sum. */
int64_t cascade_xsum_fold_to_floats(const int64_t *acc, const float *terms, int64_t stride, int k, int64_t lo,
                                    int64_t hi, float *out);
/* cascade_xsum_to_floats, fast: out[i] from acc[DIGITS * i], i < n. */
void cascade_xsum_digits_to_floats(const int64_t *acc, float *out, int64_t n);

#endif
