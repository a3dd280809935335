#!/usr/bin/python3
"""Toy air-shower data set in cascade's `airshower` schema -- a STAND-IN, not the simulator.

This exists only so that the tests and the demo have data while `cascade simulate airshower`
(src/sim/airshower.c, documented in datasets/README.md) is being written; once that lands,
use it instead. The physics here is deliberately crude, but every field has the meaning,
units, shape and dtype of the real schema (CONTRACT.md "Data sets"):

  time   (N,9,9) float32  arrival time [ns] relative to the core's plane-front crossing
  signal (N,9,9) float32  total signal [VEM]; stations below 3 VEM hold 0 in time and signal
  logE   (N)  log10(E/eV) uniform in [18.5, 20]
  xmax   (N)  g/cm^2, Gumbel; mean 750 + 57 (logE - 19) - 25 ln A, scale 45 - 7.5 ln A
  axis   (N,3) unit vector towards the sky; zenith pdf ~ sin(t) cos(t), t <= 60 deg
  core   (N,2) m, uniform in the hexagonal cell of the central station
  mass   (N)  A drawn from {1, 4, 14, 56}
  root attrs: generator, version, seed, kind="airshower", domain, spacing_m=1500

Station [r][c] sits at x = (c - 4 + (r mod 2)/2) * spacing, y = (r - 4) * spacing * sqrt(3)/2.
Signal: S0 = 40 VEM * 10^(logE - 19) at 1000 m, split into a muonic part (fraction
0.3 A^0.15 for --domain sim, larger for --domain data) and an electromagnetic part attenuated
with the slant depth from Xmax to ground; each falls off as (r/1000)^-b ((r+700)/1700)^-b
(b = 2.0 muons, 2.6 EM) with r, the distance to the axis, clamped at >= 150 m. Times: plane
front along the axis plus log-normal particle delays and jitter. Fluctuations are Gaussian
with Poisson width; --domain data has more noise. Output is a function of the seed only.

Usage: toy_airshower.py -n N -o OUT.h5 [--seed S] [--domain sim|data]
Needs only numpy and h5py (Debian python3-numpy, python3-h5py).
"""
import argparse
import os
import sys

import h5py
import numpy as np

GRID = 9
SPACING_M = 1500.0
LIGHT_M_PER_NS = 0.299792458
GROUND_DEPTH = 875.0      # vertical atmospheric depth of the array [g/cm^2]
TRIGGER_VEM = 3.0
MASSES = np.array([1.0, 4.0, 14.0, 56.0])
# Per domain: muonic fraction scale and exponent in A, Poisson-width factor, extra noise [VEM],
# timing jitter [ns]. "data" is muon-richer and noisier than "sim" (PHYSICS.md, Domains).
DOMAINS = {
    "sim": dict(muon_scale=0.3, muon_power=0.15, poisson=1.0, floor_vem=0.5, jitter_ns=10.0),
    "data": dict(muon_scale=0.7, muon_power=0.08, poisson=1.3, floor_vem=1.0, jitter_ns=20.0),
}


def station_positions(spacing=SPACING_M):
    """(9, 9) x and y [m] of the stations in offset coordinates (odd rows shifted right)."""
    rows, cols = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    x = (cols - 4 + (rows % 2) / 2.0) * spacing
    y = (rows - 4) * spacing * np.sqrt(3.0) / 2.0
    return x, y


def sample_cores(rng, n, spacing=SPACING_M):
    """(n, 2) points uniform in the hexagonal (Voronoi) cell of the station at the origin."""
    directions = np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2], [-0.5, np.sqrt(3) / 2]])
    cores = np.empty((0, 2))
    while len(cores) < n:
        box = rng.uniform(-1.0, 1.0, size=(2 * n, 2)) * [spacing / 2, spacing / np.sqrt(3)]
        inside = np.all(np.abs(box @ directions.T) <= spacing / 2, axis=1)
        cores = np.concatenate([cores, box[inside]])
    return cores[:n]


def lateral(r, beta):
    """NKG-like fall-off, 1 at r = 1000 m."""
    return (r / 1000.0) ** -beta * ((r + 700.0) / 1700.0) ** -beta


def simulate(n, seed, domain):
    """Returns a dict of the data sets (float32 arrays) for n showers."""
    par = DOMAINS[domain]
    rng = np.random.default_rng(seed)
    log_e = rng.uniform(18.5, 20.0, n)
    zenith = np.arcsin(np.sqrt(rng.uniform(0.0, np.sin(np.radians(60.0)) ** 2, n)))
    azimuth = rng.uniform(0.0, 2 * np.pi, n)
    axis = np.stack([np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth),
                     np.cos(zenith)], axis=1)
    core = sample_cores(rng, n)
    mass = rng.choice(MASSES, n)
    ln_a = np.log(mass)
    xmax_scale = 45.0 - 7.5 * ln_a
    xmax_mean = 750.0 + 57.0 * (log_e - 19.0) - 25.0 * ln_a
    xmax = rng.gumbel(xmax_mean - np.euler_gamma * xmax_scale, xmax_scale)

    # Station offsets from the core (n, 9, 9); component along the axis and distance to it.
    sx, sy = station_positions()
    dx = sx[None] - core[:, 0, None, None]
    dy = sy[None] - core[:, 1, None, None]
    along = dx * axis[:, 0, None, None] + dy * axis[:, 1, None, None]
    r = np.sqrt(np.maximum(dx * dx + dy * dy - along * along, 0.0))
    r = np.maximum(r, 150.0)

    s0 = 40.0 * 10.0 ** (log_e - 19.0)
    muon_fraction = np.minimum(par["muon_scale"] * mass ** par["muon_power"], 0.9)
    slant_after_xmax = GROUND_DEPTH / np.cos(zenith) - xmax
    em_attenuation = np.minimum(np.exp(-(slant_after_xmax - 100.0) / 400.0), 2.0)
    muons = (s0 * muon_fraction)[:, None, None] * lateral(r, 2.0)
    em = (s0 * (1 - muon_fraction) * em_attenuation)[:, None, None] * lateral(r, 2.6)
    expected = muons + em
    width = par["poisson"] * np.sqrt(expected) + par["floor_vem"]
    signal = np.maximum(expected + width * rng.standard_normal(expected.shape), 0.0)

    # Plane front: a station upstream (along > 0) is reached before the core.
    plane_delay = -along / LIGHT_M_PER_NS
    particle_delay = rng.lognormal(np.log(50.0 * (r / 1000.0 + 0.1)), 0.7)
    time = plane_delay + particle_delay + par["jitter_ns"] * rng.standard_normal(r.shape)

    silent = signal < TRIGGER_VEM
    signal[silent] = 0.0
    time[silent] = 0.0
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return dict(time=f32(time), signal=f32(signal), logE=f32(log_e), xmax=f32(xmax),
                axis=f32(axis), core=f32(core), mass=f32(mass))


def write(path, datasets, seed, domain):
    """Writes to PATH.tmp and renames, so a partial file never carries the final name."""
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        # Fixed-length ASCII string attributes: what the C side writes and reads.
        f.attrs["generator"] = np.bytes_("tools/toy_airshower.py")
        f.attrs["version"] = np.bytes_("toy-1")
        f.attrs["seed"] = np.int64(seed)
        f.attrs["kind"] = np.bytes_("airshower")
        f.attrs["domain"] = np.bytes_(domain)
        f.attrs["spacing_m"] = np.float64(SPACING_M)
        for name, data in datasets.items():
            f.create_dataset(name, data=data)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, required=True, help="number of showers")
    parser.add_argument("-o", "--out", required=True, help="output HDF5 file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--domain", choices=sorted(DOMAINS), default="sim")
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error(f"-n must be positive, got {args.n}")
    try:
        write(args.out, simulate(args.n, args.seed, args.domain), args.seed, args.domain)
    except OSError as err:
        print(f"toy_airshower.py: cannot write {args.out}: {err}", file=sys.stderr)
        return 4
    print(f"toy_airshower.py: wrote {args.n} showers (seed {args.seed}, domain {args.domain}) "
          f"to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
