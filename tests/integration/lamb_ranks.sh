#!/usr/bin/env bash
# LAMB and LARS keep deterministic = true's promise: their per-tensor norms are exact sums
# over the ZeRO-1 shards (each rank's partial sums added over the ranks), so 1 x 1, 1 x 2,
# 2 x 1 and 3 x 2 ranks x threads give bitwise the same parameters, optimizer state and
# losses — for a supervised job (lamb, linear lr scaling, warm-up; and lars) and a WGAN-GP
# whose nets both use lamb; a lamb run started on 2 x 1 and resumed on 3 x 2 too. The
# start-up log states the scaled lr.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-lamb.XXXXXX")
cd "$here"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
"$CASCADE_BIN" simulate airshower -n 600 -o d.h5 --seed 5 >/dev/null

cat > sup.ini <<'INI'
[job]
name = lamb-supervised
seed = 11
[data]
train = d.h5
inputs = time, signal
targets = logE
normalize = standard
log_inputs = signal
[train]
batch = 192
micro_batch = 32
steps = 5
deterministic = true
checkpoint_every = 5
[optimizer]
type = lamb
lr = 1e-3
lr_scaling = linear
reference_batch = 48
warmup = 2
[model.c1]
type = conv2d
filters = 8
kernel = 3
padding = same
activation = relu
[model.f]
type = flatten
[model.h]
type = dense
units = 16
activation = elu
[model.out]
type = dense
units = 1
INI
sed -e 's/^type = lamb/type = lars\nlr_scaling = sqrt/' -e '/^lr_scaling = linear/d' -e 's/^lr = 1e-3/lr = 0.5/' \
  sup.ini > lars.ini

cat > gan.ini <<'INI'
[job]
name = lamb-wgan-gp
kind = wgan-gp
seed = 3
[data]
train = d.h5
inputs = signal
log_inputs = signal
normalize = standard
[train]
batch = 96
micro_batch = 32
steps = 3
deterministic = true
checkpoint_every = 3
[optimizer]
type = lamb
lr = 1e-3
[gan]
latent = 8
critic_steps = 2
[generator.d1]
type = dense
units = 81
[generator.img]
type = reshape
shape = 1, 9, 9
[critic.c1]
type = conv2d
filters = 8
kernel = 3
padding = same
activation = leaky_relu
[critic.f]
type = flatten
[critic.out]
type = dense
units = 1
INI

run() { # run RANKS THREADS JOB OUT [args...]
  local ranks=$1 threads=$2 job=$3 out=$4
  shift 4
  mpirun --oversubscribe -n "$ranks" -x OMP_NUM_THREADS="$threads" -x OMP_WAIT_POLICY \
    "$CASCADE_BIN" train "$job" --out "$out" "$@" 2> "$out.log"
}
same() { # same RUN_A RUN_B CHECKPOINT
  h5diff "$1/checkpoints/$3" "$2/checkpoints/$3" /params /params
  h5diff "$1/checkpoints/$3" "$2/checkpoints/$3" /optimizer /optimizer
  strip() { grep -v '"checkpoint"' "$1" | sed -E 's/"[a-z_]+_s(_max|_mean)?":[^,}]*,?//g'; }
  cmp <(strip "$1/metrics.jsonl") <(strip "$2/metrics.jsonl")
}
for job in sup lars gan; do
  steps=$(sed -n 's/^steps = //p' $job.ini)
  ckpt=$(printf 'step-%08d.h5' "$steps")
  run 1 1 $job.ini $job-1x1
  for rt in 1x2 2x1 3x2; do
    run "${rt%x*}" "${rt#*x}" $job.ini "$job-$rt"
    same $job-1x1 "$job-$rt" "$ckpt"
    echo "$job: ${rt%x*} ranks x ${rt#*x} threads bitwise identical to 1 x 1"
  done
done
run 2 1 sup.ini sup-resume --steps 2
run 3 2 sup.ini sup-resume --resume auto
h5diff sup-1x1/checkpoints/step-00000005.h5 sup-resume/checkpoints/step-00000005.h5 /params /params
h5diff sup-1x1/checkpoints/step-00000005.h5 sup-resume/checkpoints/step-00000005.h5 /optimizer /optimizer
echo "sup: started on 2 x 1, resumed on 3 x 2, bitwise identical to 1 x 1"
# the parameters moved, and lamb keeps Adam's moments
! h5diff -q sup-1x1/checkpoints/step-00000005.h5 lars-1x1/checkpoints/step-00000005.h5 /params /params >/dev/null
h5ls -r sup-1x1/checkpoints/step-00000005.h5 | grep -q exp_avg_sq
grep -q "lr 0.001 x 4 (linear, batch 192 / reference 48) = 0.004" sup-1x1.log
grep -q "lr 0.5 x 2 (sqrt, batch 192 / reference 48) = 1" lars-1x1.log
echo "lamb/lars ranks x threads: ok"
rm -rf "$here"
