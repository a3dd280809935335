#!/usr/bin/env bash
# The physics demonstrations of docs/explain.md, small: tools/injected_signal.py writes what it
# documents (the mask is the 99 % containment disc of each source, empty without one; sources
# add counts inside it); docs/examples/explain-injected.ini as shipped trains a few steps and
# `explain --mask signal_mask` runs on it; `--mask pixel_label=2` on LArTPC events; and
# tools/station_attribution.py puts a hand-made attribution on one station at the distance it
# computes independently here (shower plane and ground), its shares summing to 1, and runs on a
# real explain.h5 of jobs/airshower-energy.ini; tools/plot_mask_attribution.py draws.
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
tools=$CASCADE_SOURCE_DIR/tools
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-demos.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
# ---- injected signal
"$py" "$tools/injected_signal.py" -n 256 --seed 1 -o data/injected-train.h5 > /dev/null
"$py" "$tools/injected_signal.py" -n 64 --seed 2 -o data/injected-valid.h5 > /dev/null
"$py" "$tools/injected_signal.py" -n 300 --seed 3 --signal-fraction 1 --counts 200,200 -o test.h5 > /dev/null
"$py" - <<'PY'
import h5py, numpy as np
f = h5py.File("data/injected-train.h5")
m, lab, xy, c = f["signal_mask"][...], f["label"][...], f["source_xy"][...], f["counts"][...]
assert m.dtype == np.uint8 and m.shape == c.shape == (256, 32, 32) and f.attrs["kind"] == "injected"
assert 0.3 < lab.mean() < 0.7 and (m[lab == 0] == 0).all() and np.isnan(xy[lab == 0]).all()
r = f.attrs["radius"]
assert abs(r - 1.2 * np.sqrt(-2 * np.log(0.01))) < 1e-9
area = m[lab == 1].sum(axis=(1, 2))
assert (abs(area - np.pi * r * r) < 2 * np.pi * r).all(), area       # a disc of radius r
rows, cols = np.nonzero(m[np.argmax(lab)])
assert np.hypot(cols + 0.5 - xy[np.argmax(lab), 0], rows + 0.5 - xy[np.argmax(lab), 1]).max() <= r
t = h5py.File("test.h5")                                             # 200 counts of source each
inside = (t["counts"][...] * t["signal_mask"][...]).sum(axis=(1, 2))
expect = 4 * t["signal_mask"][...].sum(axis=(1, 2)) + 0.99 * 200   # background >= 4 per pixel
assert inside.mean() > 0.95 * expect.mean(), (inside.mean(), expect.mean())
print("explain_demos: injected_signal.py data as documented")
PY
"$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/docs/examples/explain-injected.ini" --out run-inj \
  --set train.epochs= --set train.steps=3 --set train.checkpoint_every=0 --quiet
for m in saliency gradcam lrp; do
  "$CASCADE_BIN" explain run-inj --method $m --target 0 --data test.h5 --index 0:20 --mask signal_mask \
    --no-pictures --out "inj-$m" 2> "inj-$m.log"
  grep -q "explain: mask signal_mask: .* inside the region" "inj-$m.log"
done
"$py" "$tools/plot_mask_attribution.py" test.h5 --input counts --mask signal_mask -o inj.png \
  saliency=inj-saliency/explain.h5 gradcam=inj-gradcam/explain.h5 lrp=inj-lrp/explain.h5 > /dev/null
test -s inj.png
# ---- LArTPC: the region by label value on the simulator's uint8 pixel_label
"$CASCADE_BIN" simulate lartpc -n 64 --seed 1 -o lar.h5 2> /dev/null
cat > lar.ini <<'INI'
[job]
name = lar
[data]
train = lar.h5
inputs = charge
targets = event_label
[train]
batch = 16
steps = 2
loss = ce
checkpoint_every = 0
[model.c1]
type = conv2d
filters = 4
kernel = 3
padding = same
activation = relu
[model.gap]
type = globalavgpool
[model.out]
type = dense
units = 3
INI
"$CASCADE_BIN" train lar.ini --out run-lar --quiet
"$CASCADE_BIN" explain run-lar --method lrp --target 1 --data lar.h5 --index 0:16 --mask pixel_label=2 \
  --no-pictures --out lar-lrp 2> /dev/null
"$py" - <<'PY'
import h5py, numpy as np
e, d = h5py.File("lar-lrp/explain.h5"), h5py.File("lar.h5")
assert np.allclose(e["mask_area"][...], (d["pixel_label"][:16] == 2).mean(axis=(1, 2)))
print("explain_demos: lartpc --mask pixel_label=2 over %d events" % e.attrs["mask_samples"])
PY
# ---- air showers: which stations matter
"$CASCADE_BIN" simulate airshower -n 300 --seed 101 -o data/showers-train.h5 2> /dev/null
"$CASCADE_BIN" simulate airshower -n 100 --seed 303 -o data/showers-valid.h5 2> /dev/null
"$CASCADE_BIN" simulate airshower -n 40 --seed 404 -o showers.h5 2> /dev/null
"$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/airshower-energy.ini" --out run-e \
  --set train.epochs= --set train.steps=2 --set train.checkpoint_every=0 --quiet
"$CASCADE_BIN" explain run-e --method integrated --steps 4 --data showers.h5 --index 0:40 --no-pictures --out ig \
  2> /dev/null
"$py" "$tools/station_attribution.py" ig/explain.h5 showers.h5 --max 12000 --json ig.json --plot ig.png > /dev/null
test -s ig.png
"$py" - "$tools/station_attribution.py" <<'PY'
import h5py, json, numpy as np
r = json.load(open("ig.json"))
assert r["showers"] == 40 and abs(sum(b["bin_total"] for b in r["bins"]) - 1) < 1e-6, r
# one station carries all attribution: its bin gets share 1, the others 0
d = h5py.File("showers.h5")
core, axis = d["core"][5], d["axis"][5]
row, col = 2, 6
sx, sy = (col - 4 + (row % 2) / 2) * 1500.0, (row - 4) * 1500.0 * np.sqrt(3) / 2
v = np.array([sx - core[0], sy - core[1], 0.0])
plane = np.linalg.norm(v - v.dot(axis) * axis)
ground = np.linalg.norm(v)
with h5py.File("one.h5", "w") as f:
    a = np.zeros((1, 2, 9, 9), np.float32)
    a[0, 1, row, col] = -2.0
    f["attribution"] = a
    f.attrs["indices"] = np.array([5], np.int64)
    f.attrs["method"] = "saliency"
    f.attrs["rule"] = ""
import subprocess, sys
for flag, dist in (([], plane), (["--ground"], ground)):
    subprocess.run([sys.executable, sys.argv[1], "one.h5", "showers.h5", "--bin", "100",
                    "--max", "12000", "--json", "one.json"] + flag, check=True, stdout=subprocess.DEVNULL)
    bins = json.load(open("one.json"))["bins"]
    hit = [b for b in bins if b["bin_total"] > 0]
    assert len(hit) == 1 and hit[0]["from_m"] <= dist < hit[0]["to_m"], (hit, dist)
    assert hit[0]["channels"][1] > 0 and hit[0]["channels"][0] == 0
print("explain_demos: station_attribution.py: one station at %.0f m (plane) / %.0f m (ground)" % (plane, ground))
PY
