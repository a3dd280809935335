#!/usr/bin/env bash
# deterministic = true holds for every (ranks x threads per rank) pair, as users run it (the
# README's rule sets OMP_NUM_THREADS = cores / ranks, so the thread count changes with the rank
# count): a supervised job (batch norm, dropout, max pooling, AdamW) and a WGAN-GP job (double
# backward), each with 6 micro-batches per step, on 1x1, 1x2, 2x1, 3x2, 4x1 and 5x1 ranks x
# threads (5 ranks: an uneven deal) give bitwise the same parameters, optimizer state and
# losses; a run started on 2x1 and resumed on 4x2 too; 7 ranks (more than micro-batches) are
# refused with exit 2 naming the largest usable rank count (once, not once per rank).
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-rxt.XXXXXX")
cd "$here"
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# 2 cores run up to 6 threads here: idle threads must sleep rather than spin for seconds
export OMP_WAIT_POLICY=PASSIVE
"$CASCADE_BIN" simulate airshower -n 1200 -o d.h5 --seed 5 >/dev/null

cat > sup.ini <<'INI'
[job]
name = rxt-supervised
seed = 11
[data]
train = d.h5
inputs = time, signal
targets = logE
normalize = standard
log_inputs = signal
valid_fraction = 0.2
[train]
; micro-batches large enough that the ops' loops run on several threads
batch = 384
micro_batch = 64
steps = 8
deterministic = true
checkpoint_every = 6
[optimizer]
type = adamw
lr = 3e-3
[model.c1]
type = conv2d
filters = 16
kernel = 3
padding = same
bias = false
[model.bn]
type = batchnorm
activation = relu
[model.c2]
type = conv2d
filters = 8
kernel = 3
padding = same
activation = relu
[model.pool]
type = maxpool
size = 2
[model.f]
type = flatten
[model.drop]
type = dropout
rate = 0.2
[model.h]
type = dense
units = 24
activation = elu
[model.out]
type = dense
units = 1
INI

cat > gan.ini <<'INI'
[job]
name = rxt-wgan-gp
kind = wgan-gp
seed = 3
[data]
train = d.h5
inputs = signal
layout = channels
log_inputs = signal
normalize = standard
[train]
batch = 192
micro_batch = 32
steps = 4
deterministic = true
checkpoint_every = 2
[gan]
latent = 8
critic_steps = 2
[generator.d1]
type = dense
units = 32
activation = elu
[generator.d2]
type = dense
units = 81
[generator.img]
type = reshape
shape = 1, 9, 9
[critic.c1]
type = conv2d
filters = 32
kernel = 3
padding = same
activation = leaky_relu
[critic.f]
type = flatten
[critic.d1]
type = dense
units = 16
activation = tanh
[critic.out]
type = dense
units = 1
bias = false
INI

run() { # run RANKS THREADS JOB OUT [args...]
  local ranks=$1 threads=$2 job=$3 out=$4
  shift 4
  mpirun --oversubscribe -n "$ranks" -x OMP_NUM_THREADS="$threads" -x OMP_WAIT_POLICY \
    "$CASCADE_BIN" train "$job" --out "$out" --quiet "$@"
}
same() { # same RUN_A RUN_B CHECKPOINT [params-only]: parameters, optimizer state and losses bitwise equal
  h5diff "$1/checkpoints/$3" "$2/checkpoints/$3" /params /params
  h5diff "$1/checkpoints/$3" "$2/checkpoints/$3" /optimizer /optimizer
  [[ -z ${4:-} ]] || return 0 # a resumed run logs other windows of steps
  strip() { grep -v '"checkpoint"' "$1" | sed -E 's/"[a-z_]+_s(_max|_mean)?":[^,}]*,?//g'; }
  cmp <(strip "$1/metrics.jsonl") <(strip "$2/metrics.jsonl")
}
for job in sup gan; do
  steps=$(sed -n 's/^steps = //p' $job.ini)
  ckpt=$(printf 'step-%08d.h5' "$steps")
  run 1 1 $job.ini $job-1x1
  for rt in 1x2 2x1 3x2 4x1 5x1; do
    run "${rt%x*}" "${rt#*x}" $job.ini "$job-$rt"
    same $job-1x1 "$job-$rt" "$ckpt"
    echo "$job: ${rt%x*} ranks x ${rt#*x} threads bitwise identical to 1 x 1"
  done
  run 2 1 $job.ini $job-resume --steps $((steps / 2))
  run 4 2 $job.ini $job-resume --resume auto
  same $job-1x1 $job-resume "$ckpt" params-only
  echo "$job: started on 2 x 1, resumed on 4 x 2, bitwise identical to 1 x 1"
done
expect 2 "run on at most 6 ranks" -- run 7 1 sup.ini sup-7
# a usage error is found alike by every rank: said once, not once per rank
[[ $(grep -c "error" err.log) == 1 ]] || { cat err.log; exit 1; }
echo "ranks x threads: ok"
rm -rf "$here"
