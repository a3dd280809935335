"""maxpool / avgpool = torch.nn.functional.max_pool{1,2,3}d / avg_pool{1,2,3}d (floor mode,
count_include_pad); globalavgpool / globalmaxpool = mean / max over all non-channel axes.
Random float inputs have no ties, so the max-pool finite differences are well defined."""
import torch.nn.functional as F

from refutil import RefFile, out_path

MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def as_tuple(v, axes):
    v = [int(t) for t in str(v).split(",")]
    return tuple(v * axes if len(v) == 1 else v)


r = RefFile(out_path(), seed=3)
# (batch, per-sample shape, keys)
cases = [
    (3, (4, 10), {"size": 3}),                                   # 1d, stride = size
    (2, (3, 11), {"size": 3, "stride": 2, "padding": 1}),       # 1d overlapping, padded
    (2, (2, 7), {"size": 2}),                                    # 1d odd length -> floor
    (2, (2, 9), {"size": 2, "stride": 3}),                       # 1d stride > size (gaps)
    (2, (3, 7, 5), {"size": 2}),                                 # 2d odd 7x5 -> 3x2
    (1, (1, 8, 8), {"size": 2}),                                 # batch 1, channels 1
    (2, (2, 7, 6), {"size": 3, "stride": 2, "padding": 1}),
    (2, (2, 9, 7), {"size": "3,2", "stride": "2,1", "padding": "1,0"}),  # per-axis values
    (2, (2, 6, 8), {"size": "4,2", "stride": 3, "padding": "2,1"}),      # stride != size
    (2, (2, 5, 5), {"size": 5}),                                 # window = whole input
    (2, (2, 4, 5, 6), {"size": 2}),                              # 3d
    (1, (3, 5, 6, 7), {"size": 3, "stride": 2, "padding": 1}),   # 3d padded, batch 1
    (2, (2, 5, 4, 7), {"size": "2,3,3", "stride": "1,2,3", "padding": "1,0,1"}),
    (2, (16, 64, 64), {"size": 2}),                              # large enough for OpenMP
]
for n, shape, keys in cases:
    axes = len(shape) - 1
    k = as_tuple(keys["size"], axes)
    s = as_tuple(keys.get("stride", keys["size"]), axes)
    p = as_tuple(keys.get("padding", 0), axes)
    for double in (False, True):  # double backward (WGAN-GP critics) on every configuration
        r.case("maxpool", keys, lambda xs, ps, a=axes, k=k, s=s, p=p: MAX[a](xs[0], k, s, p),
               [r.rand(n, *shape)], double=double)
        r.case("avgpool", keys, lambda xs, ps, a=axes, k=k, s=s, p=p: AVG[a](xs[0], k, s, p),
               [r.rand(n, *shape)], double=double)

for n, shape in [(3, (4, 6, 5)), (2, (5, 9)), (1, (1, 7)), (2, (2, 3, 4, 5)), (2, (16, 64, 64))]:
    for double in (False, True):
        r.case("globalavgpool", {}, lambda xs, ps: xs[0].flatten(2).mean(2), [r.rand(n, *shape)],
               double=double)
        r.case("globalmaxpool", {}, lambda xs, ps: xs[0].flatten(2).max(2).values, [r.rand(n, *shape)],
               double=double)
r.close()
