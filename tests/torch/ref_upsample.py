"""upsample = torch.nn.functional.interpolate(scale_factor=...) with integer scales:
nearest, and 'bilinear' as linear/bilinear/trilinear for 1/2/3-D (align_corners=False).
Covers scales 1/2/3/4 and per-axis scales, odd sizes, size-1 axes, batch 1, one channel."""
import torch.nn.functional as F

from refutil import RefFile, out_path

LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def case(r, n, c, size, scale=None, mode=None, double=False):
    nsp = len(size)
    spec = {}
    if scale is not None:
        spec["scale"] = scale
    if mode is not None:
        spec["mode"] = mode
    items = [int(t) for t in str(2 if scale is None else scale).split(",")]
    factor = tuple(float(v) for v in items) if len(items) == nsp else float(items[0])
    torch_mode = LINEAR[nsp] if mode == "bilinear" else "nearest"
    extra = {"align_corners": False} if mode == "bilinear" else {}
    r.case("upsample", spec,
           lambda xs, ps: F.interpolate(xs[0], scale_factor=factor, mode=torch_mode, **extra),
           [r.rand(n, c, *size)], double=double)


r = RefFile(out_path(), seed=7)
for mode in (None, "nearest", "bilinear"):
    # 1-D
    case(r, 3, 2, (7,), mode=mode)
    case(r, 2, 3, (5,), scale=3, mode=mode)
    case(r, 1, 1, (1,), scale=4, mode=mode)                   # one element, batch 1, one channel
    # 2-D
    case(r, 3, 2, (5, 7), mode=mode)
    case(r, 2, 3, (4, 3), scale=3, mode=mode)
    case(r, 2, 2, (3, 5), scale="2,3", mode=mode)
    case(r, 2, 2, (4, 3), scale="1,4", mode=mode)
    case(r, 1, 1, (1, 6), scale=2, mode=mode)                 # height 1, batch 1, one channel
    case(r, 2, 3, (9, 9), scale=1, mode=mode)                 # identity
    # 3-D
    case(r, 2, 2, (3, 4, 5), mode=mode)
    case(r, 2, 2, (2, 3, 3), scale="3,1,2", mode=mode)
    case(r, 1, 1, (3, 1, 2), scale=3, mode=mode)
case(r, 2, 4, (40, 40), scale=2, mode="bilinear")            # large enough for threads
# double backward (WGAN-GP critics): the tangent is the forward on w
for mode in ("nearest", "bilinear"):
    case(r, 3, 2, (7,), mode=mode, double=True)
    case(r, 2, 2, (3, 5), scale="2,3", mode=mode, double=True)
    case(r, 2, 3, (4, 3), scale=3, mode=mode, double=True)
    case(r, 2, 2, (2, 3, 3), scale="3,1,2", mode=mode, double=True)
r.close()
