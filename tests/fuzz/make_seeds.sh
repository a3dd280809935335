#!/usr/bin/env bash
# Seeds for the fuzz harnesses (tests/fuzz/README.md), generated, not committed (HDF5 files
# change with the writer):
#   make_seeds.sh OUT        OUT/data.h5 (the data file fuzz_ckpt binds checkpoints to),
#                            OUT/data/ (data files: contiguous, chunked + gzip, float64/int32),
#                            OUT/ckpt/ (a checkpoint of a two-step run of a tiny model)
# Needs CASCADE_BIN (the cascade binary), CASCADE_SOURCE_DIR, /usr/bin/python3 with h5py.
set -euo pipefail
out=${1:?usage: make_seeds.sh OUT}
src=${CASCADE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cascade=${CASCADE_BIN:?CASCADE_BIN: the cascade binary}
py=${CASCADE_PYTHON:-/usr/bin/python3}
mkdir -p "$out/data" "$out/ckpt"
work=$(mktemp -d "${TMPDIR:-/tmp}/cascade-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$py" "$src/tools/toy_airshower.py" -n 8 -o "$out/data.h5" --seed 3 >/dev/null
cp "$out/data.h5" "$out/data/contiguous.h5"
"$py" - "$out/data.h5" "$out/data" <<'PY'
import sys, h5py, numpy as np
src, out = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f:
    d = {k: f[k][...] for k in ("time", "signal", "logE")}
with h5py.File(out + "/chunked.h5", "w") as g:  # chunked, gzip, resizable
    for k, v in d.items():
        g.create_dataset(k, data=v, chunks=(2,) + v.shape[1:], compression="gzip", maxshape=(None,) + v.shape[1:])
with h5py.File(out + "/types.h5", "w") as g:  # float64 and int32, compact layout for logE
    g["time"] = d["time"].astype(np.float64)
    g["signal"] = np.rint(d["signal"]).astype(np.int32)
    sp = h5py.h5s.create_simple((8,))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); dcpl.set_layout(h5py.h5d.COMPACT)
    h5py.h5d.create(g.id, b"logE", h5py.h5t.NATIVE_FLOAT, sp, dcpl).write(h5py.h5s.ALL, h5py.h5s.ALL, d["logE"])
PY
cat > "$work/tiny.ini" <<INI
[job]
name = tiny
seed = 1
[data]
train = $out/data.h5
inputs = time, signal
targets = logE
normalize = standard
log_inputs = signal
normalize_targets = standard
[train]
batch = 4
micro_batch = 2
steps = 2
[optimizer]
type = adam
lr = 1e-3
[model.c1]
type = conv2d
filters = 2
kernel = 3
[model.f]
type = flatten
[model.out]
type = dense
units = 1
INI
(cd "$work" && CASCADE_H5_ALIGN=off OMP_NUM_THREADS=1 "$cascade" train tiny.ini --out run --quiet >/dev/null)
cp "$work"/run/checkpoints/step-*.h5 "$out/ckpt/"
