#!/usr/bin/env bash
# End-to-end: train a small regression job, checkpoints and LATEST, evaluate, info,
# --resume auto continuing to more steps, and refusal to overwrite a run without --resume.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-train.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
cascade=${CASCADE_BIN:?}
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 600 -o train.h5 --seed 1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 200 -o valid.h5 --seed 2
cat > job.ini <<'INI'
[job]
name = it
seed = 3
[data]
train = train.h5
valid = valid.h5
inputs = time, signal
targets = logE
normalize = standard
log_inputs = signal
normalize_targets = standard
[train]
batch = 32
micro_batch = 16
steps = 40
checkpoint_every = 20
[optimizer]
type = adam
lr = 3e-3
[model.c1]
type = conv2d
filters = 4
kernel = 3
activation = relu
[model.f]
type = flatten
[model.out]
type = dense
units = 1
INI
"$cascade" train job.ini --out run --quiet
test -f run/job.ini
test "$(head -n1 run/checkpoints/LATEST)" = "step-00000040.h5"
test -f run/checkpoints/step-00000020.h5
grep -q '"split":"valid"' run/metrics.jsonl
# the loss must have dropped from the first to the last training line
"$py" - <<'PY'
import json
rows = [json.loads(l) for l in open("run/metrics.jsonl")]
tr = [r["loss"] for r in rows if r["split"] == "train"]
assert tr[-1] < tr[0], tr
va = [r for r in rows if r["split"] == "valid"]
assert "logE_resolution" in va[-1], va[-1]
PY
"$cascade" evaluate run --data valid.h5 --out eval.json --plots plots
test -s plots/regression_logE.png
# metrics in physical units (logE spans 18.5..20, std ~0.43): a trained model resolves it better
"$py" -c "import json; m=json.load(open('eval.json')); assert m['samples']==200 and m['step']==40 and m['loss']>0 and 0 < m['logE_resolution'] < 0.4, m"
"$py" -c "
import h5py
f = h5py.File('run/checkpoints/step-00000040.h5', 'r')
assert f['normalization_targets/mean'][0] > 18 and f['normalization_targets/std'][0] > 0.2"
# predict: outputs in physical units with the labels copied; the same on 2 ranks; unlabelled data
# a data path with a quote and a backslash still gives valid JSON naming it
cp valid.h5 'va"l\id.h5'
"$cascade" evaluate run --data 'va"l\id.h5' --out eval-quoted.json
"$py" -c "import json; m=json.load(open('eval-quoted.json')); assert m['data'].endswith('va\"l\\\\id.h5') and m['samples']==200, m"
"$cascade" predict run --data valid.h5 -o pred.h5
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 "$cascade" predict run --data valid.h5 -o pred2.h5
h5diff pred.h5 pred2.h5 /output /output
"$py" - <<'PY'
import h5py, json, numpy as np, shutil
m = json.load(open("eval.json"))
with h5py.File("pred.h5", "r") as f:
    r = f["output"][:, 0] - f["logE"][...]
    assert f["output"].shape == (200, 1)
    assert abs(np.std(r) - m["logE_resolution"]) < 1e-4 * m["logE_resolution"], (np.std(r), m)
with h5py.File("valid.h5", "r") as src, h5py.File("unlabelled.h5", "w") as dst:
    for k in ("time", "signal"):
        dst[k] = src[k][...]
PY
"$cascade" predict run --data unlabelled.h5 -o pred3.h5
"$py" -c "import h5py; f = h5py.File('pred3.h5', 'r'); assert list(f) == ['output'], list(f)"
"$cascade" info run/checkpoints/step-00000040.h5 | grep -q "params/"
"$cascade" info train.h5 | grep -q "signal"
# a run directory or LATEST stands for the checkpoint LATEST names
"$cascade" info run | grep -q "^run/checkpoints/step-[0-9]*.h5: cascade checkpoint"
"$cascade" info run/checkpoints/LATEST | grep -q "params/"
# refusing to overwrite
set +e
"$cascade" train job.ini --out run --quiet 2> err.txt; code=$?
set -e
test $code -eq 2 && grep -q "already holds checkpoints" err.txt
# resume to 60 steps
"$cascade" train job.ini --out run --resume auto --steps 60 --quiet
test "$(head -n1 run/checkpoints/LATEST)" = "step-00000060.h5"
# cascade bench runs the benchmarks of this build (the C one is quick)
"$cascade" bench ops_gflops | grep -q "of peak"
set +e
"$cascade" bench nosuch 2> err.txt; code=$?
set -e
test $code -eq 2 && grep -q "no benchmark 'nosuch'" err.txt
echo "train_cli: ok"
rm -rf "$here"
