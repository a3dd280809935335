"""Elementwise activations."""
import torch
import torch.nn.functional as F

from refutil import RefFile, out_path

r = RefFile(out_path(), seed=2)
x = lambda: r.rand(3, 4, 5, low=-3, high=3)
r.case("relu", {}, lambda xs, ps: F.relu(xs[0]), [x()])
r.case("leaky_relu", {}, lambda xs, ps: F.leaky_relu(xs[0], 0.01), [x()])
r.case("leaky_relu", {"slope": 0.2}, lambda xs, ps: F.leaky_relu(xs[0], 0.2), [x()])
r.case("elu", {}, lambda xs, ps: F.elu(xs[0]), [x()])
r.case("elu", {"alpha": 0.5}, lambda xs, ps: F.elu(xs[0], 0.5), [x()])
r.case("tanh", {}, lambda xs, ps: torch.tanh(xs[0]), [x()])
r.case("sigmoid", {}, lambda xs, ps: torch.sigmoid(xs[0]), [r.rand(2, 50, low=-40, high=40)])
gate = lambda t, w: (lambda v: v * torch.sigmoid((v - t) / w))
r.case("sigmoid_gate", {}, lambda xs, ps: gate(0.0, 1.0)(xs[0]), [x()])
r.case("sigmoid_gate", {"threshold": 0.6, "width": 0.2}, lambda xs, ps: gate(0.6, 0.2)(xs[0]), [x()])
# double backward (WGAN-GP critics): d/d(x, dout) of <w, din>
for t, spec, f in [("relu", {}, F.relu), ("leaky_relu", {"slope": 0.2}, lambda v: F.leaky_relu(v, 0.2)),
                   ("elu", {"alpha": 0.7}, lambda v: F.elu(v, 0.7)), ("tanh", {}, torch.tanh),
                   ("sigmoid", {}, torch.sigmoid),
                   ("sigmoid_gate", {"threshold": 0.5, "width": 0.7}, gate(0.5, 0.7))]:
    r.case(t, spec, lambda xs, ps, f=f: f(xs[0]), [x()], double=True)
r.close()
