"""PyTorch reference for a wgan-gp whose generator produces two inputs of different shapes
from layers of its own and whose critic reads each by name ([gan] outputs), conditional on `e`.

usage: gan_multi_ref.py DIR
Writes DIR/data.h5 (`a` (N, 2, 3), `b` (N, 4), `e` (N, 1)), DIR/init.h5, DIR/job.ini and
DIR/ref.h5 (both nets after the updates, torch float64, z and alpha drawn as cascade draws
them; the penalty's norm runs over both inputs of a sample)."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from philox import gan_alpha, gan_noise

torch.set_default_dtype(torch.float64)
out = sys.argv[1]
SEED, N, B, MB, LATENT, K, STEPS, LR, LAMBDA = 21, 80, 16, 8, 5, 2, 3, 0.05, 10.0
rng = np.random.default_rng(3)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


e = rng.uniform(1, 2, size=(N, 1)).astype(np.float32)
a = np.abs(f32(N, 2, 3, scale=0.5) + 1) * e[:, :, None]
b = f32(N, 4, scale=0.3) - 0.5
with h5py.File(out + "/data.h5", "w") as f:
    f["a"], f["b"], f["e"] = a, b, e
# generator: concat(z, c) -> d1 (12, elu) -> ha (6) -> ra reshape (1, 2, 3); -> hb (4) -> rb (1, 4)
# critic: flatten a, flatten b, concat with c -> d1 (12, tanh) -> out (1)
shapes = {("generator", "d1"): (12, LATENT + 1), ("generator", "ha"): (6, 12), ("generator", "hb"): (4, 12),
          ("critic", "d1"): (12, 6 + 4 + 1), ("critic", "out"): (1, 12)}
params = {}
for (net, name), (o, i) in shapes.items():
    params[(net, name, "weight")] = f32(o, i, scale=1 / np.sqrt(i))
    params[(net, name, "bias")] = f32(o, scale=0.1)
with h5py.File(out + "/init.h5", "w") as f:
    for (net, name, p), v in params.items():
        f["params/%s/%s/%s" % (net, name, p)] = v
P = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in params.items()}


def lin(net, name, x):
    return F.linear(x, P[net, name, "weight"], P[net, name, "bias"])


def G(z, c):
    h = F.elu(lin("generator", "d1", torch.cat([z, c], 1)))
    return lin("generator", "ha", h).reshape(-1, 1, 2, 3), lin("generator", "hb", h).reshape(-1, 1, 4)


def D(xa, xb, c):
    h = torch.tanh(lin("critic", "d1", torch.cat([xa.flatten(1), xb.flatten(1), c], 1)))
    return lin("critic", "out", h)[:, 0]


def sgd(net, loss):
    ps = [v for k, v in P.items() if k[0] == net]
    grads = torch.autograd.grad(loss, ps)
    with torch.no_grad():
        for p, g in zip(ps, grads):
            p -= LR * g


t64 = lambda v: torch.tensor(np.asarray(v).astype(np.float64))
cursor = 0
for step in range(STEPS):
    for t in range(K):
        if cursor + B > N:
            cursor = 0
        xa, xb, c = t64(a[cursor:cursor + B, None]), t64(b[cursor:cursor + B, None]), t64(e[cursor:cursor + B])
        cursor += B
        ctr = (step << 8) | t
        fa, fb = (v.detach() for v in G(t64(gan_noise(SEED, ctr, 0, B, LATENT)), c))
        al = t64(gan_alpha(SEED, ctr, 0, B))
        ha = (xa + al[:, None, None, None] * (fa - xa)).requires_grad_(True)
        hb = (xb + al[:, None, None] * (fb - xb)).requires_grad_(True)
        ga, gb = torch.autograd.grad(D(ha, hb, c).sum(), [ha, hb], create_graph=True)
        norm = torch.sqrt(ga.flatten(1).pow(2).sum(1) + gb.flatten(1).pow(2).sum(1))
        sgd("critic", D(fa, fb, c).mean() - D(xa, xb, c).mean() + LAMBDA * ((norm - 1) ** 2).mean())
    z = t64(gan_noise(SEED, (step << 8) | 255, 0, B, LATENT))
    sgd("generator", -D(*G(z, c), c).mean())

with h5py.File(out + "/ref.h5", "w") as f:
    for (net, name, p), v in P.items():
        f["params/%s/%s/%s" % (net, name, p)] = v.detach().numpy()
with open(out + "/job.ini", "w") as f:
    f.write("""[job]
name = gan-multi
kind = wgan-gp
seed = %d
[data]
train = %s/data.h5
inputs = a, b
condition = e
shuffle = false
[train]
batch = %d
micro_batch = %d
steps = %d
[optimizer]
type = sgd
lr = %g
[gan]
latent = %d
critic_steps = %d
gp_lambda = %g
outputs = ra, rb
[generator.zc]
type = concat
input = z, c
[generator.d1]
type = dense
units = 12
activation = elu
[generator.ha]
type = dense
units = 6
[generator.ra]
type = reshape
shape = 1, 2, 3
[generator.hb]
type = dense
input = d1
units = 4
[generator.rb]
type = reshape
shape = 1, 4
[critic.fa]
type = flatten
input = a
[critic.fb]
type = flatten
input = b
[critic.cat]
type = concat
input = fa, fb, c
[critic.d1]
type = dense
units = 12
activation = tanh
[critic.out]
type = dense
units = 1
""" % (SEED, out, B, MB, STEPS, LR, LATENT, K, LAMBDA))
