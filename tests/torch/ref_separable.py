"""separable2d = a depthwise torch conv2d (groups = C, C*m outputs, no bias) followed by a
pointwise 1x1 conv2d with bias: F.conv2d(F.conv2d(x, dw, groups=C, stride, padding), pw, b).

Covers depth multipliers 1-3, strides, padding valid/same/N and per-axis lists, non-square
kernels, odd sizes, one channel, batch 1, no bias, the 9x9 physics shape and several sample
blocks."""
import torch.nn.functional as F

from refutil import RefFile, out_path


def axes(v):
    """job-file value "3" or "3,5" -> torch argument 3 or (3, 5)."""
    items = [int(t) for t in str(v).split(",")]
    return items[0] if len(items) == 1 else tuple(items)


def case(r, n, cin, size, filters, kernel, multiplier=1, stride=1, padding="valid", bias=True,
         double=False):
    spec = {"filters": filters, "kernel": kernel}
    if multiplier != 1:
        spec["depth_multiplier"] = multiplier
    if stride != 1:
        spec["stride"] = stride
    if padding != "valid":
        spec["padding"] = padding
    if not bias:
        spec["bias"] = "false"
    k = axes(kernel)
    k = (k, k) if isinstance(k, int) else k
    mid = cin * multiplier
    params = {"depthwise_weight": r.rand(mid, 1, *k), "pointwise_weight": r.rand(filters, mid, 1, 1)}
    if bias:
        params["bias"] = r.rand(filters)
    pad = padding if padding in ("valid", "same") else axes(padding)

    def fn(xs, ps):
        y = F.conv2d(xs[0], ps["depthwise_weight"], None, stride=axes(stride), padding=pad, groups=cin)
        return F.conv2d(y, ps["pointwise_weight"], ps.get("bias"))

    r.case("separable2d", spec, fn, [r.rand(n, cin, *size)], params, double=double)


r = RefFile(out_path(), seed=11)
case(r, 4, 3, (9, 9), 8, 3, padding="same")                 # physics-sized
case(r, 3, 2, (9, 9), 5, 3, multiplier=2, padding="same")
case(r, 2, 3, (7, 5), 4, 3, multiplier=3)                    # valid, odd sizes
case(r, 3, 2, (7, 5), 3, "3,5", padding="1,2")              # per-axis kernel and padding
case(r, 2, 3, (8, 7), 4, 3, stride=2, padding=1)
case(r, 2, 2, (9, 8), 3, "2,3", stride="1,2", multiplier=2)
case(r, 2, 2, (6, 7), 3, "2,4", padding="same")             # even kernels, same
case(r, 1, 1, (7, 5), 1, 3, bias=False)                      # batch 1, one channel, no bias
case(r, 1, 4, (5, 5), 2, 3, multiplier=2, padding="same", bias=False)
case(r, 2, 2, (3, 3), 3, 2, padding=2)                       # padding wider than the kernel
case(r, 40, 3, (9, 9), 4, 3, padding="same")                # several sample blocks
case(r, 2, 8, (20, 20), 6, 5, stride=2, padding=2)          # larger image
# double backward (WGAN-GP critics)
D = dict(double=True)
case(r, 4, 3, (9, 9), 8, 3, padding="same", **D)
case(r, 2, 3, (7, 5), 4, 3, multiplier=3, **D)
case(r, 2, 3, (8, 7), 4, 3, stride=2, padding=1, **D)
case(r, 1, 4, (5, 5), 2, 3, multiplier=2, padding="same", bias=False, **D)
case(r, 40, 3, (9, 9), 4, 3, padding="same", **D)
r.close()
