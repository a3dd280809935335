/* Exact, order-independent sums (`deterministic = true`: these digit sums for losses and
 * statistics, the fixed-point sums below for gradients).
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

/* Fixed-point sums relative to the step's largest exponent (the gradient reduction of
 * `deterministic = true`; see docs/training.md). Element i has terms t_j (one per micro-batch
 * of the step, on any rank). Let e_i = the largest biased float exponent (bits 23..30) among
 * all of them and u_i = 2^(max(e_i, 1) - 126 - CASCADE_XSUM_FIXED_BITS): every |t_j| is below
 * 2^(max(e_i,1) - 126) = 2^FIXED_BITS u_i. Each term is rounded to the nearest multiple of u_i
 * (ties to even) — a property of the term and of e_i, which is the same for any deal of the
 * terms to ranks — and the integers t_j / u_i (|.| <= 2^46) are added in int64, modulo 2^64:
 * exact and associative, so the sum is the same bits for any order, grouping, rank count or
 * thread count. Exact when the step has at most 2^16 terms per element (the sum stays below
 * 2^63 u_i). The error of a term is at most u_i / 2 <= 2^-46 |largest term|; terms of at
 * most u_i / 2 vanish. The result (sum x u_i) is rounded once to float (to nearest,
 * ties to even; subnormal results too; beyond FLT_MAX it is Inf). NaN/Inf terms are
 * counted (e_i = 255: the result is meaningless and the caller skips the step).
 *
 * The k terms of element i in [lo, hi) are terms[j * stride + i], j < k. */
#define CASCADE_XSUM_FIXED_BITS 46

/* emax[i] = the largest biased exponent of the terms (max with emax[i] when accumulate); the
 * number of NaN/Inf terms. Ranks then agree on emax with MPI_MAX over MPI_UINT8_T. */
int64_t cascade_xsum_max_exponents(uint8_t *emax, int accumulate, const float *terms, int64_t stride, int k,
                                   int64_t lo, int64_t hi);
/* acc[i] = the sum of the terms as integer multiples of u_i (emax: the agreed exponents). */
void cascade_xsum_fold_fixed(int64_t *acc, const uint8_t *emax, const float *terms, int64_t stride, int k,
                             int64_t lo, int64_t hi);
/* out[i] = (acc[i] + sum over q < n_more of more[q * more_stride + i]) x u_i as float, i < n
 * (emax, out indexed like acc); the number of results beyond float's range (Inf). */
int64_t cascade_xsum_fixed_to_floats(const int64_t *acc, const int64_t *more, int n_more, int64_t more_stride,
                                     const uint8_t *emax, float *out, int64_t n);
/* All of it on one rank (emax over the k terms alone), out[i] for i in [lo, hi); the number
 * of NaN/Inf terms plus results beyond float's range. */
int64_t cascade_xsum_fold_fixed_to_floats(const float *terms, int64_t stride, int k, int64_t lo, int64_t hi,
                                          float *out);

#endif
