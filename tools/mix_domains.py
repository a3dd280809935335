#!/usr/bin/python3
"""A labelled mixture of two data sets, for a classifier that tells domains apart.

Writes OUT.h5 with the data sets named by --inputs from A.h5 (label 0) and B.h5 (label 1),
shuffled together, plus the int32 label (N) named by --label [domain] and, when both files
hold them, the data sets named by --keep (e.g. logE), so that a supervised `loss = ce` job
(targets = domain, dense 2) learns sim vs data; its ROC AUC on a held-out mixture
(`cascade evaluate RUN --data MIX.h5`) measures how well the domains can be told apart:
0.5 = indistinguishable. Used for the simulation-refinement check of issue #8
(jobs/README.md). Needs numpy and h5py (Debian python3-numpy, python3-h5py).

Usage: mix_domains.py A.h5 B.h5 -o OUT.h5 [--inputs signal,time] [--label domain]
                      [--keep logE] [-n N] [--seed S]
-n N takes the first N samples of each file (default: all of the smaller one's count).
Exit 2 on a missing file or data set, or on shapes that differ between the files.
"""
import argparse
import os
import sys

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="domain 0 (e.g. simulation)")
    ap.add_argument("b", help="domain 1 (e.g. data)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--inputs", default="signal,time")
    ap.add_argument("--label", default="domain")
    ap.add_argument("--keep", default="logE")
    ap.add_argument("-n", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    names = [s for s in args.inputs.split(",") if s]
    keep = [s for s in args.keep.split(",") if s]
    files = []
    for path in (args.a, args.b):
        try:
            files.append(h5py.File(path, "r"))
        except OSError as e:
            ap.exit(2, "mix_domains.py: cannot open %s: %s\n" % (path, e))
    fa, fb = files
    for name in names:
        for path, f in ((args.a, fa), (args.b, fb)):
            if name not in f:
                ap.exit(2, "mix_domains.py: %s has no data set '%s'\n" % (path, name))
        if fa[name].shape[1:] != fb[name].shape[1:]:
            ap.exit(2, "mix_domains.py: '%s' is %s in %s but %s in %s\n"
                    % (name, fa[name].shape, args.a, fb[name].shape, args.b))
    na, nb = fa[names[0]].shape[0], fb[names[0]].shape[0]
    n = args.n or min(na, nb)
    if n < 1 or n > na or n > nb:
        ap.exit(2, "mix_domains.py: -n %d: the files hold %d and %d samples\n" % (n, na, nb))
    perm = np.random.default_rng(args.seed).permutation(2 * n)
    tmp = args.out + ".tmp"
    with h5py.File(tmp, "w") as out:
        for name in names + [k for k in keep if k in fa and k in fb]:
            both = np.concatenate([fa[name][:n], fb[name][:n]])
            out[name] = both[perm]
        out[args.label] = np.concatenate([np.zeros(n, np.int32), np.ones(n, np.int32)])[perm]
        out.attrs["generator"] = "tools/mix_domains.py"
        out.attrs["domain_0"] = os.path.abspath(args.a)
        out.attrs["domain_1"] = os.path.abspath(args.b)
        out.attrs["seed"] = args.seed
    os.replace(tmp, args.out)
    print("mix_domains.py: %d + %d samples -> %s (%s = 0 for %s, 1 for %s)"
          % (n, n, args.out, args.label, args.a, args.b))


if __name__ == "__main__":
    sys.exit(main())
