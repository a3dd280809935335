"""conv1d/conv2d/conv3d = torch.nn.functional.conv{1,2,3}d (zero padding).

Covers strides 1/2/3, padding valid/same/N and per-axis lists, dilation, groups and
depthwise, odd sizes, batch 1, one channel, no bias, 1x1, the 9x9 physics shapes, several
sample blocks and one sample per block (large images), for the im2col path and the Winograd
path (3x3, stride 1, one group, >= 8 input channels)."""
import torch.nn.functional as F

from refutil import RefFile, out_path

FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def axes(v, nsp):
    """job-file value "3" or "3,5" -> torch argument 3 or (3, 5)."""
    items = [int(t) for t in str(v).split(",")]
    return items[0] if len(items) == 1 else tuple(items)


def case(r, nsp, n, cin, size, filters, kernel, stride=1, padding="valid", dilation=1, groups=1,
         bias=True, double=False, sn=False):
    spec = {"filters": filters, "kernel": kernel}
    if sn:
        spec["spectral_norm"] = "true"
    if stride != 1:
        spec["stride"] = stride
    if padding != "valid":
        spec["padding"] = padding
    if dilation != 1:
        spec["dilation"] = dilation
    if groups != 1:
        spec["groups"] = groups
    if not bias:
        spec["bias"] = "false"
    k = axes(kernel, nsp)
    k = (k,) * nsp if isinstance(k, int) else k
    wname = "weight_orig" if sn else "weight"
    params = {wname: r.rand(filters, cin // groups, *k)}
    if bias:
        params["bias"] = r.rand(filters)
    if sn:  # weight_orig / sigma, sigma = u^T W v over W as (filters, rest), u and v fixed
        params["weight_u"], params["weight_v"] = r.rand(filters), r.rand(params[wname][0].size)
    pad = padding if padding in ("valid", "same") else axes(padding, nsp)
    fn = FN[nsp]

    def weight(ps):
        w = ps[wname]
        return w / (ps["weight_u"] @ w.reshape(w.shape[0], -1) @ ps["weight_v"]) if sn else w

    r.case("conv%dd" % nsp, spec,
           lambda xs, ps: fn(xs[0], weight(ps), ps.get("bias"), stride=axes(stride, nsp),
                             padding=pad, dilation=axes(dilation, nsp), groups=groups),
           [r.rand(n, cin, *size)], params, double=double)


r = RefFile(out_path(), seed=3)
# conv1d
case(r, 1, 4, 3, (11,), 5, 3)
case(r, 1, 3, 3, (11,), 4, 3, stride=2, padding=1)
case(r, 1, 2, 2, (13,), 3, 4, stride=3, padding=2, dilation=2)
case(r, 1, 3, 2, (10,), 3, 4, padding="same")             # even kernel: extra pad at the end
case(r, 1, 2, 3, (9,), 2, 3, padding="same", dilation=2)
case(r, 1, 3, 4, (8,), 6, 3, groups=2)
case(r, 1, 2, 3, (8,), 6, 3, groups=3, padding=1)           # depthwise, multiplier 2
case(r, 1, 1, 1, (7,), 1, 2, bias=False)                    # batch 1, one channel, no bias
case(r, 1, 3, 5, (6,), 4, 1)                                 # 1x1
case(r, 1, 2, 8, (3000,), 8, 5, padding=2)                  # per-sample regime
# conv2d
case(r, 2, 6, 2, (9, 9), 8, 3, padding="same")              # physics-sized
case(r, 2, 3, 6, (9, 9), 5, 3, padding="same", groups=1)
case(r, 2, 40, 2, (9, 9), 4, 3, padding="same")             # several sample blocks
case(r, 2, 3, 2, (7, 5), 3, "3,5", padding="1,2")          # per-axis kernel and padding
case(r, 2, 3, 3, (7, 5), 4, 3, stride=2)
case(r, 2, 2, 2, (8, 7), 3, 3, stride=3, padding=1)
case(r, 2, 2, 2, (7, 9), 3, "2,3", stride="1,2", padding="0,1")
case(r, 2, 2, 2, (9, 9), 3, 3, padding="same", dilation=2)
case(r, 2, 2, 3, (9, 8), 2, 3, dilation="2,1", padding="2,0")
case(r, 2, 3, 4, (6, 7), 6, 3, groups=2, padding=1)
case(r, 2, 3, 3, (7, 5), 3, 3, groups=3, padding="same")   # depthwise
case(r, 2, 1, 1, (7, 5), 1, 3, bias=False)                  # batch 1, one channel, no bias
case(r, 2, 3, 5, (7, 5), 4, 1)                               # 1x1 (no im2col)
case(r, 2, 3, 5, (7, 5), 4, 1, stride=2)                     # 1x1 strided
case(r, 2, 2, 3, (6, 7), 3, "2,4", padding="same")         # even kernels, same
case(r, 2, 2, 2, (3, 3), 3, 2, padding=2)                    # padding wider than the kernel
case(r, 2, 2, 16, (30, 30), 8, 3, padding=1)                # per-sample regime
case(r, 2, 2, 16, (64, 64), 8, 1)                            # per-sample, 1x1 direct
case(r, 2, 2, 8, (40, 40), 6, 3, stride=2, groups=2)        # per-sample, groups, stride
# conv2d 3x3, stride 1, one group, >= 8 input channels: Winograd F(2x2, 3x3)
case(r, 2, 6, 8, (9, 9), 8, 3, padding="same")
case(r, 2, 3, 16, (7, 5), 12, 3)                            # odd sizes, no padding
case(r, 2, 2, 8, (8, 6), 4, 3, padding=2, bias=False)       # wide padding
case(r, 2, 2, 8, (6, 9), 5, 3, padding="1,0")              # per-axis padding
case(r, 2, 2, 8, (4, 4), 3, 3, padding=3)                    # padding wider than the kernel
case(r, 2, 1, 8, (5, 5), 3, 3, padding="same")             # batch 1
case(r, 2, 40, 8, (9, 9), 8, 3, padding="same")            # several sample blocks
case(r, 2, 12, 8, (7, 5), 6, 3, padding="1,2")             # blocks of 3, tiles past the edge
case(r, 2, 12, 9, (6, 9), 4, 3, bias=False)                 # blocks of 3, no padding
case(r, 2, 2, 8, (40, 40), 4, 3, padding="same")           # large image, one sample per block
# conv3d
case(r, 3, 3, 2, (5, 4, 6), 3, 3, padding=1)
case(r, 3, 2, 4, (6, 5, 7), 4, "3,2,3", stride="2,1,2", dilation="1,2,1", groups=2)
case(r, 3, 2, 2, (5, 5, 4), 3, 2, padding="same")
# double backward (WGAN-GP critics): the tangent is the forward on w without bias and the
# weight term the weight gradient of (w, dout), through the same paths as above
D = dict(double=True)
case(r, 1, 4, 3, (11,), 5, 3, **D)
case(r, 1, 3, 3, (11,), 4, 3, stride=2, padding=1, **D)
case(r, 1, 2, 2, (13,), 3, 4, stride=3, padding=2, dilation=2, **D)
case(r, 1, 3, 4, (8,), 6, 3, groups=2, **D)
case(r, 1, 2, 3, (8,), 6, 3, groups=3, padding=1, bias=False, **D)  # depthwise
case(r, 1, 3, 5, (6,), 4, 1, **D)                                     # 1x1, one block per sample
case(r, 1, 2, 8, (3000,), 8, 5, padding=2, **D)                      # per-sample regime
case(r, 2, 6, 2, (9, 9), 8, 3, padding="same", **D)
case(r, 2, 40, 2, (9, 9), 4, 3, padding="same", **D)                 # several sample blocks
case(r, 2, 3, 2, (7, 5), 3, "3,5", padding="1,2", **D)
case(r, 2, 3, 3, (7, 5), 4, 3, stride=2, **D)
case(r, 2, 2, 2, (8, 7), 3, 3, stride=3, padding=1, **D)
case(r, 2, 2, 2, (9, 9), 3, 3, padding="same", dilation=2, **D)
case(r, 2, 3, 4, (6, 7), 6, 3, groups=2, padding=1, **D)
case(r, 2, 3, 3, (7, 5), 3, 3, groups=3, padding="same", **D)       # depthwise
case(r, 2, 1, 1, (7, 5), 1, 3, bias=False, **D)
case(r, 2, 3, 5, (7, 5), 4, 1, **D)                                  # 1x1 direct
case(r, 2, 2, 16, (64, 64), 8, 1, **D)                               # per-sample, 1x1 direct
case(r, 2, 2, 8, (40, 40), 6, 3, stride=2, groups=2, **D)           # per-sample, groups, stride
case(r, 2, 6, 8, (9, 9), 8, 3, padding="same", **D)                # Winograd, blocks of samples
case(r, 2, 3, 16, (7, 5), 12, 3, **D)                               # Winograd, odd sizes
case(r, 2, 12, 8, (7, 5), 6, 3, padding="1,2", **D)                # Winograd, tiles past the edge
case(r, 2, 2, 8, (40, 40), 4, 3, padding="same", **D)              # Winograd, one sample per block
case(r, 3, 3, 2, (5, 4, 6), 3, 3, padding=1, **D)
case(r, 3, 2, 4, (6, 5, 7), 4, "3,2,3", stride="2,1,2", dilation="1,2,1", groups=2, **D)
case(r, 3, 2, 2, (5, 5, 4), 3, 2, padding="same", bias=False, **D)
# spectral_norm (forward, backward through sigma, double backward)
case(r, 1, 3, 3, (9,), 4, 3, padding=1, sn=True, **D)
case(r, 2, 3, 2, (7, 6), 3, 3, stride=2, sn=True, **D)
case(r, 2, 2, 8, (9, 9), 6, 3, padding="same", sn=True, **D)       # Winograd
case(r, 2, 3, 4, (6, 7), 6, 3, groups=2, padding=1, bias=False, sn=True, **D)
case(r, 3, 2, 2, (5, 4, 6), 3, 3, padding=1, sn=True, **D)
r.close()
