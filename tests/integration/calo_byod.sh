#!/usr/bin/env bash
# Bring your own data: real CaloGAN files (layer_0/1/2, energy, overflow — float32 as h5py
# writes them) and CaloChallenge files (incident_energies (N,1) in MeV, showers (N, voxels)
# flattened, float64) load through the job's [data] mapping and train a few steps:
#   CaloGAN:      inputs = layer_1 (channels, a conv net) and inputs = layer_0 (3x96 strips)
#   CaloChallenge inputs = showers, layout = features (dataset-1 photons: 368 voxels), and
#                 layout = channels (one channel of 368)
# Each run must exit 0 and write a checkpoint.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-calo-byod.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
cascade=${CASCADE_BIN:?}

"$py" - <<'PY'
import h5py
import numpy as np

rng = np.random.default_rng(5)
n = 96
# CaloGAN layout (github.com/hep-lbdl/CaloGAN): per-layer images in MeV, energy in GeV
energy = rng.uniform(1, 100, size=(n, 1)).astype(np.float32)
with h5py.File("calogan.h5", "w") as f:
    for name, shape in (("layer_0", (3, 96)), ("layer_1", (12, 12)), ("layer_2", (12, 6))):
        img = rng.exponential(1.0, size=(n,) + shape) * (rng.uniform(size=(n,) + shape) < 0.3)
        f.create_dataset(name, data=(img * energy[:, :, None] * 10).astype(np.float32))
    f.create_dataset("energy", data=energy)
    f.create_dataset("overflow", data=rng.exponential(5.0, size=(n, 3)).astype(np.float32))
# CaloChallenge dataset-1 photon layout: incident energies in MeV, flattened voxels (368)
e_mev = rng.uniform(256, 4.2e6, size=(n, 1))
with h5py.File("calochallenge.h5", "w") as f:
    f.create_dataset("incident_energies", data=e_mev)
    f.create_dataset("showers", data=rng.exponential(1.0, size=(n, 368)) * (e_mev / 368))
PY

write_job() { # name inputs layout targets model-sections
  cat > "$1.ini" <<INI
[job]
name = $1
seed = 2
[data]
train = $2
valid_fraction = 0.25
inputs = $3
layout = $4
targets = $5
normalize = standard
[train]
batch = 16
micro_batch = 8
steps = 5
checkpoint_every = 5
[optimizer]
type = adam
lr = 1e-3
$6
INI
}

conv_net='[model.c1]
type = conv2d
filters = 4
kernel = 3
padding = same
activation = relu
[model.f]
type = flatten
[model.out]
type = dense
units = 1'
dense_net='[model.h]
type = dense
units = 16
activation = relu
[model.out]
type = dense
units = 1'

write_job calogan-l1 calogan.h5 layer_1 channels energy "$conv_net"
write_job calogan-l0 calogan.h5 layer_0 channels energy "$conv_net"
write_job calochallenge calochallenge.h5 showers features incident_energies "$dense_net"
write_job calochallenge-ch calochallenge.h5 showers channels incident_energies "[model.f]
type = flatten
$dense_net"

fail=0
for job in calogan-l1 calogan-l0 calochallenge-ch calochallenge; do
  if "$cascade" train "$job.ini" --out "run-$job" --quiet --steps 5 2> "$job.err" \
     && test -f "run-$job/checkpoints/LATEST" \
     && test -f "run-$job/checkpoints/$(head -n1 "run-$job/checkpoints/LATEST")"; then
    echo "ok: $job"
  else
    echo "FAIL: $job"; cat "$job.err"; fail=1
  fi
done
[ $fail = 0 ] || exit 1
rm -rf "$here"
