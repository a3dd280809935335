"""hexconv = the masked-convolution implementation of hexgrid.py (independent of the C
gather), on several grids, radii, batch sizes, with and without bias."""
from hexgrid import hex_cells, hexconv
from refutil import RefFile, out_path


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
