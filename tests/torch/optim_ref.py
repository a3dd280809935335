"""Writes torch.optim reference runs for tests/unit/test_optim.c.

Usage: optim_ref.py OUT.h5

One group per configuration. Attributes: the job-file keys that are set (type, lr, momentum,
nesterov, beta1, beta2, eps, weight_decay, alpha, centered, schedule, step_size, gamma,
min_lr, warmup, power; anything absent is torch's default, which cascade_opt_defaults must match),
`steps` (updates run) and `total` (the horizon the cosine schedule is built for).
Data sets (float32 unless said; n = all parameters concatenated flat, in order):
  params0 (n)           initial parameters
  grads (steps, n)      the gradient handed to update k
  params (steps, n)     parameters after update k
  lr (steps) float64    the optimizer's lr during update k (scheduler stepped after each update)
  state/NAME (n)        final optimizer state (torch state-dict names); attr step on `state`
                        (not for sgd, which keeps none)
Groups named lr_* hold a schedule only (no optimizer run): attrs as above, data set lr.
"""
import sys
import warnings

import h5py
import numpy as np
import torch
from torch.optim import lr_scheduler

STEPS = 10
# Several tensors of different shapes, so torch's per-tensor loop is exercised: n = 1000.
SHAPES = [(16, 32), (32,), (8, 4, 3, 3), (5, 7, 4), (28,)]
# Gradient scale per tensor: includes small gradients where eps matters.
GRAD_SCALES = [1.0, 0.1, 1e-3, 10.0, 1e-6]

CONFIGS = {
    "sgd": dict(type="sgd", lr=0.1),
    "sgd_momentum": dict(type="sgd", lr=0.05, momentum=0.9),
    "sgd_nesterov_wd": dict(type="sgd", lr=0.05, momentum=0.9, nesterov=1, weight_decay=1e-2),
    "adam": dict(type="adam", lr=1e-2),
    "adam_wd": dict(type="adam", lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
    "adamw": dict(type="adamw", lr=1e-2),
    "adamw_wd": dict(type="adamw", lr=2e-2, weight_decay=0.05, beta2=0.95),
    "rmsprop": dict(type="rmsprop"),
    "rmsprop_centered_momentum": dict(type="rmsprop", lr=1e-3, centered=1, momentum=0.9,
                                      alpha=0.9, weight_decay=1e-3),
    "sgd_momentum_step": dict(type="sgd", lr=0.05, momentum=0.5, schedule="step", step_size=3,
                              gamma=0.5),
    "adam_cosine": dict(type="adam", lr=1e-2, schedule="cosine", min_lr=1e-4),
    "adamw_warmup_cosine": dict(type="adamw", lr=1e-2, schedule="cosine", warmup=3),
    "sgd_warmup_step": dict(type="sgd", lr=0.1, momentum=0.9, schedule="step", warmup=4,
                            step_size=2, gamma=0.5),
    "rmsprop_warmup": dict(type="rmsprop", lr=1e-2, warmup=5),
    "sgd_warmup_poly": dict(type="sgd", lr=0.1, momentum=0.9, schedule="poly", warmup=3,
                            power=0.5),
}

# Longer schedules without an optimizer run: (config, total updates).
SCHEDULES = {
    "lr_warmup_only": (dict(lr=0.3, warmup=7), 30),
    "lr_warmup_one": (dict(lr=0.3, warmup=1, schedule="cosine"), 20),
    "lr_step": (dict(lr=0.1, schedule="step", step_size=4, gamma=0.3), 30),
    "lr_warmup_step": (dict(lr=0.1, schedule="step", step_size=5, gamma=0.1, warmup=6), 40),
    "lr_cosine": (dict(lr=1e-3, schedule="cosine", min_lr=1e-5), 50),
    "lr_warmup_cosine": (dict(lr=2e-3, schedule="cosine", warmup=10), 60),
    "lr_poly": (dict(lr=0.1, schedule="poly"), 30),
    "lr_warmup_poly": (dict(lr=0.032, schedule="poly", warmup=28), 112),
    "lr_warmup_poly_square": (dict(lr=2e-3, schedule="poly", warmup=8, power=2.0), 40),
}


def make_optimizer(params, c):
    kind = c["type"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=c["lr"], momentum=c.get("momentum", 0),
                               nesterov=bool(c.get("nesterov", 0)),
                               weight_decay=c.get("weight_decay", 0))
    kw = {k: c[k] for k in ("lr", "eps", "weight_decay") if k in c}
    if kind in ("adam", "adamw"):
        if "beta1" in c or "beta2" in c:
            kw["betas"] = (c.get("beta1", 0.9), c.get("beta2", 0.999))
        return (torch.optim.Adam if kind == "adam" else torch.optim.AdamW)(params, **kw)
    assert kind == "rmsprop"
    kw.update({k: c[k] for k in ("alpha", "momentum") if k in c})
    return torch.optim.RMSprop(params, centered=bool(c.get("centered", 0)), **kw)


def make_scheduler(opt, c, total):
    """LinearLR warm-up followed by the schedule, as cascade_lr_at documents; None: constant."""
    warmup = c.get("warmup", 0)
    schedule = c.get("schedule", "constant")
    warm = (lr_scheduler.LinearLR(opt, start_factor=1.0 / warmup, end_factor=1.0,
                                  total_iters=warmup) if warmup > 0 else None)
    main = None
    if schedule == "step":
        main = lr_scheduler.StepLR(opt, step_size=c["step_size"], gamma=c.get("gamma", 0.1))
    elif schedule == "cosine":
        main = lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup,
                                              eta_min=c.get("min_lr", 0.0))
    elif schedule == "poly":
        main = lr_scheduler.PolynomialLR(opt, total_iters=total - warmup,
                                         power=c.get("power", 1.0))
    if warm is not None and main is not None:
        return lr_scheduler.SequentialLR(opt, [warm, main], milestones=[warmup])
    return warm if warm is not None else main


def write_attrs(g, c):
    for k, v in c.items():
        g.attrs[k] = v  # str: variable-length UTF-8


def run(f, name, c, rng):
    params = [torch.nn.Parameter(torch.from_numpy(
        rng.uniform(-1, 1, size=s).astype(np.float32))) for s in SHAPES]
    opt = make_optimizer(params, c)
    sched = make_scheduler(opt, c, STEPS)
    flat = lambda ts: torch.cat([t.detach().reshape(-1) for t in ts]).numpy().copy()
    params0 = flat(params)
    grads, after, lrs = [], [], []
    for _ in range(STEPS):
        for p, scale in zip(params, GRAD_SCALES):
            p.grad = torch.from_numpy((rng.standard_normal(p.shape) * scale).astype(np.float32))
        grads.append(flat([p.grad for p in params]))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
        after.append(flat(params))
    g = f.create_group(name)
    write_attrs(g, c)
    g.attrs["steps"] = STEPS
    g.attrs["total"] = STEPS
    g["params0"] = params0
    g["grads"] = np.stack(grads)
    g["params"] = np.stack(after)
    g["lr"] = np.array(lrs, dtype=np.float64)
    st = g.create_group("state")
    states = [opt.state[p] for p in params]
    if "step" in states[0]:  # sgd keeps no step
        st.attrs["step"] = float(states[0]["step"])
    for key, value in states[0].items():
        if key != "step" and value is not None:
            st[key] = flat([s[key] for s in states])


def run_schedule(f, name, c, total):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=c["lr"])
    sched = make_scheduler(opt, c, total)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    g = f.create_group(name)
    write_attrs(g, dict(type="sgd", **c))
    g.attrs["steps"] = total
    g.attrs["total"] = total
    g["lr"] = np.array(lrs, dtype=np.float64)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: optim_ref.py OUT.h5")
    # SequentialLR steps the next schedule with an explicit epoch, which torch flags as deprecated
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.manual_seed(0)
    rng = np.random.default_rng(1234)
    with h5py.File(sys.argv[1], "w") as f:
        f.attrs["torch_version"] = str(torch.__version__)
        for name, c in CONFIGS.items():
            run(f, name, c, rng)
        for name, (c, total) in SCHEDULES.items():
            run_schedule(f, name, c, total)


if __name__ == "__main__":
    main()
