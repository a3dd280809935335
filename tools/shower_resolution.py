#!/usr/bin/env python3
"""Air-shower reconstruction figures from `cascade predict` output (issue #6 reference jobs).

    shower_resolution.py PRED.h5 --task energy|axis|core|xmax [--labels TEST.h5] [--min-logE 19]
                         [--json OUT.json] [--plot OUT.png]

PRED.h5 is what `cascade predict RUN --data TEST.h5 -o PRED.h5` writes: `output` (N, k) plus
the test file's labels (logE, axis, core). Figures (all on the held-out file):
  energy: dE/E = 10^(logE_pred - logE) - 1 for logE >= --min-logE: `std` (the resolution of
          issue #6), `bias` (mean), `hw68` (half the 16-84 % interval); also for all events.
  axis:   the angle between `output` (any length) and `axis`: 68 % containment, median.
  core:   |core_pred - core| [m]: 68 % containment; std of dx and dy.
  xmax:   dXmax = Xmax_pred - xmax [g/cm2] for logE >= --min-logE (default 19.3 for xmax):
          `xmax_std` (the resolution of issue #6), `xmax_bias`, `xmax_hw68`; the same for all
          events (`_all`), in the bins of log10 E 18.5-19, 19-19.3, 19.3-19.6, >= 19.6 (`bins`)
          and per primary (`by_mass`, above the cut). Needs logE (and mass) beside xmax: give
          the test file with --labels (predict copies only the targets). --plot draws the
          resolution and bias against log10 E.
The same functions are used by bench/physics_torch.py on PyTorch predictions.
Debian python3 packages only (h5py, numpy; matplotlib for --plot)."""
import argparse
import json
import os
import sys

import h5py
import numpy as np


def energy_figures(pred_logE, logE, min_logE=19.0):
    pred_logE = np.asarray(pred_logE, np.float64).reshape(-1)
    logE = np.asarray(logE, np.float64).reshape(-1)
    rel = 10.0 ** (pred_logE - logE) - 1.0
    out = {}
    for tag, m in (("", logE >= min_logE), ("_all", np.ones_like(logE, bool))):
        r = rel[m]
        q16, q84 = np.percentile(r, [16, 84])
        out["dE_over_E_std" + tag] = float(r.std())
        out["dE_over_E_bias" + tag] = float(r.mean())
        out["dE_over_E_hw68" + tag] = float(0.5 * (q84 - q16))
        out["n" + tag] = int(m.sum())
    out["min_logE"] = min_logE
    return out


def axis_figures(pred, axis):
    p = np.asarray(pred, np.float64).reshape(len(axis), -1)[:, :3]
    a = np.asarray(axis, np.float64)
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip((p * a).sum(1), -1.0, 1.0)))
    return {"angle_68_deg": float(np.percentile(ang, 68)), "angle_median_deg": float(np.median(ang)),
            "angle_mean_deg": float(ang.mean()), "n": int(len(ang))}


def core_figures(pred, core):
    p = np.asarray(pred, np.float64).reshape(len(core), -1)[:, -2:]
    c = np.asarray(core, np.float64)
    d = p - c
    r = np.hypot(d[:, 0], d[:, 1])
    return {"core_68_m": float(np.percentile(r, 68)), "core_median_m": float(np.median(r)),
            "core_std_x_m": float(d[:, 0].std()), "core_std_y_m": float(d[:, 1].std()),
            "core_bias_x_m": float(d[:, 0].mean()), "core_bias_y_m": float(d[:, 1].mean()),
            "n": int(len(r))}


XMAX_BINS = (18.5, 19.0, 19.3, 19.6, 20.01)


def _spread(d):
    q16, q84 = np.percentile(d, [16, 84])
    return {"std": float(d.std()), "bias": float(d.mean()), "hw68": float(0.5 * (q84 - q16)), "n": int(len(d))}


def xmax_figures(pred, xmax, logE, mass=None, min_logE=19.3):
    d = np.asarray(pred, np.float64).reshape(-1) - np.asarray(xmax, np.float64).reshape(-1)
    logE = np.asarray(logE, np.float64).reshape(-1)
    hi = logE >= min_logE
    out = {}
    for tag, m in (("", hi), ("_all", np.ones_like(hi))):
        for k, v in _spread(d[m]).items():
            out[("xmax_" if k != "n" else "") + k + tag] = v
    out["min_logE"] = min_logE
    out["bins"] = []
    for lo, up in zip(XMAX_BINS[:-1], XMAX_BINS[1:]):
        m = (logE >= lo) & (logE < up)
        if m.sum() > 1:
            out["bins"].append({"logE_lo": lo, "logE_hi": min(up, 20.0), **_spread(d[m])})
    if mass is not None:
        mass = np.asarray(mass, np.float64).reshape(-1)
        out["by_mass"] = {}
        for a in np.unique(mass):
            m = hi & (mass == a)
            if m.sum() > 1:
                out["by_mass"]["A=%d" % a] = _spread(d[m])
    return out


def plot_xmax(pred, xmax, logE, path, title=""):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = np.asarray(pred, np.float64).reshape(-1) - np.asarray(xmax, np.float64).reshape(-1)
    logE = np.asarray(logE, np.float64).reshape(-1)
    edges = np.arange(18.5, 20.01, 0.1)
    c, res, bias, err = [], [], [], []
    for lo, up in zip(edges[:-1], edges[1:]):
        m = (logE >= lo) & (logE < up + (1e-9 if up >= 20 else 0))
        if m.sum() < 5:
            continue
        c.append(0.5 * (lo + up))
        res.append(d[m].std())
        bias.append(d[m].mean())
        err.append(d[m].std() / np.sqrt(2 * (m.sum() - 1)))
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].errorbar(c, res, yerr=err, fmt="o-", label="resolution (std of ΔXmax)")
    ax[0].plot(c, bias, "s-", label="bias (mean ΔXmax)")
    ax[0].axhline(25, color="r", ls="--", lw=1, label="target 25 g/cm² (lgE ≥ 19.3)")
    ax[0].axvline(19.3, color="grey", ls=":", lw=1)
    ax[0].axhline(0, color="grey", lw=0.5)
    ax[0].set_xlabel("true log10(E/eV)")
    ax[0].set_ylabel("g/cm²")
    ax[0].legend(fontsize=8)
    ax[0].set_title(title)
    ax[1].hist2d(np.asarray(xmax).reshape(-1), np.asarray(pred).reshape(-1), bins=60, cmap="viridis", cmin=1)
    lim = [float(np.min(xmax)), float(np.max(xmax))]
    ax[1].plot(lim, lim, "r--", lw=1)
    ax[1].set_xlabel("true Xmax [g/cm²]")
    ax[1].set_ylabel("predicted Xmax [g/cm²]")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figures(task, pred, f, min_logE=None):
    """The task's figures; min_logE None: the task's cut (19.3 for xmax, else 19)."""
    if min_logE is None:
        min_logE = 19.3 if task == "xmax" else 19.0
    if task == "xmax":
        return xmax_figures(pred, f["xmax"][:], f["logE"][:], f["mass"][:] if "mass" in f else None, min_logE)
    if task == "energy":
        return energy_figures(pred, f["logE"][:], min_logE)
    if task == "axis":
        return axis_figures(pred, f["axis"][:])
    if task == "core":
        return core_figures(pred, f["core"][:])
    raise ValueError(task)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pred")
    ap.add_argument("--task", required=True, choices=["energy", "axis", "core", "xmax"])
    ap.add_argument("--labels", help="file with the labels (default: PRED itself)")
    ap.add_argument("--min-logE", type=float, help="energy cut [19; xmax: 19.3]")
    ap.add_argument("--json")
    ap.add_argument("--plot", help="xmax: PNG of the resolution and bias vs log10 E")
    a = ap.parse_args()
    with h5py.File(a.pred, "r") as fp, h5py.File(a.labels or a.pred, "r") as fl:
        pred = fp["output"][:]
        for k in ("logE", "xmax") if a.task == "xmax" else ():
            if k not in fl:
                sys.exit("shower_resolution.py: %s has no '%s'; give the test file with --labels" % (fl.filename, k))
        r = figures(a.task, pred, fl, a.min_logE)
        if a.plot and a.task == "xmax":
            plot_xmax(pred, fl["xmax"][:], fl["logE"][:], a.plot, os.path.basename(a.pred))
    s = json.dumps(r)
    print(s)
    if a.json:
        with open(a.json, "w") as o:
            o.write(s + "\n")


if __name__ == "__main__":
    sys.exit(main())
