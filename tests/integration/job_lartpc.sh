#!/usr/bin/env bash
# Issue #6 LArTPC jobs as shipped (jobs/lartpc-classify.ini, jobs/lartpc-segment.ini): 3 steps
# each on tiny simulated data, then on a held-out file of another seed: `evaluate --plots`
# (confusion matrix; per-class IoU and the segmentation pictures for the U-Net), `predict` +
# tools/lartpc_figures.py, which must give exactly evaluate's accuracy, confusion matrix and
# IoUs, and bench/physics_torch.py on the run's job.ini (the PyTorch twin of the network must
# have exactly cascade's parameter count and train the same number of steps).
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-joblartpc.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
"$CASCADE_BIN" simulate lartpc -n 256 --seed 1 -o data/lartpc-train.h5 2>/dev/null
"$CASCADE_BIN" simulate lartpc -n 64 --seed 3 -o data/lartpc-valid.h5 2>/dev/null
"$CASCADE_BIN" simulate lartpc -n 96 --seed 2 -o test.h5 2>/dev/null
for j in classify:classification.png segment:segmentation_examples.png; do
  job=${j%%:*} png=${j#*:}
  "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/lartpc-$job.ini" --out "run-$job" \
    --set train.epochs= --set train.steps=3 --set train.checkpoint_every=0 2> "log-$job.txt"
  params=$(sed -n 's/^net model: \([0-9]*\) parameters/\1/p' "log-$job.txt")
  "$CASCADE_BIN" evaluate "run-$job" --data test.h5 --out "eval-$job.json" --plots "plots-$job" >/dev/null
  test -s "plots-$job/$png" && test -s "plots-$job/classification.png"
  "$CASCADE_BIN" predict "run-$job" --data test.h5 -o "pred-$job.h5"
  "$py" "$CASCADE_SOURCE_DIR/tools/lartpc_figures.py" "pred-$job.h5" --task "$job" --json "fig-$job.json" >/dev/null
  "$py" "$CASCADE_SOURCE_DIR/bench/physics_torch.py" "run-$job/job.ini" --train data/lartpc-train.h5 \
    --test test.h5 --task "$job" > "torch-$job.json"
  "$py" - "$job" "$params" <<'PY'
import json, math, sys
job, params = sys.argv[1], int(sys.argv[2])
ev, fig, th = (json.load(open("%s-%s.json" % (k, job))) for k in ("eval", "fig", "torch"))
assert th["params"] == params, (th["params"], params)
assert th["steps"] == 3, th
assert ev["confusion_matrix"] == fig["confusion_matrix"], (ev["confusion_matrix"], fig["confusion_matrix"])
cm = ev["confusion_matrix"]
assert len(cm) == 3 and sum(map(sum, cm)) == 96 * (4096 if job == "segment" else 1), cm
assert abs(ev["accuracy"] - fig["accuracy"]) < 1e-6, (ev, fig)
if job == "segment":
    for k in ("iou_0", "iou_1", "iou_2", "mean_iou"):
        assert abs(ev[k] - fig[k]) < 1e-6, (k, ev[k], fig[k])
    assert len(th["confusion_matrix"]) == 3 and "iou_2" in th, th
else:
    assert "iou_0" not in ev, ev
print("job_lartpc: %s ok (%d parameters, torch twin equal; accuracy %.3f)" % (job, params, ev["accuracy"]))
PY
done
