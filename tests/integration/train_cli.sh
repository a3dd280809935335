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
test "$(cat run/checkpoints/LATEST)" = "step-00000040.h5"
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
"$cascade" evaluate run --data valid.h5 --out eval.json
"$py" -c "import json; m=json.load(open('eval.json')); assert m['samples']==200 and m['step']==40 and m['loss']>0, m"
"$cascade" info run/checkpoints/step-00000040.h5 | grep -q "params/"
"$cascade" info train.h5 | grep -q "signal"
# refusing to overwrite
set +e
"$cascade" train job.ini --out run --quiet 2> err.txt; code=$?
set -e
test $code -eq 2 && grep -q "already holds checkpoints" err.txt
# resume to 60 steps
"$cascade" train job.ini --out run --resume auto --steps 60 --quiet
test "$(cat run/checkpoints/LATEST)" = "step-00000060.h5"
echo "train_cli: ok"
rm -rf "$here"
