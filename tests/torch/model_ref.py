"""Whole-model reference: conv + batchnorm + maxpool + dense trained 20 steps with Adam in
PyTorch (float32). Writes the data set, the initial weights as a state_dict-style HDF5
(/params/model/LAYER/PARAM, no attributes: what `cascade train --init` must accept) and the
final parameters for comparison. Usage: model_ref.py OUTDIR"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

out = sys.argv[1]
torch.manual_seed(5)
rng = np.random.default_rng(5)
n, steps, batch = 320, 20, 16
x = rng.normal(size=(n, 2, 9, 9)).astype(np.float32)
y = (x[:, 0, 3:6, 3:6].mean(axis=(1, 2)) - 0.5 * x[:, 1].mean(axis=(1, 2))).astype(np.float32)
with h5py.File(os.path.join(out, "data.h5"), "w") as f:
    f["a"] = x[:, 0]
    f["b"] = x[:, 1]
    f["y"] = y

model = nn.ModuleDict({
    "conv": nn.Conv2d(2, 4, 3, padding="same", bias=False),  # a bias before BN has no gradient: Adam would amplify rounding noise
    "bn": nn.BatchNorm2d(4),
    "fc": nn.Linear(64, 8),
    "out": nn.Linear(8, 1),
})


def forward(t):
    h = torch.relu(model["bn"](model["conv"](t)))
    h = nn.functional.max_pool2d(h, 2).flatten(1)
    return model["out"](torch.relu(model["fc"](h)))


def dump(path):
    with h5py.File(path, "w") as f:
        for name, mod in model.items():
            for k, v in mod.state_dict().items():
                if k != "num_batches_tracked":
                    f["params/model/%s/%s" % (name, k)] = v.detach().numpy()


dump(os.path.join(out, "init.h5"))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
xt, yt = torch.from_numpy(x), torch.from_numpy(y)[:, None]
for s in range(steps):
    opt.zero_grad()
    loss = nn.functional.mse_loss(forward(xt[s * batch:(s + 1) * batch]), yt[s * batch:(s + 1) * batch])
    loss.backward()
    opt.step()
dump(os.path.join(out, "final.h5"))
print("torch final loss %.6f" % loss.item())
