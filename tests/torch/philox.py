"""cascade's random streams in Python (src/core/rng.c, src/train/gan.c): Philox4x32-10 keyed by
(seed, purpose), Box-Muller normals, the gan noise z and penalty weights alpha — so PyTorch
reference runs draw exactly what cascade draws."""
import math

import numpy as np

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
RNG_SHUFFLE, RNG_GAN_Z, RNG_GAN_ALPHA, RNG_HISTORY = 2, 6, 7, 8


def philox(seed, purpose, a, b):
    key = [seed & MASK, ((seed >> 32) ^ (purpose * 0x9E3779B9)) & MASK]
    c = [a & MASK, (a >> 32) & MASK, b & MASK, (b >> 32) & MASK]
    for r in range(10):
        if r:
            key = [(key[0] + W0) & MASK, (key[1] + W1) & MASK]
        p0, p1 = M0 * c[0], M1 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ key[0]) & MASK, p1 & MASK, ((p0 >> 32) ^ c[3] ^ key[1]) & MASK, p0 & MASK]
    return c


def u01d(hi, lo):
    return float(((hi << 21) ^ (lo >> 11)) & ((1 << 53) - 1)) * (1.0 / 9007199254740992.0)


def normal2(seed, purpose, a, b):
    r = philox(seed, purpose, a, b)
    u1 = 1.0 - u01d(r[0], r[1])
    u2 = u01d(r[2], r[3])
    rad = math.sqrt(-2.0 * math.log(u1))
    return rad * math.cos(2.0 * math.pi * u2), rad * math.sin(2.0 * math.pi * u2)


def gan_noise(seed, counter, first, m, zs):
    """z (m, zs) float32 for global-batch positions first..first+m-1 (cascade_gan_noise)."""
    z = np.zeros((m, zs), dtype=np.float32)
    for i in range(m):
        for j in range(0, zs, 2):
            g = normal2(seed, RNG_GAN_Z, counter, ((first + i) << 24) | (j // 2))
            z[i, j] = g[0]
            if j + 1 < zs:
                z[i, j + 1] = g[1]
    return z


def gan_alpha(seed, counter, first, m):
    """The penalty's interpolation weights (m,) float32."""
    return np.array([(philox(seed, RNG_GAN_ALPHA, counter, first + i)[0] >> 8) * (1.0 / 16777216.0)
                     for i in range(m)], dtype=np.float32)


def permutation(seed, purpose, rnd, n):
    """cascade_permutation: Fisher-Yates, draw i from counter (round, i)."""
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        r = philox(seed, purpose, rnd, i)
        j = ((r[0] << 32) | r[1]) % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def history_draw(seed, counter, q, which):
    """The refiner history buffer's draws (src/train/refiner.c)."""
    r = philox(seed, RNG_HISTORY, counter, q)
    return (r[2] << 32 | r[3]) if which else (r[0] << 32 | r[1])


if __name__ == "__main__":  # the values ph.c printed from the C library
    assert philox(7, 6, (3 << 8) | 1, (5 << 24) | 2) == [2497256029, 4189442636, 156659825, 309999566]
    g = normal2(7, 6, (3 << 8) | 1, (5 << 24) | 2)
    assert g == (1.285286320283209, 0.29983042359777151), g
    print("philox ok")
