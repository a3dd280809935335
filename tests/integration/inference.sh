#!/usr/bin/env bash
# The inference API (cascade/model.h) against `cascade predict`: two tiny runs — a regression
# (two inputs stacked as channels, log_inputs, normalize and normalize_targets = standard) and
# an autoencoder (layout = features: inputs (N,) and (N,3)) — opened from their run
# directories by tests/integration/inference_api.c (no MPI), which must give the same bits as
# `cascade predict` on the same file; bad calls and bad runs give clear errors.
set -euo pipefail
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
here=$(mktemp -d "${CASCADE_BUILD_DIR:?}/it-inference.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
api="$CASCADE_BUILD_DIR/tests/inference_api"
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 300 -o showers.h5 --seed 5 >/dev/null
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 77 -o other.h5 --seed 6 >/dev/null
cat > reg.ini <<'INI'
[job]
name = reg
seed = 3
[data]
train = showers.h5
valid_fraction = 0.2
inputs = signal, time
log_inputs = signal
targets = logE, xmax
normalize = standard
normalize_targets = standard
[train]
batch = 32
micro_batch = 16
epochs = 1
loss = mse
[optimizer]
type = adam
lr = 1e-3
[model.c]
type = conv2d
filters = 4
kernel = 3
padding = same
activation = relu
[model.f]
type = flatten
[model.out]
type = dense
units = 2
INI
cat > ae.ini <<'INI'
[job]
name = ae
kind = autoencoder
seed = 4
[data]
train = showers.h5
valid_fraction = 0.2
inputs = logE, axis
layout = features
normalize = standard
[train]
batch = 32
micro_batch = 8
epochs = 1
loss = mse
[optimizer]
type = adam
lr = 1e-3
[model.f]
type = flatten
[model.h]
type = dense
units = 3
activation = tanh
[model.out]
type = dense
units = 4
INI
"$CASCADE_BIN" train reg.ini --out reg --quiet
"$CASCADE_BIN" train ae.ini --out ae --quiet
"$py" - <<'PY'
import h5py, numpy as np
with h5py.File("other.h5") as f:
    for k in ("signal", "time", "logE", "axis"):
        np.asarray(f[k], dtype="<f4").tofile(k + ".f32")
PY
# other.h5 (77 samples, not a multiple of micro_batch) through predict and through the API
"$CASCADE_BIN" predict reg --data other.h5 -o reg.h5
"$CASCADE_BIN" predict ae --data other.h5 -o ae.h5
"$api" reg reg_api.f32 signal.f32 time.f32 > reg_api.log
grep -q "^input 0: signal (9,9)$" reg_api.log && grep -q "^input 1: time (9,9)$" reg_api.log
grep -q "^output (2), 77 samples$" reg_api.log
grep -q "^bad call ok: negative input under log_inputs -> cascade_model_predict: data set 'signal' row 1 holds -5" reg_api.log
"$api" ae ae_api.f32 logE.f32 axis.f32 > ae_api.log
grep -q "^input 0: logE ()$" ae_api.log && grep -q "^input 1: axis (3)$" ae_api.log
grep -q "^output (4), 77 samples$" ae_api.log
grep -q "^negative input: accepted$" ae_api.log
"$py" - <<'PY'
import h5py, numpy as np
for run, name in (("reg", "output"), ("ae", "reconstruction")):
    with h5py.File(run + ".h5") as f:
        want = np.asarray(f[name], dtype=np.float32).reshape(77, -1)
    got = np.fromfile(run + "_api.f32", dtype="<f4").reshape(77, -1)
    assert want.shape == got.shape, (run, want.shape, got.shape)
    assert np.array_equal(want.view(np.uint32), got.view(np.uint32)), (run, np.abs(want - got).max())
    print(run, "bitwise equal to cascade predict:", want.shape)
# the regression's outputs are in physical units (logE ~ 18.5-20, xmax ~ 600-1000 g/cm2)
out = np.fromfile("reg_api.f32", dtype="<f4").reshape(77, 2)
assert 15 < out[:, 0].mean() < 22 and 300 < out[:, 1].mean() < 1500, out.mean(0)
PY
# runs that cannot be opened: named
"$api" --open nowhere > open.log
grep -q "^status 4: nowhere: no such checkpoint file or run directory" open.log
mkdir empty
"$api" --open empty > open.log
grep -q "^status 4: empty: no complete checkpoint" open.log
"$api" --open showers.h5 > open.log
grep -q "^status 3: showers.h5: not a cascade checkpoint" open.log
# a checkpoint without input_shapes (written before they were recorded): the run's data file
# tells them; without that file, both are named
ck=$(cat reg/checkpoints/LATEST)
cp "reg/checkpoints/$ck" old.h5
"$py" -c 'import h5py; f = h5py.File("old.h5", "a"); del f["data"].attrs["input_shapes"]'
"$api" old.h5 old_api.f32 signal.f32 time.f32 > old_api.log
cmp old_api.f32 reg_api.f32
mv showers.h5 moved.h5
"$api" --open old.h5 > open.log
grep -q "^status 4: old.h5 records no input shapes .* showers.h5: no such file" open.log
echo "inference: ok"
[[ -n ${KEEP:-} ]] || { cd / && rm -rf "$here"; }
