"""dropout = torch.nn.functional.dropout, in eval mode (identity) and with rate 0 in training.

Training with rate > 0 draws our Philox mask, which torch cannot reproduce: that case is
tested in tests/unit/test_dropout.c (statistics, scaling, mask reproducibility, gradient)."""
import torch.nn.functional as F

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=5)
r.case("dropout", {"rate": 0.5}, lambda xs, ps: F.dropout(xs[0], 0.5, training=False),
       [r.rand(3, 4, 5)], training=False)
r.case("dropout", {"rate": 0.9}, lambda xs, ps: F.dropout(xs[0], 0.9, training=False),
       [r.rand(1, 7)], training=False)
r.case("dropout", {"rate": 0}, lambda xs, ps: F.dropout(xs[0], 0.0, training=True),
       [r.rand(4, 2, 3)], training=True)
# double backward (WGAN-GP critics): eval and rate 0 here, the mask in test_dropout.c
r.case("dropout", {"rate": 0.5}, lambda xs, ps: F.dropout(xs[0], 0.5, training=False),
       [r.rand(3, 4, 5)], training=False, double=True)
r.case("dropout", {"rate": 0}, lambda xs, ps: F.dropout(xs[0], 0.0, training=True),
       [r.rand(4, 2, 3)], training=True, double=True)
r.close()
