"""PyTorch reference for adversarial training (tests/integration/gan_torch.sh).

usage: gan_ref.py KIND DIR   (KIND: gan | wgan | wgan-gp | wgan-gp-cond | wgan-gp-cond-constr)
Writes DIR/data.h5 (real samples `a` (N, 2) and `b` (N, 3), layout = features), DIR/init.h5
(both nets' initial weights as /params/NET/LAYER/PARAM), DIR/job.ini, and DIR/ref.h5: both
nets' parameters after the job's updates, computed by torch in float64 with z and alpha drawn
exactly as cascade draws them (philox.py) and the real batches in file order (shuffle =
false). The gradient penalty goes through torch.autograd.grad(create_graph=True).
wgan-gp-cond: a condition `e` (N, 1) enters both nets by concatenation with z / x; the
generator update uses the conditions of the last critic batch, as cascade does.
-sn: spectral_norm = true on the critic's first two dense layers: W / (u^T W v), one power
iteration of u, v before every critic update (none in the generator update), as cascade does.
-constr: also a frozen constrainer C (a dense regression net, DIR/constr.h5 written as a
cascade checkpoint) adds KAPPA * mean (C(G(z, c)) - c)^2 to the generator's loss."""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from philox import gan_alpha, gan_noise

torch.set_default_dtype(torch.float64)
kind, out = sys.argv[1], sys.argv[2]
sn = kind.endswith("-sn")  # spectral_norm on the critic's d1 and d2
kind = kind.replace("-sn", "")
constr = kind.endswith("-constr")
kind = kind.replace("-constr", "")
cond = kind.endswith("-cond")
kind = kind.replace("-cond", "")
KAPPA = 0.7
SEED, N, B, MB, LATENT, K, STEPS, LR, LAMBDA, CLIP = 11, 96, 16, 8, 6, 2, 4, 0.05, 10.0, 0.5
rng = np.random.default_rng(5)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


real = np.concatenate([f32(N, 2, scale=0.7) + 1.5, f32(N, 3, scale=0.4) - 0.5], axis=1)
energy = rng.uniform(1, 3, size=(N, 1)).astype(np.float32)
real[:, :2] *= energy  # the condition matters
with h5py.File(out + "/data.h5", "w") as f:
    f["a"], f["b"], f["e"] = real[:, :2], real[:, 2:], energy
C = 1 if cond else 0

# generator: dense 16 + leaky_relu(0.01) -> dense 16 + elu -> dense 5
# critic: dense 16 + tanh -> dense 8 + leaky_relu(0.01) -> dense 4 + sigmoid -> dense 1
gen_layers = [("d1", LATENT + C, 16), ("d2", 16, 16), ("out", 16, 5)]
crit_layers = [("d1", 5 + C, 16), ("d2", 16, 8), ("d3", 8, 4), ("out", 4, 1)]
params = {}
for net, layers in (("generator", gen_layers), ("critic", crit_layers)):
    for name, fin, fout in layers:
        params[(net, name, "weight")] = f32(fout, fin, scale=1 / np.sqrt(fin))
        params[(net, name, "bias")] = f32(fout, scale=0.1)
SN_LAYERS = ("d1", "d2") if sn else ()


def pname(net, name, p):  # spectral normalisation renames the weight as torch does
    return "weight_orig" if net == "critic" and name in SN_LAYERS and p == "weight" else p


with h5py.File(out + "/init.h5", "w") as f:
    for (net, name, p), v in params.items():
        f["params/%s/%s/%s" % (net, name, pname(net, name, p))] = v
P = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in params.items()}
UV = {name: [torch.full((fout,), fout ** -0.5), torch.full((fin,), fin ** -0.5)]
      for name, fin, fout in crit_layers if name in SN_LAYERS}


def power_iteration():
    with torch.no_grad():
        for name, (u, v) in UV.items():
            w = P["critic", name, "weight"]
            v.copy_(F.normalize(w.t() @ u, dim=0, eps=1e-12))
            u.copy_(F.normalize(w @ v, dim=0, eps=1e-12))


def cw(name):  # the critic's weight as used: W / sigma with spectral normalisation
    w = P["critic", name, "weight"]
    if name not in UV:
        return w
    u, v = UV[name]
    return w / (u @ w @ v)
CW, CB = f32(1, 5, scale=0.3), f32(1, scale=0.1)
if constr:
    with h5py.File(out + "/constr.h5", "w") as f:
        f.attrs["format"], f.attrs["version"] = "cascade-checkpoint", 1
        for a in ("step", "epoch", "samples_seen"):
            f.attrs[a] = 0
        f.attrs["world_size"], f.attrs["seed"] = 1, 1
        f.attrs["job"] = ("[job]\nname = constr\n[data]\ntrain = %s/data.h5\ninputs = a, b\nlayout = features\n"
                          "targets = e\n[train]\nsteps = 1\n[model.fc]\ntype = dense\nunits = 1\n" % out)
        f["params/model/fc/weight"], f["params/model/fc/bias"] = CW, CB


def C(x):
    return F.linear(x, torch.tensor(CW.astype(np.float64)), torch.tensor(CB.astype(np.float64)))


def G(z, c):
    if cond:
        z = torch.cat([z, c], dim=1)
    h = F.leaky_relu(F.linear(z, P["generator", "d1", "weight"], P["generator", "d1", "bias"]), 0.01)
    h = F.elu(F.linear(h, P["generator", "d2", "weight"], P["generator", "d2", "bias"]))
    return F.linear(h, P["generator", "out", "weight"], P["generator", "out", "bias"])


def D(x, c):
    if cond:
        x = torch.cat([x, c], dim=1)
    h = torch.tanh(F.linear(x, cw("d1"), P["critic", "d1", "bias"]))
    h = F.leaky_relu(F.linear(h, cw("d2"), P["critic", "d2", "bias"]), 0.01)
    h = torch.sigmoid(F.linear(h, P["critic", "d3", "weight"], P["critic", "d3", "bias"]))
    return F.linear(h, P["critic", "out", "weight"], P["critic", "out", "bias"])[:, 0]


def net_params(net):
    return [v for k, v in P.items() if k[0] == net]


cursor = 0
for step in range(STEPS):
    for t in range(K):
        if cursor + B > N:
            cursor = 0
        x = torch.tensor(real[cursor:cursor + B].astype(np.float64))
        c = torch.tensor(energy[cursor:cursor + B].astype(np.float64))
        cursor += B
        ctr = (step << 8) | t
        power_iteration()
        fake = G(torch.tensor(gan_noise(SEED, ctr, 0, B, LATENT).astype(np.float64)), c).detach()
        if kind == "gan":
            loss = F.softplus(-D(x, c)).mean() + F.softplus(D(fake, c)).mean()
        else:
            loss = D(fake, c).mean() - D(x, c).mean()
        if kind == "wgan-gp":
            a = torch.tensor(gan_alpha(SEED, ctr, 0, B).astype(np.float64))[:, None]
            hat = (x + a * (fake - x)).requires_grad_(True)
            g, = torch.autograd.grad(D(hat, c).sum(), hat, create_graph=True)
            loss = loss + LAMBDA * ((g.norm(dim=1) - 1) ** 2).mean()
        grads = torch.autograd.grad(loss, net_params("critic"))
        with torch.no_grad():
            for p, g in zip(net_params("critic"), grads):
                p -= LR * g
                if kind == "wgan":
                    p.clamp_(-CLIP, CLIP)
    z = torch.tensor(gan_noise(SEED, (step << 8) | 255, 0, B, LATENT).astype(np.float64))
    fake = G(z, c)
    d = D(fake, c)
    loss = F.softplus(-d).mean() if kind == "gan" else -d.mean()
    if constr:
        loss = loss + KAPPA * ((C(fake) - c) ** 2).mean()
    grads = torch.autograd.grad(loss, net_params("generator"))
    with torch.no_grad():
        for p, g in zip(net_params("generator"), grads):
            p -= LR * g

with h5py.File(out + "/ref.h5", "w") as f:
    for (net, name, p), v in P.items():
        f["params/%s/%s/%s" % (net, name, pname(net, name, p))] = v.detach().numpy()

gan_keys = {"gan": "", "wgan": "clip = %g\n" % CLIP, "wgan-gp": "gp_lambda = %g\n" % LAMBDA}[kind]
if constr:
    gan_keys += "constrainer = %s/constr.h5\nconstrainer_weight = %g\n" % (out, KAPPA)
inp = ("[generator.zc]\ntype = concat\ninput = z, c\n", "[critic.xc]\ntype = concat\ninput = x, c\n") if cond else ("", "")
layers = inp[0] + "".join("[generator.%s]\ntype = dense\nunits = %d\n%s" % (n, o, a) for (n, _, o), a in zip(
    gen_layers, ["activation = leaky_relu\n", "activation = elu\n", ""]))
crit = inp[1] + "".join("[critic.%s]\ntype = dense\nunits = %d\n%s%s%s" % (
    n, o, "input = x\n" if n == "d1" and not cond else "", "spectral_norm = true\n" if n in SN_LAYERS else "", a)
               for (n, _, o), a in zip(crit_layers, ["activation = tanh\n", "activation = leaky_relu\n",
                                                      "activation = sigmoid\n", ""]))
with open(out + "/job.ini", "w") as f:
    f.write("""[job]
name = gan-ref
kind = %s
seed = %d
[data]
train = %s/data.h5
inputs = a, b
layout = features
shuffle = false
%s[train]
batch = %d
micro_batch = %d
steps = %d
[optimizer]
type = sgd
lr = %g
[gan]
latent = %d
critic_steps = %d
%s%s%s""" % (kind, SEED, out, "condition = e\n" if cond else "", B, MB, STEPS, LR, LATENT, K, gan_keys, layers, crit))
