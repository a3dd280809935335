#!/usr/bin/env bash
# Validation and evaluation at scale (issue 20): every rank evaluates its own rows and the
# metrics are combined exactly, so on 1, 2 and 3 ranks x 1 and 2 threads (3 ranks: an uneven
# deal of chunks, the last one short) a regression (normalize_targets: metrics in physical
# units), a 3-class classification (one-vs-rest AUC), a per-pixel segmentation (IoU, AUC
# over pixels, tagging) and an autoencoder (latent code, anomaly AUC) give
#   - the same validation lines in metrics.jsonl (deterministic training),
#   - the same `cascade evaluate` JSON (cmp),
#   - the same `cascade predict` file (h5diff), every rank writing its own rows;
# the members also match an independent numpy computation from the predicted outputs, and the
# metric unit test passes split over 2 and 3 ranks (exact sums equal bitwise).
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-valid.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=PASSIVE # 3 ranks x 2 threads on 2 cores: idle threads sleep
run() { # run RANKS THREADS cascade-args...
  local n=$1 t=$2
  shift 2
  OMP_NUM_THREADS=$t mpirun --oversubscribe -n "$n" "$CASCADE_BIN" "$@"
}
for n in 2 3; do # the metrics' unit test with the rows split over the ranks
  mpirun --oversubscribe -n $n "$CASCADE_BUILD_DIR/tests/test_metrics" > unit$n.log 2>&1 || { cat unit$n.log; exit 1; }
done

"$CASCADE_BIN" simulate airshower -n 600 -o d.h5 --seed 5 >/dev/null
"$py" - <<'PY'
import h5py, numpy as np
with h5py.File("d.h5", "a") as f:
    s = f["signal"][:]
    f["logsignal"] = np.log1p(s).astype(np.float32)
    e = f["logE"][:]
    f["cls3"] = np.digitize(e, np.quantile(e, [1 / 3, 2 / 3])).astype(np.int32)  # energy tertiles
    f["hot"] = (s > np.quantile(s[s > 0], 0.5)).astype(np.int32)                  # per-station label
    f["high"] = (e > np.median(e)).astype(np.int32)
PY
mk() { # mk NAME JOB-LINES DATA-LINES TRAIN-LINES MODEL-TAIL: a small job on d.h5 (deterministic)
  cat > $1.ini <<INI
[job]
name = $1
$2
[data]
train = d.h5
valid_fraction = 0.25
inputs = logsignal
normalize = standard
$3
[train]
batch = 96
micro_batch = 16
epochs = 2
deterministic = true
checkpoint_every = 0
$4
[optimizer]
type = adam
lr = 3e-3
[model.c]
type = conv2d
filters = 4
kernel = 3
padding = same
activation = relu
$5
INI
}
dense() { printf '[model.f]\ntype = flatten\n[model.out]\ntype = dense\nunits = %s\n' "$1"; }
mk reg "seed = 3" "$(printf 'targets = logE, xmax\nnormalize_targets = standard')" "" "$(dense 2)"
mk cls "seed = 4" "targets = cls3" "loss = ce" "$(dense 3)"
mk seg "seed = 5" "targets = hot" "loss = ce" "$(printf '[model.out]\ntype = conv2d\nfilters = 2\nkernel = 3\npadding = same')"
mk ae "$(printf 'seed = 6\nkind = autoencoder\nlatent_layer = code')" "" "" \
  "$(printf '[model.f]\ntype = flatten\n[model.code]\ntype = dense\nunits = 6\n[model.out]\ntype = dense\nunits = 81')"

valid_lines() { grep '"split":"valid"' "$1" | sed 's/"time_s":[0-9.e+-]*,//'; }
for job in reg cls seg ae; do
  for rt in 1x1 2x1 3x1 1x2 2x2 3x2; do
    run "${rt%x*}" "${rt#*x}" train $job.ini --out $job-$rt --quiet
    valid_lines $job-$rt/metrics.jsonl > $job-$rt.valid
    test "$(wc -l < $job-$rt.valid)" -eq 2
    cmp $job-1x1.valid $job-$rt.valid || { echo "$job: validation differs on $rt ranks x threads"; diff $job-1x1.valid $job-$rt.valid; exit 1; }
  done
  extra=()
  [[ $job == ae ]] && extra=(--anomaly-label high)
  for n in 1 2 3; do
    run $n 1 evaluate $job-1x1 --data d.h5 --out $job-eval$n.json "${extra[@]}"
    cmp $job-eval1.json $job-eval$n.json || { echo "$job: evaluate differs on $n ranks"; cat $job-eval1.json $job-eval$n.json; exit 1; }
    run $n 2 predict $job-1x1 --data d.h5 -o $job-pred$n.h5
    h5diff $job-pred1.h5 $job-pred$n.h5
  done
done
grep -q '"auc"' cls-eval1.json && grep -q '"mean_iou"' seg-eval1.json && grep -q '"event_recall"' seg-eval1.json
grep -q '"xmax_resolution"' reg-eval1.json && grep -q '"anomaly_auc"' ae-eval1.json

# the members against numpy from the predicted outputs (all 600 samples of d.h5)
"$py" - <<'PY'
import json, h5py, numpy as np
def auc(s, l):  # Mann-Whitney with ties averaged
    s = np.asarray(s, np.float64); l = np.asarray(l, bool)
    order = np.argsort(s, kind="stable"); ss = s[order]; ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and ss[j] == ss[i]: j += 1
        ranks[order[i:j]] = 0.5 * (i + 1 + j); i = j
    p, n = l.sum(), (~l).sum()
    return (ranks[l].sum() - 0.5 * p * (p + 1)) / (p * n)
def close(a, b, what):
    assert abs(a - b) <= 2e-6 * max(1, abs(b)), (what, a, b)
def softmax(z, axis):
    z = z.astype(np.float64); e = np.exp(z - z.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, keepdims=True)

m = json.load(open("reg-eval1.json"))
with h5py.File("reg-pred1.h5") as f:
    out = f["output"][:].astype(np.float64)
    for j, k in enumerate(["logE", "xmax"]):
        r = out[:, j] - f[k][:].astype(np.float32).astype(np.float64)
        close(m[k + "_bias"], r.mean(), k + " bias")
        close(m[k + "_resolution"], r.std(), k + " resolution")

m = json.load(open("cls-eval1.json"))
with h5py.File("cls-pred1.h5") as f:
    z, y = f["output"][:], f["cls3"][:]
    p = softmax(z, 1)
    close(m["accuracy"], (z.argmax(1) == y).mean(), "accuracy")
    close(m["auc"], np.mean([auc(p[:, c], y == c) for c in range(3)]), "auc")
    cm = [[int(((y == a) & (z.argmax(1) == b)).sum()) for b in range(3)] for a in range(3)]
    assert m["confusion_matrix"] == cm, (m["confusion_matrix"], cm)

m = json.load(open("seg-eval1.json"))
with h5py.File("seg-pred1.h5") as f:
    z, y = f["output"][:], f["hot"][:].reshape(600, -1)
    z = z.reshape(600, 2, -1); pred = z.argmax(1)
    close(m["auc"], auc(softmax(z, 1)[:, 0].ravel(), (y == 0).ravel()), "pixel auc")
    for c in range(2):
        tp = ((pred == c) & (y == c)).sum(); fp = ((pred == c) & (y != c)).sum(); fn = ((pred != c) & (y == c)).sum()
        close(m["iou_%d" % c], tp / (tp + fp + fn), "iou")
    tagged = z[:, 1] > z[:, 0]
    tp = (tagged & (y == 1)).sum(); close(m["recall"], tp / (y == 1).sum(), "recall")
    rec = [((tagged[i] & (y[i] == 1)).sum() / (y[i] == 1).sum()) for i in range(600) if (y[i] == 1).any()]
    close(m["event_recall"], np.mean(rec), "event recall")

m = json.load(open("ae-eval1.json"))
with h5py.File("ae-pred1.h5") as f:
    s = f["anomaly_score"][:]
    assert f["latent"].shape == (600, 6) and f["reconstruction"].shape[0] == 600
    with h5py.File("d.h5") as d:
        close(m["anomaly_auc"], auc(s.astype(np.float64), d["high"][:] == 1), "anomaly auc")
print("valid_ranks: metrics equal on 1-3 ranks x 1-2 threads and match numpy")
PY
rm -rf "$here"
