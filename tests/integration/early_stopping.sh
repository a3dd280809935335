#!/usr/bin/env bash
# [train] early_stopping: a net that overfits 64 showers stops once the validation loss has not
# fallen for 3 epochs; checkpoints/BEST names the checkpoint of the lowest validation loss (kept
# by pruning, readable wherever a checkpoint is), the same on 2 ranks bit for bit; resuming a
# stopped run trains nothing; without a validation set the key is an error naming it.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-early.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
cascade=${CASCADE_BIN:?}
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 64 -o train.h5 --seed 1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 200 -o valid.h5 --seed 2
cat > job.ini <<'INI'
[job]
name = early
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
batch = 16
micro_batch = 8
epochs = 400
deterministic = true
early_stopping = 3
checkpoint_every = 0
keep_checkpoints = 1
[optimizer]
type = adam
lr = 1e-2
[model.f]
type = flatten
[model.h]
type = dense
units = 256
activation = relu
[model.out]
type = dense
units = 1
INI
"$cascade" train job.ini --out run --quiet
mpirun --oversubscribe -n 2 "$cascade" train job.ini --out run2 --quiet
"$py" - <<'PY'
import json
rows = [json.loads(l) for l in open("run/metrics.jsonl")]
va = [r for r in rows if r["split"] == "valid"]
stop = [r for r in rows if r["split"] == "early_stop"]
assert len(stop) == 1, stop
best = min(va, key=lambda r: r["loss"])
# stopped 3 validations after the best one, long before 400 epochs (4 steps each)
assert va[-1]["step"] == stop[0]["step"] < 1600, (va[-1], stop)
assert [r["step"] for r in va].index(best["step"]) == len(va) - 4, (best, va[-4:])
assert stop[0]["best_step"] == best["step"], (stop, best)
assert all(r["loss"] >= best["loss"] for r in va[-3:])
best_name = "step-%08d.h5" % best["step"]
assert open("run/checkpoints/BEST").readline().strip() == best_name
assert open("run/checkpoints/LATEST").readline().strip() == "step-%08d.h5" % stop[0]["step"]
open("best_step", "w").write(str(best["step"]))
open("best_loss", "w").write(repr(best["loss"]))
PY
best=$(cat best_step)
# pruning (keep_checkpoints = 1) kept the best one besides the latest
test -f "run/checkpoints/step-$(printf %08d "$best").h5"
test "$(ls run/checkpoints/*.h5 | wc -l)" -eq 2
cmp <(head -n1 run/checkpoints/BEST) <(head -n1 run2/checkpoints/BEST)
h5diff "run/checkpoints/$(head -n1 run/checkpoints/BEST)" "run2/checkpoints/$(head -n1 run2/checkpoints/BEST)" /params /params
# BEST resolves wherever a checkpoint is read: evaluate gives the best validation loss again
"$cascade" evaluate run/checkpoints/BEST --data valid.h5 --out eval.json
"$py" -c "
import json; m = json.load(open('eval.json')); b = float(open('best_loss').read())
assert m['step'] == $best and abs(m['loss'] - b) <= 1e-6 * b, (m, b)"
# resuming a run that stopped early trains nothing
before=$(ls run/checkpoints)
"$cascade" train job.ini --out run --resume auto 2> resume.txt
grep -q "stopped early" resume.txt
test "$(ls run/checkpoints)" = "$before"
# no validation set: an error naming the key
sed -e '/^valid = /d' job.ini > novalid.ini
expect 2 "early_stopping" -- "$cascade" train novalid.ini --out run3 --quiet
test ! -e run3/checkpoints/LATEST
echo "early_stopping: ok"
[ -n "${KEEP:-}" ] || rm -rf "$here"
