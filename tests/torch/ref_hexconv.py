"""hexconv = an equivalent masked-convolution implementation, independent of the C gather.

Station [r][c] of the offset grid sits at x = c + (r mod 2)/2, y = r·√3/2 (odd rows shifted
right). A hexagonal kernel cell is an axial offset (dq, dr): dr rows away and at
x = dq + dr/2 from the cell, so its column offset is dq + floor(dr/2) from an even row and
dq + floor((dr+1)/2) from an odd row. For each row parity the 19 or 7 hex weights are placed
into a (2R+1)x(2R+1) masked kernel, F.conv2d (zero padding R) is applied to the whole grid,
and each output row takes the result of its own parity.

Cell order (the weight's last axis), as documented in src/nn/ops/hexconv.c: by ring (hex
distance), then by angle atan2(y, x) in [0, 2π) counterclockwise from +x; computed here by
sorting, not by walking rings as the C code does."""
import math

import torch
import torch.nn.functional as F

from refutil import RefFile, out_path


def hex_cells(radius):
    cells = [(dq, dr) for dq in range(-radius, radius + 1) for dr in range(-radius, radius + 1)
             if max(abs(dq), abs(dr), abs(dq + dr)) <= radius]

    def key(cell):
        dq, dr = cell
        ring = max(abs(dq), abs(dr), abs(dq + dr))
        angle = math.atan2(dr * math.sqrt(3) / 2, dq + dr / 2) % (2 * math.pi)
        return (ring, round(angle, 9))

    return sorted(cells, key=key)


def masked_kernel(w, radius, parity):
    """w [out, in, n_cells] -> [out, in, 2R+1, 2R+1] for output rows of this parity."""
    cells = hex_cells(radius)
    iy = [dr + radius for dq, dr in cells]
    ix = [dq + (dr + parity) // 2 + radius for dq, dr in cells]
    assert len(set(zip(iy, ix))) == len(cells)  # one kernel position per cell
    k = torch.zeros(w.shape[0], w.shape[1], 2 * radius + 1, 2 * radius + 1, dtype=w.dtype)
    k[:, :, torch.tensor(iy), torch.tensor(ix)] = w  # differentiable in w
    return k


def hexconv(x, w, b, radius):
    rows = x.shape[2]
    even = F.conv2d(x, masked_kernel(w, radius, 0), b, padding=radius)
    odd = F.conv2d(x, masked_kernel(w, radius, 1), b, padding=radius)
    is_odd = (torch.arange(rows) % 2 == 1).view(1, 1, rows, 1)
    return torch.where(is_odd, odd, even)


def case(r, n, cin, size, filters, radius=1, bias=True, double=False):
    spec = {"filters": filters}
    if radius != 1:
        spec["radius"] = radius
    if not bias:
        spec["bias"] = "false"
    ncells = 3 * radius * (radius + 1) + 1
    params = {"weight": r.rand(filters, cin, ncells)}
    if bias:
        params["bias"] = r.rand(filters)
    r.case("hexconv", spec, lambda xs, ps: hexconv(xs[0], ps["weight"], ps.get("bias"), radius),
           [r.rand(n, cin, *size)], params, double=double)


assert len(hex_cells(1)) == 7 and len(hex_cells(2)) == 19
assert hex_cells(2)[:8] == [(0, 0), (1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1), (2, 0)]
r = RefFile(out_path(), seed=17)
case(r, 4, 2, (9, 9), 8)                          # physics grid, time + signal
case(r, 4, 2, (9, 9), 6, radius=2)
case(r, 3, 5, (9, 9), 4, radius=2)
case(r, 3, 3, (7, 5), 4)                          # odd grid sizes
case(r, 2, 3, (7, 5), 3, radius=2)
case(r, 2, 2, (5, 7), 3, radius=2, bias=False)
case(r, 1, 1, (9, 9), 1, bias=False)              # batch 1, one channel, no bias
case(r, 1, 4, (9, 9), 2, radius=2)                # batch 1
case(r, 2, 2, (2, 3), 3, radius=2)                # grid smaller than the kernel
case(r, 2, 1, (1, 1), 2)                          # a lone station
case(r, 2, 3, (6, 4), 5, radius=3)                # radius 3 (37 cells)
case(r, 40, 2, (9, 9), 4)                         # several sample blocks
case(r, 2, 16, (9, 9), 8, radius=2)               # many channels
# double backward (WGAN-GP critics)
case(r, 4, 2, (9, 9), 8, double=True)
case(r, 3, 5, (9, 9), 4, radius=2, double=True)
case(r, 2, 2, (5, 7), 3, radius=2, bias=False, double=True)
case(r, 40, 2, (9, 9), 4, double=True)
r.close()
