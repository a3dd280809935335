"""The WGAN-GP gradient penalty of a small critic, for tests/unit/test_backward2.c.

critic (per sample x (2, 8, 8)):
  c1   conv2d 2 -> 8, 3x3, padding 1        (im2col)
  a1   leaky_relu, slope 0.2
  c2   conv2d 8 -> 6, 3x3, padding 1        (Winograd F(2x2, 3x3) in the engine)
  ln   layernorm over (6, 8, 8)
  p    avgpool 2                            -> (6, 4, 4)
  f    flatten                              -> 96
  d1   dense 96 -> 8, activation tanh
  out  dense 8 -> 1
GP = mean_i (||grad_x D(x_i)||_2 - 1)^2 and its gradient with respect to every parameter,
through autograd.grad(create_graph=True), in float64 from float32-representable values.

A second critic (critic2, below) is a DAG with fan-out and several-input ops.
Writes per net /params/NET/LAYER/PARAM (the checkpoint layout, PyTorch names and layouts),
/NET/x, /NET/dx (grad_x of sum_i D(x_i)), /NET/out (D), /NET/gp, /NET/norms and
/grads/NET/LAYER/PARAM."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(7)


def rand(*shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32).astype(np.float64)


def fan(*shape):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch's default, for a weight [out, in, ...]."""
    b = 1.0 / np.sqrt(np.prod(shape[1:]))
    return rand(*shape, low=-b, high=b)


n = 5
params = {
    "c1": {"weight": fan(8, 2, 3, 3), "bias": rand(8, low=-0.3, high=0.3)},
    "c2": {"weight": fan(6, 8, 3, 3), "bias": rand(6, low=-0.3, high=0.3)},
    "ln": {"weight": rand(6, 8, 8, low=0.5, high=1.5), "bias": rand(6, 8, 8, low=-0.5, high=0.5)},
    "d1": {"weight": fan(8, 96), "bias": rand(8, low=-0.1, high=0.1)},
    "out": {"weight": rand(1, 8, low=-4, high=4), "bias": rand(1)},  # gradient norms near 1
}
x_np = rand(n, 2, 8, 8)

t = {layer: {k: torch.tensor(v, requires_grad=True) for k, v in ps.items()} for layer, ps in params.items()}


def critic(x):
    h = F.conv2d(x, t["c1"]["weight"], t["c1"]["bias"], padding=1)
    h = F.leaky_relu(h, 0.2)
    h = F.conv2d(h, t["c2"]["weight"], t["c2"]["bias"], padding=1)
    h = F.layer_norm(h, h.shape[1:], t["ln"]["weight"], t["ln"]["bias"], 1e-5)
    h = F.avg_pool2d(h, 2)
    h = torch.flatten(h, 1)
    h = torch.tanh(F.linear(h, t["d1"]["weight"], t["d1"]["bias"]))
    return F.linear(h, t["out"]["weight"], t["out"]["bias"])




def penalty(critic, t, x_np):
    """GP and its parameter gradients, the input gradients, D."""
    x = torch.tensor(x_np, requires_grad=True)
    d = critic(x)
    (dx,) = torch.autograd.grad(d.sum(), x, create_graph=True)
    norms = dx.flatten(1).norm(dim=1)
    gp = ((norms - 1) ** 2).mean()
    flat = [(layer, k, p) for layer, ps in t.items() for k, p in ps.items()]
    grads = torch.autograd.grad(gp, [p for _, _, p in flat], allow_unused=True)
    return flat, grads, dx, d, gp, norms


# critic2 (per sample x (3, 12)): a DAG with fan-out, the net input used twice, several-input
# ops and curved activations:
#   c1 conv1d 3 -> 4, k 3, padding 1, activation elu    c2 conv1d 4 -> 4, k 3, padding 1 (on c1)
#   s  add(c1, c2)        cat concat(s, x) axis 1 -> (7, 12)     mp maxpool 2 -> (7, 6)
#   ln layernorm          g globalavgpool -> 7                    out dense 7 -> 1, sigmoid
params2 = {
    "c1": {"weight": fan(4, 3, 3), "bias": rand(4, low=-0.3, high=0.3)},
    "c2": {"weight": fan(4, 4, 3), "bias": rand(4, low=-0.3, high=0.3)},
    "ln": {"weight": rand(7, 6, low=0.5, high=1.5), "bias": rand(7, 6, low=-0.5, high=0.5)},
    "out": {"weight": rand(1, 7, low=-3, high=3), "bias": rand(1)},
}
x2_np = rand(4, 3, 12)
t2 = {layer: {k: torch.tensor(v, requires_grad=True) for k, v in ps.items()} for layer, ps in params2.items()}


def critic2(x):
    c1 = F.elu(F.conv1d(x, t2["c1"]["weight"], t2["c1"]["bias"], padding=1))
    c2 = F.conv1d(c1, t2["c2"]["weight"], t2["c2"]["bias"], padding=1)
    h = torch.cat([c1 + c2, x], dim=1)
    h = F.max_pool1d(h, 2)
    h = F.layer_norm(h, h.shape[1:], t2["ln"]["weight"], t2["ln"]["bias"], 1e-5)
    h = h.mean(2)
    return torch.sigmoid(F.linear(h, t2["out"]["weight"], t2["out"]["bias"]))


if len(sys.argv) != 2:
    sys.exit("usage: %s OUT.h5" % sys.argv[0])
with h5py.File(sys.argv[1], "w") as f:
    for net, fn, tt, xn in (("critic", critic, t, x_np), ("critic2", critic2, t2, x2_np)):
        flat, grads, dx, d, gp, norms = penalty(fn, tt, xn)
        for (layer, k, p), gr in zip(flat, grads):
            f["params/%s/%s/%s" % (net, layer, k)] = p.detach().numpy().astype(np.float32)
            f["grads/%s/%s/%s" % (net, layer, k)] = np.zeros(p.shape) if gr is None else gr.numpy()
        f[net + "/x"] = xn.astype(np.float32)
        f[net + "/dx"] = dx.detach().numpy()
        f[net + "/out"] = d.detach().numpy()
        f[net + "/gp"] = gp.item()
        f[net + "/norms"] = norms.detach().numpy()
