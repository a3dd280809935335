#!/usr/bin/python3
"""Sky patches with an injected point source, and the per-pixel mask of where it is.

For the injected-signal check of `cascade explain --mask` (docs/explain.md, "Physics
demonstrations"): only the source decides the label, so a faithful attribution must put its
mass on the source's pixels. Each sample is a counts map of SIZE x SIZE pixels:

  background  Poisson counts everywhere, mean B (--background) times (1 + a diffuse band: a
              Gaussian ridge of random direction, offset and width 3-8 px, peak 0..--band),
              so the background is structured and differs from patch to patch
  source      label 1 only (a fraction --signal-fraction of the samples): Poisson counts with
              mean S ~ uniform(--counts) spread by a Gaussian PSF of width --psf px around a
              position uniform in [--margin, SIZE - --margin) on both axes
  label       (N) int32: 1 = source injected, 0 = background only

Written (float32 unless noted):
  counts       (N, SIZE, SIZE)  counts per pixel (background + source)
  signal_mask  (N, SIZE, SIZE)  uint8, 1 on the pixels whose centre lies within the radius
                                that contains --containment [0.99] of the source's counts,
                                psf * sqrt(-2 ln(1 - containment)) (3.6 px for the defaults),
                                of the true source position (all 0 for label 0)
  label        (N) int32
  source_xy    (N, 2)  true source column, row in pixels (NaN for label 0)
  source_counts (N)    the source's expected counts S (0 for label 0)
  root attrs   generator, version, seed, kind = "injected", and every option

Usage: injected_signal.py -n N -o OUT.h5 [--seed S] [--size 32] [--signal-fraction 0.5]
           [--background 4] [--band 2] [--counts 60,160] [--psf 1.2] [--containment 0.99] [--margin 3]
The output is a function of the options only. Needs numpy and h5py (Debian packages).
"""
import argparse
import sys

import h5py
import numpy as np

VERSION = 1


def pair(text):
    lo, hi = (float(v) for v in text.split(","))
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError("needs LO,HI with 0 <= LO <= HI, got %r" % text)
    return lo, hi


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, required=True, help="samples")
    p.add_argument("-o", "--out", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", type=int, default=32, help="pixels per side [32]")
    p.add_argument("--signal-fraction", type=float, default=0.5, help="share of samples with a source [0.5]")
    p.add_argument("--background", type=float, default=4.0, help="mean background counts per pixel [4]")
    p.add_argument("--band", type=float, default=2.0, help="max peak of the diffuse band, in units of B [2]")
    p.add_argument("--counts", type=pair, default=(60.0, 160.0), help="source counts LO,HI [60,160]")
    p.add_argument("--psf", type=float, default=1.2, help="Gaussian PSF width [px] [1.2]")
    p.add_argument("--containment", type=float, default=0.99,
                   help="share of the source's counts inside the mask's disc [0.99]")
    p.add_argument("--margin", type=float, default=3.0, help="min distance of the source from the edge [3]")
    a = p.parse_args(argv)
    if a.n < 1 or a.size < 4 or not 0 <= a.signal_fraction <= 1 or a.background <= 0 or a.band < 0 \
            or a.psf <= 0 or not 0 < a.containment < 1 or not 0 <= a.margin < a.size / 2:
        p.error("need n >= 1, size >= 4, 0 <= signal-fraction <= 1, background > 0, band >= 0, psf > 0, "
                "0 < containment < 1, 0 <= margin < size/2")
    return a


def simulate(a):
    rng = np.random.default_rng(a.seed)
    n, s = a.n, a.size
    rows, cols = np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5, indexing="ij")  # pixel centres
    label = (rng.random(n) < a.signal_fraction).astype(np.int32)
    # diffuse band: distance of each pixel from a line of random direction through a random point
    phi = rng.uniform(0, np.pi, n)
    offset = rng.uniform(-s / 2, s / 2, n)
    width = rng.uniform(3, 8, n)
    peak = rng.uniform(0, a.band, n)
    dist = (cols[None] - s / 2) * np.cos(phi)[:, None, None] + (rows[None] - s / 2) * np.sin(phi)[:, None, None] \
        - offset[:, None, None]
    mean = a.background * (1 + peak[:, None, None] * np.exp(-0.5 * (dist / width[:, None, None]) ** 2))
    # source: expected counts per pixel = S * the PSF integrated over the pixel (centre value x area)
    xy = rng.uniform(a.margin, s - a.margin, (n, 2))
    strength = rng.uniform(a.counts[0], a.counts[1], n)
    r2 = (cols[None] - xy[:, 0, None, None]) ** 2 + (rows[None] - xy[:, 1, None, None]) ** 2
    psf = np.exp(-0.5 * r2 / a.psf ** 2) / (2 * np.pi * a.psf ** 2)
    mean = mean + (label * strength)[:, None, None] * psf
    counts = rng.poisson(mean).astype(np.float32)
    radius = a.psf * np.sqrt(-2 * np.log(1 - a.containment))
    mask = ((r2 <= radius ** 2) & (label[:, None, None] == 1)).astype(np.uint8)
    xy[label == 0] = np.nan
    return counts, mask, label, xy.astype(np.float32), (label * strength).astype(np.float32)


def main(argv):
    a = parse(argv)
    counts, mask, label, xy, strength = simulate(a)
    with h5py.File(a.out, "w") as f:
        f["counts"], f["signal_mask"], f["label"], f["source_xy"] = counts, mask, label, xy
        f["source_counts"] = strength
        f.attrs.update(generator="tools/injected_signal.py", version=VERSION, seed=a.seed, kind="injected",
                       size=a.size, signal_fraction=a.signal_fraction, background=a.background, band=a.band,
                       counts=np.array(a.counts), psf=a.psf, containment=a.containment,
                       radius=a.psf * np.sqrt(-2 * np.log(1 - a.containment)), margin=a.margin)
    print("injected_signal: %d patches (%d with a source) -> %s; mask area %.4f of the pixels on average "
          "(sources only)" % (a.n, label.sum(), a.out, mask[label == 1].mean() if label.any() else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
