"""softmax = torch.softmax(x, dim=axis) on the (N, ...) tensor (axis counts the batch axis)."""
import torch

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=4)


def case(n, shape, axis=None, low=-3.0, high=3.0, double=False):
    spec = {} if axis is None else {"axis": axis}
    dim = 1 if axis is None else axis
    r.case("softmax", spec, lambda xs, ps: torch.softmax(xs[0], dim=dim),
           [r.rand(n, *shape, low=low, high=high)], double=double)


case(4, (10,))                       # (N, classes), default axis 1
case(2, (3, 4, 5))                   # over channels of (N, C, H, W)
case(2, (3, 4, 5), axis=-1)
case(2, (3, 4, 5), axis=2)
case(3, (4, 6), axis=-2)
case(1, (7,))                        # batch 1
case(3, (1, 5))                      # one channel: output 1, gradient 0
case(2, (6, 3), low=-40, high=40)    # large logits: needs the max subtraction
case(2, (2, 3, 2, 3), axis=4)
# double backward: second-order terms through the output
case(4, (10,), double=True)
case(2, (3, 4, 5), double=True)
case(2, (3, 4, 5), axis=-1, double=True)
case(3, (4, 6), axis=-2, double=True)
case(3, (1, 5), double=True)
case(2, (2, 3, 2, 3), axis=4, double=True)
r.close()
