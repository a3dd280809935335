"""permute = torch.permute(x, order) on (n, ...) tensors, order starting with the batch axis 0."""
from refutil import RefFile, out_path

r = RefFile(out_path(), seed=11)
for n, shape, order in [(3, (5, 4), (0, 2, 1)),          # (N, P, F) -> (N, F, P)
                        (1, (5, 4), (0, 1, 2)),          # identity, batch 1
                        (2, (2, 3, 4), (0, 3, 1, 2)),
                        (2, (2, 3, 4), (0, 2, 3, 1)),
                        (2, (1, 3, 2, 5), (0, 4, 2, 1, 3)),
                        (2, (7,), (0, 1))]:
    for double in (False, True):  # double backward (WGAN-GP critics) on every configuration
        r.case("permute", {"order": ",".join(map(str, order))},
               lambda xs, ps, o=order: xs[0].permute(*o), [r.rand(n, *shape)], double=double)
r.close()
