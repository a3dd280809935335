#!/usr/bin/env python3
"""Accuracy and ROC AUC of sky-map classifiers versus the source fraction (issue #9).

Each argument is FRACTION=METRICS.json, the output of `cascade evaluate ... --out` on maps
simulated with `--source-fraction FRACTION`. Prints a markdown table, optionally writes
the figures as JSON and a PNG plot (Debian python3-matplotlib).
  tools/skymap_fraction.py 0.02=m02.json 0.05=m05.json --label "trained at 0.1" -o frac.png"""
import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("points", nargs="+", help="FRACTION=METRICS.json (cascade evaluate --out)")
    p.add_argument("-o", "--out", help="PNG plot")
    p.add_argument("--json", help="write the table as JSON")
    p.add_argument("--label", default="DGCNN", help="curve label in the plot")
    a = p.parse_args()
    rows = []
    for item in a.points:
        if "=" not in item:
            sys.exit("skymap_fraction: '%s' is not FRACTION=METRICS.json" % item)
        frac, path = item.split("=", 1)
        try:
            m = json.load(open(path))
        except (OSError, ValueError) as e:
            sys.exit("skymap_fraction: %s: %s" % (path, e))
        for key in ("accuracy", "auc"):
            if m.get(key) is None:
                sys.exit("skymap_fraction: %s has no '%s' (a classification evaluate output?)" % (path, key))
        rows.append({"source_fraction": float(frac), "accuracy": m["accuracy"], "auc": m["auc"],
                     "maps": m.get("samples"), "metrics": path})
    rows.sort(key=lambda r: r["source_fraction"])
    print("| source fraction | maps | accuracy | ROC AUC |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %g | %s | %.4f | %.4f |" % (r["source_fraction"], r["maps"], r["accuracy"], r["auc"]))
    if a.json:
        json.dump(rows, open(a.json, "w"), indent=1)
    if a.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        f = [r["source_fraction"] for r in rows]
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.plot(f, [r["accuracy"] for r in rows], "o-", label=a.label + ": accuracy")
        ax.plot(f, [r["auc"] for r in rows], "s--", label=a.label + ": ROC AUC")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("source fraction (cosmic rays from sources in a label-1 map)")
        ax.set_ylabel("accuracy / AUC on held-out maps")
        ax.set_ylim(0.45, 1.01)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(a.out, dpi=110)


if __name__ == "__main__":
    main()
