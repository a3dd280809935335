#!/usr/bin/env bash
# CAM and Grad-CAM on a GAP + dense net: the spatial mean of CAM (with bias) reproduces the
# logit, Grad-CAM of the last convolution equals ReLU(CAM without bias) / (h w), and Grad-CAM
# equals a PyTorch computation on the checkpoint's weights (<= 1e-5 relative).
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-cam.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$py" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(3)
with h5py.File("d.h5", "w") as f:
    f["a"] = rng.normal(size=(64, 6, 6)).astype(np.float32)
    f["b"] = rng.normal(size=(64, 6, 6)).astype(np.float32)
    f["label"] = rng.integers(0, 3, size=64).astype(np.int32)
PY
cat > job.ini <<'INI'
[job]
name = cam
[data]
train = d.h5
inputs = a, b
targets = label
[train]
batch = 16
steps = 5
loss = ce
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
"$CASCADE_BIN" train job.ini --out run --quiet
"$CASCADE_BIN" explain run --data d.h5 --method cam --target 1 --index 0:5 --out cam --no-pictures
"$CASCADE_BIN" explain run --data d.h5 --method gradcam --layer c1 --target 1 --index 0:5 --out gc
"$CASCADE_BIN" predict run --data d.h5 -o pred.h5
for m in deconvnet guided guided-gradcam; do
  "$CASCADE_BIN" explain run --data d.h5 --method $m --target 1 --index 0:5 --out $m --no-pictures
done
"$py" - <<'PY'
import glob, h5py, numpy as np, torch
import torch.nn.functional as F
cam = h5py.File("cam/explain.h5")["map"][...]
gc = h5py.File("gc/explain.h5")
gmap, gattr = gc["map"][...], gc["attribution"][...]
logits = h5py.File("pred.h5")["output"][:5, 1]
ck = h5py.File(glob.glob("run/checkpoints/step-*.h5")[0])
W = {k: torch.tensor(ck["params/model/" + k][...], dtype=torch.float64)
     for k in ("c1/weight", "c1/bias", "out/weight", "out/bias")}
b1 = W["out/bias"][1].item()
# CAM's spatial mean is the logit
err = np.abs(cam.mean(axis=(1, 2)) - logits).max() / np.abs(logits).max()
assert err < 1e-5, ("cam mean vs logit", err)
# Grad-CAM of the last conv = ReLU(CAM - b) / (h w)
ref = np.maximum(cam - b1, 0) / 36
err = np.abs(gmap - ref).max() / max(np.abs(ref).max(), 1e-12)
assert err < 1e-5, ("gradcam vs relu(cam)", err)
# Grad-CAM vs PyTorch on the checkpoint's weights
with h5py.File("d.h5") as f:
    x = torch.tensor(np.stack([f["a"][:5], f["b"][:5]], axis=1), dtype=torch.float64)
A = F.relu(F.conv2d(x, W["c1/weight"], W["c1/bias"], padding=1)).detach().requires_grad_(True)

S = F.linear(A.mean(dim=(2, 3)), W["out/weight"], W["out/bias"])[:, 1].sum()
S.backward()
alpha = A.grad.mean(dim=(2, 3), keepdim=True)
tmap = F.relu((alpha * A).sum(dim=1)).detach().numpy()
err = np.abs(gmap - tmap).max() / np.abs(tmap).max()
assert err < 1e-5, ("gradcam vs torch", err)
assert gattr.shape == (5, 2, 6, 6) and np.allclose(gattr[:, 0], gmap) and np.allclose(gattr[:, 1], gmap)
# DeconvNet and guided backpropagation: relu passes only positive gradients (and, guided, only
# where its input was positive); guided Grad-CAM = guided x Grad-CAM
class Guided(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, guided):
        ctx.save_for_backward(z)
        ctx.guided = guided
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        g = g.clamp(min=0)
        return (g * (z > 0) if ctx.guided else g), None

def rule_grad(guided):
    xi = x.clone().requires_grad_(True)
    A2 = Guided.apply(F.conv2d(xi, W["c1/weight"], W["c1/bias"], padding=1), guided)
    S2 = F.linear(A2.mean(dim=(2, 3)), W["out/weight"], W["out/bias"])[:, 1].sum()
    (g,) = torch.autograd.grad(S2, xi)
    return g.numpy()

for name, ref in (("deconvnet", rule_grad(False)), ("guided", rule_grad(True)),
                  ("guided-gradcam", rule_grad(True) * tmap[:, None])):
    got = h5py.File(name + "/explain.h5")["attribution"][...]
    e = np.abs(got - ref).max() / np.abs(ref).max()
    assert e < 1e-5, (name, e)
    print("explain_cam: %s vs PyTorch %.1e" % (name, e))
print("explain_cam: CAM mean = logit, Grad-CAM = ReLU(CAM)/Z and = PyTorch (max rel err %.1e)" % err)
PY
ls gc/attribution_0_0.png >/dev/null
# CAM needs globalavgpool -> dense at the end
sed 's/^type = globalavgpool/type = flatten/' job.ini > flat.ini
"$CASCADE_BIN" train flat.ini --out flat --quiet
set +e
"$CASCADE_BIN" explain flat --data d.h5 --method cam --out x 2> err.txt; code=$?
set -e
test $code -eq 2 && grep -q "globalavgpool -> dense" err.txt
rm -rf "$here"
