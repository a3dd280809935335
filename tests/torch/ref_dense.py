"""dense = torch.nn.functional.linear over the last axis."""
import torch.nn.functional as F

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=1)
for n, shape, units, bias in [(4, (7,), 5, True), (3, (1,), 1, True), (5, (6,), 3, False),
                              (2, (3, 9), 4, True), (1, (33,), 17, True)]:
    fin = shape[-1]
    params = {"weight": r.rand(units, fin)}
    if bias:
        params["bias"] = r.rand(units)
    r.case("dense", {"units": units, "bias": str(bias).lower()},
           lambda xs, ps: F.linear(xs[0], ps["weight"], ps.get("bias")),
           [r.rand(n, *shape)], params)
# double backward (WGAN-GP critics)
for n, shape, units, bias in [(4, (7,), 5, True), (2, (3, 6), 4, False)]:
    params = {"weight": r.rand(units, shape[-1])}
    if bias:
        params["bias"] = r.rand(units)
    r.case("dense", {"units": units, "bias": str(bias).lower()},
           lambda xs, ps: F.linear(xs[0], ps["weight"], ps.get("bias")),
           [r.rand(n, *shape)], params, double=True)
# spectral_norm: weight_orig / sigma, sigma = u^T W v with the buffers u, v fixed (their power
# iteration is a separate step); the gradient flows through sigma as torch's spectral_norm
for n, shape, units, bias in [(4, (7,), 5, True), (3, (2, 6), 3, False)]:
    params = {"weight_orig": r.rand(units, shape[-1])}
    if bias:
        params["bias"] = r.rand(units)
    params["weight_u"], params["weight_v"] = r.rand(units), r.rand(shape[-1])

    def sn_linear(xs, ps):
        w = ps["weight_orig"]
        return F.linear(xs[0], w / (ps["weight_u"] @ w @ ps["weight_v"]), ps.get("bias"))

    r.case("dense", {"units": units, "bias": str(bias).lower(), "spectral_norm": "true"}, sn_linear,
           [r.rand(n, *shape)], params, double=True)
r.close()
