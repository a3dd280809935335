#!/usr/bin/env bash
# jobs/skymap-dgcnn.ini and jobs/skymap-tagging.ini as shipped (issue #9): a few steps on tiny
# sky maps at the paths the jobs name; the classifier's parameter count (the book's ≈4.8k),
# its batch-norm buffers moved off their initial values in the checkpoint, `evaluate` giving
# accuracy/AUC, bitwise the same training on 1 and 2 ranks (deterministic mode), the tagging job's per-cosmic-ray precision/recall, and
# tools/skymap_fraction.py's table and plot on two evaluations.
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-jobskymap.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
export OMP_NUM_THREADS=1
sim() { "$CASCADE_BIN" simulate skymap "$@" 2>/dev/null >/dev/null; }
sim -n 72 --seed 1 -o data/sky-train.h5
sim -n 40 --seed 2 -o test.h5
sim -n 40 --seed 3 --source-fraction 0.3 -o test-30.h5
sim -n 72 --seed 11 --label-fraction 1 -o data/tag-train.h5
sim -n 40 --seed 12 --label-fraction 1 -o tag-test.h5
"$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/skymap-dgcnn.ini" --out run-dgcnn --steps 2 > log-dgcnn.txt 2>&1
grep -q "net model: 4602 parameters" log-dgcnn.txt || { cat log-dgcnn.txt; exit 1; }
# under mpirun: deterministic mode gives the same parameters on 1 and 2 ranks (micro-batches
# of 16; edgeconv's batch-norm statistics and the shared fixed graph included)
det=(--steps 3 --quiet --set train.micro_batch=16 --set train.deterministic=true --set train.checkpoint_every=3)
mpirun --oversubscribe -n 1 "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/skymap-dgcnn.ini" --out det1 "${det[@]}"
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/skymap-dgcnn.ini" --out det2 "${det[@]}"
h5diff det1/checkpoints/step-00000003.h5 det2/checkpoints/step-00000003.h5 /params /params
h5diff det1/checkpoints/step-00000003.h5 det2/checkpoints/step-00000003.h5 /optimizer /optimizer
"$CASCADE_BIN" evaluate run-dgcnn --data test.h5 --out m10.json >/dev/null
"$CASCADE_BIN" evaluate run-dgcnn --data test-30.h5 --out m30.json >/dev/null
"$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/skymap-tagging.ini" --out run-tag --steps 2 --quiet
"$CASCADE_BIN" evaluate run-tag --data tag-test.h5 --out tag.json >/dev/null
"$py" "$CASCADE_SOURCE_DIR/tools/skymap_fraction.py" 0.1=m10.json 0.3=m30.json -o frac.png --json frac.json > table.md
test -s frac.png
grep -q "| 0.3 | 40 |" table.md
"$py" - <<'PY'
import glob, h5py, json, numpy as np
m = json.load(open("m10.json"))
assert m["samples"] == 40 and 0 <= m["accuracy"] <= 1 and 0 <= m["auc"] <= 1, m
assert "precision" not in m  # one label per map: no tagging members
t = json.load(open("tag.json"))
for k in ("precision", "recall", "event_precision", "event_recall"):
    assert t[k] is None or 0 <= t[k] <= 1, (k, t)
assert t["threshold"] == 0.5
ck = sorted(glob.glob("run-dgcnn/checkpoints/step-*.h5"))[-1]
with h5py.File(ck) as f:
    g = f["params/model/ec3"]
    names = set(g.keys())
    for l in range(3):
        for p in ("weight", "bias", "bn_weight", "bn_bias", "bn_running_mean", "bn_running_var"):
            assert "%s_l%d" % (p, l) in names, (p, l, names)
    # two training steps moved the running statistics (momentum 0.1) off zeros / ones
    assert np.abs(g["bn_running_mean_l0"][:]).max() > 1e-4
    assert np.abs(g["bn_running_var_l2"][:] - 1).max() > 1e-4
    assert g["bn_weight_l1"].shape == (32,)
print("job_skymap: ok, tagging precision %s recall %s" % (t["precision"], t["recall"]))
PY
