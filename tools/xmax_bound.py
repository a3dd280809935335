#!/usr/bin/env python3
"""How well can Xmax be known from this simulator's observables at all? (jobs/README.md,
"Xmax from traces"). From the labels of an `airshower` file (no traces needed):

    xmax_bound.py SHOWERS.h5 [--min-logE 19.3] [--json OUT.json]

The surface detector sees Xmax only through the electromagnetic share of the signal
(datasets/README.md): S_EM/S_mu = (1 - f_mu)/f_mu * exp(-(X_ground/cos(theta) - Xmax - 100)/200)
with muon odds f_mu/(1 - f_mu) = f0/(1 - f0) A^muon_mass_power. A perfect detector that knew
S_EM/S_mu, the zenith angle and the energy exactly would measure
    Y = Xmax - 200 * muon_mass_power * ln A        (attrs em_attenuation, muon_mass_power)
but not A itself: heavier primaries have both a shallower Xmax and more muons. The best it can
do is E[Xmax | Y, logE], estimated here by binning on the first half of the file and applied
to the second. Reported for logE >= --min-logE (std and bias of dXmax; per primary the RMS,
bias included), next to
  - `known_E_A`: Xmax from the true energy and mass (the mean per (logE bin, A)) — the shower-
    to-shower fluctuation alone;
  - `known_E`:   Xmax from the true energy only (the mean per logE bin) — no Xmax information.
Ignores detector noise, muon Poisson fluctuations and the front curvature (a little more Xmax
information), and clamps nothing (maxima below ground are rare), so it is an idealised bound
of the EM-share channel, not of every channel. Debian python3 packages only (h5py, numpy)."""
import argparse
import json

import h5py
import numpy as np


def binned_mean(keys_fit, y_fit, keys_apply):
    """Mean of y_fit per integer key tuple, looked up for keys_apply (global mean if unseen)."""
    table = {}
    for k, v in zip(map(tuple, keys_fit), y_fit):
        s = table.setdefault(k, [0.0, 0])
        s[0] += v
        s[1] += 1
    mean = float(np.mean(y_fit))
    return np.array([table[k][0] / table[k][1] if k in table else mean for k in map(tuple, keys_apply)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("showers")
    ap.add_argument("--min-logE", type=float, default=19.3)
    ap.add_argument("--y-bin", type=float, default=4.0, help="bin width of Y [g/cm2]")
    ap.add_argument("--json")
    a = ap.parse_args()
    with h5py.File(a.showers, "r") as f:
        xmax, logE, mass = (f[k][:].astype(np.float64) for k in ("xmax", "logE", "mass"))
        power = float(f.attrs["muon_mass_power"])
        att = float(f.attrs["em_attenuation"])
    y = xmax - att * power * np.log(mass)
    ebin = np.floor((logE - 18.5) / 0.1).astype(int)
    half = len(xmax) // 2
    fit, app = slice(0, half), slice(half, None)
    estimates = {
        "Y_and_E": binned_mean(np.stack([ebin, np.floor(y / a.y_bin).astype(int)], 1)[fit], xmax[fit],
                               np.stack([ebin, np.floor(y / a.y_bin).astype(int)], 1)[app]),
        "known_E_A": binned_mean(np.stack([ebin, mass.astype(int)], 1)[fit], xmax[fit],
                                 np.stack([ebin, mass.astype(int)], 1)[app]),
        "known_E": binned_mean(ebin[fit, None], xmax[fit], ebin[app, None]),
    }
    hi = logE[app] >= a.min_logE
    out = {"min_logE": a.min_logE, "n": int(hi.sum()), "file": a.showers}
    for name, est in estimates.items():
        d = est - xmax[app]
        out[name] = {"std": float(d[hi].std()), "bias": float(d[hi].mean()),
                     "rms_by_mass": {"A=%d" % m: float(np.sqrt(np.mean(d[hi & (mass[app] == m)] ** 2)))
                                     for m in np.unique(mass)}}
    s = json.dumps(out)
    print(s)
    if a.json:
        with open(a.json, "w") as o:
            o.write(s + "\n")


if __name__ == "__main__":
    main()
