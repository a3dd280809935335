#!/usr/bin/env python3
"""PyTorch side of bench/physics_vs_torch.sh: trains the network of a cascade job file in
PyTorch on the same HDF5 files with the same budget (epochs or steps, batch, optimizer, lr,
schedule, loss, input and target normalisation), then predicts the test file and computes the
task's figures with the functions of tools/shower_resolution.py (air showers) or
tools/lartpc_figures.py (LArTPC classify / segment). Prints one JSON line.

    physics_torch.py JOB.ini --train T.h5 --valid V.h5 --test TEST.h5
                     --task energy|axis|core|xmax|classify|segment [--threads N] [--pred OUT.h5]

JOB.ini should be a run's RUNDIR/job.ini (blocks already expanded into layers). Supported layer
types: conv2d, conv2d_transpose, separable2d, dense, maxpool, avgpool, batchnorm, flatten,
concat, add, dropout, globalavgpool, globalmaxpool, upsample, relu, leaky_relu, elu, tanh,
sigmoid, and for the trace-based jobs lstm (nn.LSTM, gates i, f, g, o as cascade's op; with
more leading axes every position, e.g. station, runs its sequence through the same LSTM),
hexconv (the masked convolution of tests/torch/hexgrid.py), reshape, permute, slice — with
PyTorch's default initialisation (hexconv: U(±1/sqrt(in·cells)), as a conv). layout = features
is read as cascade does (inputs concatenated on the last axis, an input with one axis fewer as
one feature; standardised per feature). Losses: mse, mae, huber, angular, ce (per sample or per
pixel, with [train] class_weights as CrossEntropyLoss(weight=...)). Differences to cascade, by
design of the comparison: the initial weights and the shuffling come from torch's own RNG (same
distributions)."""
import argparse
import configparser
import json
import math
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "torch"))
import lartpc_figures  # noqa: E402
import shower_resolution  # noqa: E402
from hexgrid import hex_cells, hexconv  # noqa: E402

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
       "leaky_relu": nn.LeakyReLU}


def ints(v):
    return [int(s) for s in v.replace(" ", "").split(",")]


def pair(v):
    x = ints(v)
    return x[0] if len(x) == 1 else tuple(x)


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Permute(nn.Module):
    def __init__(self, order):
        super().__init__()
        self.order = order

    def forward(self, x):
        return x.permute(*self.order)


class Slice(nn.Module):
    """x[..., start:stop] on `axis` (counting the batch axis), as cascade's slice."""

    def __init__(self, axis, start, stop):
        super().__init__()
        self.axis, self.start, self.stop = axis, start, stop

    def forward(self, x):
        idx = [slice(None)] * x.dim()
        idx[self.axis] = slice(self.start, self.stop)
        return x[tuple(idx)]


class PositionLSTM(nn.Module):
    """(N, P..., T, F) -> (N, P..., H) (or (N, P..., T, H) with return_sequences): one
    nn.LSTM over every position's sequence, shared weights, zero initial state."""

    def __init__(self, features, units, layers, return_sequences):
        super().__init__()
        self.lstm = nn.LSTM(features, units, num_layers=layers, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x):
        lead, (t, f) = x.shape[:-2], x.shape[-2:]
        y, _ = self.lstm(x.reshape(-1, t, f))
        return y.reshape(*lead, t, -1) if self.return_sequences else y[:, -1].reshape(*lead, -1)


class HexConv(nn.Module):
    """cascade's hexconv (same-size output on the offset grid), weight [out, in, cells]."""

    def __init__(self, cin, filters, radius, bias):
        super().__init__()
        cells = len(hex_cells(radius))
        bound = 1.0 / math.sqrt(cin * cells)
        self.radius = radius
        self.weight = nn.Parameter(torch.empty(filters, cin, cells).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(filters).uniform_(-bound, bound)) if bias else None

    def forward(self, x):
        return hexconv(x, self.weight, self.bias, self.radius)


class Net(nn.Module):
    """A cascade net as a graph of torch modules; shapes inferred on a dummy sample."""

    def __init__(self, layers, in_shape):
        super().__init__()
        self.order, self.inputs = [], {}
        self.mods = nn.ModuleDict()
        shapes = {"x": (1,) + tuple(in_shape)}
        prev = "x"
        dummy = {"x": torch.zeros(shapes["x"])}
        for name, s in layers:
            ins = [i.strip() for i in s.get("input", prev).split(",")]
            t = s["type"]
            x0 = dummy[ins[0]]
            if t == "conv2d":
                pad = s.get("padding", "valid")
                pad = pad if pad in ("same", "valid") else pair(pad)
                m = nn.Conv2d(x0.shape[1], int(s["filters"]), pair(s["kernel"]), stride=pair(s.get("stride", "1")),
                              padding=pad, dilation=pair(s.get("dilation", "1")), groups=int(s.get("groups", 1)),
                              bias=s.get("bias", "true") == "true")
            elif t == "conv2d_transpose":
                m = nn.ConvTranspose2d(x0.shape[1], int(s["filters"]), pair(s["kernel"]),
                                       stride=pair(s.get("stride", "1")), padding=pair(s.get("padding", "0")),
                                       output_padding=pair(s.get("output_padding", "0")),
                                       bias=s.get("bias", "true") == "true")
            elif t == "separable2d":
                pad = s.get("padding", "valid")
                pad = pad if pad in ("same", "valid") else pair(pad)
                c, mult = x0.shape[1], int(s.get("depth_multiplier", 1))
                m = nn.Sequential(nn.Conv2d(c, c * mult, pair(s["kernel"]), stride=pair(s.get("stride", "1")),
                                            padding=pad, groups=c, bias=False),
                                  nn.Conv2d(c * mult, int(s["filters"]), 1, bias=s.get("bias", "true") == "true"))
            elif t == "dense":
                m = nn.Linear(x0.shape[-1], int(s["units"]), bias=s.get("bias", "true") == "true")
            elif t in ("maxpool", "avgpool"):
                size = pair(s["size"])
                kw = dict(stride=pair(s.get("stride", s["size"])), padding=pair(s.get("padding", "0")))
                m = nn.MaxPool2d(size, **kw) if t == "maxpool" else nn.AvgPool2d(size, count_include_pad=True, **kw)
            elif t == "batchnorm":
                m = nn.BatchNorm2d(x0.shape[1], eps=float(s.get("eps", 1e-5)), momentum=float(s.get("momentum", 0.1))) \
                    if x0.dim() == 4 else nn.BatchNorm1d(x0.shape[1], eps=float(s.get("eps", 1e-5)),
                                                         momentum=float(s.get("momentum", 0.1)))
            elif t == "flatten":
                m = nn.Flatten()
            elif t == "dropout":
                m = nn.Dropout(float(s["rate"]))
            elif t == "globalavgpool":
                m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            elif t == "globalmaxpool":
                m = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())
            elif t == "upsample":
                m = nn.Upsample(scale_factor=int(s.get("scale", 2)), mode=s.get("mode", "nearest"))
            elif t == "lstm":
                m = PositionLSTM(x0.shape[-1], int(s["units"]), int(s.get("layers", 1)),
                                 s.get("return_sequences", "false") == "true")
            elif t == "hexconv":
                m = HexConv(x0.shape[1], int(s["filters"]), int(s.get("radius", 1)), s.get("bias", "true") == "true")
            elif t == "reshape":
                m = Reshape(ints(s["shape"]))
            elif t == "permute":
                m = Permute(ints(s["order"]))
            elif t == "slice":
                stop = s.get("stop")
                m = Slice(int(s.get("axis", -1)), int(s.get("start", 0)), int(stop) if stop is not None else None)
            elif t in ("concat", "add"):
                m = None
            elif t in ACT:
                m = ACT[t]()
            else:
                raise SystemExit("physics_torch.py: layer type %s of %s is not supported" % (t, name))
            act = s.get("activation")
            self.order.append((name, t, ins, int(s.get("axis", 1)), act))
            if m is not None:
                self.mods[name] = m
            if act:
                self.mods[name + "_act"] = ACT[act]()
            with torch.no_grad():
                dummy[name] = self.run_one(name, t, ins, int(s.get("axis", 1)), act, dummy)
            prev = name
        self.out_name = prev

    def run_one(self, name, t, ins, axis, act, vals):
        if t == "concat":
            y = torch.cat([vals[i] for i in ins], dim=axis)
        elif t == "add":
            y = vals[ins[0]]
            for i in ins[1:]:
                y = y + vals[i]
        else:
            y = self.mods[name](vals[ins[0]])
        if act:
            y = self.mods[name + "_act"](y)
        return y

    def forward(self, x):
        vals = {"x": x}
        for name, t, ins, axis, act in self.order:
            vals[name] = self.run_one(name, t, ins, axis, act, vals)
        return vals[self.out_name]


def read_job(path):
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None, strict=True)
    cp.optionxform = str
    cp.read(path)
    layers = [(sec.split(".", 1)[1], dict(cp[sec])) for sec in cp.sections() if sec.startswith("model.")]
    return cp, layers


def names(v):
    return [s.strip() for s in v.split(",") if s.strip()] if v else []


def load(path, inputs, targets, log_inputs, layout="channels", labels=False):
    """x as cascade builds it: channels stacked on axis 1, or features concatenated on the
    last axis (an input with one axis fewer adds one feature per position); y the targets, or
    with labels the class indices as stored ((N) per event or (N, H, W) per pixel)."""
    with h5py.File(path, "r") as f:
        chans = []
        for k in inputs:
            a = f[k][:].astype(np.float32)
            if k in log_inputs:
                a = np.log10(1.0 + a)
            chans.append(a)
        if layout == "features":
            nd = max(c.ndim for c in chans)
            x = np.concatenate([c if c.ndim == nd else c[..., None] for c in chans], axis=-1)
        else:
            x = np.stack(chans, axis=1)
        if labels:
            y = f[targets[0]][:].astype(np.int64)
        else:
            y = np.concatenate([f[k][:].astype(np.float64).reshape(len(x), -1) for k in targets], axis=1)
    return x, y


def angular_loss(p, t):
    pn = p / p.norm(dim=1, keepdim=True)
    tn = t / t.norm(dim=1, keepdim=True)
    half = ((pn - tn).norm(dim=1) / 2).clamp(max=1.0)
    return (2 * torch.asin(half)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("job")
    ap.add_argument("--train", required=True)
    ap.add_argument("--valid")
    ap.add_argument("--test", required=True)
    ap.add_argument("--task", required=True, choices=["energy", "axis", "core", "xmax", "classify", "segment"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pred")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    cp, layers = read_job(a.job)
    d, tr, op = cp["data"], cp["train"], cp["optimizer"] if cp.has_section("optimizer") else {}
    inputs, targets, log_inputs = names(d["inputs"]), names(d["targets"]), names(d.get("log_inputs", ""))
    layout = d.get("layout", "channels")
    lossname = tr.get("loss", "mse")
    ce = lossname == "ce"
    x, y = load(a.train, inputs, targets, log_inputs, layout, ce)
    xt, yt = load(a.test, inputs, targets, log_inputs, layout, ce)
    if d.get("normalize", "none") == "standard":  # per channel, or per feature (last axis)
        ax = tuple(range(x.ndim - 1)) if layout == "features" else (0,) + tuple(range(2, x.ndim))
        mu, sd = x.mean(axis=ax, keepdims=True, dtype=np.float64), x.std(axis=ax, keepdims=True, dtype=np.float64)
        sd[sd < 1e-12] = 1.0  # a constant channel is only shifted, as cascade
        x, xt = (x - mu) / sd, (xt - mu) / sd
    if ce:  # class labels: no target normalisation
        ymu, ysd, yn = 0.0, 1.0, y
    else:
        ymu, ysd = np.zeros(y.shape[1]), np.ones(y.shape[1])
        if d.get("normalize_targets", "none") == "standard":
            ymu, ysd = y.mean(axis=0), y.std(axis=0)
        yn = ((y - ymu) / ysd).astype(np.float32)
    X, Y = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(yn)
    model = Net(layers, X.shape[1:])
    batch = int(tr.get("batch", 128))
    per_epoch = len(X) // batch
    steps = int(tr["steps"]) if "steps" in tr else int(tr["epochs"]) * per_epoch
    losses = {"mse": nn.MSELoss(), "mae": nn.L1Loss(), "huber": nn.HuberLoss(), "angular": angular_loss}
    if ce:  # mean over samples (and pixels); with weights divided by the batch's summed label weights
        w = tr.get("class_weights")
        losses["ce"] = nn.CrossEntropyLoss(weight=torch.tensor([float(v) for v in w.split(",")]) if w else None)
    lossf = losses[lossname]
    otype = op.get("type", "adam")
    lr = float(op.get("lr", 1e-3))
    kw = {}
    if "weight_decay" in op:
        kw["weight_decay"] = float(op["weight_decay"])
    if otype in ("adam", "adamw") and "betas" in op:
        kw["betas"] = tuple(float(b) for b in op["betas"].split(","))
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
           "rmsprop": torch.optim.RMSprop}[otype](model.parameters(), lr=lr, **kw)
    sched = op.get("schedule", "constant")
    warm = int(op.get("warmup", 0))
    min_lr = float(op.get("min_lr", 0))

    def lr_at(i):  # lr of update i (0-based), linear warm-up then the schedule
        if i < warm:
            return lr * (i + 1) / warm
        j, n = i - warm, max(1, steps - warm)
        if sched == "cosine":
            return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * j / n)) / 2
        if sched == "step":
            return lr * float(op.get("gamma", 0.1)) ** (j // int(op["step_size"]))
        return lr

    t0 = time.perf_counter()
    model.train()
    i, last = 0, float("nan")
    while i < steps:
        perm = torch.randperm(len(X))
        for b in range(per_epoch):
            if i >= steps:
                break
            idx = perm[b * batch:(b + 1) * batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(i)
            opt.zero_grad()
            loss = lossf(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            last = loss.item()
            i += 1
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(torch.from_numpy(xt[s:s + 1024].astype(np.float32)))
                         for s in range(0, len(xt), 1024)]).double().numpy()
    out = out * ysd + ymu
    with h5py.File(a.test, "r") as f:
        if a.task in lartpc_figures.LABEL:
            figs = lartpc_figures.figures(a.task, out, f)
        else:
            figs = shower_resolution.figures(a.task, out, f)
    if a.pred:
        with h5py.File(a.pred, "w") as f:
            f["output"] = out.astype(np.float32)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"framework": "torch " + torch.__version__, "steps": steps, "train_s": train_s,
                      "final_loss": last, "params": params, **figs}))


if __name__ == "__main__":
    main()
