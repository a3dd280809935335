"""lstm = torch.nn.LSTM(F, H, num_layers, batch_first=True) with zero initial states.

Parameters are the case's params (single layer: weight_ih, weight_hh, bias_ih, bias_hh as in
CONTRACT; several layers: torch's state_dict names weight_ih_l0, ...). The output is the full
sequence out (N, T, H) with return_sequences, else out[:, -1, :]. op_fd_check covers backward
through time. Every combination of T, F, H, layers, return_sequences and batch below."""
import itertools

import torch

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=11)


def lstm_fn(features, hidden, layers, return_sequences):
    module = torch.nn.LSTM(features, hidden, layers, batch_first=True)

    def fn(xs, ps):
        # nn.LSTM runs on _flat_weights: point it at the case's tensors so autograd reaches them
        module._flat_weights = [ps[name if layers > 1 else name[:-3]]
                                for name in module._flat_weights_names]
        out, _ = module(xs[0])
        return out if return_sequences else out[:, -1, :]
    return fn


def params_and_spec(features, hidden, layers, return_sequences):
    params = {}
    for l in range(layers):
        suffix = "_l%d" % l if layers > 1 else ""
        in_f = features if l == 0 else hidden
        # a wider range than torch's init (1/sqrt(H)) so gates saturate somewhat too
        params["weight_ih" + suffix] = r.rand(4 * hidden, in_f)
        params["weight_hh" + suffix] = r.rand(4 * hidden, hidden)
        params["bias_ih" + suffix] = r.rand(4 * hidden)
        params["bias_hh" + suffix] = r.rand(4 * hidden)
    spec = {"units": hidden}
    if layers != 1:
        spec["layers"] = layers
    if return_sequences:
        spec["return_sequences"] = "true"
    return params, spec


for steps, features, hidden, layers, return_sequences, batch in itertools.product(
        (1, 5, 13), (1, 3), (2, 8), (1, 2), (False, True), (1, 4)):
    params, spec = params_and_spec(features, hidden, layers, return_sequences)
    r.case("lstm", spec, lstm_fn(features, hidden, layers, return_sequences),
           [r.rand(batch, steps, features, low=-2.0, high=2.0)], params)
# leading axes are positions with one sequence each (e.g. one trace per station), shared weights
def per_position(fn, lead):
    def g(xs, ps):
        x = xs[0]
        n = x.shape[0]
        y = fn([x.reshape(-1, *x.shape[-2:])], ps)
        return y.reshape(n, *lead, *y.shape[1:])
    return g


for lead, return_sequences, layers in (((3,), False, 1), ((2, 3), True, 1), ((4,), False, 2)):
    features, hidden, steps = 2, 3, 6
    params, spec = params_and_spec(features, hidden, layers, return_sequences)
    r.case("lstm", spec, per_position(lstm_fn(features, hidden, layers, return_sequences), lead),
           [r.rand(2, *lead, steps, features, low=-2.0, high=2.0)], params)
# double backward (WGAN-GP critics on traces): every combination of a smaller grid, and positions
for steps, features, hidden, layers, return_sequences, batch in itertools.product(
        (1, 5), (3,), (2, 4), (1, 2), (False, True), (3,)):
    params, spec = params_and_spec(features, hidden, layers, return_sequences)
    r.case("lstm", spec, lstm_fn(features, hidden, layers, return_sequences),
           [r.rand(batch, steps, features, low=-2.0, high=2.0)], params, double=True)
for lead, return_sequences, layers in (((3,), False, 1), ((2,), True, 2)):
    features, hidden, steps = 2, 3, 6
    params, spec = params_and_spec(features, hidden, layers, return_sequences)
    r.case("lstm", spec, per_position(lstm_fn(features, hidden, layers, return_sequences), lead),
           [r.rand(2, *lead, steps, features, low=-2.0, high=2.0)], params, double=True)
r.close()
