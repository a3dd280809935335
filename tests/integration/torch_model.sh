#!/usr/bin/env bash
# A whole model (conv + batchnorm + maxpool + dense) trained 20 Adam steps by cascade from the
# same initial weights as PyTorch (--init with a state_dict written by h5py) must track
# PyTorch to <= 1e-4 relative error in every final parameter and running statistic.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-torch-model.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$py" "$CASCADE_SOURCE_DIR/tests/torch/model_ref.py" .
cat > job.ini <<'INI'
[job]
name = torch-model
[data]
train = data.h5
inputs = a, b
targets = y
shuffle = false
[train]
batch = 16
steps = 20
checkpoint_every = 0
loss = mse
[optimizer]
type = adam
lr = 1e-2
[model.conv]
type = conv2d
filters = 4
kernel = 3
padding = same
bias = false
[model.bn]
type = batchnorm
activation = relu
[model.pool]
type = maxpool
size = 2
[model.flat]
type = flatten
[model.fc]
type = dense
units = 8
activation = relu
[model.out]
type = dense
units = 1
INI
"$CASCADE_BIN" train job.ini --init init.h5 --out run --quiet
"$py" - <<'PY'
import h5py, numpy as np
ref = h5py.File("final.h5", "r")
got = h5py.File("run/checkpoints/step-00000020.h5", "r")
worst = 0
def visit(name, obj):
    global worst
    if isinstance(obj, h5py.Dataset):
        a, b = got[name][...], obj[...]
        err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)
        print("%-34s rel err %.2e" % (name, err))
        worst = max(worst, err)
ref.visititems(visit)
init = h5py.File("init.h5", "r")
moved = np.abs(ref["params/model/conv/weight"][...] - init["params/model/conv/weight"][...]).max()
assert moved > 1e-3, "training did not move the weights"
assert worst <= 1e-4, "worst relative error %.2e > 1e-4" % worst
print("torch_model: worst relative error %.2e" % worst)
PY
rm -rf "$here"
