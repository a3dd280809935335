#!/usr/bin/env bash
# cascade explain --method actmax: gradient ascent from Philox noise on a trained conv net.
# The objectives (output logits, channels of a convolution, a whole layer) rise and end far
# above the noise start; `actmax` is (objectives, C, H, W) with its objective history, pictures
# per objective and channel, the same file on 1 and 2 ranks, the same result for the same
# seed; bad flags are exit-2 errors naming the flag.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-actmax.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$py" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(5)
with h5py.File("d.h5", "w") as f:
    f["a"] = rng.normal(size=(32, 6, 6)).astype(np.float32)
    f["b"] = rng.normal(size=(32, 6, 6)).astype(np.float32)
    f["label"] = rng.integers(0, 3, size=32).astype(np.int32)
PY
cat > job.ini <<'INI'
[job]
name = am
[data]
train = d.h5
inputs = a, b
targets = label
[train]
batch = 8
steps = 3
loss = ce
[model.c1]
type = conv2d
filters = 4
kernel = 3
padding = same
activation = relu
[model.pool]
type = maxpool
size = 2
[model.flat]
type = flatten
[model.out]
type = dense
units = 3
INI
"$CASCADE_BIN" train job.ini --out run --quiet
"$CASCADE_BIN" explain run --method actmax --data d.h5 --target 0:3 --out logits 2>logits.log
grep -q "actmax of out" logits.log
"$CASCADE_BIN" explain run --method actmax --layer c1 --objective channel --target 1:4 --steps 30 --l2 0.01 \
    --blur 0.5 --jitter 1 --seed 7 --out chan
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 "$CASCADE_BIN" explain run \
    --method actmax --layer c1 --objective channel --target 1:4 --steps 30 --l2 0.01 --blur 0.5 --jitter 1 \
    --seed 7 --out chan2 --no-pictures
"$CASCADE_BIN" explain run --method actmax --layer c1 --objective layer --noise 0.5 --out layer --no-pictures
test -s logits/actmax_0_0.png && test -s logits/actmax_2_1.png && test -s chan/actmax_3_1.png
test ! -e chan2/actmax_1_0.png
"$py" - <<'PY'
import h5py, numpy as np
f = h5py.File("logits/explain.h5", "r")
assert f["actmax"].shape == (3, 2, 6, 6) and f["objective"].shape == (3, 51), (f["actmax"].shape, f["objective"].shape)
assert f.attrs["method"] == "actmax" and f.attrs["objective"] == "neuron" and f.attrs["steps"] == 50
assert list(f["actmax"].attrs["targets"]) == [0, 1, 2] and f["actmax"].attrs["layer"] == "out"
h = f["objective"][...].astype(np.float64)
rises = (np.diff(h, axis=1) > 0).mean(1)
print("logits: start", h[:, 0], "end", h[:, -1], "fraction of rising steps", rises)
assert (rises >= 0.9).all() and (h[:, -1] - h[:, 0] > 10 * np.abs(h[:, 0]).max()).all()
c = h5py.File("chan/explain.h5", "r")
assert c["actmax"].shape == (3, 2, 6, 6) and c["actmax"].attrs["node"] == "c1/relu"
assert c.attrs["jitter"] == 1 and c.attrs["blur"] == 0.5 and c.attrs["seed"] == 7 and c.attrs["target"] == 1
hc = c["objective"][...]
print("c1 channels 1..3 (l2, blur, jitter): start", hc[:, 0], "end", hc[:, -1])
assert (hc[:, -1] > hc[:, 0] + 1).all()
assert np.array_equal(c["actmax"][...], h5py.File("chan2/explain.h5")["actmax"][...])   # 1 rank = 2 ranks
l = h5py.File("layer/explain.h5", "r")
assert l["actmax"].shape == (1, 2, 6, 6) and l.attrs["objective"] == "layer"
assert l["objective"][0, -1] > 10 * l["objective"][0, 0]
PY
# the same seed gives the same maximiser
"$CASCADE_BIN" explain run --method actmax --data d.h5 --target 0:3 --out again --no-pictures
"$py" -c "import h5py, numpy as np; assert np.array_equal(*(h5py.File(d + '/explain.h5')['actmax'][...] for d in ('logits', 'again')))"

fails() { # fails PATTERN ARGS...: exit code 2 and PATTERN in stderr
    local pattern=$1 code=0
    shift
    "$CASCADE_BIN" explain "$@" 2>err.txt || code=$?
    if [ "$code" != 2 ] || ! grep -q -- "$pattern" err.txt; then
        echo "expected exit 2 and '$pattern' from: cascade explain $*" >&2
        cat err.txt >&2
        exit 1
    fi
}
fails "layer c1/relu (output (4,6,6)) has 4 channels" run --method actmax --layer c1 --objective channel --target 4 --out e
fails "--target 3 is out of range" run --method actmax --target 3 --out e
fails "--objective channel needs a (channels, spatial...) output" run --method actmax --objective channel --out e
fails "--objective layer maximises the mean" run --method actmax --layer c1 --objective layer --target 2 --out e
fails "--step-size must be > 0" run --method actmax --step-size 0 --out e
fails "--l2 must be in" run --method actmax --l2 1.5 --out e
fails "--blur 'x' is not a number" run --method actmax --blur x --out e
fails "--target 2:2 is an empty range" run --method actmax --target 2:2 --out e
fails "--index does not apply to --method actmax" run --method actmax --index 0:2 --out e
fails "layers: c1, pool, flat, out" run --method actmax --layer nope --out e
test ! -e e/explain.h5
rm -rf "$here"
