"""layernorm = torch.nn.functional.layer_norm over the FULL per-sample shape
(torch.nn.LayerNorm(normalized_shape = x.shape[1:])), with and without affine parameters.

Training and eval are the same op (no batch or running statistics); one eval case checks it."""
import numpy as np
import torch.nn.functional as F

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=11)


def ln(shape, eps):
    return lambda xs, ps: F.layer_norm(xs[0], shape, ps.get("weight"), ps.get("bias"), eps)


def case(n, shape, affine=True, eps=None, offset=0.0, scale=1.0, training=True, double=False, **tol):
    spec = {}
    if eps is not None:
        spec["eps"] = eps
    if not affine:
        spec["affine"] = "false"
    params = {}
    if affine:
        params = {"weight": r.rand(*shape, low=0.5, high=1.5), "bias": r.rand(*shape)}
    x = (r.rand(n, *shape) * scale + offset).astype(np.float32).astype(np.float64)  # as stored
    r.case("layernorm", spec, ln(shape, 1e-5 if eps is None else eps), [x], params,
           training=training, double=double, **tol)


case(4, (7,))                                   # (F)
case(3, (4, 9))                                 # (C, L)
case(2, (3, 5, 6))                              # (C, H, W)
case(2, (2, 3, 4, 5))                           # (C, D, H, W)
case(5, (6,), affine=False)
case(2, (3, 5, 4), affine=False)
case(1, (3, 5, 6))                              # batch 1
case(1, (11,), affine=False)                    # batch 1, no affine
case(3, (1, 9))                                 # one channel
case(2, (2,))                                   # two values per sample
case(3, (300,))                                 # more than one parameter-gradient block
case(4, (3, 6), offset=100.0, scale=0.5)        # |mean| >> std
case(3, (2, 8), offset=-1000.0, scale=0.01)     # |mean| >> std, harder
case(4, (3, 7), eps=1e-3)
case(3, (5,), eps=0.5, affine=False)            # eps comparable to the variance
case(4, (3, 7), training=False)                 # eval: the same op
# double backward (WGAN-GP critics): the second-order term in x is nonzero
D = dict(double=True)
case(4, (7,), **D)
case(3, (4, 9), **D)
case(2, (3, 5, 6), **D)
case(2, (2, 3, 4, 5), **D)
case(5, (6,), affine=False, **D)
case(2, (3, 5, 4), affine=False, **D)
case(1, (3, 5, 6), **D)
case(3, (1, 9), **D)
case(2, (2,), **D)
case(3, (300,), **D)                            # more than one parameter-gradient block
case(4, (3, 6), offset=100.0, scale=0.5, **D)   # |mean| >> std
case(4, (3, 7), eps=1e-3, **D)
case(3, (5,), eps=0.5, affine=False, **D)
r.close()
