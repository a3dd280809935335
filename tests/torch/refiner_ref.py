"""PyTorch reference for kind = refiner (tests/integration/refiner.sh).

usage: refiner_ref.py DIR
Writes DIR/sim.h5 and DIR/data.h5 (inputs `a` (N, 2), `b` (N, 3), layout = features; the data
domain shifted and scaled, plus a label `y` in sim.h5 that `cascade refine` must copy),
DIR/init.h5, DIR/job.ini and DIR/ref.h5: both nets after the job's updates, computed by torch
in float64 exactly as cascade schedules them: pretraining updates on the self-regularization
alone, then per step critic_steps WGAN-GP critic updates (real = the target samples in a fixed
permutation, fake = the refined batch whose second half comes from the history buffer once it
holds samples) and one refiner update -mean D(R(x)) + lambda mean |R(x) - x|.

usage: refiner_ref.py DIR multi
The same with `[refiner] outputs`: `a` (1, 2) and `b` (1, 3) stay tensors of their own; the
refiner reads both by name (flatten, concat) and has one residual head per input, the critic
reads both by name; torch computes on the samples' rows [a | b] (the penalty's norm and the
L1 mean run over both tensors, one alpha per sample), so the schedule is the one above."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from philox import RNG_SHUFFLE, gan_alpha, history_draw, permutation

torch.set_default_dtype(torch.float64)
out = sys.argv[1]
MULTI = len(sys.argv) > 2 and sys.argv[2] == "multi"
SEED, N, NT, B, MB, K, STEPS, PRE, LR, LAMBDA, REG, HIST = 13, 80, 56, 16, 8, 2, 5, 1, 0.05, 10.0, 0.5, 24
rng = np.random.default_rng(9)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


sim = np.concatenate([f32(N, 2, scale=0.7) + 1.0, f32(N, 3, scale=0.4)], axis=1)
data = np.concatenate([f32(NT, 2, scale=0.9) + 1.4, f32(NT, 3, scale=0.3) - 0.2], axis=1)
with h5py.File(out + "/sim.h5", "w") as f:
    f["a"], f["b"], f["y"] = sim[:, :2], sim[:, 2:], np.arange(N, dtype=np.int32)
    f.attrs["kind"] = "toy"
with h5py.File(out + "/data.h5", "w") as f:
    f["a"], f["b"] = data[:, :2], data[:, 2:]

ref_layers = [("d1", 5, 16), ("ra", 16, 2), ("rb", 16, 3)] if MULTI else [("d1", 5, 16), ("d2", 16, 5)]
crit_layers = [("d1", 5, 16), ("d2", 16, 8), ("out", 8, 1)]
params = {}
for net, layers in (("refiner", ref_layers), ("critic", crit_layers)):
    for name, fin, fout in layers:
        params[(net, name, "weight")] = f32(fout, fin, scale=0.5 / np.sqrt(fin))
        params[(net, name, "bias")] = f32(fout, scale=0.1)
with h5py.File(out + "/init.h5", "w") as f:
    for (net, name, p), v in params.items():
        f["params/%s/%s/%s" % (net, name, p)] = v
P = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in params.items()}


def R(x):  # residual: x + d2(elu(d1(x))); multi: one head per input, [a + ra(h) | b + rb(h)]
    h = F.elu(F.linear(x, P["refiner", "d1", "weight"], P["refiner", "d1", "bias"]))
    if MULTI:
        return x + torch.cat([F.linear(h, P["refiner", n, "weight"], P["refiner", n, "bias"]) for n in ("ra", "rb")], 1)
    return x + F.linear(h, P["refiner", "d2", "weight"], P["refiner", "d2", "bias"])


def D(x):
    h = torch.tanh(F.linear(x, P["critic", "d1", "weight"], P["critic", "d1", "bias"]))
    h = F.leaky_relu(F.linear(h, P["critic", "d2", "weight"], P["critic", "d2", "bias"]), 0.01)
    return F.linear(h, P["critic", "out", "weight"], P["critic", "out", "bias"])[:, 0]


def net_params(net):
    return [v for k, v in P.items() if k[0] == net]


def sgd(net, loss):
    grads = torch.autograd.grad(loss, net_params(net))
    with torch.no_grad():
        for p, g in zip(net_params(net), grads):
            p -= LR * g


perm_t = permutation(SEED, RNG_SHUFFLE, 2 ** 64 - 1, NT)
hist, cursor, critic_updates = [], 0, 0
for step in range(STEPS):
    if step < PRE:
        if cursor + B > N:
            cursor = 0
        last = cursor
        cursor += B
    else:
        for t in range(K):
            if cursor + B > N:
                cursor = 0
            ctr = (step << 8) | t
            xs = torch.tensor(sim[cursor:cursor + B].astype(np.float64))
            last = cursor
            cursor += B
            refined = R(xs).detach()
            fake = refined.clone()
            for q in range(B // 2, B):
                if hist:
                    fake[q] = hist[history_draw(SEED, ctr, q, 0) % len(hist)]
            real = torch.tensor(data[[perm_t[(critic_updates * B + q) % NT] for q in range(B)]].astype(np.float64))
            a = torch.tensor(gan_alpha(SEED, ctr, 0, B).astype(np.float64))[:, None]
            hat = (real + a * (fake - real)).requires_grad_(True)
            g, = torch.autograd.grad(D(hat).sum(), hat, create_graph=True)
            sgd("critic", D(fake).mean() - D(real).mean() + LAMBDA * ((g.norm(dim=1) - 1) ** 2).mean())
            for q in range(B // 2):
                if len(hist) < HIST:
                    hist.append(refined[q].clone())
                else:
                    hist[history_draw(SEED, ctr, q, 1) % HIST] = refined[q].clone()
            critic_updates += 1
    xs = torch.tensor(sim[last:last + B].astype(np.float64))
    y = R(xs)
    loss = REG * (y - xs).abs().mean()
    if step >= PRE:
        loss = loss - D(y).mean()
    sgd("refiner", loss)

with h5py.File(out + "/ref.h5", "w") as f:
    for (net, name, p), v in P.items():
        f["params/%s/%s/%s" % (net, name, p)] = v.detach().numpy()
    with torch.no_grad():
        f["refined"] = R(torch.tensor(sim.astype(np.float64))).numpy()

SINGLE_NETS = """[refiner.d1]
type = dense
input = x
units = 16
activation = elu
[refiner.d2]
type = dense
units = 5
[refiner.out]
type = add
input = x, d2
[critic.d1]
type = dense
input = x
units = 16
activation = tanh
"""
MULTI_NETS = """outputs = oa, ob
[refiner.fa]
type = flatten
input = a
[refiner.fb]
type = flatten
input = b
[refiner.cat]
type = concat
input = fa, fb
[refiner.d1]
type = dense
units = 16
activation = elu
[refiner.ra]
type = dense
units = 2
[refiner.sa]
type = reshape
shape = 1, 2
[refiner.oa]
type = add
input = a, sa
[refiner.rb]
type = dense
input = d1
units = 3
[refiner.sb]
type = reshape
shape = 1, 3
[refiner.ob]
type = add
input = b, sb
[critic.fa]
type = flatten
input = a
[critic.fb]
type = flatten
input = b
[critic.cat]
type = concat
input = fa, fb
[critic.d1]
type = dense
units = 16
activation = tanh
"""
with open(out + "/job.ini", "w") as f:
    f.write("""[job]
name = refiner-ref
kind = refiner
seed = %d
[data]
train = %s/sim.h5
target = %s/data.h5
inputs = a, b
layout = %s
shuffle = false
[train]
batch = %d
micro_batch = %d
steps = %d
[optimizer]
type = sgd
lr = %g
[refiner]
critic_steps = %d
gp_lambda = %g
self_regularization = %g
history = %d
pretrain_steps = %d
%s[critic.d2]
type = dense
units = 8
activation = leaky_relu
[critic.out]
type = dense
units = 1
""" % (SEED, out, out, "channels" if MULTI else "features", B, MB, STEPS, LR, K, LAMBDA, REG, HIST, PRE,
       MULTI_NETS if MULTI else SINGLE_NETS))
