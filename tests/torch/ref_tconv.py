"""conv1d_transpose/conv2d_transpose = torch.nn.functional.conv_transpose{1,2}d (groups 1).

Covers strides 1/2/3, padding, output_padding (per axis too), kernels smaller and larger than
the stride, odd sizes, per-axis kernel/stride/padding, batch 1, one channel, no bias, 1x1,
several sample blocks and one sample per block (large inputs)."""
import torch.nn.functional as F

from refutil import RefFile, out_path

FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


def axes(v, nsp):
    """job-file value "3" or "3,5" -> tuple of one per spatial axis."""
    items = [int(t) for t in str(v).split(",")]
    return tuple(items) if len(items) == nsp else (items[0],) * nsp


def case(r, nsp, n, cin, size, filters, kernel, stride=1, padding=0, output_padding=0, bias=True,
         double=False):
    spec = {"filters": filters, "kernel": kernel}
    if stride != 1:
        spec["stride"] = stride
    if padding != 0:
        spec["padding"] = padding
    if output_padding != 0:
        spec["output_padding"] = output_padding
    if not bias:
        spec["bias"] = "false"
    params = {"weight": r.rand(cin, filters, *axes(kernel, nsp))}  # [in, out, k...]
    if bias:
        params["bias"] = r.rand(filters)
    fn = FN[nsp]
    r.case("conv%dd_transpose" % nsp, spec,
           lambda xs, ps: fn(xs[0], ps["weight"], ps.get("bias"), stride=axes(stride, nsp),
                             padding=axes(padding, nsp), output_padding=axes(output_padding, nsp)),
           [r.rand(n, cin, *size)], params, double=double)


r = RefFile(out_path(), seed=5)
# conv1d_transpose
case(r, 1, 4, 3, (11,), 5, 3)
case(r, 1, 3, 3, (7,), 4, 3, stride=2, padding=1, output_padding=1)
case(r, 1, 2, 2, (6,), 3, 4, stride=3, padding=2, output_padding=2)
case(r, 1, 3, 2, (5,), 3, 2, stride=3)                        # kernel smaller than the stride
case(r, 1, 1, 1, (7,), 1, 3, stride=2, bias=False)           # batch 1, one channel, no bias
case(r, 1, 3, 5, (6,), 4, 1)                                   # 1x1
case(r, 1, 2, 3, (8,), 2, 3, padding=1)                        # output as long as the input
case(r, 1, 2, 4, (2000,), 3, 5, stride=2, padding=2)          # one sample per block
# conv2d_transpose
case(r, 2, 3, 2, (5, 5), 4, 3)
case(r, 2, 6, 8, (9, 9), 8, 4, stride=2, padding=1)           # the usual 2x upsampling
case(r, 2, 3, 3, (4, 5), 2, 3, stride=2, padding=1, output_padding=1)
case(r, 2, 2, 2, (3, 4), 3, 3, stride=3, padding=1, output_padding=2)
case(r, 2, 2, 3, (5, 3), 2, "2,3", stride="1,2", padding="0,1", output_padding="0,1")
case(r, 2, 2, 2, (3, 4), 3, "3,5", stride="3,2", padding="2,1", output_padding="1,0")
case(r, 2, 2, 2, (4, 3), 2, 2, stride=3)                       # gaps between the patches
case(r, 2, 2, 2, (5, 5), 3, 5, padding=4)                      # padding wider than kernel - 1
case(r, 2, 1, 1, (5, 7), 1, 3, stride=2, bias=False)          # batch 1, one channel, no bias
case(r, 2, 3, 5, (7, 5), 4, 1)                                 # 1x1
case(r, 2, 2, 3, (6, 5), 4, 3, padding=1)                      # output shaped as the input
case(r, 2, 2, 3, (1, 1), 4, 3, stride=2)                       # 1x1 input
case(r, 2, 3, 5, (4, 5), 4, 1, stride=2, output_padding=1)    # 1x1 strided
case(r, 2, 40, 3, (7, 5), 4, 3, stride=2, padding=1)          # several sample blocks
case(r, 2, 2, 4, (40, 40), 3, 3, stride=2, padding=1, output_padding=1)  # one sample per block
# double backward (WGAN-GP critics): the tangent is the forward on w without bias, the weight
# term the weight gradient of (w, dout)
D = dict(double=True)
case(r, 1, 4, 3, (11,), 5, 3, **D)
case(r, 1, 3, 3, (7,), 4, 3, stride=2, padding=1, output_padding=1, **D)
case(r, 1, 1, 1, (7,), 1, 3, stride=2, bias=False, **D)
case(r, 1, 2, 4, (2000,), 3, 5, stride=2, padding=2, **D)      # one sample per block
case(r, 2, 6, 8, (9, 9), 8, 4, stride=2, padding=1, **D)
case(r, 2, 2, 3, (5, 3), 2, "2,3", stride="1,2", padding="0,1", output_padding="0,1", **D)
case(r, 2, 2, 2, (4, 3), 2, 2, stride=3, **D)                  # gaps between the patches
case(r, 2, 3, 5, (7, 5), 4, 1, **D)                            # 1x1
case(r, 2, 40, 3, (7, 5), 4, 3, stride=2, padding=1, **D)     # several sample blocks
r.close()
