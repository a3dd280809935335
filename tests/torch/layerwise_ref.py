"""Writes numpy reference runs of LARS and LAMB for tests/unit/test_layerwise.c (torch.optim
has neither). Usage: layerwise_ref.py OUT.h5

The update rules are the papers' (You et al. 2017, LARS with momentum and weight decay; You et
al. 2019, LAMB Algorithm 2 with phi = identity), in float32 with the operation order of
src/optim/layerwise.c; tensor norms in float64 from a correctly rounded sum of the squares
(math.fsum). Tensors of one dimension (biases) are not adapted: trust ratio 1, no weight decay.
A ratio whose norms include a 0 is 1.

One group per configuration. Attributes: type, lr, and whichever of momentum, beta1, beta2,
eps, weight_decay, trust_coefficient, warmup, schedule, lr_scaling, batch, reference_batch are
set (absent: cascade's defaults for the type); steps. Data sets (n = all tensors flat):
  tensors (k, 3) int64  offset, size, adapted (0/1) per tensor
  params0 (n), grads (steps, n), params (steps, n) float32; lr (steps) float64 (the lr of
  update k, scaling included); state/NAME (n) the final state (exp_avg, exp_avg_sq,
  momentum_buffer), attribute step on `state`.
"""
import math
import sys

import h5py
import numpy as np

STEPS = 6
# (shape, param scale, grad scale): a zero-parameter and a zero-gradient matrix among them
TENSORS = [((16, 32), 0.2, 1.0), ((32,), 0.1, 0.1), ((8, 4, 3, 3), 0.3, 1e-3), ((6, 6), 0.0, 1.0),
           ((5, 7, 4), 1.0, 10.0), ((28,), 0.5, 1e-6), ((4, 5), 0.7, 0.0)]

DEFAULTS = {
    "lars": dict(momentum=0.9, weight_decay=5e-4, trust_coefficient=1e-3),
    "lamb": dict(beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=1e-2),
}
CONFIGS = {
    "lars": dict(type="lars", lr=1.0),
    "lars_plain_wd": dict(type="lars", lr=0.5, momentum=0.0, weight_decay=1e-2, trust_coefficient=0.02),
    "lars_warmup_cosine": dict(type="lars", lr=2.0, warmup=3, schedule="cosine",
                               trust_coefficient=0.01),
    "lamb": dict(type="lamb", lr=1e-2),
    "lamb_betas_wd": dict(type="lamb", lr=5e-3, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1),
    "lamb_nowd": dict(type="lamb", lr=2e-2, weight_decay=0.0),
    "lamb_linear_warmup": dict(type="lamb", lr=1e-3, lr_scaling="linear", batch=512,
                               reference_batch=128, warmup=2, schedule="cosine"),
    "lamb_sqrt": dict(type="lamb", lr=1e-3, lr_scaling="sqrt", batch=4096, reference_batch=128),
}


def lr_at(c, k, total):
    base = c["lr"]
    s = c.get("lr_scaling", "none")
    if s != "none":
        ratio = c["batch"] / c["reference_batch"]
        base *= ratio if s == "linear" else math.sqrt(ratio)
    w = c.get("warmup", 0)
    if k < w:
        f = 1.0 / w
        return base * (f + (1.0 - f) * k / w)
    if c.get("schedule", "constant") == "cosine":
        t, period = k - w, total - w
        return base * (1.0 + math.cos(math.pi * t / period)) / 2.0 if t < period else 0.0
    return base


def norm(x):
    return math.sqrt(math.fsum((x.astype(np.float64) ** 2).tolist()))


def ratio(kind, c, wn, un):
    if wn == 0 or un == 0:
        return 1.0
    if kind == "lamb":
        return wn / un
    return c["trust_coefficient"] * wn / (un + c["weight_decay"] * wn)


def run(c, params, grads, bounds):
    kind = c["type"]
    f32 = np.float32
    n = params.size
    m, v, buf = np.zeros(n, f32), np.zeros(n, f32), np.zeros(n, f32)
    p = params.copy()
    out, lrs = [], []
    for k in range(STEPS):
        t = k + 1
        lr = lr_at(c, k, STEPS)
        lrs.append(lr)
        g = grads[k]
        for (a, b, adapt) in bounds:
            wd = f32(c["weight_decay"] if adapt else 0.0)
            if kind == "lamb":
                b1, b2 = c["beta1"], c["beta2"]
                m[a:b] = f32(b1) * m[a:b] + f32(1.0 - b1) * g[a:b]
                v[a:b] = f32(b2) * v[a:b] + (f32(1.0 - b2) * g[a:b]) * g[a:b]
                mh = m[a:b] / f32(1.0 - b1 ** t)
                vh = v[a:b] / f32(1.0 - b2 ** t)
                u = mh / (np.sqrt(vh) + f32(c["eps"])) + wd * p[a:b]
                r = ratio(kind, c, norm(p[a:b]), norm(u)) if adapt else 1.0
                p[a:b] = p[a:b] - f32(lr * r) * u
            else:
                r = ratio(kind, c, norm(p[a:b]), norm(g[a:b])) if adapt else 1.0
                d = g[a:b] + wd * p[a:b]
                if c["momentum"] > 0:
                    buf[a:b] = f32(c["momentum"]) * buf[a:b] + f32(lr * r) * d
                    p[a:b] = p[a:b] - buf[a:b]
                else:
                    p[a:b] = p[a:b] - f32(lr * r) * d
        out.append(p.copy())
    if kind == "lamb":
        state = {"exp_avg": m, "exp_avg_sq": v}
    else:
        state = {"momentum_buffer": buf} if c["momentum"] > 0 else {}
    return np.array(out), np.array(lrs), state


def main():
    rng = np.random.default_rng(20)
    bounds, off = [], 0
    p0, gs = [], []
    for shape, ps, gsc in TENSORS:
        size = int(np.prod(shape))
        bounds.append((off, off + size, int(len(shape) > 1)))
        off += size
        p0.append((ps * rng.standard_normal(size)).astype(np.float32))
        gs.append((gsc * rng.standard_normal((STEPS, size))).astype(np.float32))
    params0 = np.concatenate(p0)
    grads = np.concatenate(gs, axis=1)
    with h5py.File(sys.argv[1], "w") as f:
        for name, cfg in CONFIGS.items():
            c = dict(DEFAULTS[cfg["type"]])
            c.update(cfg)
            after, lrs, state = run(c, params0, grads, bounds)
            g = f.create_group(name)
            for key, val in cfg.items():
                g.attrs[key] = val
            g.attrs["steps"] = STEPS
            g["tensors"] = np.array([(a, b - a, ad) for a, b, ad in bounds], np.int64)
            g["params0"] = params0
            g["grads"] = grads
            g["params"] = after
            g["lr"] = lrs
            sg = g.create_group("state")
            sg.attrs["step"] = STEPS
            for key, val in state.items():
                sg[key] = val


if __name__ == "__main__":
    main()
