#!/usr/bin/python3
"""Concatenates the samples of several HDF5 data files into one and adds a 0/1 (or any
integer) label per source file, e.g. a test set of electromagnetic and pion showers for
`cascade evaluate RUN --data mixed.h5 --anomaly-label is_pion`.

    tools/h5mix.py OUT.h5 --label is_pion em.h5:0 gamma.h5:0 pion.h5:1 [--datasets a,b] [--shuffle SEED]
                   [--concat cells=layer_0,layer_1,layer_2] [--fractions shape=layer_0,layer_1,layer_2]

Every data set whose leading axis is the file's sample count is concatenated (all files must
hold it with the same per-sample shape and dtype; --datasets restricts the list); the label
data set (int32, one value per sample) holds each file's number. --shuffle permutes the
samples (seeded); otherwise they stay in the order of the files. --concat NAME=A,B,...
also writes NAME (N, total cells): the data sets A, B, ... flattened per sample and joined, in
this order (one network input from data sets of different shapes, such as the three
calorimeter layers; a job can then use `inputs = NAME`). --fractions NAME=A,B,... writes the
same joined row divided by its sum (each cell's share of the event's total; an all-zero row
stays zero): the shape of a shower whatever its energy. The root attributes that all
sources share with the same value are copied (so not `particle` or `seed` of a mix), plus
`events`, `mixed_from` (the sources) and `mixed_label`. Written through OUT.h5.tmp and
renamed when complete.
"""
import argparse
import os
import sys

import h5py
import numpy as np


def parse_source(text):
    path, sep, value = text.rpartition(":")
    if not sep or not path:
        raise argparse.ArgumentTypeError("%r: expected FILE.h5:LABEL" % text)
    try:
        return path, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("%r: the label after ':' must be an integer" % text)


def sample_datasets(f):
    """Names of the data sets (recursively) whose leading axis is the sample count."""
    n = f.attrs.get("events")
    names = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 1:
            names.append((name, obj.shape[0]))

    f.visititems(visit)
    if n is None:  # no `events` attribute: the most common leading size
        sizes = [s for _, s in names]
        n = max(set(sizes), key=sizes.count) if sizes else 0
    return [name for name, s in names if s == int(n)], int(n)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("sources", nargs="+", type=parse_source, metavar="FILE.h5:LABEL")
    ap.add_argument("--label", required=True, help="name of the label data set to add")
    ap.add_argument("--datasets", help="comma list of the data sets to keep (default: all per-sample ones)")
    ap.add_argument("--shuffle", type=int, metavar="SEED", help="permute the samples with this seed")
    ap.add_argument("--concat", action="append", default=[], metavar="NAME=A,B,...",
                    help="also write NAME: the per-sample data sets A, B, ... flattened and joined")
    ap.add_argument("--fractions", action="append", default=[], metavar="NAME=A,B,...",
                    help="as --concat, each row divided by its sum")
    a = ap.parse_args(argv)

    files = [h5py.File(p, "r") for p, _ in a.sources]
    names, _ = sample_datasets(files[0])
    if a.datasets:
        want = [s.strip() for s in a.datasets.split(",") if s.strip()]
        missing = [w for w in want if w not in names]
        if missing:
            sys.exit("h5mix: %s: no per-sample data set %s" % (a.sources[0][0], ", ".join(missing)))
        names = want
    if a.label in names:
        sys.exit("h5mix: %s already holds a data set '%s'" % (a.sources[0][0], a.label))
    concat = []
    for c, frac in [(c, False) for c in a.concat] + [(c, True) for c in a.fractions]:
        name, sep, parts = c.partition("=")
        parts = [q.strip() for q in parts.split(",") if q.strip()]
        if not sep or not name or not parts:
            sys.exit("h5mix: --concat %r: expected NAME=A,B,..." % c)
        if name in names or name == a.label or name in [q[0] for q in concat]:
            sys.exit("h5mix: --concat %s: a data set of that name is already written" % name)
        concat.append((name, parts, frac))
    counts = []
    for (path, _), f in zip(a.sources, files):
        here, n = sample_datasets(f)
        for name in names + [q for _, parts, _ in concat for q in parts]:
            if name not in here:
                sys.exit("h5mix: %s has no per-sample data set '%s'" % (path, name))
            ref = files[0][name]
            if f[name].shape[1:] != ref.shape[1:] or f[name].dtype != ref.dtype:
                sys.exit("h5mix: %s: data set '%s' is %s %s, %s has %s %s" % (
                    path, name, f[name].shape, f[name].dtype, a.sources[0][0], ref.shape, ref.dtype))
        counts.append(n)
    total = sum(counts)
    label = np.concatenate([np.full(n, v, np.int32) for n, (_, v) in zip(counts, a.sources)])
    perm = np.random.default_rng(a.shuffle).permutation(total) if a.shuffle is not None else None

    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as o:
        for k, v in files[0].attrs.items():  # the attributes all sources agree on
            if all(k in f.attrs and np.array_equal(f.attrs[k], v) for f in files[1:]):
                o.attrs[k] = v
        o.attrs["events"] = total
        o.attrs["mixed_from"] = ",".join("%s:%d" % s for s in a.sources)
        o.attrs["mixed_label"] = a.label
        for name in names:
            data = np.concatenate([f[name][...] for f in files])
            o.create_dataset(name, data=data[perm] if perm is not None else data)
        for name, parts, frac in concat:
            data = np.concatenate([np.concatenate([f[q][...].reshape(f[q].shape[0], -1) for q in parts], axis=1)
                                   for f in files]).astype(np.float64)
            if frac:
                rowsum = data.sum(axis=1, keepdims=True)
                data = np.divide(data, rowsum, out=np.zeros_like(data), where=rowsum != 0)
            data = data.astype(np.float32)
            o.create_dataset(name, data=data[perm] if perm is not None else data)
        o.create_dataset(a.label, data=label[perm] if perm is not None else label)
    for f in files:
        f.close()
    os.replace(tmp, a.out)
    print("h5mix: %d samples (%s) -> %s" % (
        total, ", ".join("%d with %s = %d" % (n, a.label, v) for n, (_, v) in zip(counts, a.sources)), a.out))


if __name__ == "__main__":
    main()
