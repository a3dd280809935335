#!/usr/bin/env python3
"""Histograms of `cascade evaluate RUN --plots DIR` on a GAN run (called by cascade itself).

usage: /usr/bin/python3 tools/plot_gan_evaluation.py OBSERVABLES.h5 METRICS.json -o DIR

OBSERVABLES.h5 is what evaluate writes: /hist/NAME/{real,generated,edges} (normalised
histograms on the common binning, under/overflow in the first/last entry) with attributes
separation_power, real_halves, log, unit; /real/NAME and /generated/NAME the per-sample
values; /lateral/{r_m,real,generated} for air showers. Writes one PNG per observable
(hist_NAME.png), an overview (histograms.png), the separation powers (separation.png) and, for
air showers, the lateral profile (lateral_profile.png). Prints the files written.
"""
import argparse
import json
import math
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def draw(ax, g, name):
    edges = g["edges"][:].astype(float)
    hr, hg = g["real"][:].astype(float), g["generated"][:].astype(float)
    log = bool(g.attrs["log"])
    # inner bins as steps; under/overflow as markers at the ends
    ax.stairs(hr[1:-1], edges, label="real", color="k", linewidth=1.4)
    ax.stairs(hg[1:-1], edges, label="generated", color="tab:red", linewidth=1.2, linestyle="--")
    for k, x, mk in ((0, edges[0], "<"), (-1, edges[-1], ">")):
        if hr[k] > 0 or hg[k] > 0:
            ax.plot([x], [hr[k]], mk, color="k", ms=5)
            ax.plot([x], [hg[k]], mk, color="tab:red", ms=5, mfc="none")
    if log:
        ax.set_xscale("log")
    unit = g.attrs["unit"]
    unit = unit.decode() if isinstance(unit, bytes) else unit
    ax.set_xlabel(name + (" [%s]" % unit if unit else ""))
    ax.set_ylabel("fraction of samples")
    ax.set_title("S = %.3f (real halves %.3f)" % (g.attrs["separation_power"], g.attrs["real_halves"]),
                 fontsize=9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("observables")
    ap.add_argument("metrics")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    m = json.load(open(a.metrics))
    written = []
    with h5py.File(a.observables, "r") as f:
        names = list(m["observables"].keys()) if "observables" in m else sorted(f["hist"].keys())
        names = [n for n in names if n in f["hist"]]
        for n in names:
            fig, ax = plt.subplots(figsize=(4.5, 3.4))
            draw(ax, f["hist"][n], n)
            ax.legend(fontsize=8)
            p = os.path.join(a.out, "hist_%s.png" % n)
            fig.tight_layout()
            fig.savefig(p, dpi=90)
            plt.close(fig)
            written.append(p)
        cols = 4
        rows = max(1, math.ceil(len(names) / cols))
        fig, axs = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
        for i, n in enumerate(names):
            draw(axs[i // cols][i % cols], f["hist"][n], n)
        for j in range(len(names), rows * cols):
            axs[j // cols][j % cols].axis("off")
        axs[0][0].legend(fontsize=8)
        fig.suptitle("%s: median separation power %.3f (high-level %s)" % (
            m.get("checkpoint", ""), m.get("median_separation_power") or float("nan"),
            "%.3f" % m["median_separation_power_highlevel"]
            if m.get("median_separation_power_highlevel") is not None else "-"))
        fig.tight_layout()
        p = os.path.join(a.out, "histograms.png")
        fig.savefig(p, dpi=80)
        plt.close(fig)
        written.append(p)
        # separation power per observable, with the real-vs-real (halves) floor
        fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(names) + 2), 3.6))
        x = np.arange(len(names))
        sp = [m["observables"][n]["separation_power"] or 0 for n in names]
        fl = [m["observables"][n]["real_halves"] or 0 for n in names]
        ax.bar(x, sp, color="tab:red", label="generated vs real")
        ax.plot(x, fl, "k_", ms=12, label="real halves (statistical floor)")
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=70, ha="right", fontsize=7)
        ax.set_ylabel("separation power")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = os.path.join(a.out, "separation.png")
        fig.savefig(p, dpi=90)
        plt.close(fig)
        written.append(p)
        if "lateral" in f:
            r = f["lateral/r_m"][:]
            fig, ax = plt.subplots(figsize=(4.8, 3.6))
            ax.plot(r, f["lateral/real"][:], "ko-", label="real")
            ax.plot(r, f["lateral/generated"][:], "s--", color="tab:red", mfc="none", label="generated")
            ax.set_yscale("log")
            ax.set_xlabel("distance from the signal barycentre [m]")
            ax.set_ylabel("mean station signal [VEM]")
            ax.legend(fontsize=8)
            fig.tight_layout()
            p = os.path.join(a.out, "lateral_profile.png")
            fig.savefig(p, dpi=90)
            plt.close(fig)
            written.append(p)
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
