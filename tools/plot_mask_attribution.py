#!/usr/bin/python3
"""Pictures of attributions against a known region: the input, then |attribution| of each method
(summed over the input channels) with the region's outline, for a few explained samples.

For the physics demonstrations of `cascade explain --mask` (docs/explain.md): every EXPLAIN.h5
must come from the same --data file and --index range; the region is data set MASK of that
file (nonzero, or equal to one of the values after '=', as `--mask`). The panel titles give
each sample's `mask_fraction` when explain.h5 has it.

Usage: plot_mask_attribution.py DATA.h5 --input NAME --mask NAME[=V,...] -o OUT.png
           LABEL=EXPLAIN.h5 [LABEL=EXPLAIN.h5 ...] [--samples 0,1,2] [--title TEXT] [--log-input]
Needs numpy, h5py, matplotlib (Debian python3 packages).
"""
import argparse
import sys

import h5py
import numpy as np


def region_of(data, spec, rows):
    name, _, values = spec.partition("=")
    m = data[name][...][rows]
    return m != 0 if not values else np.isin(m, [float(v) for v in values.split(",")])


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data")
    p.add_argument("explains", nargs="+", metavar="LABEL=EXPLAIN.h5")
    p.add_argument("--input", required=True, help="data set drawn in the first column")
    p.add_argument("--mask", required=True)
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--samples", default="0,1,2", help="positions within the explained range [0,1,2]")
    p.add_argument("--title", default="")
    p.add_argument("--log-input", action="store_true", help="draw log10(1 + input)")
    a = p.parse_args(argv)
    runs = []
    for item in a.explains:
        label, _, path = item.partition("=")
        if not path:
            sys.exit("plot_mask_attribution: %r is not LABEL=EXPLAIN.h5" % item)
        e = h5py.File(path, "r")
        runs.append((label, np.abs(e["attribution"][...]).sum(axis=1), np.asarray(e.attrs["indices"]),
                     e["mask_fraction"][...] if "mask_fraction" in e else None))
    idx = runs[0][2]
    for label, _, other, _ in runs:
        if not np.array_equal(other, idx):
            sys.exit("plot_mask_attribution: %s explains other samples than %s" % (label, runs[0][0]))
    picks = [int(s) for s in a.samples.split(",")]
    rows = idx[picks]
    with h5py.File(a.data, "r") as d:
        x = d[a.input][...][rows]
        region = region_of(d, a.mask, rows)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ncol = 1 + len(runs)
    fig, axes = plt.subplots(len(picks), ncol, figsize=(1.9 * ncol, 1.9 * len(picks) + 0.3), dpi=80,
                             squeeze=False)
    for r, (pick, row) in enumerate(zip(picks, rows)):
        img = np.log10(1 + np.maximum(x[r], 0)) if a.log_input else x[r]
        panels = [("%s #%d" % (a.input, row), img, "viridis")] + [
            ("%s%s" % (label, "" if frac is None else " %.2f" % frac[pick]), attr[pick], "magma")
            for label, attr, _, frac in runs]
        for c, (title, im, cmap) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(im, cmap=cmap, interpolation="nearest")
            ax.contour(region[r].astype(float), levels=[0.5], colors="cyan", linewidths=0.6)
            ax.set_title(title, fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
    if a.title:
        fig.suptitle(a.title, fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out)
    print("plot_mask_attribution: %d samples x %d methods -> %s" % (len(picks), len(runs), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
