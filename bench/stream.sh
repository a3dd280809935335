#!/usr/bin/env bash
# Streaming input cost at 4 ranks on the air-shower reference model (bench/vs_torch.sh's job:
# 3 x conv 3x3 + dense 128 + dense 1, batch 128, micro_batch 32, Adam, shuffled), one thread
# per rank, in the same run: the training set
#  - preloaded (the reference: input = copying the micro-batches),
#  - streamed with collective HDF5 reads each step (CASCADE_PREFETCH=0),
#  - streamed with prefetch (pread of the next step's rows by a background thread).
# Prints, per mode, the step time (and as a ratio to preloaded), the input time (maximum over
# ranks: the read or the wait for the background read, conversion, normalisation, starting the
# next read) as a fraction of the step, and the communication wait (which includes the ranks'
# agreement on each step's read status, where they wait for the slowest rank): medians of
# REPEAT (3) runs taken in rotation. The file sits in the page cache after the first run, so
# this measures the read path's own cost, not the disk's.
# Usage: [REPEAT=3] [RANKS=4] bench/stream.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
py=/usr/bin/python3
ranks=${RANKS:-4}
repeat=${REPEAT:-3}
work=$(mktemp -d "$build/bench-stream.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$py" "$src/tools/toy_airshower.py" -n 8192 -o data.h5 --seed 11 >/dev/null
sed -n "/^cat > job.ini <<INI/,/^INI/p" "$src/bench/vs_torch.sh" | sed '1d;$d' | sed 's/\$steps/60/' \
  | sed 's/^micro_batch = 128/micro_batch = 32/; s/^shuffle = false/shuffle = true/' > job.ini
run() { # mode -> {"step_ms", "input_ms"}: per-step means over the logged intervals after the first
  rm -rf r
  case $1 in
    preload) set -- ;;
    hdf5) set -- CASCADE_PREFETCH=0 --set data.memory_budget_mb=1 ;;
    prefetch) set -- CASCADE_PREFETCH=1 --set data.memory_budget_mb=1 ;;
  esac
  local envs=() ; [ $# -gt 0 ] && { envs=("$1"); shift; }
  env "${envs[@]}" mpirun --oversubscribe -x CASCADE_PREFETCH -n "$ranks" "$build/cascade" train job.ini --out r \
    --quiet "$@" >/dev/null 2>log || { cat log; exit 1; }
  "$py" - <<'PY'
import json
rows = [json.loads(l) for l in open("r/metrics.jsonl")]
tr = [r for r in rows if r["split"] == "train"][1:]
steps = 10 * len(tr)  # log_every = 10
rate = sum(r["samples_per_s"] for r in tr) / len(tr)
print(json.dumps({"step_ms": 128 / rate * 1e3, "input_ms": sum(r["input_max_s"] for r in tr) / steps * 1e3,
                  "wait_ms": sum(r["comm_wait_max_s"] for r in tr) / steps * 1e3}, separators=(",", ":")))
PY
}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc --all) cores; $ranks ranks, $repeat runs per mode"
declare -A res
for i in $(seq "$repeat"); do
  for mode in preload hdf5 prefetch; do res[$mode]+="$(run $mode) "; done
done
ref=$("$py" -c "import json, statistics, sys; print(statistics.median(json.loads(a)['step_ms'] for a in sys.argv[1:]))" ${res[preload]})
printf "%-9s %9s %9s %9s %9s %9s\n" mode step_ms vs_preload input_ms input_% comm_wait
for mode in preload hdf5 prefetch; do
  "$py" - "$mode" "$ref" ${res[$mode]} <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[3:]]
med = lambda f: statistics.median(f(r) for r in runs)
step = med(lambda r: r["step_ms"])
print("%-9s %9.2f %9.2fx %9.3f %8.2f%% %9.2f" % (sys.argv[1], step, step / float(sys.argv[2]), med(lambda r: r["input_ms"]),
      100 * med(lambda r: r["input_ms"] / r["step_ms"]), med(lambda r: r["wait_ms"])))
PY
done
