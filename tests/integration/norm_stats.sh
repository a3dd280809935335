#!/usr/bin/env bash
# Normalisation statistics computed in parallel (each rank a block of the rows, exact sums
# over the ranks): /normalization and /normalization_targets are bitwise the same for 1, 2
# and 3 ranks, 1 and 2 threads, preloaded and streamed, and equal to a serial reference
# (Python's exact math.fsum), for the channels and the features layouts.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-norm.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# large offsets and spreads: a naive double sum in another order would differ in its last bits
"$py" -c "
import h5py, numpy as np
r = np.random.default_rng(3)
for name, n in (('d.h5', 2500), ('v.h5', 50)):
    with h5py.File(name, 'w') as f:
        f['a'] = (1e6 + r.standard_normal((n, 6, 5)) * 1e3).astype(np.float32)
        f['b'] = (r.standard_exponential((n, 6, 5)) * 1e-3 - 7).astype(np.float32)
        f['g'] = (r.standard_normal((n, 6)) * 3e4).astype(np.float32)
        f['t'] = np.stack([1e5 + r.standard_normal(n), r.standard_normal(n) * 1e-4], 1).astype(np.float32)
"
job() { # $1: name, $2: layout, $3: inputs
  cat > $1.ini <<INI
[job]
name = $1
seed = 5
[data]
train = d.h5
valid = v.h5
inputs = $3
targets = t
layout = $2
normalize = standard
normalize_targets = standard
[train]
batch = 12
micro_batch = 4
steps = 1
deterministic = true
[optimizer]
type = sgd
lr = 1e-3
[model.f]
type = flatten
[model.out]
type = dense
units = 2
INI
}
job ch channels "a, b"
job ft features "a, g"
for j in ch ft; do
  for n in 1 2 3; do
    mpirun --oversubscribe -n $n "$CASCADE_BIN" train $j.ini --out $j-p$n --quiet
    mpirun --oversubscribe -n $n "$CASCADE_BIN" train $j.ini --out $j-s$n --quiet \
      --set data.memory_budget_mb=0.05 2> $j-s$n.log
    grep -q "streaming the training set" $j-s$n.log
  done
  OMP_NUM_THREADS=2 mpirun --oversubscribe -n 2 "$CASCADE_BIN" train $j.ini --out $j-t2 --quiet
  ref=$j-p1/checkpoints/step-00000001.h5
  for r in $j-p2 $j-p3 $j-s1 $j-s2 $j-s3 $j-t2; do
    h5diff $ref $r/checkpoints/step-00000001.h5 /normalization /normalization
    h5diff $ref $r/checkpoints/step-00000001.h5 /normalization_targets /normalization_targets
  done
  echo "norm_stats: $j: 1, 2, 3 ranks, 2 threads, preloaded and streamed bitwise identical"
  "$py" - "$ref" "$j" <<'PY'
import sys, math, h5py, numpy as np
ck, layout = h5py.File(sys.argv[1], 'r'), sys.argv[2]
d = h5py.File('d.h5', 'r')
def stats(v):  # the serial reference: exact sums, mean and squared deviations in double
    v = np.asarray(v, np.float64).ravel()
    mean = math.fsum(v) / v.size
    sd = math.sqrt(math.fsum((v - mean) ** 2) / v.size)
    return np.float32(mean), np.float32(sd if sd > 1e-12 else 1.0)
cols = {'ch': [('a', d['a'][:]), ('b', d['b'][:])],
        'ft': [('a', d['a'][:]), ('g', d['g'][:])]}[layout]
bad = 0
if layout == 'ch':
    want = [stats(x) for _, x in cols]
    got = [(ck[f'/normalization/{k}/mean'][()], ck[f'/normalization/{k}/std'][()]) for k, _ in cols]
    pairs = [(np.float32(np.ravel(g[0])[0]), np.float32(np.ravel(g[1])[0]), w) for g, w in zip(got, want)]
else:  # features: a (N, 6, 5) gives 5 features per position, g (N, 6) one
    want = [stats(cols[0][1][..., i]) for i in range(5)] + [stats(cols[1][1])]
    m = np.concatenate([np.ravel(ck[f'/normalization/{k}/mean'][()]) for k, _ in cols])
    s = np.concatenate([np.ravel(ck[f'/normalization/{k}/std'][()]) for k, _ in cols])
    pairs = [(np.float32(m[i]), np.float32(s[i]), want[i]) for i in range(6)]
t = d['t'][:]
tm, ts = ck['/normalization_targets/mean'][()], ck['/normalization_targets/std'][()]
pairs += [(np.float32(tm[j]), np.float32(ts[j]), stats(t[:, j])) for j in range(2)]
for gm, gs, (wm, ws) in pairs:
    if gm != wm or gs != ws:
        print(f'mismatch: got mean {gm!r} std {gs!r}, serial reference {wm!r} {ws!r}'); bad += 1
sys.exit(1 if bad else 0)
PY
  echo "norm_stats: $j: equal to the serial exact reference"
done
