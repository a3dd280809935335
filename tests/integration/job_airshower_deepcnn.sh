#!/usr/bin/env bash
# Issue #6 reference jobs as shipped (jobs/airshower-{energy,geometry,core,inception}.ini):
# a few steps each on tiny simulated data, predict a held-out file (another seed), the task's
# figure with tools/shower_resolution.py (checked against `cascade evaluate` where it reports
# the same quantity), and bench/physics_torch.py on the run's job.ini (the PyTorch twin of the
# network must have exactly cascade's parameter count).
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-jobcnn.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
"$CASCADE_BIN" simulate airshower -n 600 --seed 101 -o data/showers-train.h5 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 200 --seed 303 -o data/showers-valid.h5 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 300 --seed 202 -o test.h5 2>/dev/null
for j in energy:energy geometry:axis core:core inception:axis; do
  job=${j%%:*} task=${j#*:}
  "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/airshower-$job.ini" --out "run-$job" \
    --set train.epochs= --set train.steps=3 --set train.checkpoint_every=0 2> "log-$job.txt"
  params=$(sed -n 's/^net model: \([0-9]*\) parameters/\1/p' "log-$job.txt")
  "$CASCADE_BIN" predict "run-$job" --data test.h5 -o "pred-$job.h5"
  "$CASCADE_BIN" evaluate "run-$job" --data test.h5 --out "eval-$job.json"
  "$py" "$CASCADE_SOURCE_DIR/tools/shower_resolution.py" "pred-$job.h5" --task "$task" --json "res-$job.json" >/dev/null
  "$py" "$CASCADE_SOURCE_DIR/bench/physics_torch.py" "run-$job/job.ini" --train data/showers-train.h5 \
    --test test.h5 --task "$task" > "torch-$job.json"
  "$py" - "$job" "$task" "$params" <<'PY'
import json, sys
job, task, params = sys.argv[1], sys.argv[2], int(sys.argv[3])
ev, res, th = (json.load(open("%s-%s.json" % (k, job))) for k in ("eval", "res", "torch"))
assert th["params"] == params, (th["params"], params)
assert th["steps"] == 3, th
if task == "axis":   # the same 68 % containment as evaluate's
    assert abs(res["angle_68_deg"] - ev["angle_68_deg"]) < 1e-3 * max(1, ev["angle_68_deg"]), (res, ev)
if task == "energy":
    assert res["n_all"] == 300 and 0 < res["dE_over_E_std"] < 100, res
if task == "core":
    assert res["core_68_m"] > 0, res
print("job_airshower_deepcnn: %s ok (%d parameters, torch twin equal)" % (job, params))
PY
done
