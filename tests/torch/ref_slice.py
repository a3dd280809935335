"""slice = x[:, ..., start:stop, ...] (torch.narrow) on (n, ...) tensors, axis counting the
batch axis, Python's negative and clamped start/stop."""
from refutil import RefFile, out_path

r = RefFile(out_path(), seed=12)
# (batch, per-sample shape, axis, start, stop); None = key not given
cases = [(2, (3, 3, 10), -1, 0, 8),       # traces of a features-layout x (as jobs/airshower-xmax.ini)
         (2, (3, 3, 10), -1, 8, None),    # ... and the per-station time, signal
         (2, (4, 5), 1, 1, 3),            # channels
         (2, (4, 5), 2, -2, None),        # negative start
         (2, (2, 3, 4), 2, None, -1),     # negative stop, middle axis
         (1, (6,), 1, 2, 100),            # stop clamped to the end, batch 1
         (2, (2, 3, 4), -3, 0, 1)]        # the first axis by a negative index
for n, shape, axis, start, stop in cases:
    keys = {"axis": axis}
    if start is not None:
        keys["start"] = start
    if stop is not None:
        keys["stop"] = stop
    sl = [slice(None)] * (len(shape) + 1)
    sl[axis] = slice(start, stop)
    for double in (False, True):  # double backward (WGAN-GP critics): the slice of the tangent
        r.case("slice", keys, lambda xs, ps, s=tuple(sl): xs[0][s], [r.rand(n, *shape)], double=double)
r.close()
