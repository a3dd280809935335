#!/usr/bin/env bash
# cascade explain: saliency and input x gradient equal PyTorch's input gradients on the
# checkpoint's weights (<= 1e-5 relative); Integrated Gradients are complete (sum of the
# attribution = S(x) - S(baseline), within 1% at 64 steps, closer as steps grow); activations
# of the last layer equal `cascade predict`; filters are the checkpoint's weights; pictures; and
# the error cases with their exit codes and messages.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-explain.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$py" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(11)
x = rng.normal(size=(40, 2, 5, 5)).astype(np.float32)
with h5py.File("data.h5", "w") as f:
    f["a"], f["b"] = x[:, 0], x[:, 1]
    f["label"] = rng.integers(0, 3, size=40).astype(np.int32)
PY
job() { # job NAME STEPS: trains NAME.ini = the common sections + the [model.*] on stdin
{ cat <<INI
[job]
name = $1
seed = 3
[data]
train = data.h5
inputs = a, b
targets = label
normalize = none
[train]
batch = 8
micro_batch = 4
steps = $2
checkpoint_every = 0
loss = ce
[optimizer]
type = sgd
lr = 0.1
INI
cat; } > "$1.ini"
"$CASCADE_BIN" train "$1.ini" --out "$1" --quiet
}
for act in relu tanh; do
job $act 1 <<INI
[model.conv]
type = conv2d
filters = 3
kernel = 3
padding = same
activation = $act
[model.flat]
type = flatten
[model.fc]
type = dense
units = 8
activation = tanh
[model.out]
type = dense
units = 3
INI
done

# (1) saliency and input x gradient against torch (6 samples: chunks of 4 + 2)
"$CASCADE_BIN" explain relu --method saliency --data data.h5 --index 3:9 --target 2 --out sal
"$CASCADE_BIN" explain relu/checkpoints/step-00000001.h5 --method inputxgrad --data data.h5 --index 3:9 \
    --target 2 --out ixg --no-pictures
test -s sal/attribution_3_0.png && test -s sal/attribution_8_1.png
test ! -e ixg/attribution_3_0.png
"$py" - <<'PY'
import h5py, numpy as np, torch
torch.set_default_dtype(torch.float64)
p = h5py.File("relu/checkpoints/step-00000001.h5", "r")["params/model"]
W = lambda l, k: torch.tensor(p[l][k][...].astype(np.float64))
x = torch.tensor(np.stack([h5py.File("data.h5")["a"][3:9], h5py.File("data.h5")["b"][3:9]], 1).astype(np.float64),
                 requires_grad=True)
h = torch.relu(torch.nn.functional.conv2d(x, W("conv", "weight"), W("conv", "bias"), padding=1)).flatten(1)
h = torch.tanh(h @ W("fc", "weight").T + W("fc", "bias"))
out = h @ W("out", "weight").T + W("out", "bias")
out[:, 2].sum().backward()
g = x.grad.numpy()
for d, ref in (("sal", g), ("ixg", g * x.detach().numpy())):
    f = h5py.File(d + "/explain.h5", "r")
    a = f["attribution"][...]
    assert a.shape == (6, 2, 5, 5), a.shape
    err = np.abs(a - ref).max() / np.abs(ref).max()
    print("%s: relative error vs torch %.2e" % (d, err))
    assert err <= 1e-5, err
    assert np.abs(f["output"][...] - out[:, 2].detach().numpy()).max() < 1e-5
    assert list(f.attrs["indices"]) == [3, 4, 5, 6, 7, 8], f.attrs["indices"]
    assert f.attrs["target"] == 2 and f.attrs["rule"] == "" and "relu" in f.attrs["checkpoint"]
assert h5py.File("sal/explain.h5").attrs["method"] == "saliency"
assert h5py.File("ixg/explain.h5").attrs["method"] == "inputxgrad"
PY

# air-shower data (root attr kind) are drawn as hexagons; --help
cp data.h5 hex.h5
"$py" -c "import h5py; h5py.File('hex.h5', 'a').attrs['kind'] = 'airshower'"
"$CASCADE_BIN" explain relu --method saliency --data hex.h5 --index 0 --out hex 2>hex.log
grep -q "hexagonal air-shower grid" hex.log
test -s hex/attribution_0_1.png
"$CASCADE_BIN" explain --help >help.txt
grep -q "integrated" help.txt

# two ranks write the same file
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 "$CASCADE_BIN" explain relu \
    --method saliency --data data.h5 --index 3:9 --target 2 --out sal2
"$py" -c "import h5py, numpy as np; a, b = (h5py.File(d + '/explain.h5')['attribution'][...] for d in ('sal', 'sal2')); assert np.array_equal(a, b)"
test -s sal2/attribution_8_1.png

# eval mode: batch norm with its running statistics, dropout off
job bn 3 <<'INI'
[model.conv]
type = conv2d
filters = 3
kernel = 3
[model.bn]
type = batchnorm
activation = relu
[model.drop]
type = dropout
rate = 0.5
[model.flat]
type = flatten
[model.out]
type = dense
units = 3
INI
"$CASCADE_BIN" explain bn --method saliency --data data.h5 --index 0:5 --target 1 --out salbn --no-pictures
"$py" - <<'PY'
import h5py, numpy as np, torch
torch.set_default_dtype(torch.float64)
p = h5py.File("bn/checkpoints/step-00000003.h5", "r")["params/model"]
W = lambda l, k: torch.tensor(p[l][k][...].astype(np.float64))
assert np.abs(p["bn/running_mean"][...]).max() > 0   # the statistics moved: eval mode is visible
d = h5py.File("data.h5")
x = torch.tensor(np.stack([d["a"][0:5], d["b"][0:5]], 1).astype(np.float64), requires_grad=True)
h = torch.nn.functional.conv2d(x, W("conv", "weight"), W("conv", "bias"))
h = torch.nn.functional.batch_norm(h, W("bn", "running_mean"), W("bn", "running_var"), W("bn", "weight"),
                                   W("bn", "bias"), training=False, eps=1e-5)
out = torch.relu(h).flatten(1) @ W("out", "weight").T + W("out", "bias")
out[:, 1].sum().backward()
g, a = x.grad.numpy(), h5py.File("salbn/explain.h5")["attribution"][...]
err = np.abs(a - g).max() / np.abs(g).max()
print("batchnorm + dropout net: saliency relative error vs torch (eval mode) %.2e" % err)
assert err <= 1e-5, err
PY

# (2) Integrated Gradients: completeness and convergence in the number of steps
for s in 16 64 256; do
    "$CASCADE_BIN" explain tanh --method integrated --data data.h5 --index 0:5 --target 1 --steps $s \
        --out ig$s --no-pictures
done
"$CASCADE_BIN" explain tanh --method integrated --data data.h5 --index 0:5 --target 0 --baseline mean --out igmean \
    --no-pictures
"$py" - <<'PY'
import h5py, numpy as np
def gap(d):
    f = h5py.File(d + "/explain.h5", "r")
    s = f["attribution"][...].reshape(5, -1).astype(np.float64).sum(1)
    want = f["output"][...].astype(np.float64) - f["baseline_output"][...]
    return np.abs(s - want).max() / np.abs(want).max(), f
errs = [gap("ig%d" % s)[0] for s in (16, 64, 256)]
print("integrated gradients completeness error at 16/64/256 steps:", errs)
assert errs[1] <= 0.01, errs
assert errs[0] > errs[1] > errs[2], errs
e, f = gap("igmean")
assert e <= 0.01 and f.attrs["baseline"] == "mean" and f.attrs["steps"] == 50, (e, dict(f.attrs))
x = np.stack([h5py.File("data.h5")["a"][0:5], h5py.File("data.h5")["b"][0:5]], 1)
assert np.allclose(f["baseline"][...], x.mean(0), atol=1e-6)
assert not h5py.File("ig16/explain.h5")["baseline"][...].any()   # zero baseline
PY

# (3) activations: the last layer's equal predict's outputs; filters are the weights
"$CASCADE_BIN" predict relu --data data.h5 -o pred.h5
"$CASCADE_BIN" explain relu --method activations --data data.h5 --index 0:40 --out act
"$CASCADE_BIN" explain relu --method activations --data data.h5 --index 7 --layer conv --out act1
"$CASCADE_BIN" explain relu --method filters --out filt
"$CASCADE_BIN" explain relu --method filters --layer out --data data.h5 --out filt2
"$py" - <<'PY'
import h5py, numpy as np
f = h5py.File("act/explain.h5", "r")
assert sorted(f["activations"]) == ["conv", "fc", "flat", "out"], list(f["activations"])
assert f["activations/conv"].shape == (40, 3, 5, 5) and f["activations/conv"][...].min() >= 0  # after relu
assert np.abs(f["activations/out"][...] - h5py.File("pred.h5")["output"][...]).max() < 1e-6
one = h5py.File("act1/explain.h5", "r")
assert list(one["activations"]) == ["conv"] and list(one.attrs["indices"]) == [7]
assert np.array_equal(one["activations/conv"][0], f["activations/conv"][7])
ck = h5py.File("relu/checkpoints/step-00000001.h5", "r")
assert np.array_equal(h5py.File("filt/explain.h5")["filters/conv"][...], ck["params/model/conv/weight"][...])
assert np.array_equal(h5py.File("filt2/explain.h5")["filters/out"][...], ck["params/model/out/weight"][...])
PY

# (4) errors: exit code 2 and a message naming the problem
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
fails "known: activations, filters, saliency, inputxgrad, integrated" relu --method nope --data data.h5 --out e
fails "is not neuron, channel or layer" relu --method actmax --objective unit --out e
fails "--target A:B is for --method actmax" relu --method saliency --data data.h5 --target 0:2 --out e
fails "unknown --rule 'gamma'" relu --method lrp --rule gamma --data data.h5 --out e
fails "--rule is for --method lrp" relu --method saliency --rule z --data data.h5 --out e
fails "--epsilon is for --method lrp" relu --method saliency --epsilon 0.1 --data data.h5 --out e
fails "data.h5 has 40 samples" relu --method saliency --data data.h5 --index 40 --out e
fails "data.h5 has 40 samples" relu --method saliency --data data.h5 --index 38:41 --out e
fails "output has 3 elements" relu --method saliency --data data.h5 --target 3 --out e
fails "layers: conv, flat, fc, out" relu --method activations --data data.h5 --layer nope --out e
fails "has no weights" relu --method filters --layer flat --out e
fails "needs --data" relu --method saliency --out e
fails "not zero or mean" relu --method integrated --data data.h5 --baseline one --out e
fails "gives no attribution" relu --method activations --data data.h5 --evaluate --out e
test ! -e e/explain.h5

# --evaluate: pixel flipping of an attribution against a random order
"$CASCADE_BIN" explain relu --method inputxgrad --data data.h5 --index 0:8 --target 1 --evaluate --flip-steps 10 \
  --no-pictures --out flip 2> flip.log
grep -q "AOPC" flip.log
"$py" - <<'PY'
import h5py, numpy as np
f = h5py.File("flip/explain.h5", "r")
c, r = f["aopc_curve"][:], f["aopc_random"][:]
assert c.shape == (11,) and r.shape == (11,), (c.shape, r.shape)
assert c[0] == 0 and r[0] == 0
assert abs(c[-1] - r[-1]) < 1e-4 * max(1.0, abs(c[-1]))  # all pixels removed: same input
assert abs(f.attrs["aopc"] - c.mean()) < 1e-5 and f.attrs["flip_steps"] == 10
print("pixel flipping: AOPC %.4f (inputxgrad) vs %.4f (random)" % (f.attrs["aopc"], f.attrs["aopc_random"]))
PY
rm -rf "$here"
