"""PyTorch side of bench/vs_torch.sh: the same model, data and optimizer as the cascade job,
timed over the same number of steps. Prints one JSON line."""
import argparse
import json
import time

import h5py
import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=60)
p.add_argument("--warmup", type=int, default=10)
p.add_argument("--batch", type=int, default=128)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
with h5py.File(a.data, "r") as f:
    x = np.stack([f["time"][:], f["signal"][:]], axis=1).astype(np.float32)
    y = f["logE"][:].astype(np.float32)[:, None]
x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / x.std(axis=(0, 2, 3), keepdims=True)
x, y = torch.from_numpy(x), torch.from_numpy(y)
model = nn.Sequential(
    nn.Conv2d(2, 32, 3, padding="same"), nn.ReLU(),
    nn.Conv2d(32, 32, 3, padding="same"), nn.ReLU(),
    nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(),
    nn.Flatten(), nn.Linear(64 * 81, 128), nn.ReLU(), nn.Linear(128, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
lossf = nn.MSELoss()
n = x.shape[0]


def step(i):
    s = (i * a.batch) % (n - a.batch + 1)
    opt.zero_grad()
    loss = lossf(model(x[s:s + a.batch]), y[s:s + a.batch])
    loss.backward()
    opt.step()
    return loss.item()


for i in range(a.warmup):
    step(i)
t0 = time.perf_counter()
for i in range(a.steps):
    last = step(i)
dt = time.perf_counter() - t0
print(json.dumps({"threads": a.threads, "samples_per_s": a.steps * a.batch / dt, "loss": last}))
