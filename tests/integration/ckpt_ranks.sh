#!/usr/bin/env bash
# Checkpoints written by all ranks (rank r writes, of every tensor, the part in its block r of
# the net's flat parameters and buffers: its ZeRO-1 shard; docs/hdf5.md):
#  - a deterministic supervised job (batchnorm buffers, input and target standardisation) and
#    a deterministic refiner (two nets and optimizers, the history): every data set and
#    attribute but world_size is equal at 1, 2 and 3 ranks; in the fast mode (optimizer state
#    unsharded) a run stopped and resumed on 3 ranks equals an unbroken one;
#  - resumed on another rank count (3 -> 1, 1 -> 2) a run ends equal to an unbroken one;
#  - alignment: a data set of >= 1 MiB starts on a 1 MiB boundary by default and the file is
#    packed with CASCADE_H5_ALIGN=off (same contents); when the ranks' settings differ rank
#    0's holds and the file is intact; a malformed value is an error naming the variable.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-ckpt-ranks.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset CASCADE_H5_ALIGN
# shellcheck source=tests/support/expect.sh
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"

# same A B: the two checkpoints hold the same objects, bytes and attributes (world_size aside)
cat > same.py <<'PY'
import sys, h5py, numpy as np
def objects(f):
    out = {"/": f}
    f.visititems(lambda name, obj: out.__setitem__(name, obj))
    return out
def attrs(name, obj):
    return {k: np.asarray(obj.attrs[k]).tobytes() if not isinstance(obj.attrs[k], str) else obj.attrs[k]
            for k in obj.attrs if not (name == "/" and k == "world_size")}
a, b = (objects(h5py.File(p, "r")) for p in sys.argv[1:3])
bad = sorted(set(a) ^ set(b))
for name in sorted(set(a) & set(b)):
    x, y = a[name], b[name]
    if isinstance(x, h5py.Dataset) and (x.shape != y.shape or x.dtype != y.dtype or
                                        x[()].tobytes() != y[()].tobytes()):
        bad.append(name)
    if attrs(name, x) != attrs(name, y):
        bad.append(name + " (attributes)")
if bad:
    sys.exit("%s and %s differ in %s" % (sys.argv[1], sys.argv[2], ", ".join(bad[:8])))
n = sum(isinstance(o, h5py.Dataset) for o in a.values())
print("  %s = %s: %d data sets" % (sys.argv[1], sys.argv[2], n))
PY
same() { "$py" same.py "$1" "$2"; }

# ---- supervised: 1, 2, 3 ranks ----
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 200 -o d.h5 --seed 5 >/dev/null
cat > sup.ini <<'INI'
[job]
name = ckpt-ranks
seed = 6
[data]
train = d.h5
inputs = time, signal
targets = logE
normalize = standard
normalize_targets = standard
[train]
batch = 24
micro_batch = 4
steps = 8
deterministic = true
checkpoint_every = 4
[optimizer]
type = adamw
lr = 1e-3
[model.c1]
type = conv2d
filters = 4
kernel = 3
bias = false
[model.bn]
type = batchnorm
activation = relu
[model.f]
type = flatten
; 2048 x 196 weights: 1.6 MB, above the default alignment threshold (1 MiB)
[model.h]
type = dense
units = 2048
activation = relu
[model.out]
type = dense
units = 1
INI
last=checkpoints/step-00000008.h5
for n in 1 2 3; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train sup.ini --out s$n --quiet
done
for n in 2 3; do same s1/$last s$n/$last; same s1/checkpoints/step-00000004.h5 s$n/checkpoints/step-00000004.h5; done
echo "supervised, deterministic (ZeRO-1 shards): 1, 2, 3 ranks write the same checkpoint"
# fast mode: the optimizer state unsharded (every rank holds all of it and writes its block);
# its sums depend on the rank count, so: a run stopped and resumed on 3 ranks ends equal to an
# unbroken one on 3 ranks (a part missing from the file would change the resumed run)
fast=(--set train.deterministic=false --set train.batch=12)
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train sup.ini --out f3 --quiet "${fast[@]}"
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train sup.ini --out fr3 --quiet "${fast[@]}" --steps 4
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train sup.ini --out fr3 --quiet "${fast[@]}" --resume auto
same f3/$last fr3/$last
echo "supervised, fast mode (unsharded optimizer): 3 ranks, stopped and resumed = unbroken"

# resumed on another rank count
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train sup.ini --out r31 --quiet --steps 4
"$CASCADE_BIN" train sup.ini --out r31 --quiet --resume auto
same s1/$last r31/$last
echo "supervised: written by 3 ranks, resumed on 1: equal to the unbroken run"

# ---- alignment ----
"$py" - s1/$last <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
w = f["params/model/h/weight"]
assert w.nbytes >= 1 << 20 and w.id.get_offset() % (1 << 20) == 0, (w.nbytes, w.id.get_offset())
small = f["params/model/out/weight"]
assert small.id.get_offset() % (1 << 20) != 0, "a small data set was aligned too"
print("  default: the 1.6 MB weight at offset %d (1 MiB boundary), small ones packed" % w.id.get_offset())
PY
CASCADE_H5_ALIGN=off mpirun --oversubscribe -n 2 -x CASCADE_H5_ALIGN "$CASCADE_BIN" train sup.ini --out off --quiet
same s1/$last off/$last
"$py" - s1/$last off/$last <<'PY'
import os, sys, h5py
aligned, packed = (os.path.getsize(p) for p in sys.argv[1:3])
f = h5py.File(sys.argv[2], "r")
assert f["params/model/h/weight"].id.get_offset() % (1 << 20) != 0
assert packed < aligned, (packed, aligned)
print("  CASCADE_H5_ALIGN=off: %d bytes, aligned %d" % (packed, aligned))
PY
# ranks that disagree: rank 0's setting (here: off) is every rank's, the file is intact
# (each rank placing objects by its own setting would write a corrupt file, or hang)
timeout 300 mpirun --oversubscribe -n 1 env CASCADE_H5_ALIGN=off "$CASCADE_BIN" train sup.ini --out mix --quiet : \
  -n 1 env CASCADE_H5_ALIGN=4K,4K "$CASCADE_BIN" train sup.ini --out mix --quiet
same s1/$last mix/$last
"$py" - off/$last mix/$last <<'PY'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
moved = [n for n in names if a[n].id.get_offset() != b[n].id.get_offset()]
assert not moved, "data sets placed differently from rank 0's setting: %s" % moved
PY
echo "alignment: default aligned, off packed, rank 0's setting when the ranks differ"
CASCADE_H5_ALIGN=1M,x expect 2 "CASCADE_H5_ALIGN=1M,x: expected THRESHOLD,ALIGNMENT" -- \
  "$CASCADE_BIN" train sup.ini --out bad --quiet
test ! -e bad/checkpoints/LATEST

# ---- a refiner (two nets, two optimizers, the history): 1, 2, 3 ranks; resume 1 -> 2 ----
"$py" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(4)
with h5py.File("sim.h5", "w") as f:
    f["x"] = rng.normal(1.0, 0.7, (120, 5)).astype(np.float32)
with h5py.File("target.h5", "w") as f:
    f["x"] = rng.normal(1.4, 0.9, (90, 5)).astype(np.float32)
PY
cat > ref.ini <<'INI'
[job]
name = ckpt-refiner
kind = refiner
seed = 9
[data]
train = sim.h5
target = target.h5
inputs = x
layout = features
normalize = standard
[train]
batch = 24
micro_batch = 4
steps = 6
deterministic = true
checkpoint_every = 3
[optimizer]
type = adam
lr = 1e-3
[refiner]
critic_steps = 2
history = 40
pretrain_steps = 1
[refiner.d1]
type = dense
input = x
units = 16
activation = elu
[refiner.d2]
type = dense
units = 5
[refiner.out]
type = add
input = x, d2
[critic.d1]
type = dense
input = x
units = 16
activation = tanh
[critic.out]
type = dense
units = 1
INI
last=checkpoints/step-00000006.h5
for n in 1 2 3; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train ref.ini --out g$n --quiet
done
for n in 2 3; do same g1/$last g$n/$last; done
"$py" -c "
import h5py, sys
f = h5py.File('g1/$last', 'r')
assert f.attrs['world_size'] == 1 and f['refiner/history'].shape == (40, 5) and f['refiner'].attrs['history_filled'] > 0
assert {'refiner', 'critic'} <= set(f['params']) and {'refiner', 'critic'} <= set(f['optimizer'])"
echo "refiner, deterministic: 1, 2, 3 ranks write the same checkpoint (both nets, the history)"
"$CASCADE_BIN" train ref.ini --out gr --quiet --steps 3
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train ref.ini --out gr --quiet --resume auto
same g1/$last gr/$last
echo "refiner: written by 1 rank, resumed on 2: equal to the unbroken run"
