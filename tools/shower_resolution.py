#!/usr/bin/env python3
"""Air-shower reconstruction figures from `cascade predict` output (issue #6 reference jobs).

    shower_resolution.py PRED.h5 --task energy|axis|core [--min-logE 19] [--json OUT.json]

PRED.h5 is what `cascade predict RUN --data TEST.h5 -o PRED.h5` writes: `output` (N, k) plus
the test file's labels (logE, axis, core). Figures (all on the held-out file):
  energy: dE/E = 10^(logE_pred - logE) - 1 for logE >= --min-logE: `std` (the resolution of
          issue #6), `bias` (mean), `hw68` (half the 16-84 % interval); also for all events.
  axis:   the angle between `output` (any length) and `axis`: 68 % containment, median.
  core:   |core_pred - core| [m]: 68 % containment; std of dx and dy.
The same functions are used by bench/physics_torch.py on PyTorch predictions.
Debian python3 packages only (h5py, numpy)."""
import argparse
import json
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


def figures(task, pred, f, min_logE=19.0):
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
    ap.add_argument("--task", required=True, choices=["energy", "axis", "core"])
    ap.add_argument("--labels", help="file with the labels (default: PRED itself)")
    ap.add_argument("--min-logE", type=float, default=19.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    with h5py.File(a.pred, "r") as fp:
        pred = fp["output"][:]
        if a.labels:
            with h5py.File(a.labels, "r") as fl:
                r = figures(a.task, pred, fl, a.min_logE)
        else:
            r = figures(a.task, pred, fp, a.min_logE)
    s = json.dumps(r)
    print(s)
    if a.json:
        with open(a.json, "w") as o:
            o.write(s + "\n")


if __name__ == "__main__":
    sys.exit(main())
