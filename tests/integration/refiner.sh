#!/usr/bin/env bash
# kind = refiner and cascade refine:
#  - pretraining, WGAN-GP critic updates with the history buffer and refiner updates from
#    --init weights equal PyTorch (tests/torch/refiner_ref.py) within 1e-4 of the parameters'
#    change; the refined samples of `cascade refine` equal torch's R(x) within 1e-5;
#  - deterministic = true: bitwise identical nets, optimizers and history for 1, 2, 3 ranks and
#    after a resume on another rank count; `refine` is rank-count invariant and copies labels;
#  - a bce patch critic (several logits per sample) trains; errors name what is wrong;
#  - [refiner] outputs (inputs a (1, 2) and b (1, 3) as tensors of their own, one refiner head
#    each): equal to PyTorch, `refine` writes both under their names; deterministic 1 and 2
#    ranks and a resume 2 -> 1 bitwise equal with per-input standardisation.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-refiner.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
ref="$CASCADE_SOURCE_DIR/tests/torch"
mkdir t
"$py" "$ref/refiner_ref.py" t
"$CASCADE_BIN" train t/job.ini --init t/init.h5 --out t/run --quiet
"$py" "$ref/compare_params.py" t/ref.h5 t/run/checkpoints/step-00000005.h5 1e-4 t/init.h5 | tail -1
"$CASCADE_BIN" refine t/run --data t/sim.h5 -o t/refined.h5
"$py" - <<'PY'
import h5py, numpy as np
r, f = h5py.File("t/refined.h5", "r"), h5py.File("t/ref.h5", "r")
x = np.concatenate([r["a"][:], r["b"][:]], axis=1)
err = np.abs(x - f["refined"][:]).max() / np.abs(f["refined"][:]).max()
print("refine vs torch R(x): relerr %.2e" % err)
assert err < 1e-5
assert r["y"].dtype == np.int32 and (r["y"][:] == np.arange(len(x))).all()
assert r.attrs["domain"] == "refined" and r.attrs["kind"] == "toy"
PY

# ---- deterministic ranks, resume ----
det=(--set train.batch=24 --set train.micro_batch=4 --set train.steps=6 --set train.deterministic=true
     --set train.checkpoint_every=3 --set data.shuffle=true --set optimizer.type=adam --set data.normalize=standard)
last=checkpoints/step-00000006.h5
for n in 1 2 3; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train t/job.ini --out r$n --quiet "${det[@]}" 2> r$n.log || { cat r$n.log; exit 1; }
done
for n in 2 3; do
  h5diff r1/$last r$n/$last /params /params
  h5diff r1/$last r$n/$last /optimizer /optimizer
  h5diff r1/$last r$n/$last /refiner /refiner
done
echo "deterministic refiner: 1, 2, 3 ranks bitwise equal"
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train t/job.ini --out rr --quiet "${det[@]}" --steps 3
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train t/job.ini --out rr --quiet "${det[@]}" --resume auto
h5diff r1/$last rr/$last /params /params
h5diff r1/$last rr/$last /optimizer /optimizer
h5diff r1/$last rr/$last /refiner /refiner
echo "resume 3 -> 2 ranks: bitwise equal"
# fast mode (bucketed, overlapped reduction of both nets) on 2 ranks agrees with 1 rank
fast=(--set data.shuffle=true --set train.batch=24 --set train.micro_batch=4 --set train.steps=6)
"$CASCADE_BIN" train t/job.ini --out f1 --quiet "${fast[@]}"
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train t/job.ini --out f2 --quiet "${fast[@]}"
"$py" "$ref/compare_params.py" f1/$last f2/$last 1e-4 | tail -1
"$CASCADE_BIN" refine r1 --data t/sim.h5 -o ref1.h5
mpirun --oversubscribe -n 3 "$CASCADE_BIN" refine r1 --data t/sim.h5 -o ref3.h5
h5diff ref1.h5 ref3.h5

# ---- a bce patch critic: two logits per sample ----
sed -e 's/^gp_lambda = .*/critic_loss = bce/' -e '/^\[critic.out\]/,$ s/^units = 1$/units = 2/' t/job.ini > bce.ini
"$CASCADE_BIN" train bce.ini --out bce --quiet
grep -q '"split":"train"' bce/metrics.jsonl

# ---- errors ----
# shellcheck source=tests/support/expect.sh
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
sed '/^\[critic.out\]/,$ s/^units = 1$/units = 2/' t/job.ini > two.ini
expect 2 "(a patch critic with one logit per patch needs critic_loss = bce)" -- "$CASCADE_BIN" train two.ini --out e1
expect 2 "resume with the history the run was trained with" -- \
  "$CASCADE_BIN" train t/job.ini --out r1 --quiet "${det[@]}" --set refiner.history=8 --set train.steps=7 --resume auto
"$py" -c "import h5py; f = h5py.File('short.h5', 'w'); f['a'] = [[1.0, 2.0]]; f['b'] = [[1.0, 2.0]]"
expect 3 "the inputs form samples (4); the refiner was trained on (5)" -- \
  "$CASCADE_BIN" refine r1 --data short.h5 -o x.h5
expect 2 "a refiner: use cascade refine" -- "$CASCADE_BIN" generate r1 -n 5 -o x.h5
test ! -e x.h5
# outputs (CONTRACT "Nothing a user gave is lost"): an input or an existing file is kept
kept=$(sha256sum t/sim.h5 ref1.h5)
expect 2 "output t/sim.h5 is the input t/sim.h5" -- "$CASCADE_BIN" refine r1 --data t/sim.h5 -o t/sim.h5 --force
expect 2 "output ref1.h5 exists; give --force" -- "$CASCADE_BIN" refine r1 --data t/sim.h5 -o ref1.h5
test "$(sha256sum t/sim.h5 ref1.h5)" = "$kept"
mpirun --oversubscribe -n 2 "$CASCADE_BIN" refine r1 --data t/sim.h5 -o ref1.h5 --force
h5diff ref1.h5 ref3.h5
sed 's/^shuffle = false/shuffle = false\ncondition = a/' t/job.ini > cond.ini
expect 2 "kind = refiner takes no condition" -- "$CASCADE_BIN" train cond.ini --out e2
expect 2 "1 refiner outputs for 2 inputs" -- "$CASCADE_BIN" train t/job.ini --out e3 --set refiner.outputs=out

# ---- several inputs of different shapes: [refiner] outputs ----
mkdir m
"$py" "$ref/refiner_ref.py" m multi
"$CASCADE_BIN" train m/job.ini --init m/init.h5 --out m/run --quiet
"$py" "$ref/compare_params.py" m/ref.h5 m/run/checkpoints/step-00000005.h5 1e-4 m/init.h5 | tail -1
"$CASCADE_BIN" refine m/run --data m/sim.h5 -o m/refined.h5
"$py" - <<'PY'
import h5py, numpy as np
r, f = h5py.File("m/refined.h5", "r"), h5py.File("m/ref.h5", "r")
assert r["a"].shape == (80, 2) and r["b"].shape == (80, 3), (r["a"].shape, r["b"].shape)
x = np.concatenate([r["a"][:], r["b"][:]], axis=1)
err = np.abs(x - f["refined"][:]).max() / np.abs(f["refined"][:]).max()
print("refine (outputs) vs torch R(x): relerr %.2e" % err)
assert err < 1e-5
assert (r["y"][:] == np.arange(len(x))).all()
PY
for n in 1 2; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train m/job.ini --out m$n --quiet "${det[@]}" 2> m$n.log || { cat m$n.log; exit 1; }
done
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train m/job.ini --out mr --quiet "${det[@]}" --steps 3
"$CASCADE_BIN" train m/job.ini --out mr --quiet "${det[@]}" --resume auto
for r in m2 mr; do
  h5diff m1/$last $r/$last /params /params
  h5diff m1/$last $r/$last /optimizer /optimizer
  h5diff m1/$last $r/$last /refiner /refiner
done
echo "refiner with outputs: 1, 2 ranks and resume 2 -> 1 bitwise equal"
mpirun --oversubscribe -n 2 "$CASCADE_BIN" refine m1 --data m/sim.h5 -o mref2.h5
"$CASCADE_BIN" refine m1 --data m/sim.h5 -o mref1.h5
h5diff mref1.h5 mref2.h5
"$py" -c "import h5py; f = h5py.File('mshort.h5', 'w'); f['a'] = [[1.0, 2.0]]; f['b'] = [[1.0, 2.0]]"
expect 3 "data set 'b' holds samples (1,2); the refiner was trained on (1,3)" -- \
  "$CASCADE_BIN" refine m1 --data mshort.h5 -o x.h5
echo "refiner: all checks passed"
