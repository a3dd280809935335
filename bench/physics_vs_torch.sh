#!/usr/bin/env bash
# Issue #6 reference jobs, cascade vs PyTorch side by side in one run: for each job, train the
# shipped job file with cascade, then the same network in PyTorch (bench/physics_torch.py reads
# the run's job.ini: same layers, data files, input/target normalisation, epochs, batch,
# optimizer, lr and schedule), predict the same held-out test file with both and compute the
# task's figure with the same code (tools/shower_resolution.py). Prints a markdown table;
# ours passes when its figure is at most PyTorch's + 5 %.
# Usage: bench/physics_vs_torch.sh [BUILD_DIR] [WORK_DIR] [JOB...]
#   JOB: energy geometry core inception xmax (default: the first four; xmax trains on the
#   --traces files); WORK_DIR default BUILD_DIR/physics-vs-torch
#   (kept: data/, runs/, torch predictions, results.jsonl, table.md). Existing data files are reused.
# Env: THREADS (OMP/torch threads, default 1), N_TRAIN (60000), N_VALID (6000), N_TEST (20000),
#   N_TRACES_TRAIN (40000), N_TRACES_VALID (4000), N_TRACES_TEST (10000),
#   EPOCHS (override the jobs' epochs, for a quick check).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=${2:-$build/physics-vs-torch}
shift $(( $# > 2 ? 2 : $# )) || true
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(energy geometry core inception)
py=/usr/bin/python3
threads=${THREADS:-1}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work/data" "$work/runs"
cd "$work"
sim() { [ -s "data/$1" ] || "$build/cascade" simulate airshower -n "$2" --seed "$3" -o "data/$1" "${@:4}" >/dev/null; }
declare -A task=([energy]=energy [geometry]=axis [core]=core [inception]=axis [xmax]=xmax)
declare -A key=([energy]=dE_over_E_std [axis]=angle_68_deg [core]=core_68_m [xmax]=xmax_std)
declare -A files=([xmax]=showers-traces)           # data/FILES-{train,test}.h5 (default showers)
for j in "${jobs[@]}"; do
  if [ "${files[$j]:-showers}" = showers-traces ]; then
    sim showers-traces-train.h5 "${N_TRACES_TRAIN:-40000}" 101 --traces
    sim showers-traces-valid.h5 "${N_TRACES_VALID:-4000}" 303 --traces
    sim showers-traces-test.h5  "${N_TRACES_TEST:-10000}" 202 --traces
  else
    sim showers-train.h5 "${N_TRAIN:-60000}" 101   # the seeds of the job files' comments
    sim showers-valid.h5 "${N_VALID:-6000}" 303
    sim showers-test.h5  "${N_TEST:-20000}" 202    # held out: another seed, used by neither side
  fi
done
extra=()
[ -z "${EPOCHS:-}" ] || extra=(--set "train.epochs=$EPOCHS")
: > results.jsonl
for j in "${jobs[@]}"; do
  t=${task[$j]:?unknown job $j}
  f=${files[$j]:-showers}
  rm -rf "runs/$j"
  t0=$(date +%s.%N)
  "$build/cascade" train "$src/jobs/airshower-$j.ini" --out "runs/$j" --quiet "${extra[@]}" >/dev/null
  t1=$(date +%s.%N)
  "$build/cascade" predict "runs/$j" --data "data/$f-test.h5" -o "runs/$j/pred-test.h5" >/dev/null
  ours=$("$py" "$src/tools/shower_resolution.py" "runs/$j/pred-test.h5" --labels "data/$f-test.h5" --task "$t")
  theirs=$("$py" "$src/bench/physics_torch.py" "runs/$j/job.ini" --train "data/$f-train.h5" \
    --test "data/$f-test.h5" --task "$t" --threads "$threads" --pred "runs/$j/pred-test-torch.h5")
  "$py" - "$j" "$t" "${key[$t]}" "$(echo "$t1 - $t0" | bc)" "$ours" "$theirs" >> results.jsonl <<'PY'
import json, sys
j, t, k, secs, ours, theirs = sys.argv[1:]
o, p = json.loads(ours), json.loads(theirs)
print(json.dumps({"job": j, "task": t, "figure": k, "cascade": o[k], "torch": p[k],
                  "cascade_train_s": float(secs), "torch_train_s": p["train_s"], "steps": p["steps"],
                  "params": p["params"], "ok": o[k] <= 1.05 * p[k], "cascade_all": o, "torch_all": p}))
PY
  tail -1 results.jsonl
done
"$py" - <<'PY' | tee table.md
import json
rows = [json.loads(l) for l in open("results.jsonl")]
unit = {"dE_over_E_std": "%", "angle_68_deg": "deg", "core_68_m": "m", "xmax_std": "g/cm²"}
print("| job | figure (test set) | cascade | PyTorch | ratio | ≤ PyTorch + 5 %? | steps | train s cascade / torch |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    s = 100.0 if unit[r["figure"]] == "%" else 1.0
    print("| %s | %s [%s] | %.3g | %.3g | %.3f | %s | %d | %.0f / %.0f |" % (
        r["job"], r["figure"], unit[r["figure"]], s * r["cascade"], s * r["torch"], r["cascade"] / r["torch"],
        "yes" if r["ok"] else "no", r["steps"], r["cascade_train_s"], r["torch_train_s"]))
PY
