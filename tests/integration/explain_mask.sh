#!/usr/bin/env bash
# cascade explain --mask: the fraction of |attribution| inside a per-sample region of the data
# file, against chance, equals a numpy computation on explain.h5's own attribution (2 input
# channels summed, regions by value list and by nonzero, an empty region left out), on the
# channels layout and the features layout; and the bad inputs: missing data set, wrong shape,
# wrong row count, a method without attribution, bad syntax — each naming file, data set, shape;
# and the same fractions on 2 MPI ranks.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-mask.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$py" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(5)
n = 24
with h5py.File("d.h5", "w") as f:
    f["a"] = rng.normal(size=(n, 6, 6)).astype(np.float32)
    f["b"] = rng.normal(size=(n, 6, 6)).astype(np.float32)
    f["label"] = rng.integers(0, 2, size=n).astype(np.int32)
    region = rng.integers(0, 3, size=(n, 6, 6)).astype(np.uint8)
    region[3] = 0                                       # sample 3: an empty region
    f["region"] = region
    f["small"] = np.zeros((n, 5, 6), np.uint8)          # wrong shape
    f["short"] = np.zeros((n - 1, 6, 6), np.uint8)      # wrong row count
    f["feat"] = rng.normal(size=(n, 6, 3)).astype(np.float32)
    f["feat_region"] = (rng.random((n, 6, 3)) < 0.3).astype(np.int32)
PY
cat > job.ini <<'INI'
[job]
name = mask
seed = 2
[data]
train = d.h5
inputs = a, b
targets = label
[train]
batch = 8
steps = 2
checkpoint_every = 0
loss = ce
[model.c1]
type = conv2d
filters = 3
kernel = 3
padding = same
activation = relu
[model.flat]
type = flatten
[model.out]
type = dense
units = 2
INI
sed -e 's/^inputs = a, b/inputs = feat\nlayout = features/' -e '/^\[model.c1\]/,/^activation = relu/d' \
    job.ini > feat.ini
"$CASCADE_BIN" train job.ini --out run --quiet
"$CASCADE_BIN" train feat.ini --out frun --quiet
"$CASCADE_BIN" explain run --data d.h5 --method saliency --target 1 --index 2:10 --mask region=2 \
    --no-pictures --out sal > sal.log 2>&1
"$CASCADE_BIN" explain run --data d.h5 --method lrp --target 1 --index 0:6 --mask region=1,2 \
    --no-pictures --out lrp > lrp.log 2>&1
"$CASCADE_BIN" explain run --data d.h5 --method gradcam --target 0 --index 0:6 --mask region \
    --no-pictures --out gc > gc.log 2>&1
"$CASCADE_BIN" explain frun --data d.h5 --method inputxgrad --index 0:8 --mask feat_region --out feat > feat.log 2>&1
# two ranks: the same fractions (every rank reads the mask, rank 0 writes)
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 "$CASCADE_BIN" explain run \
    --data d.h5 --method saliency --target 1 --index 2:10 --mask region=2 --no-pictures --out sal2 2> /dev/null
grep -q "explain: mask region=2: .* inside the region (mean over 7 of 8 samples), chance" sal.log
grep -q "1 sample(s) left out: empty region or zero attribution" sal.log
"$py" - <<'PY'
import h5py, numpy as np
d = h5py.File("d.h5")
for out, values, spatial, name in (("sal", (2,), True, "region"), ("lrp", (1, 2), True, "region"),
                                   ("gc", None, True, "region"), ("feat", None, False, "feat_region")):
    e = h5py.File(out + "/explain.h5")
    idx = e.attrs["indices"]
    m = d[name][idx[0]:idx[-1] + 1]
    region = m != 0 if values is None else np.isin(m, values)
    a = np.abs(e["attribution"][...].astype(np.float64))
    mass = a.sum(axis=1) if spatial else a       # channels summed per position
    axes = tuple(range(1, mass.ndim))
    frac = (mass * region).sum(axis=axes) / mass.sum(axis=axes)
    area = region.mean(axis=axes)
    frac[region.sum(axis=axes) == 0] = np.nan
    got = e["mask_fraction"][...]
    assert np.allclose(got, frac, rtol=1e-5, equal_nan=True), (out, got, frac)
    assert np.allclose(e["mask_area"][...], area, rtol=1e-6), out
    ok = np.isfinite(frac)
    assert abs(e.attrs["mask_fraction"] - frac[ok].mean()) < 1e-5, out
    assert abs(e.attrs["mask_chance"] - area[ok].mean()) < 1e-6, out
    assert e.attrs["mask_samples"] == ok.sum() and e.attrs["mask"] == name + ("" if values is None else
                                                                             "=" + ",".join(map(str, values)))
    assert 0 < frac[ok].mean() < 1
    if out == "sal":
        two = h5py.File("sal2/explain.h5")
        assert np.array_equal(two["mask_fraction"][...], got, equal_nan=True)
        assert two.attrs["mask_fraction"] == e.attrs["mask_fraction"]
    print("explain_mask: %s %s fraction %.3f chance %.3f (as numpy)" % (out, e.attrs["mask"],
          e.attrs["mask_fraction"], e.attrs["mask_chance"]))
PY
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
expect 3 "explain: --mask: d.h5: no data set 'nosuch'" -- "$CASCADE_BIN" explain run --data d.h5 --method saliency --mask nosuch --out x
expect 3 "data set 'small' in d.h5 has shape (24,5,6), but it must be (24,6,6)" -- \
  "$CASCADE_BIN" explain run --data d.h5 --method saliency --mask small --out x
expect 3 "data set 'short' in d.h5 has shape (23,6,6), but it must be (24,6,6)" -- \
  "$CASCADE_BIN" explain run --data d.h5 --method saliency --mask short --out x
expect 3 "data set 'region' in d.h5 has shape (24,6,6), but it must be (24,6,3)" -- \
  "$CASCADE_BIN" explain frun --data d.h5 --method saliency --mask region --out x
expect 2 "--method activations gives no attribution" -- "$CASCADE_BIN" explain run --data d.h5 --method activations --mask region --out x
expect 2 "numbers separated by commas" -- "$CASCADE_BIN" explain run --data d.h5 --method saliency --mask region=a --out x
test ! -e x/explain.h5
rm -rf "$here"
