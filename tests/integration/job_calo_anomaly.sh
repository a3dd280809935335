#!/usr/bin/env bash
# jobs/calo-anomaly.ini as shipped: tools/h5mix.py builds the EM training set and a mixed
# e+/gamma/pi+ test set (the three layers joined into `cells`), a few training steps,
# `cascade evaluate --anomaly-label is_pion` and `cascade predict`, and the score plot.
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-jobcalo.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
"$CASCADE_BIN" simulate calorimeter -n 300 --particle e+ --seed 11 -o e.h5 2>/dev/null
"$CASCADE_BIN" simulate calorimeter -n 300 --particle gamma --seed 12 -o g.h5 2>/dev/null
"$CASCADE_BIN" simulate calorimeter -n 200 --particle pi+ --seed 13 -o pi.h5 2>/dev/null
"$py" "$CASCADE_SOURCE_DIR/tools/h5mix.py" data/calo-em-train.h5 --label is_pion --shuffle 1 \
  --fractions shape=layer_0,layer_1,layer_2 e.h5:0 g.h5:0 >/dev/null
"$py" "$CASCADE_SOURCE_DIR/tools/h5mix.py" mixed.h5 --label is_pion \
  --concat cells=layer_0,layer_1,layer_2 --fractions shape=layer_0,layer_1,layer_2 e.h5:0 pi.h5:1 >/dev/null
"$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/calo-anomaly.ini" --out run --steps 5 \
  --set train.checkpoint_every=0 --quiet
"$CASCADE_BIN" evaluate run --data mixed.h5 --anomaly-label is_pion --out eval.json
"$CASCADE_BIN" predict run --data mixed.h5 -o pred.h5
"$py" "$CASCADE_SOURCE_DIR/tools/anomaly_plot.py" pred.h5 --data mixed.h5 --label is_pion \
  --names "e+,pi+" -o scores.png > auc.txt
test -s scores.png
"$py" - <<'PY'
import h5py, json, numpy as np
m = json.load(open("eval.json"))
assert 0 <= m["anomaly_auc"] <= 1, m
with h5py.File("pred.h5") as p, h5py.File("mixed.h5") as d, h5py.File("e.h5") as e, h5py.File("pi.h5") as q:
    assert p["reconstruction"].shape == (500, 1, 504) and p["latent"].shape == (500, 12)
    # cells = layer_0, layer_1, layer_2 flattened and joined, sources in order, label per source
    assert np.array_equal(d["cells"][0], np.concatenate([e[k][0].ravel() for k in ("layer_0", "layer_1", "layer_2")]))
    assert np.array_equal(d["cells"][300], np.concatenate([q[k][0].ravel() for k in ("layer_0", "layer_1", "layer_2")]))
    sh, c = d["shape"][...], d["cells"][...].astype(np.float64)   # shares of the event's total
    assert np.allclose(sh.sum(1), 1, atol=1e-5) and np.allclose(sh, c / c.sum(1, keepdims=True), rtol=1e-5, atol=1e-9)
    assert d["is_pion"][...].sum() == 200 and d["is_pion"][299] == 0 and d["is_pion"][300] == 1
    assert "particle" not in d.attrs and d.attrs["events"] == 500
auc = float(open("auc.txt").read().split("AUC")[1].split()[0])
assert abs(auc - m["anomaly_auc"]) < 1e-4, (auc, m)
print("job_calo_anomaly: ok, AUC after 5 steps %.3f" % m["anomaly_auc"])
PY
