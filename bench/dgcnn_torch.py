"""PyTorch side of bench/dgcnn_vs_torch.sh: the DGCNN of jobs/skymap-dgcnn.ini (three EdgeConv
layers 8/16/32 with three-layer edge MLPs, relu + batch norm after each, k = 8, mean over the
neighbours; the first two on the sky coordinates = features 0..2 of the normalised input, the
third dynamic; global average pooling, 2 logits, cross-entropy, Adam 1e-3) trained on the same
sky maps with the same batch, timed over the same number of steps. The kNN is the usual dense
one: torch.cdist, the point itself excluded, topk, then a gather of the neighbours' features.
Prints one JSON line: threads, samples_per_s, first and last loss, parameter count."""
import argparse
import json
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--k", type=int, default=8)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
with h5py.File(a.data, "r") as f:
    x = f["events"][:].astype(np.float32)
    y = f["label"][:].astype(np.int64)
# normalize = standard: per feature over all maps and cosmic rays of the training set
x = (x - x.mean(axis=(0, 1), keepdims=True)) / x.std(axis=(0, 1), keepdims=True)
x, y = torch.from_numpy(x), torch.from_numpy(y)


def knn(coords, k):
    """(n, P, G) -> (n, P, k) indices of the k nearest points, the point itself excluded."""
    d = torch.cdist(coords, coords)
    d.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return d.topk(k, dim=-1, largest=False).indices


class EdgeConv(nn.Module):
    def __init__(self, features, units, k):
        super().__init__()
        self.k = k
        widths = [2 * features] + units
        self.linears = nn.ModuleList(nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:]))
        # BatchNorm over the channel of the (n, P, k, u) edge tensor = BatchNorm2d on (n, u, P, k)
        self.norms = nn.ModuleList(nn.BatchNorm1d(u) for u in units)

    def forward(self, h, coords):
        n, P, F_ = h.shape
        idx = knn(coords.detach(), self.k)
        flat = (idx + (torch.arange(n) * P).view(n, 1, 1)).reshape(-1)
        xj = h.reshape(n * P, F_)[flat].view(n, P, self.k, F_)
        xi = h.unsqueeze(2).expand(n, P, self.k, F_)
        e = torch.cat([xi, xj - xi], dim=-1)
        for lin, bn in zip(self.linears, self.norms):
            e = bn(F.relu(lin(e)).reshape(-1, lin.out_features)).view(n, P, self.k, lin.out_features)
        return e.mean(dim=2)


class DGCNN(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.ec1 = EdgeConv(4, [8, 8, 8], k)
        self.ec2 = EdgeConv(8, [16, 16, 16], k)
        self.ec3 = EdgeConv(16, [32, 32, 32], k)
        self.out = nn.Linear(32, 2)

    def forward(self, x):
        sky = x[..., 0:3]
        h = self.ec1(x, sky)
        h = self.ec2(h, sky)
        h = self.ec3(h, h)
        return self.out(h.mean(dim=1))


model = DGCNN(a.k)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
n = x.shape[0]


def step(i):
    s = (i * a.batch) % (n - a.batch + 1)
    opt.zero_grad()
    loss = F.cross_entropy(model(x[s:s + a.batch]), y[s:s + a.batch])
    loss.backward()
    opt.step()
    return loss.item()


first = step(0)
for i in range(1, a.warmup):
    step(i)
t0 = time.perf_counter()
for i in range(a.steps):
    last = step(a.warmup + i)
dt = time.perf_counter() - t0
params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers() if b.dtype.is_floating_point)
print(json.dumps({"threads": a.threads, "samples_per_s": a.steps * a.batch / dt, "first_loss": first,
                  "loss": last, "parameters_and_buffers": params}))
