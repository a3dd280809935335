#!/usr/bin/env bash
# A GAN over several inputs of different shapes ([gan] outputs: one generator layer per input,
# the critic reading each input by its name), conditional: equal to PyTorch (gan_multi_ref.py)
# within 1e-4 of the parameters' change; with normalize = standard and log_inputs, bitwise
# identical for 1, 2 and 3 ranks and after a resume; generate writes every input in its shape
# and physical units, rank-count invariant; errors name what is wrong.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-gan-multi.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
ref="$CASCADE_SOURCE_DIR/tests/torch"
mkdir t
"$py" "$ref/gan_multi_ref.py" t
"$CASCADE_BIN" train t/job.ini --init t/init.h5 --out t/run --quiet
"$py" "$ref/compare_params.py" t/ref.h5 t/run/checkpoints/step-00000003.h5 1e-4 t/init.h5 | tail -1

det=(--set train.batch=24 --set train.micro_batch=4 --set train.steps=6 --set train.deterministic=true
     --set train.checkpoint_every=3 --set data.shuffle=true --set optimizer.type=adam --set data.normalize=standard
     --set data.log_inputs=a)
last=checkpoints/step-00000006.h5
for n in 1 2 3; do
  mpirun --oversubscribe -n $n "$CASCADE_BIN" train t/job.ini --out r$n --quiet "${det[@]}"
done
for n in 2 3; do
  h5diff r1/$last r$n/$last /params /params
  h5diff r1/$last r$n/$last /optimizer /optimizer
done
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train t/job.ini --out rr --quiet "${det[@]}" --steps 3
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train t/job.ini --out rr --quiet "${det[@]}" --resume auto
h5diff r1/$last rr/$last /params /params
h5diff r1/$last rr/$last /optimizer /optimizer
echo "multi-input: 1, 2, 3 ranks and resume bitwise equal"

"$CASCADE_BIN" generate r1 -n 40 -o g1.h5 --condition t/data.h5
mpirun --oversubscribe -n 2 "$CASCADE_BIN" generate r1 -n 40 -o g2.h5 --condition t/data.h5
h5diff g1.h5 g2.h5
"$py" - <<'PY'
import h5py, numpy as np
g, d = h5py.File("g1.h5", "r"), h5py.File("t/data.h5", "r")
assert g["a"].shape == (40, 2, 3) and g["b"].shape == (40, 4) and g["e"].shape == (40, 1), [g[k].shape for k in g]
assert (g["a"][:] > -1).all()  # log_inputs undone: 10^v - 1 > -1
assert abs(g["b"][:].mean() - d["b"][:].mean()) < 1.0, (g["b"][:].mean(), d["b"][:].mean())
print("generate: a %s mean %.3f (data %.3f), b %s" % (g["a"].shape, g["a"][:].mean(), d["a"][:].mean(), g["b"].shape))
PY

# shellcheck source=tests/support/expect.sh
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
expect 2 "2 generator outputs for 1 inputs" -- "$CASCADE_BIN" train t/job.ini --out e1 --set data.inputs=a
expect 2 "no layer 'rx' in net generator" -- "$CASCADE_BIN" train t/job.ini --out e2 --set gan.outputs="ra, rx"
expect 2 "must produce samples shaped like b: layer ra ([gan] outputs) is (1,2,3), b is (1,4)" -- \
  "$CASCADE_BIN" train t/job.ini --out e3 --set gan.outputs="ra, ra"
echo "gan_multi: all checks passed"
