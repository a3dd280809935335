#!/usr/bin/env bash
# deterministic = true is bitwise independent of the thread count: the same job on one rank
# with OMP_NUM_THREADS = 1, 2 and 3 writes identical checkpoints (parameters, batch-norm
# statistics, optimizer state) and metrics, for a supervised net with batch norm and dropout
# and for a WGAN-GP (double backward through the critic); 2 ranks x 2 threads agree with
# 1 x 1, and the fast mode on one rank is thread-count independent as well.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-threads.XXXXXX")
cd "$here"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$CASCADE_BIN" simulate airshower -n 600 -o d.h5 --seed 1 >/dev/null
strip() { grep -v '"checkpoint"' "$1" | sed -E 's/"[a-z_]+_s":[^,}]*,?//g'; } # timings aside
same() { # run directories $1 $2, checkpoint step $3
  local ck=checkpoints/step-$(printf %08d "$3").h5
  for group in /params /optimizer; do h5diff "$1/$ck" "$2/$ck" $group $group; done
  cmp <(strip "$1/metrics.jsonl") <(strip "$2/metrics.jsonl")
}

cat > sup.ini <<'INI'
[job]
name = threads-sup
seed = 4
[data]
train = d.h5
inputs = time, signal
log_inputs = signal
targets = logE
normalize = standard
valid_fraction = 0.1
[train]
batch = 60
micro_batch = 20
steps = 12
deterministic = true
checkpoint_every = 12
[optimizer]
type = adam
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
filters = 32
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
units = 96
activation = elu
[model.out]
type = dense
units = 1
INI
for t in 1 2 3; do OMP_NUM_THREADS=$t "$CASCADE_BIN" train sup.ini --out s$t --quiet; done
for t in 2 3; do same s1 s$t 12; echo "supervised: 1 and $t threads bitwise identical"; done
OMP_NUM_THREADS=2 mpirun --oversubscribe -n 2 "$CASCADE_BIN" train sup.ini --out s2r --quiet
same s1 s2r 12
echo "supervised: 1 rank x 1 thread and 2 ranks x 2 threads bitwise identical"

# the fast mode on one rank: the same bits for any thread count too
sed 's/^deterministic = true/deterministic = false/' sup.ini > fast.ini
for t in 1 2; do OMP_NUM_THREADS=$t "$CASCADE_BIN" train fast.ini --out f$t --quiet; done
same f1 f2 12
echo "fast mode, one rank: 1 and 2 threads bitwise identical"

cat > gan.ini <<'INI'
[job]
name = threads-gan
kind = wgan-gp
seed = 2
nets = generator, critic
[data]
train = d.h5
inputs = signal
log_inputs = signal
normalize = standard
[train]
batch = 40
micro_batch = 20
steps = 4
deterministic = true
checkpoint_every = 4
[gan]
latent = 16
critic_steps = 2
[optimizer]
type = adam
lr = 1e-4
betas = 0.5, 0.9
[generator.d1]
type = dense
input = z
units = 128
activation = leaky_relu
[generator.d2]
type = dense
units = 288
activation = leaky_relu
[generator.map]
type = reshape
shape = 32, 3, 3
[generator.up]
type = upsample
scale = 3
[generator.out]
type = conv2d
filters = 1
kernel = 3
padding = same
[critic.c1]
type = conv2d
input = x
filters = 16
kernel = 3
padding = same
[critic.ln1]
type = layernorm
activation = leaky_relu
[critic.c2]
type = conv2d
filters = 32
kernel = 3
stride = 2
padding = 1
activation = leaky_relu
[critic.f]
type = flatten
[critic.h]
type = dense
units = 64
activation = leaky_relu
[critic.out]
type = dense
units = 1
INI
for t in 1 2 3; do OMP_NUM_THREADS=$t "$CASCADE_BIN" train gan.ini --out g$t --quiet; done
for t in 2 3; do same g1 g$t 4; echo "wgan-gp: 1 and $t threads bitwise identical"; done
rm -rf "$here"
