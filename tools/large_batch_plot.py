#!/usr/bin/python3
"""Large-batch study figure (docs/scaling.md): validation resolution against epoch for runs
of the same job at different global batches.

Usage: large_batch_plot.py -o OUT.png RUNDIR=LABEL [RUNDIR=LABEL ...] [--metric KEY]

Each RUNDIR's metrics.jsonl gives one point per validation (cascade validates at every epoch
end): KEY (default logE_resolution, the std of logE_pred - logE on the validation set)
against the epoch (1-based), and the validation loss in a second panel. A malformed line is
an error naming file:line (exit 3); a run without validation lines is an error too.
Needs only matplotlib (Debian python3-matplotlib); Agg backend, no display.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def validations(rundir, metric):
    path = os.path.join(rundir, "metrics.jsonl")
    epochs, values, losses = [], [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"large_batch_plot.py: {path}:{n}: not JSON ({e})", file=sys.stderr)
                sys.exit(3)
            if d.get("split") != "valid":
                continue
            if metric not in d:
                print(f"large_batch_plot.py: {path}:{n}: no key '{metric}'", file=sys.stderr)
                sys.exit(3)
            epochs.append(d["epoch"] + 1)
            values.append(d[metric])
            losses.append(d["loss"])
    if not epochs:
        print(f"large_batch_plot.py: {path}: no validation lines", file=sys.stderr)
        sys.exit(3)
    return epochs, values, losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", metavar="RUNDIR=LABEL")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--metric", default="logE_resolution")
    a = ap.parse_args()
    fig, (ax, axl) = plt.subplots(1, 2, figsize=(10, 5))
    for spec in a.runs:
        rundir, _, label = spec.partition("=")
        ep, val, loss = validations(rundir, a.metric)
        ax.plot(ep, val, marker="o", label=label or rundir)
        axl.plot(ep, loss, marker="o", label=label or rundir)
    ax.set_xlabel("epoch")
    ax.set_ylabel(a.metric + " (validation)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    axl.set_xlabel("epoch")
    axl.set_ylabel("validation loss (MSE, standardised logE)")
    axl.set_yscale("log")
    axl.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9)
    fig.tight_layout(rect=(0, 0.05 + 0.045 * ((len(labels) + 1) // 2), 1, 1))
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
