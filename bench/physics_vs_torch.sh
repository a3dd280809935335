#!/usr/bin/env bash
# Issue #6 reference jobs, cascade vs PyTorch side by side in one run: for each job, train the
# shipped job file with cascade, then the same network in PyTorch (bench/physics_torch.py reads
# the run's job.ini: same layers, data files, input/target normalisation, epochs, batch,
# optimizer, lr and schedule), predict the same held-out test file with both and compute the
# task's figure with the same code (tools/shower_resolution.py, tools/lartpc_figures.py). Prints
# a markdown table; ours passes when its figure is at most PyTorch's + 5 % (resolutions: lower is
# better) or at least PyTorch's - 5 % (accuracy, IoU: higher is better).
# Usage: bench/physics_vs_torch.sh [BUILD_DIR] [WORK_DIR] [JOB...]
#   JOB: energy geometry core inception xmax (jobs/airshower-JOB.ini; xmax trains on the
#   --traces files), lartpc-classify lartpc-segment (jobs/JOB.ini); default: the first four
#   air-shower jobs. WORK_DIR default BUILD_DIR/physics-vs-torch
#   (kept: data/, runs/, torch predictions, results.jsonl, table.md). Existing data files are reused.
# Env: THREADS (OMP/torch threads, default 1), N_TRAIN (60000), N_VALID (6000), N_TEST (20000),
#   N_TRACES_TRAIN (40000), N_TRACES_VALID (4000), N_TRACES_TEST (10000),
#   LARTPC_TRAIN (15000), LARTPC_VALID (2000), LARTPC_TEST (5000),
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
sim() { [ -s "data/$2" ] || "$build/cascade" simulate "$1" -n "$3" --seed "$4" -o "data/$2" "${@:5}" >/dev/null; }
case " ${jobs[*]} " in *" energy "*|*" geometry "*|*" core "*|*" inception "*)
  sim airshower showers-train.h5 "${N_TRAIN:-60000}" 101       # the seeds of the job files' comments
  sim airshower showers-valid.h5 "${N_VALID:-6000}" 303
  sim airshower showers-test.h5  "${N_TEST:-20000}" 202 ;;     # held out: another seed, used by neither side
esac
case " ${jobs[*]} " in *" xmax "*)
  sim airshower showers-traces-train.h5 "${N_TRACES_TRAIN:-40000}" 101 --traces
  sim airshower showers-traces-valid.h5 "${N_TRACES_VALID:-4000}" 303 --traces
  sim airshower showers-traces-test.h5  "${N_TRACES_TEST:-10000}" 202 --traces ;;
esac
case " ${jobs[*]} " in *" lartpc-"*)
  sim lartpc lartpc-train.h5 "${LARTPC_TRAIN:-15000}" 1
  sim lartpc lartpc-valid.h5 "${LARTPC_VALID:-2000}" 3
  sim lartpc lartpc-test.h5  "${LARTPC_TEST:-5000}" 2 ;;       # held out
esac
declare -A task=([energy]=energy [geometry]=axis [core]=core [inception]=axis [xmax]=xmax
                 [lartpc-classify]=classify [lartpc-segment]=segment)
# the figures compared (the first is the job's headline): iou_1 track, iou_2 shower, iou_0 empty
declare -A key=([energy]=dE_over_E_std [axis]=angle_68_deg [core]=core_68_m [xmax]=xmax_std [classify]=accuracy
                [segment]="iou_1,iou_2,iou_0,accuracy")
extra=()
[ -z "${EPOCHS:-}" ] || extra=(--set train.steps= --set "train.epochs=$EPOCHS")   # also for jobs given in steps
: > results.jsonl
for j in "${jobs[@]}"; do
  t=${task[$j]:?unknown job $j}
  case $j in
    lartpc-*) jobfile=$src/jobs/$j.ini figures=$src/tools/lartpc_figures.py d=lartpc ;;
    xmax) jobfile=$src/jobs/airshower-$j.ini figures=$src/tools/shower_resolution.py d=showers-traces ;;
    *) jobfile=$src/jobs/airshower-$j.ini figures=$src/tools/shower_resolution.py d=showers ;;
  esac
  labels=()   # shower_resolution.py reads the labels predict does not copy (logE, mass) there
  [ "$figures" = "$src/tools/shower_resolution.py" ] && labels=(--labels "data/$d-test.h5")
  rm -rf "runs/$j"
  t0=$(date +%s.%N)
  "$build/cascade" train "$jobfile" --out "runs/$j" --quiet "${extra[@]}" >/dev/null
  t1=$(date +%s.%N)
  "$build/cascade" predict "runs/$j" --data "data/$d-test.h5" -o "runs/$j/pred-test.h5" >/dev/null
  ours=$("$py" "$figures" "runs/$j/pred-test.h5" "${labels[@]}" --task "$t")
  theirs=$("$py" "$src/bench/physics_torch.py" "runs/$j/job.ini" --train "data/$d-train.h5" \
    --test "data/$d-test.h5" --task "$t" --threads "$threads" --pred "runs/$j/pred-test-torch.h5")
  "$py" - "$j" "$t" "${key[$t]}" "$(echo "$t1 - $t0" | bc)" "$ours" "$theirs" >> results.jsonl <<'PY'
import json, sys
j, t, keys, secs, ours, theirs = sys.argv[1:]
o, p = json.loads(ours), json.loads(theirs)
for k in keys.split(","):  # one line per figure; accuracy and IoU: higher is better
    higher = k == "accuracy" or k.startswith("iou")
    ok = o[k] >= 0.95 * p[k] if higher else o[k] <= 1.05 * p[k]
    print(json.dumps({"job": j, "task": t, "figure": k, "cascade": o[k], "torch": p[k],
                      "cascade_train_s": float(secs), "torch_train_s": p["train_s"], "steps": p["steps"],
                      "params": p["params"], "ok": ok, "cascade_all": o, "torch_all": p}))
PY
  grep "\"job\": \"$j\"" results.jsonl
done
"$py" - <<'PY' | tee table.md
import json
rows = [json.loads(l) for l in open("results.jsonl")]
unit = {"dE_over_E_std": " [%]", "angle_68_deg": " [deg]", "core_68_m": " [m]", "xmax_std": " [g/cm²]"}
print("| job | figure (test set) | cascade | PyTorch | ratio | within 5 % of PyTorch? | steps | train s cascade / torch |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    u = unit.get(r["figure"], "")
    s = 100.0 if u == " [%]" else 1.0
    print("| %s | %s%s | %.4g | %.4g | %.3f | %s | %d | %.0f / %.0f |" % (
        r["job"], r["figure"], u, s * r["cascade"], s * r["torch"], r["cascade"] / r["torch"],
        "yes" if r["ok"] else "no", r["steps"], r["cascade_train_s"], r["torch_train_s"]))
PY
