#!/usr/bin/env bash
# kind = autoencoder: trains to reconstruct its inputs; predict writes the reconstruction, the
# per-sample anomaly score and the latent code; evaluate --anomaly-label gives the ROC AUC of
# the score (checked against an independent computation), and --plots draws the scores.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-ae.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$CASCADE_BIN" simulate calorimeter -n 3000 --particle e+ -o em.h5 --seed 1 2>/dev/null
"$CASCADE_BIN" simulate calorimeter -n 300 --particle e+ -o a.h5 --seed 2 2>/dev/null
"$CASCADE_BIN" simulate calorimeter -n 300 --particle pi+ -o b.h5 --seed 3 2>/dev/null
"$py" - <<'PY'
import h5py, numpy as np
with h5py.File("a.h5") as a, h5py.File("b.h5") as b, h5py.File("mix.h5", "w") as m:
    for k in ("layer_0", "layer_1", "layer_2"):
        m[k] = np.concatenate([a[k][...], b[k][...]])
    m["is_pion"] = np.concatenate([np.zeros(300), np.ones(300)]).astype(np.int32)
PY
cat > ae.ini <<'INI'
[job]
name = ae
kind = autoencoder
latent_layer = code
[data]
train = em.h5
valid_fraction = 0.1
inputs = layer_1
log_inputs = layer_1
normalize = standard
[train]
batch = 64
epochs = 4
loss = mse
[model.f]
type = flatten
[model.e1]
type = dense
units = 32
activation = relu
[model.code]
type = dense
units = 6
[model.d1]
type = dense
units = 32
activation = relu
[model.d2]
type = dense
units = 144
[model.out]
type = reshape
shape = 1, 12, 12
INI
"$CASCADE_BIN" train ae.ini --out run --quiet
"$CASCADE_BIN" evaluate run --data mix.h5 --anomaly-label is_pion --out eval.json --plots plots
test -s plots/anomaly_score.png
"$CASCADE_BIN" predict run --data mix.h5 -o pred.h5
"$py" - <<'PY'
import h5py, json, numpy as np
m = json.load(open("eval.json"))
rows = [json.loads(l) for l in open("run/metrics.jsonl")]
tr = [r["loss"] for r in rows if r["split"] == "train"]
assert tr[-1] < tr[0], tr                       # it learns to reconstruct
with h5py.File("pred.h5") as p, h5py.File("mix.h5") as d:
    rec, score, code = p["reconstruction"][...], p["anomaly_score"][...], p["latent"][...]
    lab = d["is_pion"][...]
assert rec.shape == (600, 1, 12, 12) and score.shape == (600,) and code.shape == (600, 6)
assert abs(score.mean() - m["reconstruction_mse"]) < 1e-4 * m["reconstruction_mse"]
# ROC AUC by the Mann-Whitney statistic, ties averaged
order = np.argsort(score, kind="stable")
ranks = np.empty(600); ranks[order] = np.arange(1, 601)
for v in np.unique(score):
    ranks[score == v] = ranks[score == v].mean()
pos = lab == 1
auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
assert abs(auc - m["anomaly_auc"]) < 1e-6, (auc, m)
print("autoencoder: reconstruction mse %.4f, anomaly AUC %.3f" % (m["reconstruction_mse"], auc))
PY
# wrong label data sets are errors naming them
set +e
"$CASCADE_BIN" evaluate run --data mix.h5 --anomaly-label layer_1 2> err.txt; code=$?
set -e
test $code -eq 3 && grep -q "layer_1" err.txt
rm -rf "$here"
