#!/usr/bin/env bash
# Adversarial training (kind = gan | wgan | wgan-gp):
#  - a few updates from --init weights equal PyTorch (float64, z and alpha drawn as cascade
#    draws them, the penalty through autograd.grad(create_graph=True)) within 1e-4 of the
#    parameters' change, for every kind, a conditional wgan-gp, one with a constrainer and
#    spectrally normalised critics (wgan, wgan-gp);
#  - deterministic = true: both nets and both optimizers bitwise identical for 1, 2 and 3 ranks
#    and after a resume on another rank count; the fast mode on 2 ranks agrees with 1 rank;
#  - cascade generate: shapes and names of the inputs, physical units, rank-count invariance,
#    seeds; errors (exit 2) that name what is wrong.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-gan.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
ref="$CASCADE_SOURCE_DIR/tests/torch"
"$py" "$ref/philox.py"

# ---- PyTorch references ----
for kind in gan wgan wgan-gp wgan-gp-cond wgan-gp-cond-constr wgan-sn wgan-gp-sn; do
  mkdir -p "t-$kind"
  "$py" "$ref/gan_ref.py" "$kind" "t-$kind"
  "$CASCADE_BIN" train "t-$kind/job.ini" --init "t-$kind/init.h5" --out "t-$kind/run" --quiet
  echo "== $kind vs torch"
  "$py" "$ref/compare_params.py" "t-$kind/ref.h5" "t-$kind/run/checkpoints/step-00000004.h5" 1e-4 "t-$kind/init.h5" |
    tail -1
done

# ---- rank invariance and resume (deterministic), fast mode ----
cp t-wgan-gp-cond/data.h5 d.h5
cat > job.ini <<'INI'
[job]
name = gan-det
kind = wgan-gp
seed = 3
[data]
train = d.h5
inputs = a, b
layout = features
condition = e
normalize = standard
[train]
batch = 24
micro_batch = 4
steps = 6
deterministic = true
checkpoint_every = 3
[gan]
latent = 5
critic_steps = 2
[generator.zc]
type = concat
input = z, c
[generator.d1]
type = dense
units = 12
activation = elu
[generator.out]
type = dense
units = 5
[critic.xc]
type = concat
input = x, c
[critic.d1]
type = dense
units = 12
activation = tanh
[critic.d2]
type = dense
units = 6
activation = leaky_relu
[critic.out]
type = dense
units = 1
; a Wasserstein critic's output bias has an identically zero gradient (it cancels between
; real and generated scores): Adam would turn the rounding noise of the fast-mode sum into
; full steps, so leave it out
bias = false
INI
strip() { sed -E 's/"[a-z_]+_s":[^,}]*,?//g' "$1"; } # timings (keys ending in _s) aside
last=checkpoints/step-00000006.h5
for n in 1 2 3; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train job.ini --out r$n --quiet
done
for n in 2 3; do
  h5diff r1/$last r$n/$last /params /params
  h5diff r1/$last r$n/$last /optimizer /optimizer
  cmp <(strip r1/metrics.jsonl) <(strip r$n/metrics.jsonl)
done
echo "deterministic: 1, 2, 3 ranks bitwise equal"
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train job.ini --out rr --quiet --steps 3
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out rr --quiet --resume auto
h5diff r1/$last rr/$last /params /params
h5diff r1/$last rr/$last /optimizer /optimizer
echo "resume 3 -> 2 ranks: bitwise equal"
# ZeRO-1 for both nets: the same bits on 2 and 3 ranks, less optimizer state per rank
"$CASCADE_BIN" train job.ini --out z1 --set train.zero=1 2> z1.log >/dev/null
for n in 2 3; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train job.ini --out z$n --set train.zero=1 2> z$n.log >/dev/null
  h5diff r1/$last z$n/$last /params /params
  h5diff r1/$last z$n/$last /optimizer /optimizer
  one=$(sed -n 's/^optimizer state: \([0-9]*\) bytes per rank.*/\1/p' z1.log)
  mine=$(sed -n 's/^optimizer state: \([0-9]*\) bytes per rank.*/\1/p' z$n.log)
  [[ -n $one && -n $mine && $mine -lt $one ]] || { echo "optimizer bytes per rank: $mine on $n ranks vs $one"; exit 1; }
  grep -q "sharded over the ranks" z$n.log
  echo "zero = 1 on $n ranks: bitwise equal to 1 rank, optimizer state $mine bytes per rank (1 rank: $one)"
done
# the fast mode with zero = 1 on 2 ranks agrees with 1 rank
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out zf2 --quiet --set train.deterministic=false --set train.zero=1
"$CASCADE_BIN" train job.ini --out f1 --quiet --set train.deterministic=false
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out f2 --quiet --set train.deterministic=false
"$py" "$ref/compare_params.py" f1/$last f2/$last 1e-4 | tail -1
"$py" "$ref/compare_params.py" f1/$last zf2/$last 1e-4 | tail -1
# SIGUSR1 on 2 ranks: checkpoint at the end of the step, exit 75; --resume auto finishes bitwise
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train job.ini --out sig --quiet --set train.steps=1000000 \
  --set train.checkpoint_every=0 2> sig.log &
launcher=$!
for _ in $(seq 100); do
  sleep 0.1
  grep -q "training gan-det" sig.log 2>/dev/null && break
done
sleep 0.5
pkill -USR1 -f "cascade train job.ini --out sig" || true
set +e
wait $launcher
rc=$?
set -e
[[ $rc == 75 ]] || { echo "expected exit 75 after SIGUSR1, got $rc"; cat sig.log; exit 1; }
stopped=$(head -n1 sig/checkpoints/LATEST)
echo "SIGUSR1: exit 75 at $stopped"
# the uninterrupted reference for the same number of steps
n=$(sed 's/step-0*\([0-9]*\).h5/\1/' <<<"$stopped")
mpirun --oversubscribe -n 1 "$CASCADE_BIN" train job.ini --out sigref --quiet --steps "$n" \
  --set train.checkpoint_every=0
h5diff "sig/checkpoints/$stopped" "sigref/checkpoints/$stopped" /params /params
h5diff "sig/checkpoints/$stopped" "sigref/checkpoints/$stopped" /optimizer /optimizer
echo "SIGUSR1 checkpoint bitwise equal to an uninterrupted run of $n steps"
# without a signal or --resume, a run directory with checkpoints is never overwritten
if "$CASCADE_BIN" train job.ini --out r1 --quiet 2> over.log; then exit 1; fi
grep -q "already holds checkpoints" over.log

# ---- generate ----
"$CASCADE_BIN" generate r1 -n 50 -o g1.h5 --condition d.h5
mpirun --oversubscribe -n 3 "$CASCADE_BIN" generate r1 -n 50 -o g3.h5 --condition d.h5
h5diff g1.h5 g3.h5
"$CASCADE_BIN" generate r1 -n 50 -o g7.h5 --condition d.h5 --seed 7
if h5diff -q g1.h5 g7.h5 /a /a; then echo "another seed gave the same samples"; exit 1; fi
"$py" - <<'PY'
import h5py, numpy as np
g, d = h5py.File("g1.h5", "r"), h5py.File("d.h5", "r")
assert g["a"].shape == (50, 2) and g["b"].shape == (50, 3) and g["e"].shape == (50, 1), list(g)
assert np.array_equal(g["e"][:], d["e"][:50])
# physical units: the normalisation is undone (the data's a has mean ~3, b ~ -0.5)
assert abs(g["a"][:].mean() - d["a"][:].mean()) < 3 * d["a"][:].std(), (g["a"][:].mean(), d["a"][:].mean())
assert g.attrs["generator"] == "cascade generate"
print("generate ok: a mean %.3f (data %.3f)" % (g["a"][:].mean(), d["a"][:].mean()))
PY

# ---- sample_every: pictures of 2-D samples (a conv critic with layernorm) ----
"$py" -c "
import h5py, numpy as np
r = np.random.default_rng(1)
with h5py.File('maps.h5', 'w') as f: f['img'] = r.gamma(2.0, 1.0, size=(64, 4, 6)).astype(np.float32)"
cat > maps.ini <<'INI'
[job]
name = maps
kind = wgan-gp
[data]
train = maps.h5
inputs = img
normalize = standard
[train]
batch = 16
steps = 4
[gan]
latent = 4
critic_steps = 1
sample_every = 2
[generator.d1]
type = dense
units = 24
[generator.img]
type = reshape
shape = 1, 4, 6
[critic.c1]
type = conv2d
input = x
filters = 3
kernel = 3
padding = same
activation = leaky_relu
[critic.ln]
type = layernorm
[critic.flat]
type = flatten
[critic.out]
type = dense
units = 1
INI
"$CASCADE_BIN" train maps.ini --out maps --quiet
"$py" - <<'PY'
import struct
for step in (2, 4):
    head = open("maps/samples/step-%08d.png" % step, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    w, h = struct.unpack(">II", head[16:24])
    assert w > h > 0 and abs(w / h - (8 * 7 - 1) / 4) < 0.5, (w, h)  # 8 samples of 4x6 side by side
print("sample pictures ok")
PY

# ---- errors ----
# shellcheck source=tests/support/expect.sh
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
sed 's/^\[critic.d1\]/[critic.bn]\ntype = batchnorm\n[critic.d1]/' job.ini > bn.ini
expect 2 "critic.bn (type batchnorm) cannot be in a wgan-gp critic: batch norm couples the samples" -- \
  "$CASCADE_BIN" train bn.ini --out e1 --quiet
sed 's/^units = 5$/units = 4/' job.ini > shape.ini
expect 2 "the generator (net generator) must produce samples shaped like x: its output is (4), x is (5)" -- \
  "$CASCADE_BIN" train shape.ini --out e2 --quiet
awk '/^\[critic.out\]/{o=1} o&&/^units = 1$/{print "units = 2"; next} {print}' job.ini > score.ini
expect 2 "the critic (net critic) must give one score per sample: its output is (2)" -- \
  "$CASCADE_BIN" train score.ini --out e3 --quiet
expect 2 "a kind = supervised regression model is needed" -- \
  "$CASCADE_BIN" train job.ini --out e4 --quiet --set gan.constrainer=r1
# a constrainer in the normalised job: its own (un-normalised) input space is mapped
"$CASCADE_BIN" train job.ini --out c1 --quiet --set gan.constrainer=t-wgan-gp-cond-constr/constr.h5 --steps 2
grep -q constrainer_mse c1/metrics.jsonl
expect 2 "give --condition FILE.h5" -- "$CASCADE_BIN" generate r1 -n 5 -o x.h5
expect 2 "-n 500 asks for more" -- "$CASCADE_BIN" generate r1 -n 500 -o x.h5 --condition d.h5
expect 2 "expected a positive integer" -- "$CASCADE_BIN" generate r1 -n 0 -o x.h5
expect 2 "refine needs a kind = refiner run (a gan samples with cascade generate)" -- \
  "$CASCADE_BIN" refine r1 --data d.h5 -o x.h5
test ! -e x.h5
# outputs (CONTRACT "Nothing a user gave is lost"): an input or an existing file is kept
kept=$(sha256sum d.h5 g1.h5)
expect 2 "output d.h5 is the input d.h5" -- "$CASCADE_BIN" generate r1 -n 50 -o d.h5 --condition d.h5 --force
expect 2 "output g1.h5 exists; give --force" -- "$CASCADE_BIN" generate r1 -n 50 -o g1.h5 --condition d.h5 --seed 7
test "$(sha256sum d.h5 g1.h5)" = "$kept"
"$CASCADE_BIN" generate r1 -n 50 -o g1.h5 --condition d.h5 --seed 7 --force
h5diff g1.h5 g7.h5
echo "gan: all checks passed"
