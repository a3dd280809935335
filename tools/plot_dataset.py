#!/usr/bin/env python3
"""Draws what a physicist looks at first in a cascade data set (any `cascade simulate` kind).

usage: /usr/bin/python3 tools/plot_dataset.py FILE.h5 -o OUTDIR [--events K]

The file's root attribute `kind` picks the module tools/plots/<kind>.py, whose
plot(f, outdir, events) writes PNGs and returns their paths.
"""
import argparse
import importlib
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("-o", "--out", required=True, help="output directory for the PNGs")
    p.add_argument("--events", type=int, default=4, help="single events to draw")
    a = p.parse_args()
    with h5py.File(a.file, "r") as f:
        kind = f.attrs.get("kind")
        if isinstance(kind, bytes):
            kind = kind.decode()
        if not kind:
            sys.exit("plot_dataset.py: %s has no root attribute 'kind'" % a.file)
        try:
            mod = importlib.import_module("plots." + kind)
        except ImportError:
            sys.exit("plot_dataset.py: no plotting module for kind '%s'" % kind)
        os.makedirs(a.out, exist_ok=True)
        written = mod.plot(f, a.out, a.events)
    print("plot_dataset.py: %s (%s) -> %s" % (a.file, kind, ", ".join(os.path.basename(w) for w in written)))


if __name__ == "__main__":
    main()
