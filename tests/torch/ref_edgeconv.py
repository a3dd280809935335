"""edgeconv: kNN graph (cdist, the point itself excluded, equal distances -> smaller index
via a stable sort), edge features concat(x_i, x_j - x_i) through the shared MLP (linear +
edge activation per layer), max or mean over the k neighbours. Graph coordinates: the input
itself (dynamic), all of a second input (graph = input) or features A..B-1 of it (x:A:B).
No gradient through the neighbour selection, none into the coordinate input (din1 = 0).
batchnorm = true: after each layer's activation F.batch_norm over the channel of the
(n, P, k, u) edge tensor (statistics over all edges of the batch, as BatchNorm2d on PyTorch
DGCNN's (n, u, P, k)), in training mode (the running statistics after the update are
checked too) and in eval mode (running statistics). No double-backward cases with it.

Inputs are drawn until every point's k-th and (k+1)-th neighbour distances differ clearly,
so float rounding in the engine (~1e-6) and finite-difference steps cannot change a neighbour set."""
import numpy as np
import torch
import torch.nn.functional as F

from refutil import RefFile, out_path

ACTS = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.01), "elu": F.elu,
        "tanh": torch.tanh, "none": lambda t: t}


def knn(coords, k):
    """(n, P, G) -> (n, P, k) neighbour indices."""
    d = torch.cdist(coords, coords) ** 2
    p = coords.shape[1]
    d = d + torch.diag(torch.full((p,), float("inf")))
    return torch.sort(d, dim=-1, stable=True).indices[..., :k]


def edgeconv(x, coords, k, n_layers, ps, act, agg, bn=False, training=True):
    n, p, f = x.shape
    idx = knn(coords.detach(), k)
    xi = x.unsqueeze(2).expand(n, p, k, f)
    xj = torch.gather(x.unsqueeze(1).expand(n, p, p, f), 2, idx.unsqueeze(-1).expand(n, p, k, f))
    h = torch.cat([xi, xj - xi], dim=-1)
    for l in range(n_layers):
        h = ACTS[act](F.linear(h, ps["weight_l%d" % l], ps["bias_l%d" % l]))
        if bn:
            shape = h.shape
            h = F.batch_norm(h.reshape(-1, shape[-1]), ps["bn_running_mean_l%d" % l],
                             ps["bn_running_var_l%d" % l], ps["bn_weight_l%d" % l], ps["bn_bias_l%d" % l],
                             training, 0.1, 1e-5).reshape(shape)
    return h.max(dim=2).values if agg == "max" else h.mean(dim=2)


def separated(coords, k, gap=2e-4):
    """Every point's (k+1)-th smallest squared distance exceeds the k-th by gap."""
    d = torch.cdist(torch.tensor(coords), torch.tensor(coords)) ** 2
    p = coords.shape[1]
    d = d + torch.diag(torch.full((p,), float("inf")))
    s = torch.sort(d, dim=-1).values
    return k >= p - 1 or bool((s[..., k] - s[..., k - 1] > gap).all())


r = RefFile(out_path(), seed=21)
# (n, P, F, k, units, aggregation, graph, edge_activation, G of the coordinate input[, bn])
# bn: "train" or "eval" (batch norm after every MLP activation)
cases = [(3, 10, 2, 1, [4], "max", "dynamic", "relu", 0),
         (1, 20, 3, 3, [5, 3], "max", "dynamic", "relu", 0),
         (3, 40, 4, 8, [6], "mean", "dynamic", "relu", 0),
         (2, 16, 2, 3, [1], "mean", "dynamic", "tanh", 0),
         (1, 12, 3, 11, [3, 2], "max", "dynamic", "leaky_relu", 0),   # k = P - 1
         (3, 30, 3, 8, [4, 4], "max", "input", "relu", 3),
         (1, 25, 2, 3, [2], "mean", "input", "elu", 2),
         (2, 15, 4, 1, [3], "max", "x:1:4", "none", 5),
         (3, 40, 2, 8, [5, 2], "mean", "x:0:3", "relu", 4),
         (1, 300, 3, 4, [3], "max", "dynamic", "relu", 0),             # > one block of 64 kNN rows
         (2, 270, 3, 5, [2], "mean", "input", "relu", 3),
         # deeper MLPs with curved activations: second-order terms through several layers
         (2, 12, 3, 3, [4, 3], "max", "dynamic", "tanh", 0),
         (2, 14, 2, 4, [3, 4, 2], "mean", "input", "elu", 3),
         (1, 10, 3, 2, [3, 3], "mean", "x:0:2", "tanh", 3),
         # batch norm in the edge MLP
         (3, 20, 3, 4, [5], "max", "dynamic", "relu", 0, "train"),
         (2, 24, 4, 3, [4, 6, 3], "mean", "x:0:3", "leaky_relu", 4, "train"),
         (2, 16, 2, 5, [3, 2], "mean", "input", "tanh", 2, "train"),
         (3, 40, 4, 8, [8, 8, 8], "mean", "x:0:3", "relu", 4, "train"),   # the skymap job's ec1
         (1, 12, 3, 3, [4, 3], "max", "dynamic", "elu", 0, "train"),     # batch 1: stats over P*k edges
         # several blocks of the fused edge MLP (2048 edges): 3 * 200 * 8 = 4800 edges
         (3, 200, 3, 8, [6, 5], "mean", "x:0:3", "relu", 4, "train"),
         (2, 150, 4, 8, [4, 3], "max", "dynamic", "tanh", 0, "eval"),
         (2, 20, 3, 4, [5, 3], "max", "dynamic", "relu", 0, "eval"),
         (2, 18, 4, 3, [4, 4], "mean", "x:1:4", "tanh", 5, "eval")]
for case in cases:
    n, p, f, k, units, agg, graph, act, g = case[:9]
    bn = case[9] if len(case) > 9 else None
    for attempt in range(1000):
        x = r.rand(n, p, f)
        coords = r.rand(n, p, g) if g else None
        if graph == "dynamic":
            gc = x
        elif graph == "input":
            gc = coords
        else:
            lo, hi = map(int, graph.split(":")[1:])
            gc = coords[..., lo:hi]
        # dense sets (> one distance block) need a finer gap, still >> float rounding
        if separated(gc, k, 2e-4 if p <= 40 else 1e-5):
            break
    else:
        raise SystemExit("no well-separated points for case %r" % ((n, p, f, k),))
    params, fan_in = {}, 2 * f
    for l, u in enumerate(units):
        params["weight_l%d" % l] = r.rand(u, fan_in)
        params["bias_l%d" % l] = r.rand(u)
        if bn:
            params["bn_weight_l%d" % l] = r.rand(u, low=0.5, high=1.5)
            params["bn_bias_l%d" % l] = r.rand(u)
            params["bn_running_mean_l%d" % l] = r.rand(u)
            params["bn_running_var_l%d" % l] = r.rand(u, low=0.5, high=2.0)
        fan_in = u
    spec = {"units": ",".join(map(str, units)), "k": k, "aggregation": agg, "graph": graph,
            "edge_activation": act}
    if bn:
        spec["batchnorm"] = "true"
    training = bn != "eval"
    if graph == "dynamic":
        fn = lambda xs, ps, k=k, nl=len(units), a=act, ag=agg, bn=bn, t=training: \
            edgeconv(xs[0], xs[0], k, nl, ps, a, ag, bool(bn), t)
        inputs = [x]
    else:
        sl = slice(None) if graph == "input" else slice(*map(int, graph.split(":")[1:]))
        fn = lambda xs, ps, k=k, nl=len(units), a=act, ag=agg, sl=sl, bn=bn, t=training: \
            edgeconv(xs[0], xs[1][..., sl], k, nl, ps, a, ag, bool(bn), t)
        inputs = [x, coords]
    r.case("edgeconv", spec, fn, inputs, params, training=training)
    if not bn:
        r.case("edgeconv", spec, fn, inputs, params, double=True)  # double backward, same points
r.close()
