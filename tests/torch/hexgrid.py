"""The hexagonal convolution of the air-shower grid in PyTorch: an equivalent masked-convolution
implementation, independent of the C gather (src/nn/ops/hexconv.c). Used by ref_hexconv.py
(the op's reference) and bench/physics_torch.py (the jobs' networks in PyTorch).

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
