#!/usr/bin/env bash
# Streaming with asynchronous prefetch (rows read with pread() by a background thread while
# the step computes) gives the same bits as the collective HDF5 reads (CASCADE_PREFETCH=0):
# parameters, optimizer state and metrics at 1 and 3 ranks x 1 and 2 threads, across epoch
# ends, with log_inputs, normalize_targets and a valid_fraction split, and resumed mid-epoch;
# a chunked, compressed file falls back to HDF5 reads with the same result; a NaN in a
# prefetched row stops every rank with the HDF5 path's message.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-prefetch.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 300 -o d.h5 --seed 7 >/dev/null
"$py" -c "
import h5py
with h5py.File('d.h5', 'r') as f, h5py.File('z.h5', 'w') as g:
    for k in ('time', 'signal', 'logE'):
        g.create_dataset(k, data=f[k][:], chunks=True, compression='gzip')
"
cat > job.ini <<'INI'
[job]
name = prefetch
seed = 3
[data]
train = d.h5
inputs = time, signal
log_inputs = signal
targets = logE
normalize = standard
normalize_targets = standard
valid_fraction = 0.2
memory_budget_mb = 0.01
[train]
batch = 36
micro_batch = 4
steps = 20
deterministic = true
checkpoint_every = 5
[optimizer]
type = adamw
lr = 3e-3
[model.c1]
type = conv2d
filters = 4
kernel = 3
padding = same
activation = relu
[model.f]
type = flatten
[model.drop]
type = dropout
rate = 0.1
[model.out]
type = dense
units = 1
INI
# 240 training samples, 6 steps per epoch: steps 6, 12, 18 start an epoch
same() { # same RUN_A RUN_B: step 20's parameters and optimizer state bitwise equal
  h5diff $1/checkpoints/step-00000020.h5 $2/checkpoints/step-00000020.h5 /params /params
  h5diff $1/checkpoints/step-00000020.h5 $2/checkpoints/step-00000020.h5 /optimizer /optimizer
}
strip() { grep -v '"checkpoint"' "$1" | sed -E 's/"[a-z_]+_s":[^,}]*,?//g'; } # losses, metrics
CASCADE_PREFETCH=0 "$CASCADE_BIN" train job.ini --out ref --quiet 2> ref.log
grep -q "HDF5 reads" ref.log
for n in 1 3; do
  for t in 1 2; do
    OMP_NUM_THREADS=$t mpirun --oversubscribe -n $n "$CASCADE_BIN" train job.ini --out p$n$t --quiet 2> p$n$t.log
    grep -q "next step prefetched" p$n$t.log
    same ref p$n$t
    cmp <(strip ref/metrics.jsonl) <(strip p$n$t/metrics.jsonl)
    echo "prefetch: $n rank(s), $t thread(s) bitwise identical to HDF5 reads"
  done
done
# resumed mid-epoch (step 10 of 6..12) on another rank count, with prefetch
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out r --quiet --steps 10
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train job.ini --out r --quiet --resume auto 2> r.log
same ref r # (its metrics hold one more validation, at the interruption)
echo "prefetch: resumed mid-epoch (2 -> 3 ranks) bitwise identical"
# chunked + compressed: no byte offsets, HDF5 reads
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train job.ini --out z --quiet --set data.train=z.h5 2> z.log
grep -q "HDF5 reads" z.log
same ref z
echo "prefetch: chunked, compressed file read through HDF5, bitwise identical"
# a NaN in one training row: exit 3 naming the file, data set and row, as with HDF5 reads
"$py" -c "
import h5py, numpy as np
with h5py.File('d.h5', 'a') as f:
    t = f['time'][:]; t[150, 4, 4] = np.nan; f['time'][...] = t
"
# (found by the normalisation pass, or with normalize = none by the step that reads it)
for norm in standard none; do
  for mode in 0 1; do
    set +e
    CASCADE_PREFETCH=$mode timeout 300 mpirun --oversubscribe -n 3 "$CASCADE_BIN" train job.ini --out nan$mode$norm \
      --quiet --set data.normalize=$norm --set data.normalize_targets=$norm 2> nan$mode$norm.log
    rc=$?
    set -e
    test $rc -eq 3 || { echo "exit $rc"; cat nan$mode$norm.log; exit 1; }
    grep -q "d.h5: data set 'time' holds NaN at row 150" nan$mode$norm.log || { cat nan$mode$norm.log; exit 1; }
  done
done
echo "prefetch: a NaN row stops all ranks with exit 3 naming d.h5, 'time', row 150, as with HDF5 reads"
