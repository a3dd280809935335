"""flatten = torch.flatten(x, 1); reshape = x.reshape(n, *shape); add = sum of the inputs;
concat = torch.cat(xs, dim=axis) with axis counting the batch axis."""
import torch

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=4)
for n, shape in [(3, (4, 5)), (2, (2, 3, 4)), (1, (7,)), (2, (2, 2, 3, 2))]:
    r.case("flatten", {}, lambda xs, ps: torch.flatten(xs[0], 1), [r.rand(n, *shape)])

for n, shape, target in [(3, (4, 6), "6,-1"), (2, (2, 3, 4), "-1"), (1, (12,), "3,2,2"),
                         (2, (6, 5), "5,-1,2"), (2, (4, 3), "12")]:
    dims = [int(t) for t in target.split(",")]
    r.case("reshape", {"shape": target}, lambda xs, ps, d=dims: xs[0].reshape(xs[0].shape[0], *d),
           [r.rand(n, *shape)])

for n, shape, k in [(3, (4, 5), 2), (2, (2, 3, 4), 3), (1, (6,), 8)]:
    r.case("add", {}, lambda xs, ps: sum(xs[1:], xs[0]), [r.rand(n, *shape) for _ in range(k)])

# (batch, per-sample shapes, axis)
for n, shapes, axis in [(2, [(2, 3, 4), (3, 3, 4)], 1),        # channels
                        (2, [(2, 3, 4), (2, 1, 4), (2, 5, 4)], 2),
                        (3, [(2, 3, 4), (2, 3, 2)], -1),        # last axis
                        (2, [(2, 3, 4), (2, 3, 1)], 3),
                        (2, [(3, 5), (1, 5)], -2),              # = channels
                        (1, [(4,), (2,), (3,), (1,)], 1),       # features, batch 1
                        (2, [(2, 2)] * 8, 2)]:                  # 8 inputs
    r.case("concat", {"axis": axis}, lambda xs, ps, a=axis: torch.cat(xs, dim=a),
           [r.rand(n, *s) for s in shapes])
# double backward (WGAN-GP critics): linear ops, the tangent is the forward on the tangents;
# inputs that are not differentiated (grad_inputs False) have NULL, i.e. zero, tangents
for n, shape in [(3, (4, 5)), (2, (2, 3, 4))]:
    r.case("flatten", {}, lambda xs, ps: torch.flatten(xs[0], 1), [r.rand(n, *shape)], double=True)
for n, shape, target in [(3, (4, 6), "6,-1"), (2, (6, 5), "5,-1,2")]:
    dims = [int(t) for t in target.split(",")]
    r.case("reshape", {"shape": target}, lambda xs, ps, d=dims: xs[0].reshape(xs[0].shape[0], *d),
           [r.rand(n, *shape)], double=True)
for n, shape, k, grad in [(3, (4, 5), 2, None), (2, (2, 3, 4), 3, [True, False, True])]:
    r.case("add", {}, lambda xs, ps: sum(xs[1:], xs[0]), [r.rand(n, *shape) for _ in range(k)],
           grad_inputs=grad, double=True)
for n, shapes, axis, grad in [(2, [(2, 3, 4), (3, 3, 4)], 1, None),
                              (2, [(2, 3, 4), (2, 1, 4), (2, 5, 4)], 2, [True, False, True]),
                              (3, [(2, 3, 4), (2, 3, 2)], -1, None),
                              (1, [(4,), (2,), (3,), (1,)], 1, [False, True, True, False])]:
    r.case("concat", {"axis": axis}, lambda xs, ps, a=axis: torch.cat(xs, dim=a),
           [r.rand(n, *s) for s in shapes], grad_inputs=grad, double=True)
r.close()
