#!/usr/bin/env bash
# Robust resume (deterministic mode): a run resumed from a checkpoint — on another rank
# count, after kill -9 of one rank mid-run, or after kills that land during checkpoint
# writes — ends bitwise identical to a run that never stopped; LATEST never names a partial
# file.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-resume.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 300 -o d.h5 --seed 8 >/dev/null
"$py" -c "
import h5py, numpy as np
with h5py.File('d.h5', 'a') as f: f['logsignal'] = np.log1p(f['signal'][:])"
cat > job.ini <<'INI'
[job]
name = resume
seed = 4
[data]
train = d.h5
inputs = time, logsignal
targets = logE
normalize = standard
[train]
batch = 24
micro_batch = 4
steps = 60
deterministic = true
checkpoint_every = 10
keep_checkpoints = 2
[optimizer]
type = adamw
lr = 2e-3
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
[model.drop]
type = dropout
rate = 0.1
[model.out]
type = dense
units = 1
INI
same() { # same RUN_A RUN_B: final checkpoints bitwise equal in params and optimizer state
  h5diff "$1/checkpoints/step-00000060.h5" "$2/checkpoints/step-00000060.h5" /params /params
  h5diff "$1/checkpoints/step-00000060.h5" "$2/checkpoints/step-00000060.h5" /optimizer /optimizer
  h5diff "$1/checkpoints/step-00000060.h5" "$2/checkpoints/step-00000060.h5" /data /data
}
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out ref --quiet

# 1. written by 2 ranks, resumed on 3
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out r23 --quiet --steps 30
test "$(head -n1 r23/checkpoints/LATEST)" = step-00000030.h5
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train job.ini --out r23 --quiet --resume auto
same ref r23
echo "resume: 2 ranks -> 3 ranks bitwise identical"

# 2. kill -9 of one rank mid-run, then --resume auto
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out k --quiet &
launcher=$!
for _ in $(seq 200); do
  [ -f k/checkpoints/LATEST ] && break
  sleep 0.05
done
victim=$(pgrep -f "cascade train job.ini --out k" | grep -v "^$launcher$" | tail -1 || true)
[ -n "$victim" ] && kill -9 "$victim" || true
wait $launcher && { echo "FAIL: the run finished before a rank was killed"; exit 1; }
echo "resume: killed rank process $victim after $(head -n1 k/checkpoints/LATEST)"
if [ -f k/checkpoints/LATEST ]; then
  "$CASCADE_BIN" info "k/checkpoints/$(head -n1 k/checkpoints/LATEST)" >/dev/null
fi
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out k --quiet --resume auto
same ref k
echo "resume: after kill -9 of a rank, bitwise identical"

# 3. kills landing during checkpoint writes (a checkpoint every step)
sed 's/^checkpoint_every = 10/checkpoint_every = 1/' job.ini > every.ini
for i in 1 2 3 4 5 6; do
  "$CASCADE_BIN" train every.ini --out w --quiet --resume auto &
  pid=$!
  before=$(head -n1 w/checkpoints/LATEST 2>/dev/null || true)
  for _ in $(seq 400); do  # until this run has written a checkpoint of its own
    now=$(head -n1 w/checkpoints/LATEST 2>/dev/null || true)
    [ -n "$now" ] && [ "$now" != "$before" ] && break
    sleep 0.01
  done
  sleep "0.0$((RANDOM % 10))"
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  echo "resume: kill $i at $(head -n1 w/checkpoints/LATEST 2>/dev/null || echo 'no checkpoint yet'), $(ls w/checkpoints 2>/dev/null | grep -c tmp || true) partial file(s) left"
  if [ -f w/checkpoints/LATEST ]; then
    latest=$(head -n1 w/checkpoints/LATEST)
    "$CASCADE_BIN" info "w/checkpoints/$latest" | grep -q "cascade checkpoint"
  fi
done
"$CASCADE_BIN" train every.ini --out w --quiet --resume auto
same ref w
echo "resume: after kills during checkpoint writes, bitwise identical"
rm -rf "$here"
