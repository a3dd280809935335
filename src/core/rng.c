/* Philox4x32-10 streams keyed by (seed, purpose); counters carry step and global indices,
 * never the rank, so every random draw is identical for any number of ranks. */
#include "cascade/core.h"

#include <Random123/philox.h>
#include <math.h>

void cascade_philox(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b, uint32_t out[4]) {
    philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32) ^ (purpose * 0x9E3779B9u)}};
    philox4x32_ctr_t ctr = {{(uint32_t)a, (uint32_t)(a >> 32), (uint32_t)b, (uint32_t)(b >> 32)}};
    philox4x32_ctr_t r = philox4x32(ctr, key);
    for (int i = 0; i < 4; i++) out[i] = r.v[i];
}

void cascade_normal2(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b, double out[2]) {
    uint32_t r[4];
    cascade_philox(seed, purpose, a, b, r);
    double u1 = 1.0 - cascade_u01d(r[0], r[1]); /* (0, 1] so log is finite */
    double u2 = cascade_u01d(r[2], r[3]);
    double rad = sqrt(-2.0 * log(u1));
    out[0] = rad * cos(2.0 * M_PI * u2);
    out[1] = rad * sin(2.0 * M_PI * u2);
}

/* Fisher-Yates driven by Philox: draw i uses counter (round, i). */
cascade_status cascade_permutation(uint64_t seed, uint32_t purpose, uint64_t round, int64_t n,
                                   int64_t *perm) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        cascade_philox(seed, purpose, round, (uint64_t)i, r);
        uint64_t x = ((uint64_t)r[0] << 32) | r[1];
        int64_t j = (int64_t)(x % (uint64_t)(i + 1)); /* bias < 2^-40 for n < 2^24 */
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return CASCADE_OK;
}
