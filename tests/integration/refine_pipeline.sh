#!/usr/bin/env bash
# slurm/refine-pipeline.sh with tiny sizes (issue #8):
#  i.  --local (mpirun -n 2): every step runs, the closure table and closure.json appear;
#      run again: every step is skipped; a training rolled back to an earlier checkpoint (its
#      marker gone) resumes with --resume auto from there, and only the steps after it re-run;
#      another size for an existing step, a missing job file and bad options are errors (exit 2);
#      --xmax on the same directory adds only the Xmax regressors and closure-xmax.json.
#  ii. on a private single-node SLURM (scripts/slurm-local.sh; needs root and the slurmctld
#      slurmd slurm-client munge packages; fails, never skips, without them), in a state
#      directory of its own: the chain submitted held (--sbatch-arg=--hold); a second run
#      submits nothing new (the pending jobs are reused); released, the jobs run in dependency
#      order (each starts after the jobs it depends on have ended), all COMPLETED, and the
#      final metrics and the closure are those of the local chain's regressors' kind; a third
#      run skips everything.
set -euo pipefail
src=${CASCADE_SOURCE_DIR:?}
cascade=${CASCADE_BIN:?}
build=${CASCADE_BUILD_DIR:-$src/build}
unset SLURM_CONF # never a real cluster: only the private one started below
export CASCADE=$cascade CASCADE_PYTHON=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
pipeline=$src/slurm/refine-pipeline.sh
here=$(mktemp -d "$build/it-refine-pipeline.XXXXXX")
cd "$here"
state=$build/slurm-test-pipeline # not it_slurm's build/slurm-test
cluster=$src/scripts/slurm-local.sh

fail() {
  echo "refine_pipeline test FAILED: $*" >&2
  local f
  for f in "$here"/*.log "$here"/*/logs/*; do
    [[ -f $f ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 20 "$f" >&2
  done
  if [[ -n ${SLURM_CONF:-} ]]; then timeout 10 scontrol show job >&2 || true; fi
  exit 1
}
# expect CODE TEXT -- command...: exit code CODE and TEXT in its stderr
expect() {
  local code=$1 text=$2 rc=0
  shift 3
  "$@" >err.out 2>err.log || rc=$?
  if [[ $rc != "$code" ]] || ! grep -qF -- "$text" err.log; then
    fail "expected exit $code and '$text' from: $* (got $rc: $(cat err.log))"
  fi
}

tiny=(--ranks 2 --sim-events 400 --data-events 400 --test-events 200 --refiner-steps 6
  --set-refiner refiner.pretrain_steps=2 --set-refiner refiner.history=64 --regressor-steps 30
  --set-regressor train.checkpoint_every=10)
steps=(sim data test refiner refine trigger reg-refined eval-refined reg-sim eval-sim reg-data eval-data closure)

# ---- i. --local
"$pipeline" --local --out loc "${tiny[@]}" >local1.log 2>&1 || fail "--local run (exit $?)"
for s in "${steps[@]}"; do
  [[ -f loc/steps/$s.done ]] || fail "local: step $s has no marker"
done
grep -q "closure (a-b)/(a-c)" local1.log || fail "local: no closure table"
"$CASCADE_PYTHON" - loc <<'PY' || fail "local: closure.json"
import json, math, sys
d = sys.argv[1]
c = json.load(open(d + "/closure.json"))["logE"]
for k in ("sim", "refined", "data"):
    m = json.load(open("%s/metrics/%s.json" % (d, k)))
    assert m["samples"] == 200, m
    assert abs(c[k]["bias"] - m["logE_bias"]) < 1e-6 and abs(c[k]["resolution"] - m["logE_resolution"]) < 1e-6
    assert math.isfinite(m["logE_rmse"]) and m["logE_resolution"] > 0
f = (abs(c["sim"]["bias"]) - abs(c["refined"]["bias"])) / (abs(c["sim"]["bias"]) - abs(c["data"]["bias"]))
assert abs(f - c["closure"]["bias"]) < 1e-9, (f, c["closure"])
assert abs(c["gap"]["resolution"] - (c["sim"]["resolution"] - c["data"]["resolution"])) < 1e-9, c["gap"]
print("local: closure.json consistent with the three metrics files")
PY
"$cascade" info loc/data/sim-refined.h5 | grep -q "domain = refined" || fail "local: sim-refined.h5 is not a refined file"
"$CASCADE_PYTHON" - loc <<'PY' || fail "local: the trigger re-applied to the refined file"
import h5py, numpy as np, sys
raw, r = h5py.File(sys.argv[1] + "/data/sim-refined-raw.h5"), h5py.File(sys.argv[1] + "/data/sim-refined.h5")
s, t = r["signal"][:], r["time"][:]
assert ((s == 0) | (s >= 3)).all() and (t[s == 0] == 0).all() and r.attrs["trigger_reapplied_vem"] == 3
keep = raw["signal"][:] >= 3
assert (s[keep] == raw["signal"][:][keep]).all() and (r["logE"][:] == raw["logE"][:]).all()
print("local: trigger re-applied: %d of %d refined stations below 3 VEM set to 0"
      % (((raw["signal"][:] > 0) & ~keep).sum(), (raw["signal"][:] > 0).sum()))
PY

# --xmax on the same directory: only the Xmax regressors and their closure run
"$pipeline" --local --out loc "${tiny[@]}" --xmax >localx.log 2>&1 || fail "--local --xmax (exit $?)"
for s in "${steps[@]}"; do
  grep -q "^refine-pipeline.sh: $s: done, skipped" localx.log || fail "local --xmax: step $s not skipped"
done
for s in xmax-reg-refined xmax-eval-refined xmax-reg-sim xmax-eval-sim xmax-reg-data xmax-eval-data xmax-closure; do
  [[ -f loc/steps/$s.done ]] || fail "local --xmax: step $s has no marker"
done
"$CASCADE_PYTHON" - loc <<'PY' || fail "local --xmax: closure-xmax.json"
import json, sys
c = json.load(open(sys.argv[1] + "/closure-xmax.json"))
assert list(c) == ["xmax"], list(c)
m = json.load(open(sys.argv[1] + "/metrics/xmax-refined.json"))
assert abs(c["xmax"]["refined"]["resolution"] - m["xmax_resolution"]) < 1e-6 and m["samples"] == 200
print("local: --xmax closure-xmax.json from the three Xmax regressors")
PY
grep -q "^xmax .*closure (a-b)/(a-c)" localx.log || fail "local --xmax: no Xmax closure table"

"$pipeline" --local --out loc "${tiny[@]}" >local2.log 2>&1 || fail "--local re-run (exit $?)"
for s in "${steps[@]}"; do
  grep -q "^refine-pipeline.sh: $s: done, skipped" local2.log || fail "local re-run: step $s not skipped"
done
grep -q "mpirun" local2.log && fail "local re-run ran something: $(grep mpirun local2.log)"
echo "refine_pipeline test: i. local chain ran, re-run skipped all ${#steps[@]} steps"

# an interrupted training: reg-data back at its step-20 checkpoint, no marker
rm loc/steps/reg-data.done loc/runs/regressor-data/checkpoints/step-00000030.h5
echo step-00000020.h5 >loc/runs/regressor-data/checkpoints/LATEST
"$pipeline" --local --out loc "${tiny[@]}" >local3.log 2>&1 || fail "--local resume (exit $?)"
grep -q "resuming .*regressor-data at step 20" loc/logs/reg-data.log || fail "local: reg-data did not resume at step 20"
[[ $(head -n1 loc/runs/regressor-data/checkpoints/LATEST) == step-00000030.h5 ]] || fail "local: reg-data did not finish"
for s in reg-data eval-data closure; do
  grep -q "^refine-pipeline.sh: $s: .*mpirun\|^refine-pipeline.sh: $s: .*closure.py" local3.log || fail "local resume: $s did not run"
done
for s in sim data test refiner refine trigger reg-refined eval-refined reg-sim eval-sim; do
  grep -q "^refine-pipeline.sh: $s: done, skipped" local3.log || fail "local resume: $s not skipped"
done
echo "refine_pipeline test: i. an unfinished training resumed at its checkpoint; only it and the steps after it ran"

expect 2 "was made by another command" -- "$pipeline" --local --out loc "${tiny[@]}" --sim-events 500
expect 2 "job file nope.ini: no such readable file" -- "$pipeline" --local --out e1 --refiner-job nope.ini
expect 2 "unknown option '--frobnicate'" -- "$pipeline" --local --frobnicate
expect 2 "--ranks: expected a positive integer, got 'two'" -- "$pipeline" --local --ranks two
expect 2 "--out needs a value" -- "$pipeline" --local --out
expect 2 "--set-refiner: expected SECTION.KEY=VALUE" -- "$pipeline" --local --set-refiner steps
expect 2 "--trigger: expected a threshold in VEM (0: none), got '-1'" -- "$pipeline" --local --trigger -1
# a bad job file: the step's own error (cascade's exit code 2), the chain stops there
printf '[job]\nname = x\nkind = refiner\n[bogus]\n' >bad.ini
expect 2 "refiner failed with exit code 2" -- "$pipeline" --local --out e2 "${tiny[@]}" --refiner-job bad.ini
[[ -f e2/steps/sim.done && ! -e e2/steps/refine.done ]] || fail "local: the chain did not stop at the bad refiner job"
grep -q "bad.ini" err.log || fail "local: the refiner's error does not name its job file"
expect 2 "closure.py: cannot read nope.json" -- "$CASCADE_PYTHON" "$src/tools/closure.py" nope.json loc/metrics/refined.json loc/metrics/data.json
expect 2 "apply_trigger.py: cannot open nope.h5" -- "$CASCADE_PYTHON" "$src/tools/apply_trigger.py" nope.h5 -o x.h5
echo "refine_pipeline test: i. errors: existing step of another size, job file, options, bad job, tools"

# tools/mix_domains.py: a shuffled, labelled mixture (the domain classifier's input)
"$CASCADE_PYTHON" "$src/tools/mix_domains.py" loc/data/sim.h5 loc/data/data.h5 -o mix.h5 --inputs signal,time -n 300 >/dev/null
"$CASCADE_PYTHON" - <<'PY' || fail "mix_domains.py"
import h5py, numpy as np
m, a, b = h5py.File("mix.h5"), h5py.File("loc/data/sim.h5"), h5py.File("loc/data/data.h5")
y = m["domain"][:]
assert y.dtype == np.int32 and len(y) == 600 and y.sum() == 300 and 0 < y[:300].sum() < 300
for name in ("signal", "time", "logE"):
    assert m[name].shape[1:] == a[name].shape[1:]
    assert np.array_equal(np.sort(m[name][:][y == 0], axis=0), np.sort(a[name][:300], axis=0))
    assert np.array_equal(np.sort(m[name][:][y == 1], axis=0), np.sort(b[name][:300], axis=0))
print("mix_domains.py: 300 + 300 samples, labels and rows consistent")
PY
expect 2 "has no data set 'nope'" -- "$CASCADE_PYTHON" "$src/tools/mix_domains.py" loc/data/sim.h5 loc/data/data.h5 -o m2.h5 --inputs nope

# ---- ii. the same chain on a private SLURM cluster
[[ $(id -u) -eq 0 ]] || fail "needs root: the private cluster's slurmd starts jobs as their users"
rc=0
cluster_env=$(timeout 120 "$cluster" start "$state") || rc=$?
trap 'timeout 60 "$cluster" stop "$state" || true' EXIT # exactly the daemons started (PID files)
((rc == 0)) || fail "could not start the private SLURM cluster ($cluster start $state, exit $rc)"
eval "$cluster_env"
echo "refine_pipeline test: $SLURM_CONF"

"$pipeline" --out sl "${tiny[@]}" --sbatch-arg=--hold >slurm1.log 2>&1 || fail "SLURM submission (exit $?)"
declare -A id=()
for s in "${steps[@]}"; do
  id[$s]=$(sed -n "s/^refine-pipeline.sh: $s: submitted job \([0-9]*\).*/\1/p" slurm1.log)
  [[ -n ${id[$s]} ]] || fail "SLURM: step $s was not submitted"
done
# again while the jobs are held: nothing new
"$pipeline" --out sl "${tiny[@]}" >slurm2.log 2>&1 || fail "SLURM re-submission (exit $?)"
grep -q "submitted job" slurm2.log && fail "SLURM: re-run submitted again: $(grep 'submitted job' slurm2.log)"
for s in "${steps[@]}"; do
  grep -q "^refine-pipeline.sh: $s: job ${id[$s]} from an earlier submission is PENDING" slurm2.log ||
    fail "SLURM: re-run did not reuse job ${id[$s]} for $s"
done
timeout 10 scontrol release "$(IFS=,; echo "${id[*]}")" || fail "scontrol release"
job_field() { timeout 10 scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
start=$SECONDS
until [[ $(job_field "${id[closure]}" JobState) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL)$ ]]; do
  ((SECONDS - start < 150)) || fail "SLURM: the chain did not finish within 150 s"
  sleep 1
done
echo "refine_pipeline test: ii. SLURM chain ended after $((SECONDS - start)) s"
epoch() { date -d "$1" +%s; }
# step:dependencies, as refine-pipeline.sh submits them
for edge in refiner:sim,data refine:refiner,sim trigger:refine reg-refined:trigger eval-refined:reg-refined,test \
  reg-sim:sim eval-sim:reg-sim,test reg-data:data eval-data:reg-data,test closure:eval-sim,eval-refined,eval-data; do
  s=${edge%%:*}
  [[ $(job_field "${id[$s]}" JobState) == COMPLETED && $(job_field "${id[$s]}" ExitCode) == 0:0 ]] ||
    fail "SLURM: $s (job ${id[$s]}) is $(job_field "${id[$s]}" JobState) $(job_field "${id[$s]}" ExitCode)"
  grep -q "afterok:" <(grep "^refine-pipeline.sh: $s: submitted" slurm1.log) || fail "SLURM: $s submitted without afterok"
  IFS=, read -r -a deps <<<"${edge#*:}"
  for d in "${deps[@]}"; do
    grep -q "^refine-pipeline.sh: $s: submitted job ${id[$s]} (afterok:.*\b${id[$d]}\b" slurm1.log ||
      fail "SLURM: $s does not depend on $d (job ${id[$d]})"
    (($(epoch "$(job_field "${id[$s]}" StartTime)") >= $(epoch "$(job_field "${id[$d]}" EndTime)"))) ||
      fail "SLURM: $s started $(job_field "${id[$s]}" StartTime) before $d ended $(job_field "${id[$d]}" EndTime)"
  done
done
for s in sim data test; do
  [[ $(job_field "${id[$s]}" ExitCode) == 0:0 ]] || fail "SLURM: $s exit code $(job_field "${id[$s]}" ExitCode)"
done
grep -q "srun --mpi=pmix" sl/logs/rp-refiner-"${id[refiner]}".out || fail "SLURM: the refiner did not run under srun"
grep -q "2 ranks" sl/logs/rp-refiner-"${id[refiner]}".out || fail "SLURM: the refiner did not run on 2 ranks"
for s in "${steps[@]}"; do [[ -f sl/steps/$s.done ]] || fail "SLURM: step $s has no marker"; done
# the same commands on 2 ranks: the SLURM chain's simulated files equal the local chain's
for f in sim data data-test; do h5diff -q "loc/data/$f.h5" "sl/data/$f.h5" || fail "SLURM: $f.h5 differs from the local one"; done
"$CASCADE_PYTHON" - sl <<'PY' || fail "SLURM: final metrics"
import json, math, sys
c = json.load(open(sys.argv[1] + "/closure.json"))["logE"]
m = json.load(open(sys.argv[1] + "/metrics/refined.json"))
assert m["samples"] == 200 and math.isfinite(m["logE_resolution"]) and m["logE_resolution"] > 0, m
assert abs(c["refined"]["bias"] - m["logE_bias"]) < 1e-6
print("SLURM: refined regressor on held-out data: bias %.4f resolution %.4f; closure %s"
      % (m["logE_bias"], m["logE_resolution"], c["closure"]))
PY
"$pipeline" --out sl "${tiny[@]}" >slurm3.log 2>&1 || fail "SLURM re-run after the chain (exit $?)"
grep -q "every step had finished" slurm3.log || fail "SLURM: third run did not skip everything: $(cat slurm3.log)"
grep -q "submitted job" slurm3.log && fail "SLURM: third run submitted jobs"
echo "refine_pipeline test: ii. SLURM jobs ran in dependency order and produced the metrics; re-run skipped all"
cd /
rm -rf "$here"
echo "refine_pipeline test: passed"
