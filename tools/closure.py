#!/usr/bin/python3
"""The closure of a simulation refinement (issue #8) from three `cascade evaluate` outputs.

The same regression job trained on (a) simulation, (b) refined simulation and (c) measured-
domain data with its true labels, each evaluated on held-out measured-domain data. For every
regression target T (keys T_bias, T_resolution, T_rmse in the metrics: logE, xmax, ...) the
closure fraction of a metric m is (m_a - m_b) / (m_a - m_c): 1 when the refined simulation
trains as well as data itself, 0 when refinement changed nothing (for the bias, m = |bias|).
The gap m_a - m_c is printed and written too: a fraction of a gap no larger than the
regressors' run-to-run scatter means nothing (e.g. an Xmax resolution that data does not
improve), and the table marks a gap below --min-gap-fraction [0.05] of m_a with "(no gap)".

Usage: closure.py SIM.json REFINED.json DATA.json [-o CLOSURE.json] [--min-gap-fraction F]
Prints a table; -o writes {"T": {"sim": {...}, "refined": {...}, "data": {...},
"closure": {"bias": f, "resolution": f, "rmse": f}, "gap": {...}}} (written to OUT.tmp,
then renamed).
Exit 2 on a missing or unreadable file, or when the metrics hold no regression target.
"""
import argparse
import json
import math
import os
import sys


def die(msg):
    print("closure.py: " + msg, file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path) as f:
            m = json.load(f)
    except OSError as e:
        die("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        die("%s is not JSON (%s)" % (path, e))
    if not isinstance(m, dict):
        die("%s: expected one JSON object (cascade evaluate --out)" % path)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sim")
    ap.add_argument("refined")
    ap.add_argument("data")
    ap.add_argument("-o", "--out")
    ap.add_argument("--min-gap-fraction", type=float, default=0.05,
                    help="mark closures whose gap |a - c| is below this fraction of |a| [0.05]")
    a = ap.parse_args()
    runs = {"sim": load(a.sim), "refined": load(a.refined), "data": load(a.data)}
    targets = sorted(k[: -len("_resolution")] for k in runs["sim"] if k.endswith("_resolution"))
    if not targets:
        die("%s holds no regression metrics (T_bias, T_resolution)" % a.sim)
    result = {}
    print("%-10s %-8s %10s %12s %10s" % ("target", "trained", "bias", "resolution", "rmse"))
    for t in targets:
        r = {}
        for name, m in runs.items():
            try:
                r[name] = {k: float(m["%s_%s" % (t, k)]) for k in ("bias", "resolution", "rmse")}
            except KeyError as e:
                die("%s has no %s" % ({"sim": a.sim, "refined": a.refined, "data": a.data}[name], e))
            print("%-10s %-8s %10.4f %12.4f %10.4f" % (t, name, r[name]["bias"], r[name]["resolution"], r[name]["rmse"]))
        closure, gap, note = {}, {}, {}
        for k in ("bias", "resolution", "rmse"):
            f = (lambda v: abs(v)) if k == "bias" else (lambda v: v)
            va, vb, vc = f(r["sim"][k]), f(r["refined"][k]), f(r["data"][k])
            closure[k] = (va - vb) / (va - vc) if va != vc else math.nan
            gap[k] = va - vc
            note[k] = " (no gap)" if abs(va - vc) < a.min_gap_fraction * abs(va) else ""
        r["closure"] = closure
        r["gap"] = gap
        result[t] = r
        print("%-10s closure (a-b)/(a-c): |bias| %.3f%s  resolution %.3f%s  rmse %.3f%s"
              % (t, closure["bias"], note["bias"], closure["resolution"], note["resolution"], closure["rmse"],
                 note["rmse"]))
        print("%-10s gap a-c:             |bias| %.4g  resolution %.4g  rmse %.4g"
              % (t, gap["bias"], gap["resolution"], gap["rmse"]))
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1, allow_nan=True)
            f.write("\n")
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
