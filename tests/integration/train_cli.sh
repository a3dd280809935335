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
test "$(cat run/checkpoints/LATEST)" = "step-00000060.h5" # the file name alone (CONTRACT.md)
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
# --resume compares the job with the checkpoint's: a changed layer or data split is refused,
# naming the checkpoint's job and the keys; given with --set it is the user's choice; other
# changes (the learning rate) are logged
sed 's/^filters = 4/filters = 8/' job.ini > changed.ini
expect 2 "the checkpoint is of job 'it'" -- "$cascade" train changed.ini --out run --resume auto --steps 70 --quiet
grep -q "\[model.c1\] filters = 8 (checkpoint: 4)" err.log
cp -r run run-split
sed 's/^valid = valid.h5/valid_fraction = 0.2/' job.ini > split.ini
expect 2 "[data] valid_fraction = 0.2 (checkpoint: (not set))" -- "$cascade" train split.ini --out run-split \
  --resume auto --steps 70 --quiet
"$cascade" train job.ini --out run-split --resume auto --steps 70 --quiet --set data.valid= --set data.valid_fraction=0.2
sed 's/^lr = 3e-3/lr = 1e-3/' job.ini > lr.ini
"$cascade" train lr.ini --out run --resume auto --steps 70 --quiet 2> err.log
grep -q "with changes: \[optimizer\] lr = 1e-3 (checkpoint: 3e-3)" err.log
# a foreign checkpoint: the job it came from is named
sed 's/^name = it/name = other/; s/^inputs = time, signal/inputs = signal/' job.ini > other.ini
expect 2 "is of job 'it'" -- "$cascade" train other.ini --out other --resume run/checkpoints/LATEST --quiet
expect 3 "(the checkpoint is of job 'it' with inputs time, signal; this job 'other' has inputs signal)" -- \
  "$cascade" train other.ini --out other --init run --quiet
# conventions: -o as --out, help CMD, a misspelled required key named at its line
"$cascade" train job.ini -o run-o --steps 2 > out.txt 2>&1
test "$(cat run-o/checkpoints/LATEST)" = "step-00000002.h5"
# progress lines in a log (not a terminal): 1-based epoch and step of the totals, elapsed, ETA
grep -q "^epoch 1/1  step 2/2  loss .*  elapsed 0:0[0-9]  ETA 0:00$" out.txt || { cat out.txt; exit 1; }
"$cascade" help train | grep -q "^usage: cascade train JOB.ini \[-o|--out RUNDIR\]"
"$cascade" help evaluate | grep -q "\[-o|--out METRICS.json\]"
sed 's/^steps = 40/epoch = 3/' job.ini > typo.ini
expect 2 "typo.ini:15: unknown key 'epoch' in [train] (did you mean 'epochs'?" -- "$cascade" train typo.ini --out typo
# raw signals (up to ~1e8) without log_inputs or normalize: a warning at start-up
grep -v '^normalize = standard\|^log_inputs' job.ini > raw.ini
"$cascade" train raw.ini --out raw --steps 1 --quiet 2> err.log
grep -q "warning: input 'signal' spans .* decades) and reaches the network unnormalised" err.log
grep -q "warning: input" out.txt && { echo "a normalised job warned"; exit 1; }
# an error every rank finds alike (a data file) is said once, not once per rank
set +e
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 "$cascade" train job.ini \
  --out once --quiet --set data.valid=missing.h5 2> err.log
set -e
test "$(grep -c 'missing.h5' err.log)" = 1 || { cat err.log; exit 1; }
# cascade bench runs the benchmarks of this build (the C one is quick)
"$cascade" bench ops_gflops | grep -q "of peak"
set +e
"$cascade" bench nosuch 2> err.txt; code=$?
set -e
test $code -eq 2 && grep -q "no benchmark 'nosuch'" err.txt
echo "train_cli: ok"
rm -rf "$here"
