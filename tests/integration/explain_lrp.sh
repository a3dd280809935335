#!/usr/bin/env bash
# cascade explain --method lrp on trained nets. (1) conv + batchnorm + relu + maxpool + dense
# with biases: the epsilon, zplus, alphabeta and composite rules equal a PyTorch computation of
# the same rules on the checkpoint's weights (batch norm folded into the convolution,
# contributions (a w)+ / (a w)- from clamped inputs and weights) <= 1e-4 relative; the root attr
# conservation_error equals |sum R - S| / |S| and relevance_sum / output are written. (2) a
# bias-free relu net: LRP-z equals cascade's input x gradient and conserves (< 1e-4). (3) the
# same file on 2 ranks; errors name the layer or the flag.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-lrp.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$py" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(9)
with h5py.File("d.h5", "w") as f:
    f["a"] = rng.normal(size=(24, 6, 6)).astype(np.float32)
    f["b"] = rng.normal(size=(24, 6, 6)).astype(np.float32)
    f["label"] = rng.integers(0, 3, size=24).astype(np.int32)
PY
job() { # job NAME BIAS
cat > "$1.ini" <<INI
[job]
name = $1
seed = 2
[data]
train = d.h5
inputs = a, b
targets = label
normalize = none
[train]
batch = 8
micro_batch = 4
steps = 4
loss = ce
[optimizer]
type = sgd
lr = 0.1
[model.conv]
type = conv2d
filters = 4
kernel = 3
padding = same
bias = $2
$3
[model.pool]
type = maxpool
size = 2
[model.flat]
type = flatten
[model.fc]
type = dense
units = 6
bias = $2
activation = relu
[model.out]
type = dense
units = 3
bias = $2
INI
"$CASCADE_BIN" train "$1.ini" --out "$1" --quiet
}
job bn true "[model.bn]
type = batchnorm
activation = relu"
job nobias false "activation = relu"

for r in epsilon zplus alphabeta composite; do
    extra=""
    [ $r = epsilon ] && extra="--epsilon 0.05"
    [ $r = alphabeta ] && extra="--alpha 2 --beta 1"
    "$CASCADE_BIN" explain bn --method lrp --rule $r $extra --data d.h5 --index 2:8 --target 1 --out $r --no-pictures
done
"$CASCADE_BIN" explain bn --method lrp --data d.h5 --index 2:8 --target 1 --out default 2>default.log
grep -q "lrp rule composite: conservation" default.log
test -s default/attribution_2_0.png
"$py" - <<'PY'
import h5py, numpy as np, torch
torch.set_default_dtype(torch.float64)
p = h5py.File("bn/checkpoints/step-00000004.h5", "r")["params/model"]
W = lambda l, k: torch.tensor(p[l][k][...].astype(np.float64))
d = h5py.File("d.h5")
x = torch.tensor(np.stack([d["a"][2:8], d["b"][2:8]], 1).astype(np.float64))
# fold the eval-mode batch norm into the convolution
a = W("bn", "weight") / torch.sqrt(W("bn", "running_var") + 1e-5)
cw = W("conv", "weight") * a[:, None, None, None]
cb = (W("conv", "bias") - W("bn", "running_mean")) * a + W("bn", "bias")
conv = lambda v, w, b: torch.nn.functional.conv2d(v, w, b, padding=1)
dense = lambda v, w, b: v @ w.T + b
def rule(f, w, b, v, R, name, eps):
    """relevance of v for layer f(v, w, b) under rule name"""
    if name == "epsilon":
        v = v.detach().requires_grad_()
        z = f(v, w, b)
        s = (R / (z + eps * torch.where(z >= 0, 1.0, -1.0))).detach()
        (z * s).sum().backward()
        return v * v.grad
    if name == "flat":
        one = torch.ones_like(v).requires_grad_()
        z = f(one, torch.ones_like(w), 0 * b)
        (z * (R / z).detach()).sum().backward()
        return one.grad
    alpha, beta = name
    out = 0
    for part, weight in ((1, alpha), (-1, -beta)):
        if weight == 0: continue
        vp, vm = v.clamp(min=0).detach().requires_grad_(), v.clamp(max=0).detach().requires_grad_()
        wp, wm = w.clamp(min=0), w.clamp(max=0)
        if part < 0: wp, wm = wm, wp
        z = f(vp, wp, 0 * b) + f(vm, wm, 0 * b)
        s = torch.where(z != 0, R / torch.where(z != 0, z, 1.0), 0.0).detach()
        (z * s).sum().backward()
        out = out + weight * (vp * vp.grad + vm * vm.grad)
    return out
def lrp(r_conv, r_dense, eps):
    h1 = torch.relu(conv(x, cw, cb))
    h2, idx = torch.nn.functional.max_pool2d(h1, 2, return_indices=True)
    f = h2.flatten(1)
    h3 = torch.relu(dense(f, W("fc", "weight"), W("fc", "bias")))
    out = dense(h3, W("out", "weight"), W("out", "bias"))
    R = torch.zeros_like(out); R[:, 1] = out[:, 1]
    R = rule(dense, W("out", "weight"), W("out", "bias"), h3, R, r_dense, eps)
    R = rule(dense, W("fc", "weight"), W("fc", "bias"), f, R, r_dense, eps)
    R = torch.nn.functional.max_unpool2d(R.reshape(h2.shape), idx, 2, output_size=h1.shape[2:])  # winner takes all
    R = rule(conv, cw, cb, x, R, r_conv, eps)
    return R.detach().numpy(), out[:, 1].detach().numpy()
cases = {"epsilon": ("epsilon", "epsilon", 0.05), "zplus": ((1, 0), (1, 0), 0), "alphabeta": ((2, 1), (2, 1), 0),
         "composite": ("flat", "epsilon", 1e-6), "default": ("flat", "epsilon", 1e-6)}
for name, (rc, rd, eps) in cases.items():
    f = h5py.File(name + "/explain.h5", "r")
    ref, S = lrp(rc, rd, eps)
    got = f["attribution"][...]
    err = np.abs(got - ref).max() / np.abs(ref).max()
    cons = np.abs(got.reshape(6, -1).astype(np.float64).sum(1) - S) / np.abs(S)
    print("%-9s rule %-9s: relative error vs torch %.2e, conservation error %.3g (file %.3g)"
          % (name, f.attrs["rule"], err, cons.max(), f.attrs["conservation_error"]))
    assert err <= 1e-4, err
    assert np.allclose(f["output"][...], S, atol=1e-5) and f.attrs["method"] == "lrp"
    assert np.allclose(f["relevance_sum"][...], got.reshape(6, -1).sum(1), rtol=1e-4, atol=1e-6)
    assert abs(f.attrs["conservation_error"] - cons.max()) <= 1e-3 * max(cons.max(), 1e-3)
assert h5py.File("default/explain.h5").attrs["rule"] == "composite"
assert h5py.File("alphabeta/explain.h5").attrs["alpha"] == 2
PY

# (2) bias-free relu net: LRP-z = input x gradient, conserved
"$CASCADE_BIN" explain nobias --method lrp --rule z --data d.h5 --index 0:8 --target 2 --out z --no-pictures
"$CASCADE_BIN" explain nobias --method inputxgrad --data d.h5 --index 0:8 --target 2 --out ixg --no-pictures
"$py" - <<'PY'
import h5py, numpy as np
z, g = h5py.File("z/explain.h5"), h5py.File("ixg/explain.h5")
a, b = z["attribution"][...], g["attribution"][...]
err = np.abs(a - b).max() / np.abs(b).max()
print("bias-free relu net: LRP-z vs input x gradient %.2e, conservation error %.2e" % (err, z.attrs["conservation_error"]))
assert err <= 1e-5 and z.attrs["conservation_error"] <= 1e-4
PY

# (3) two ranks write the same file; errors
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 "$CASCADE_BIN" explain bn \
    --method lrp --data d.h5 --index 2:8 --target 1 --out default2 --no-pictures
"$py" -c "import h5py, numpy as np; assert np.array_equal(*(h5py.File(d + '/explain.h5')['attribution'][...] for d in ('default', 'default2')))"
cat > sm.ini <<'INI'
[job]
name = sm
[data]
train = d.h5
inputs = a, b
targets = label
[train]
batch = 8
steps = 1
loss = mse
[model.flat]
type = flatten
[model.fc]
type = dense
units = 3
[model.sm]
type = softmax
INI
"$py" -c "
import h5py, numpy as np
f = h5py.File('d.h5', 'a'); f['onehot'] = np.eye(3, dtype=np.float32)[f['label'][...]]"
sed -i 's/^targets = label/targets = onehot/' sm.ini
"$CASCADE_BIN" train sm.ini --out sm --quiet
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
fails "lrp cannot explain layer sm (softmax)" sm --method lrp --data d.h5 --out e
fails "alpha - beta = 1" bn --method lrp --rule alphabeta --alpha 1.5 --data d.h5 --out e
fails "unknown --rule 'z+'" bn --method lrp --rule z+ --data d.h5 --out e
fails "output has 3 elements" bn --method lrp --target 3 --data d.h5 --out e
test ! -e e/explain.h5
rm -rf "$here"
