"""Loss reference cases for tests/unit/test_loss.c (not a ref_*.py: losses are not ops).

Usage: loss_ref.py OUT.h5. Each group caseNNN holds attrs kind (mse|mae|huber|bce|ce), n,
elems (values per sample of pred), classes (ce; else 1) and data sets pred, target (float32
values), loss (torch's default mean, float64) and grad (d loss / d pred, float64)."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(6)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def rand(*shape, low=-1.0, high=1.0):
    return f32(rng.uniform(low, high, size=shape))


LOSSES = {
    "mse": lambda p, t: F.mse_loss(p, t),
    "mae": lambda p, t: F.l1_loss(p, t),
    "huber": lambda p, t: F.huber_loss(p, t, delta=1.0),
    "bce": lambda p, t: F.binary_cross_entropy_with_logits(p, t),
    "ce": lambda p, t: F.cross_entropy(p, t.long()),
    # angle between prediction and target direction, mean over samples
    "angular": lambda p, t: (2 * torch.asin(torch.clamp(
        (p / p.norm(dim=1, keepdim=True) - t / t.norm(dim=1, keepdim=True)).norm(dim=1) / 2, max=1))).mean(),
}

out = h5py.File(sys.argv[1], "w")
count = 0


def case(kind, pred, target, classes=1, weights=None):
    global count
    g = out.create_group("case%03d" % count)
    count += 1
    p = torch.tensor(pred, requires_grad=True)
    if weights is not None:  # torch's weighted mean: divided by the labels' weights
        loss = F.cross_entropy(p, torch.tensor(target).long(), weight=torch.tensor(weights))
        g["weights"] = weights
    else:
        loss = LOSSES[kind](p, torch.tensor(target))
    (grad,) = torch.autograd.grad(loss, p)
    g.attrs["kind"] = kind
    g.attrs["n"] = pred.shape[0]
    g.attrs["elems"] = int(np.prod(pred.shape[1:]))
    g.attrs["classes"] = classes
    g["pred"] = pred.astype(np.float32)
    g["target"] = target.astype(np.float32)
    g["loss"] = loss.item()
    g["grad"] = grad.numpy()


for kind in ("mse", "mae", "huber"):
    case(kind, rand(4, 3, low=-3, high=3), rand(4, 3, low=-3, high=3))
    case(kind, rand(1, 7, 2, low=-3, high=3), rand(1, 7, 2, low=-3, high=3))  # batch 1
# ties (mae gradient 0 at 0) and |d| = 1 exactly (huber's switch)
tie = f32(rng.integers(-1024, 1024, size=(2, 6)) / 1024)  # tie + 1 exact in float
tie_target = tie.copy()
tie_target[0, :3] += 1.0
tie_target[1, 0] -= 1.0
for kind in ("mse", "mae", "huber"):
    case(kind, tie, tie_target)
case("bce", rand(5, 4, low=-6, high=6), rand(5, 4, low=0, high=1))
case("bce", rand(3, 8, low=-80, high=80), f32(rng.integers(0, 2, size=(3, 8))))  # saturated
case("ce", rand(6, 5, low=-3, high=3), f32(rng.integers(0, 5, size=6)), classes=5)
case("ce", rand(2, 3, 4, 5, low=-3, high=3), f32(rng.integers(0, 3, size=(2, 4, 5))), classes=3)
case("ce", rand(1, 4, 7, low=-3, high=3), f32(rng.integers(0, 4, size=(1, 7))), classes=4)  # (n, C, L)
case("ce", rand(3, 10, low=-300, high=300), f32(rng.integers(0, 10, size=3)), classes=10)
case("ce", rand(3, 1), f32(np.zeros(3)), classes=1)  # one class: loss 0
case("ce", rand(8, 3, low=-3, high=3), f32(rng.integers(0, 3, size=8)), classes=3,
     weights=np.array([0.2, 1.0, 5.0]))
case("ce", rand(2, 3, 4, 5, low=-3, high=3), f32(rng.integers(0, 3, size=(2, 4, 5))), classes=3,
     weights=np.array([1.0, 0.5, 2.0]))  # segmentation with class weights
axis = rand(6, 3)
case("angular", rand(6, 3, low=-2, high=2), f32(axis / np.linalg.norm(axis, axis=1, keepdims=True)))
case("angular", f32(axis * 3.0 + rand(6, 3, low=-0.01, high=0.01)), f32(axis))  # small angles, longer p
case("angular", rand(4, 2), rand(4, 2))  # 2-D directions
out.close()
