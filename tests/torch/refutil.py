"""Writes op reference cases for op_torch_check / op_fd_check.

Each case is a group caseNNN holding the layer type and its job-file keys (spec), the
inputs (float32 values, batch first), parameters under param/NAME (PyTorch names and
layouts), the output and gradients computed by torch in float64, an upstream gradient
`dout`, and the parameters after the forward pass (running statistics) as param_after/NAME.

With double=True a case also checks the double backward (the exact WGAN-GP penalty): for
R = sum_k <w_k, din_k> with random weights `w<k>`, torch's derivatives of R (through
autograd.grad(create_graph=True)) with respect to the inputs (`dd_in<k>`), the trainable
parameters (`dd_grad/NAME`) and the upstream gradient (`dd_dout`).
"""
import sys

import h5py
import numpy as np
import torch

torch.set_default_dtype(torch.float64)


class RefFile:
    def __init__(self, path, seed=0):
        self.f = h5py.File(path, "w")
        self.count = 0
        self.rng = np.random.default_rng(seed)

    def rand(self, *shape, low=-1.0, high=1.0):
        """float32-representable uniform values (returned as float64 numpy)."""
        return self.rng.uniform(low, high, size=shape).astype(np.float32).astype(np.float64)

    def case(self, type_, spec, fn, inputs, params=None, training=True, grad_inputs=None,
             rtol=None, fd_rtol=None, step=1, double=False):
        """fn(inputs: list of tensors, params: dict name -> tensor) -> output tensor.

        spec: dict of job-file keys. grad_inputs: which inputs are differentiable
        (default all). Parameters whose name contains running_ (running_mean, edgeconv's
        bn_running_var_l0; or weight_u, weight_v of spectral normalisation) are buffers."""
        params = params or {}
        grad_inputs = grad_inputs if grad_inputs is not None else [True] * len(inputs)
        g = self.f.create_group("case%03d" % self.count)
        self.count += 1
        g.attrs["type"] = type_
        g.attrs["spec"] = "\n".join("%s=%s" % (k, v) for k, v in spec.items())
        g.attrs["training"] = int(training)
        g.attrs["step"] = step
        if rtol is not None:
            g.attrs["rtol"] = rtol
        if fd_rtol is not None:
            g.attrs["fd_rtol"] = fd_rtol
        xs = []
        for k, x in enumerate(inputs):
            x = np.asarray(x, dtype=np.float64)
            g["in%d" % k] = x.astype(np.float32)
            xs.append(torch.tensor(x, requires_grad=bool(grad_inputs[k])))
        ps = {}
        for name, p in params.items():
            p = np.asarray(p, dtype=np.float64)
            g["param/" + name] = p.astype(np.float32)
            buffer = "running_" in name or name in ("weight_u", "weight_v")
            ps[name] = torch.tensor(p, requires_grad=not buffer)
        out = fn(xs, ps)
        g["out"] = out.detach().numpy()
        dout = self.rand(*out.shape)
        g["dout"] = dout.astype(np.float32)
        targets = [x for x, d in zip(xs, grad_inputs) if d] + \
                  [p for p in ps.values() if p.requires_grad]
        dout_t = torch.tensor(dout, requires_grad=double)
        grads = torch.autograd.grad(out, targets, dout_t, allow_unused=True, create_graph=double) if targets else []
        if double:
            self._double(g, xs, ps, grad_inputs, grads, dout_t)
        gi = iter(grads)
        for k, d in enumerate(grad_inputs):
            if d:
                gr = next(gi)
                g["din%d" % k] = np.zeros(inputs[k].shape) if gr is None else gr.detach().numpy()
        for name, p in ps.items():
            if p.requires_grad:
                gr = next(gi)
                g["grad/" + name] = np.zeros(p.shape) if gr is None else gr.detach().numpy()
            else:
                g["param_after/" + name] = p.detach().numpy()
        return g

    def _double(self, g, xs, ps, grad_inputs, grads, dout_t):
        """R = sum_k <w_k, din_k>; its gradients w.r.t. inputs, parameters and dout."""
        r_val, j = 0, 0
        for k, d in enumerate(grad_inputs):
            if not d:
                continue
            w = self.rand(*xs[k].shape)
            g["w%d" % k] = w.astype(np.float32)
            if grads[j] is not None and grads[j].requires_grad:
                r_val = r_val + (torch.tensor(w) * grads[j]).sum()
            j += 1
        wrt = [x for x, d in zip(xs, grad_inputs) if d] + [p for p in ps.values() if p.requires_grad] + [dout_t]
        if not torch.is_tensor(r_val) or not r_val.requires_grad:
            dd = [None] * len(wrt)
        else:
            dd = torch.autograd.grad(r_val, wrt, allow_unused=True)
        it = iter(dd)
        for k, d in enumerate(grad_inputs):
            if d:
                v = next(it)
                g["dd_in%d" % k] = np.zeros(xs[k].shape) if v is None else v.detach().numpy()
        for name, p in ps.items():
            if p.requires_grad:
                v = next(it)
                g["dd_grad/" + name] = np.zeros(p.shape) if v is None else v.detach().numpy()
        v = next(it)
        g["dd_dout"] = np.zeros(dout_t.shape) if v is None else v.detach().numpy()

    def close(self):
        self.f.close()


def out_path():
    if len(sys.argv) != 2:
        sys.exit("usage: %s OUT.h5" % sys.argv[0])
    return sys.argv[1]
