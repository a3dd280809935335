#!/usr/bin/python3
"""The air-shower stations' trigger applied again, to refined (or generated) footprints.

`cascade simulate airshower` and the measured domain hold 0 in `signal` and `time` (and
`traces`) of every station whose signal is below the trigger threshold (3 VEM); a refiner's
output R(x) = x + r(x) is continuous and puts small signals (0 < S < 3 VEM) on stations that
did not trigger -- values that no detector reports, and that a classifier spots at once. This
tool writes a copy of IN.h5 in which stations with signal < --vem have signal, time (and
traces, if present) set to 0, as the simulator's trigger does; every other data set and the
root attributes are copied, plus `trigger_reapplied_vem`. Used after `cascade refine` in
slurm/refine-pipeline.sh (issue #8, jobs/README.md). Needs numpy and h5py.

Usage: apply_trigger.py IN.h5 -o OUT.h5 [--vem 3]
Exit 2 on a missing file or a file without (N,9,9) signal and time.
"""
import argparse
import os

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--vem", type=float, default=3.0, help="trigger threshold [VEM] (default 3)")
    a = ap.parse_args()
    if not a.vem > 0:
        ap.exit(2, "apply_trigger.py: --vem must be > 0, got %g\n" % a.vem)
    try:
        fin = h5py.File(a.input, "r")
    except OSError as e:
        ap.exit(2, "apply_trigger.py: cannot open %s: %s\n" % (a.input, e))
    for name in ("signal", "time"):
        if name not in fin or fin[name].ndim != 3:
            ap.exit(2, "apply_trigger.py: %s: no (N,9,9) data set '%s'\n" % (a.input, name))
    signal = fin["signal"][:]
    off = signal < a.vem
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as out:
        for name in fin:
            if not isinstance(fin[name], h5py.Dataset):
                continue
            v = fin[name][:]
            if name in ("signal", "time"):
                v[off] = 0
            elif name == "traces":
                v[off, :] = 0
            out.create_dataset(name, data=v)
        for k, v in fin.attrs.items():
            out.attrs[k] = v
        out.attrs["trigger_reapplied_vem"] = a.vem
    os.replace(tmp, a.out)
    was_on = signal > 0
    print("apply_trigger.py: %s -> %s: %d of %d stations with 0 < signal < %g VEM set to 0"
          % (a.input, a.out, int((off & was_on).sum()), int(was_on.sum()), a.vem))


if __name__ == "__main__":
    main()
