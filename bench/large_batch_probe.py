#!/usr/bin/python3
"""Probes of an airshower-energy checkpoint for the large-batch study (docs/scaling.md,
"Large batch: the air-shower energy job"). Runs jobs/airshower-energy.ini's net in torch
(c1, c2, c3: conv 3x3 same + relu; maxpool 2; fc 128 + relu; out 1) with the checkpoint's
parameters and normalisation (inputs time and log10(1 + signal), standardised; target logE
standardised; loss MSE as cascade's).

Usage:
  large_batch_probe.py dead  CHECKPOINT.h5 SHOWERS.h5 [--pred PRED.h5] [-n N]
  large_batch_probe.py noise CHECKPOINT.h5 SHOWERS.h5 [-n N] [--small B]

dead:  per ReLU layer the units (channels for the convolutions) that are zero on every one of
       the first N showers, and the fraction of fc units active per shower. With --pred
       (cascade predict's output for the same file) the outputs are checked first (exit 3 if
       they differ by more than 1e-3 in logE: the net is not the job's).
noise: the gradient noise scale B_simple = tr(Sigma) / |G|^2 of McCandlish et al. 2018
       ("An empirical model of large-batch training", appendix A: unbiased estimates of |G|^2
       and tr(Sigma) from gradients at two batch sizes, here B = --small (32) and B = N).
       Sigma is the per-sample gradient covariance, G the full gradient. Batches much larger
       than B_simple make each update hardly better than one at B_simple: for a fixed number
       of epochs they mean proportionally fewer useful updates.
One JSON line on stdout.
"""
import argparse
import json
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

NAMES = ("c1", "c2", "c3", "fc", "out")


def load(checkpoint, showers, n):
    with h5py.File(checkpoint, "r") as ck, h5py.File(showers, "r") as sh:
        p = {f"{k}/{w}": torch.from_numpy(ck[f"params/model/{k}/{w}"][()]).requires_grad_()
             for k in NAMES for w in ("weight", "bias")}
        nrm = lambda k: (ck[f"normalization/{k}/mean"][0], ck[f"normalization/{k}/std"][0])
        t = sh["time"][:n].astype(np.float32)
        s = np.log10(1.0 + sh["signal"][:n].astype(np.float32))
        y = sh["logE"][:n].astype(np.float32)
        (tm, ts), (sm, ss) = nrm("time"), nrm("signal")
        ym, ys = ck["normalization_targets/mean"][0], ck["normalization_targets/std"][0]
    x = torch.from_numpy(np.stack([(t - tm) / ts, (s - sm) / ss], axis=1))
    return p, x, torch.from_numpy((y - ym) / ys), (ym, ys)


def forward(p, x):
    h1 = F.relu(F.conv2d(x, p["c1/weight"], p["c1/bias"], padding=1))
    h2 = F.relu(F.conv2d(h1, p["c2/weight"], p["c2/bias"], padding=1))
    h3 = F.relu(F.conv2d(h2, p["c3/weight"], p["c3/bias"], padding=1))
    f = F.relu(F.linear(F.max_pool2d(h3, 2).flatten(1), p["fc/weight"], p["fc/bias"]))
    return F.linear(f, p["out/weight"], p["out/bias"])[:, 0], (h1, h2, h3, f)


def dead(a):
    p, x, _, (ym, ys) = load(a.checkpoint, a.showers, a.n)
    with torch.no_grad():
        out, hs = forward(p, x)
    if a.pred:
        with h5py.File(a.pred, "r") as pr:
            ref = pr["output"][: a.n, 0]
        err = float(np.max(np.abs(out.numpy() * ys + ym - ref)))
        if err > 1e-3:
            print(f"large_batch_probe.py: outputs differ from {a.pred} by up to {err:.3g}",
                  file=sys.stderr)
            sys.exit(3)
    zero = lambda h: int((h.amax(dim=tuple(d for d in range(h.dim()) if d != 1)) == 0).sum())
    return {"dead": {k: [zero(h), h.shape[1]] for k, h in zip(NAMES, hs)},
            "fc_active_per_shower": round(float((hs[3] > 0).float().mean()), 4)}


def flat_grad(p, x, y):
    for v in p.values():
        v.grad = None
    out, _ = forward(p, x)
    F.mse_loss(out, y).backward()
    return torch.cat([v.grad.reshape(-1) for v in p.values()]).double()


def noise(a):
    p, x, y, _ = load(a.checkpoint, a.showers, a.n)
    b, n = a.small, (a.n // a.small) * a.small
    small = [flat_grad(p, x[i:i + b], y[i:i + b]).square().sum().item() for i in range(0, n, b)]
    g_small = float(np.mean(small))                 # E|G_b|^2 = |G|^2 + tr(S)/b
    g_big = flat_grad(p, x[:n], y[:n]).square().sum().item()  # |G_n|^2 = |G|^2 + tr(S)/n
    g2 = (n * g_big - b * g_small) / (n - b)
    tr = (g_small - g_big) / (1.0 / b - 1.0 / n)
    return {"samples": n, "small_batch": b, "grad_sq": g2, "trace_sigma": tr,
            "B_simple": tr / g2 if g2 > 0 else None,
            "loss": float(F.mse_loss(forward(p, x[:n])[0], y[:n]).item())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("probe", choices=("dead", "noise"))
    ap.add_argument("checkpoint")
    ap.add_argument("showers")
    ap.add_argument("--pred")
    ap.add_argument("-n", type=int, default=None)
    ap.add_argument("--small", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.n is None:
        a.n = 5000 if a.probe == "dead" else 20000
    r = dead(a) if a.probe == "dead" else noise(a)
    print(json.dumps({"probe": a.probe, "checkpoint": a.checkpoint, "showers": a.n, **r}))


if __name__ == "__main__":
    main()
