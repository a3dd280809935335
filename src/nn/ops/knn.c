/* Exact k-nearest-neighbour graphs of point sets, for edgeconv (knn.h).
 *
 * Per sample, blockwise: a block of rows of -2 C C^T by GEMM plus the squared norms gives
 * squared distances (the point itself out of reach); each row keeps its k smallest in an
 * ascending buffer. The result is the k smallest by (distance, index): inserting every
 * candidate in index order with a strict `<` keeps the earlier index on ties, and skipping a
 * candidate that is not below the current k-th smallest changes nothing, so the row is
 * screened by windows of 32 against the k-th smallest at the window's start (a bit mask, SIMD
 * compares on x86) and only the candidates below it are inserted, in index order (for k <= 16
 * into a buffer of SSE lanes without branches, select_row_lanes). No gradient flows through
 * the selection. Few coordinates skip the GEMM (knn_direct). */
#include <stdint.h>
#include <string.h>

#include <omp.h>

#include "nn/ops/knn.h"

#if defined(__SSE__) && !defined(CASCADE_REAL_DOUBLE)
#include <emmintrin.h>
#define KNN_SSE 1
#endif

#define KNN_WINDOW 32 /* candidates screened at once: the bits of a uint32_t */

/* Inserts (dist, j) into the full ascending buffer b (k entries) when dist < b[k-1]: every
 * slot takes its own value, its left neighbour's or the new one, without branches; an entry
 * equal to the new one stays before it. */
static inline void insert_sorted(real *b, int *jb, int k, real dist, int j) {
    for (int p = k - 1; p > 0; p--) {
        real left = b[p - 1], cur = b[p];
        int shift = left > dist, take = cur > dist;
        b[p] = shift ? left : take ? dist : cur;
        jb[p] = shift ? jb[p - 1] : take ? j : jb[p];
    }
    int take = b[0] > dist;
    jb[0] = take ? j : jb[0];
    b[0] = take ? dist : b[0];
}

/* Bit t set: window value w[t] < bound (t < jn <= 32). */
static inline uint32_t below_mask(const real *w, int jn, real bound) {
    uint32_t m = 0;
#ifdef KNN_SSE
    if (jn == KNN_WINDOW) {
        __m128 bv = _mm_set1_ps(bound);
#pragma GCC unroll 8
        for (int q = 0; q < KNN_WINDOW / 4; q++)
            m |= (uint32_t)_mm_movemask_ps(_mm_cmplt_ps(_mm_loadu_ps(w + 4 * q), bv)) << (4 * q);
        return m;
    }
#endif
    for (int t = 0; t < jn; t++) m |= (uint32_t)(w[t] < bound) << t;
    return m;
}

/* The k smallest of row (P squared distances) by (value, index) into nbr (k reals). */
static void select_row(const real *row, int P, int k, real *nbr) {
    real best_d[KNN_MAX_K];
    int best_j[KNN_MAX_K];
    /* the first k candidates sorted by insertion (stable: ties keep index order) */
    for (int j = 0; j < k; j++) {
        int pos = j;
        while (pos > 0 && best_d[pos - 1] > row[j]) {
            best_d[pos] = best_d[pos - 1];
            best_j[pos] = best_j[pos - 1];
            pos--;
        }
        best_d[pos] = row[j];
        best_j[pos] = j;
    }
    for (int j0 = k; j0 < P; j0 += KNN_WINDOW) {
        int jn = P - j0 < KNN_WINDOW ? P - j0 : KNN_WINDOW;
        const real *win = row + j0;
        uint32_t below = below_mask(win, jn, best_d[k - 1]);
        while (below) {
            int t = __builtin_ctz(below);
            if (win[t] < best_d[k - 1]) insert_sorted(best_d, best_j, k, win[t], j0 + t);
            below &= below - 1;
        }
    }
    for (int t = 0; t < k; t++) nbr[t] = (real)best_j[t];
}

#ifdef KNN_SSE
/* k <= 16: the buffer in ng = ceil(k/4) SSE registers of 4 lanes (ascending, unused lanes at
 * the end start at REAL_MAX), distances and indices side by side. An insertion is the same
 * rule as insert_sorted for all lanes at once: lane p takes lane p-1 if that is larger than
 * the new value, else the new value if lane p is larger, else keeps its own (strict compares:
 * ties keep the earlier index first); a value not below lane k-1 changes nothing, so the
 * screened candidates go in without a branch. Lane k-1 is the bound. */
typedef struct {
    __m128 d[4];
    __m128i j[4];
} knn_lanes;

static inline __attribute__((always_inline)) void lanes_insert(knn_lanes *s, int ng, float dist, int j) {
    const __m128 dv = _mm_set1_ps(dist), not_lane0 = _mm_castsi128_ps(_mm_set_epi32(-1, -1, -1, 0));
    const __m128i jv = _mm_set1_epi32(j);
#pragma GCC unroll 4
    for (int g = ng - 1; g >= 0; g--) {
        __m128 b = s->d[g];
        __m128i bj = s->j[g];
        /* the lanes one position up: lane p holds lane p-1 (across groups) */
        __m128i up = _mm_slli_si128(_mm_castps_si128(b), 4), upj = _mm_slli_si128(bj, 4);
        if (g) {
            up = _mm_or_si128(up, _mm_srli_si128(_mm_castps_si128(s->d[g - 1]), 12));
            upj = _mm_or_si128(upj, _mm_srli_si128(s->j[g - 1], 12));
        }
        __m128 left = _mm_castsi128_ps(up), shift = _mm_cmpgt_ps(left, dv), take = _mm_cmpgt_ps(b, dv);
        if (!g) shift = _mm_and_ps(shift, not_lane0);
        __m128 kept = _mm_or_ps(_mm_and_ps(take, dv), _mm_andnot_ps(take, b));
        __m128i keptj = _mm_or_si128(_mm_and_si128(_mm_castps_si128(take), jv),
                                     _mm_andnot_si128(_mm_castps_si128(take), bj));
        s->d[g] = _mm_or_ps(_mm_and_ps(shift, left), _mm_andnot_ps(shift, kept));
        s->j[g] = _mm_or_si128(_mm_and_si128(_mm_castps_si128(shift), upj),
                               _mm_andnot_si128(_mm_castps_si128(shift), keptj));
    }
}

static inline __attribute__((always_inline)) void select_row_lanes(const float *row, int P, int k, float *nbr,
                                                                   int ng) {
    knn_lanes s;
    float lanes[16];
    int idx[16];
    for (int g = 0; g < 4; g++) {
        s.d[g] = _mm_set1_ps(REAL_MAX);
        s.j[g] = _mm_setzero_si128();
    }
    /* the point itself (REAL_MAX) never enters; k <= P - 1 others fill the buffer */
    for (int j = 0; j < k; j++) lanes_insert(&s, ng, row[j], j);
    int bg = (k - 1) / 4, bl = (k - 1) % 4;
    for (int j0 = k; j0 < P; j0 += KNN_WINDOW) {
        int jn = P - j0 < KNN_WINDOW ? P - j0 : KNN_WINDOW;
        const float *win = row + j0;
        _mm_storeu_ps(lanes, s.d[bg]);
        uint32_t below = below_mask(win, jn, lanes[bl]);
        while (below) {
            int t = __builtin_ctz(below);
            lanes_insert(&s, ng, win[t], j0 + t);
            below &= below - 1;
        }
    }
    for (int g = 0; g < ng; g++) _mm_storeu_si128((__m128i *)(idx + 4 * g), s.j[g]);
    for (int t = 0; t < k; t++) nbr[t] = (float)idx[t];
}
#endif

static void select_k(const real *row, int P, int k, real *nbr) {
#ifdef KNN_SSE
    switch ((k + 3) / 4) {
    case 1: select_row_lanes(row, P, k, nbr, 1); return;
    case 2: select_row_lanes(row, P, k, nbr, 2); return;
    case 3: select_row_lanes(row, P, k, nbr, 3); return;
    case 4: select_row_lanes(row, P, k, nbr, 4); return;
    default: break;
    }
#endif
    select_row(row, P, k, nbr);
}

/* Row i's squared distances into row (P) from the transposed coordinates soa (G x P) and
 * norms, and its k nearest into nbr row i. */
OP_SIMD_CLONES static void direct_row(const real *soa, const real *norm, int P, int G, int k, int i, real *row,
                                      real *nbr) {
    real ci[KNN_DIRECT_G], ni = norm[i];
    for (int g = 0; g < G; g++) ci[g] = -2 * soa[(size_t)g * P + i];
#pragma omp simd
    for (int j = 0; j < P; j++) row[j] = ci[0] * soa[j];
    for (int g = 1; g < G; g++) {
        const real *cg = soa + (size_t)g * P;
        real cig = ci[g];
#pragma omp simd
        for (int j = 0; j < P; j++) row[j] += cig * cg[j];
    }
#pragma omp simd
    for (int j = 0; j < P; j++) row[j] += ni + norm[j];
    row[i] = REAL_MAX;
    select_k(row, P, k, nbr + (size_t)i * k);
}

/* Few coordinates (G <= KNN_DIRECT_G, e.g. unit vectors on the sphere): a GEMM with an inner
 * dimension of 3 is mostly its output traffic, so each row's distances are computed directly
 * from the coordinates transposed to G contiguous rows (the same ||a||^2 - 2 a.b + ||b||^2, the
 * dot product summed in coordinate order) into that row's buffer and selected while in L1.
 * The norms are already in scratch[0 .. P) (edgeconv_knn). */
static void knn_direct(const real *coords, int gstride, int P, int G, int k, real *nbr, real *scratch) {
    real *norm = scratch, *soa = scratch + P, *rows_buf = soa + (size_t)G * P;
    for (int p = 0; p < P; p++)
        for (int g = 0; g < G; g++) soa[(size_t)g * P + p] = coords[(size_t)p * gstride + g];
    int block = KNN_ROW_BLOCK - KNN_DIRECT_G; /* row buffers left in scratch after the G rows */
    for (int r0 = 0; r0 < P; r0 += block) {
        int rows = P - r0 < block ? P - r0 : block;
#pragma omp parallel for if ((int64_t)rows * P >= 16384)
        for (int r = 0; r < rows; r++) direct_row(soa, norm, P, G, k, r0 + r, rows_buf + (size_t)r * P, nbr);
    }
}

/* row[j] += ni + norm[j] (a row of -2 C C^T -> squared distances) */
OP_SIMD_CLONES static void add_norms(real *row, const real *norm, int P, real ni) {
#pragma omp simd
    for (int j = 0; j < P; j++) row[j] += ni + norm[j];
}

void OPSYM(edgeconv_knn)(const real *coords, int gstride, int P, int G, int k, real *nbr, real *scratch) {
    real *norm = scratch, *dist = scratch + P;
    for (int p = 0; p < P; p++) {
        real s = 0;
        for (int g = 0; g < G; g++) s += coords[(size_t)p * gstride + g] * coords[(size_t)p * gstride + g];
        norm[p] = s;
    }
    if (G <= KNN_DIRECT_G) {
        knn_direct(coords, gstride, P, G, k, nbr, scratch);
        return;
    }
    for (int r0 = 0; r0 < P; r0 += KNN_ROW_BLOCK) {
        int rows = P - r0 < KNN_ROW_BLOCK ? P - r0 : KNN_ROW_BLOCK;
        /* dist (rows x P) = -2 C_block C^T */
        OPSYM(op_gemm)(0, 1, rows, P, G, -2, coords + (size_t)r0 * gstride, gstride, coords, gstride, 0,
                       dist, P);
#pragma omp parallel for if ((int64_t)rows * P >= 16384)
        for (int r = 0; r < rows; r++) {
            int i = r0 + r;
            real *row = dist + (size_t)r * P;
            add_norms(row, norm, P, norm[i]);
            row[i] = REAL_MAX;
            select_k(row, P, k, nbr + (size_t)i * k);
        }
    }
}

void OPSYM(edgeconv_knn_batch)(const real *coords, int64_t sstride, int gstride, int n, int P, int G, int k,
                               real *nbr, real *scratch) {
    int team = omp_get_max_threads();
    if (team > KNN_SLOTS) team = KNN_SLOTS;
    if (team > n) team = n;
    /* a team of one leaves the region inactive: a single sample spreads its rows instead */
#pragma omp parallel for schedule(dynamic) num_threads(team) if (team > 1)
    for (int s = 0; s < n; s++)
        OPSYM(edgeconv_knn)(coords + s * sstride, gstride, P, G, k, nbr + (size_t)s * P * k,
                            scratch + omp_get_thread_num() * KNN_SCRATCH(P));
}
