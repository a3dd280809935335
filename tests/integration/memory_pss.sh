#!/usr/bin/env bash
# Input memory per node (docs/scaling.md "Input memory"): the training and validation sets are
# held once per node in an MPI-3 shared window, whatever the ranks per node. A job training on
# an air-shower shaped file of ~100 MB of inputs runs on 1 rank and on 4 ranks; the summed PSS of the
# ranks (/proc/PID/smaps_rollup: a shared page counts 1/k in each of the k processes mapping it,
# so the window is counted once) is polled while each runs. The same job on a small file gives
# the memory of the ranks themselves (libraries, MPI, buffers), taken off. Checked:
#   4 ranks, one node:               extra input copies < 0.5
#   4 ranks, two fake nodes of 2:    0.5 .. 1.5 (one more copy)
#   4 ranks, windows refused (CASCADE_SHMEM_MIN_BYTES above the set: every rank its own copy,
#   as before): > 2.5 — the measurement sees copies, so the first check can fail.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-pss.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
n_big=${PSS_SHOWERS:-160000}
# air-shower shaped files (time, signal (N, 9, 9), logE (N)), faster than simulating them
"$py" - "$n_big" <<'PY'
import sys, h5py, numpy as np
rng = np.random.default_rng(3)
for name, n in (('big.h5', int(sys.argv[1])), ('small.h5', 4000)):
    with h5py.File(name, 'w') as f:
        f['time'] = rng.standard_normal((n, 9, 9), dtype=np.float32)
        f['signal'] = rng.exponential(size=(n, 9, 9)).astype(np.float32)
        f['logE'] = rng.uniform(17, 20, n).astype(np.float32)
PY

job() { # job NAME FILE
    cat > "$1.ini" <<INI
[job]
name = $1
seed = 7
[data]
train = $2
inputs = time, signal
targets = logE
normalize = standard
normalize_targets = standard
log_inputs = signal
valid_fraction = 0.05
[train]
batch = 64
micro_batch = 16
steps = 4
checkpoint_every = 0
[optimizer]
type = adam
lr = 1e-3
[model.f]
type = flatten
[model.h]
type = dense
units = 8
activation = relu
[model.out]
type = dense
units = 1
INI
}
job big big.h5
job small small.h5

# peak of the summed PSS (kB) of the ranks (the children of mpirun) while the job runs
cat > pss.py <<'PY'
import os, subprocess, sys, time
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
def kids(pid):
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid: out.append(int(d))
            except OSError: pass
    return out
def pss(pid):
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'): return int(line.split()[1])
    except OSError: pass
    return 0
peak = 0
while proc.poll() is None:
    peak = max(peak, sum(pss(k) for k in kids(proc.pid)))
    time.sleep(0.02)
if proc.returncode: sys.exit(f'exit {proc.returncode}: {" ".join(sys.argv[1:])}')
print(peak)
PY
run() { # run RANKS JOB [ENV=VALUE...]: peak summed PSS in kB
    local ranks=$1 name=$2
    shift 2
    env "$@" timeout 300 "$py" pss.py mpirun --oversubscribe -n "$ranks" -x CASCADE_RANKS_PER_NODE -x CASCADE_SHMEM_MIN_BYTES \
        "$CASCADE_BIN" train "$name.ini" --out "run-$name-$ranks-$RANDOM" --quiet
}
unset CASCADE_RANKS_PER_NODE CASCADE_SHMEM_MIN_BYTES
export CASCADE_RANKS_PER_NODE= CASCADE_SHMEM_MIN_BYTES=
# inputs and targets in memory: training + validation rows, float32
input_kb=$("$py" -c "print($n_big * (2 * 81 + 1) * 4 // 1024)")
s1=$(run 1 small); s4=$(run 4 small)
b1=$(run 1 big); b4=$(run 4 big)
f4=$(run 4 big CASCADE_RANKS_PER_NODE=2)
p4=$(run 4 big CASCADE_SHMEM_MIN_BYTES=100000000000)
"$py" - "$input_kb" "$s1" "$s4" "$b1" "$b4" "$f4" "$p4" <<'PY'
import sys
inp, s1, s4, b1, b4, f4, p4 = map(int, sys.argv[1:])
base = s4 - s1  # three more ranks without data
print(f'inputs {inp / 1024:.1f} MB; small file: 1 rank {s1 / 1024:.1f} MB, 4 ranks {s4 / 1024:.1f} MB')
fails = []
for name, v, lo, hi in (('4 ranks, one node (shared window)', b4, None, 0.5),
                        ('4 ranks, two fake nodes of 2', f4, 0.5, 1.5),
                        ('4 ranks, private copies (as before)', p4, 2.5, None)):
    extra = (v - b1 - base) / inp
    print(f'{name}: peak summed PSS {v / 1024:.1f} MB vs 1 rank {b1 / 1024:.1f} MB: '
          f'+{(v - b1) / 1024:.1f} MB, {(v - b1) / inp:.2f} input copies raw, {extra:.2f} without the ranks\' own memory')
    if (lo is not None and extra < lo) or (hi is not None and extra > hi):
        want = f'< {hi}' if lo is None else f'> {lo}' if hi is None else f'{lo} .. {hi}'
        fails.append(f'{name}: {extra:.2f} extra input copies, expected {want}')
if fails: sys.exit('\n'.join(fails))
PY
