#!/usr/bin/python3
"""Per-event features of air-shower files and how well each one tells two domains apart.

For the simulation-refinement study (issue #8, jobs/README.md): for every file the mean of a
few per-event numbers, and for each file after the first the ROC AUC of each number between
that file and the first (the reference, e.g. data), as a separation: max(AUC, 1 - AUC), 0.5 =
the same distribution, 1 = fully separated (the means say which way). Features: triggered stations (signal >= --vem), stations with 3-5 VEM,
log10 of the total signal, the spread (std) of the arrival times of triggered stations [ns];
with `traces`: the median rise time t10-t50 [ns] of stations above 10 VEM (25 ns bins).
Refined files should have the trigger re-applied (tools/apply_trigger.py) first.

Usage: domain_features.py REFERENCE.h5 OTHER.h5 ... [-n N] [--vem 3] [-o OUT.json]
Exit 2 on a missing file or a file without (N,9,9) signal and time.
"""
import argparse
import json
import os

import h5py
import numpy as np

BIN_NS = 25.0


def auc(a, b):
    """Separation max(p, 1 - p), p = P(x_b > x_a) + P(tie) / 2 (Mann-Whitney), NaNs dropped."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return float("nan")
    allv = np.concatenate([a, b])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    # average ranks of ties
    starts = np.r_[0, np.flatnonzero(np.diff(sv)) + 1]
    ends = np.r_[starts[1:], len(sv)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    rb = ranks[len(a):].sum()
    p = (rb - len(b) * (len(b) + 1) / 2.0) / (len(a) * len(b))
    return float(max(p, 1 - p))


def rise_time(traces, signal):
    """Median over stations with > 10 VEM of t50 - t10 of the cumulative trace [ns]."""
    out = np.full(len(traces), np.nan)
    for i in range(len(traces)):
        on = signal[i] > 10
        if not on.any():
            continue
        t = np.clip(traces[i][on], 0, None)
        c = np.cumsum(t, axis=-1)
        tot = c[:, -1:]
        ok = tot[:, 0] > 0
        if not ok.any():
            continue
        c = c[ok] / tot[ok]
        t10 = (c < 0.1).sum(axis=-1)
        t50 = (c < 0.5).sum(axis=-1)
        out[i] = np.median(t50 - t10) * BIN_NS
    return out


def features(path, n, vem, ap):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        ap.exit(2, "domain_features.py: cannot open %s: %s\n" % (path, e))
    for name in ("signal", "time"):
        if name not in f or f[name].ndim != 3:
            ap.exit(2, "domain_features.py: %s: no (N,9,9) data set '%s'\n" % (path, name))
    s = f["signal"][:n].reshape(-1, 81)
    t = f["time"][:n].reshape(-1, 81)
    on = s >= vem
    feat = {
        "triggered": on.sum(1).astype(float),
        "n_3_5_vem": ((s >= vem) & (s < 5)).sum(1).astype(float),
        "log10_total_signal": np.log10(np.where(on, s, 0).sum(1) + 1),
        "time_spread_ns": np.array([t[i][on[i]].std() if on[i].sum() > 1 else np.nan for i in range(len(s))]),
    }
    if "traces" in f:
        feat["rise_time_ns"] = rise_time(f["traces"][:n], f["signal"][:n])
    return feat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference")
    ap.add_argument("others", nargs="+")
    ap.add_argument("-n", type=int, default=None, help="first N events of each file (default all)")
    ap.add_argument("--vem", type=float, default=3.0)
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    ref = features(a.reference, a.n, a.vem, ap)
    result = {a.reference: {k: float(np.nanmean(v)) for k, v in ref.items()}}
    print("%-22s %-34s %10s" % ("feature", "file", "mean") + "  AUC vs " + os.path.basename(a.reference))
    for k, v in ref.items():
        print("%-22s %-34s %10.3f" % (k, os.path.basename(a.reference), np.nanmean(v)))
    for path in a.others:
        fo = features(path, a.n, a.vem, ap)
        r = {}
        for k, v in fo.items():
            if k not in ref:
                continue
            r[k] = float(np.nanmean(v))
            r["auc_" + k] = auc(ref[k], v)
            print("%-22s %-34s %10.3f  %.3f" % (k, os.path.basename(path), r[k], r["auc_" + k]))
        result[path] = r
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
