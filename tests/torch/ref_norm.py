"""batchnorm = torch.nn.functional.batch_norm (BatchNorm1d/2d/3d) in training and eval mode.

Training cases check the running statistics after the update (param_after/running_*).
Training on input (C) with batch 1 (one value per channel) is an error in torch, so it has
no case here; tests/unit/test_norm.c checks our graceful handling (variance 0)."""
import numpy as np
import torch.nn.functional as F

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=3)


def bn(momentum, eps, training):
    return lambda xs, ps: F.batch_norm(xs[0], ps["running_mean"], ps["running_var"], ps["weight"],
                                       ps["bias"], training, momentum, eps)


def case(n, shape, training=True, momentum=None, eps=None, offset=0.0, scale=1.0):
    ch = shape[0]
    spec = {}
    if momentum is not None:
        spec["momentum"] = momentum
    if eps is not None:
        spec["eps"] = eps
    params = {"weight": r.rand(ch, low=0.5, high=1.5), "bias": r.rand(ch),
              "running_mean": r.rand(ch), "running_var": r.rand(ch, low=0.5, high=2.0)}
    x = (r.rand(n, *shape) * scale + offset).astype(np.float32).astype(np.float64)  # as stored
    r.case("batchnorm", spec, bn(0.1 if momentum is None else momentum,
                                 1e-5 if eps is None else eps, training),
           [x], params, training=training)


for training in (True, False):
    case(8, (5,), training)                     # BatchNorm1d on (N, C)
    case(4, (3, 7), training)                   # BatchNorm1d on (N, C, L)
    case(2, (4, 5, 6), training)                # BatchNorm2d
    case(2, (2, 3, 4, 5), training)             # BatchNorm3d
case(1, (3, 4, 5))                              # batch 1, spatial > 1: valid in torch
case(3, (1, 9))                                 # one channel
case(2, (5,))                                   # two values per channel
case(1, (2, 1, 3))                              # batch 1, odd spatial
case(4, (3, 7), momentum=0.3, eps=1e-3)
case(4, (3, 7), training=False, eps=1e-3)
case(5, (2, 3), momentum=0.0)                   # running stats unchanged
case(5, (2, 3), momentum=1.0)                   # running stats = batch stats
case(4, (3, 6), offset=100.0, scale=0.5)        # |mean| >> std
r.close()
