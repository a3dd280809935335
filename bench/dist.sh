#!/usr/bin/env bash
# Distributed training costs on the air-shower reference model (3 x conv 3x3 32/32/64 +
# dense 128 + dense 1, batch 128, micro_batch 32, Adam), one thread per rank:
#  - step time split into input, compute, exact-sum work, communication wait, optimizer (the
#    maximum over ranks of each; compute also as the mean), for 1, 2 and 4 ranks, fast and
#    deterministic mode (4 ranks on a 2-core machine are oversubscribed: not scaling evidence);
#  - gradient-sync overhead at 2 ranks (communication wait as % of the step);
#  - deterministic-mode cost relative to fast mode, in the table's runs and as the median of
#    PAIRS (5) back-to-back fast/det pairs at 1 and 2 ranks with the pairs' spread (the load
#    average is printed: on a shared machine, repeat the script and report the spread);
#  - checkpoint write rate vs a raw write (dd with fsync) of the same size, same run;
#  - overlap of the fast-mode reductions with backward at 2 and 4 ranks (from --timeline).
# Usage: [PAIRS=5] bench/dist.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
py=/usr/bin/python3
work=$(mktemp -d "$build/bench-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$py" "$src/tools/toy_airshower.py" -n 4096 -o data.h5 --seed 11 >/dev/null
sed -n "/^cat > job.ini <<INI/,/^INI/p" "$src/bench/vs_torch.sh" | sed '1d;$d' | sed 's/\$steps/60/' \
  | sed 's/^micro_batch = 128/micro_batch = 32/; s/^checkpoint_every = 0/checkpoint_every = 30/' > job.ini
run() { # ranks det [extra --set] -> mean per-step seconds of each part over the logged intervals after the first
  rm -rf r
  mpirun --oversubscribe -n "$1" "$build/cascade" train job.ini --out r --quiet --set train.deterministic=$2 ${3:+--set $3} >/dev/null 2>&1
  "$py" - <<'PY'
import json
rows = [json.loads(l) for l in open("r/metrics.jsonl")]
tr = [r for r in rows if r["split"] == "train"][1:]
steps = sum(10 for _ in tr)  # log_every = 10
keys = ["input", "compute", "exact_sum", "comm_wait", "optimizer"]
tot = {k + "_s": sum(r[k + "_max_s"] for r in tr) / steps * 1e3 for k in keys}
tot["compute_mean_s"] = sum(r["compute_mean_s"] for r in tr) / steps * 1e3
rate = sum(r["samples_per_s"] for r in tr) / len(tr)
step_ms = 128 / rate * 1e3
ck = [r for r in rows if r["split"] == "checkpoint"]
print(json.dumps({"step_ms": step_ms, **tot, "ckpt_mb": ck[-1]["mb"], "ckpt_s": ck[-1]["seconds"]}))
PY
}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc --all) cores (other processes' load skews every figure)"
printf "%-6s %-6s %9s %9s %9s %9s %9s %9s %9s\n" ranks mode step_ms input compute cmp_mean exact_sum comm_wait optimizer
declare -A res
for n in 1 2 4; do
  for det in false true; do
    out=$(run $n $det)
    res[$n$det]=$out
    "$py" -c "
import json; r=json.loads('$out')
print('%-6s %-6s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f' % ('$n', 'det' if '$det'=='true' else 'fast', r['step_ms'], r['input_s'], r['compute_s'], r['compute_mean_s'], r['exact_sum_s'], r['comm_wait_s'], r['optimizer_s']))"
  done
done
mb=$("$py" -c "import json; print(json.loads('${res[1false]}')['ckpt_mb'])")
raw=$("$py" -c "
import math, os, time
n = max(1, math.ceil($mb)); buf = os.urandom(1 << 20); t = time.perf_counter()
fd = os.open('raw.bin', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
for _ in range(n): os.write(fd, buf)
os.fsync(fd); os.close(fd); print(time.perf_counter() - t)")
"$py" - "${res[2false]}" "${res[1false]}" "${res[1true]}" "${res[2true]}" "$raw" "${res[4false]}" "${res[4true]}" <<'PY'
import json, math, sys
f2, f1, d1, d2 = (json.loads(a) for a in sys.argv[1:5])
raw_s = float(sys.argv[5])
f4, d4 = (json.loads(a) for a in sys.argv[6:8])
print("gradient-sync overhead at 2 ranks (fast): %.1f%% of the step (communication wait %.2f ms of %.2f ms)"
      % (100 * f2["comm_wait_s"] / f2["step_ms"], f2["comm_wait_s"], f2["step_ms"]))
print("deterministic mode cost: %.2fx the fast step at 1 rank, %.2fx at 2 ranks (%.2fx at 4, oversubscribed)"
      % (d1["step_ms"] / f1["step_ms"], d2["step_ms"] / f2["step_ms"], d4["step_ms"] / f4["step_ms"]))
mb = f1["ckpt_mb"]
print("checkpoint: %.1f MB in %.3f s = %.0f MB/s; raw write with fsync of %d MB: %.0f MB/s" %
      (mb, f1["ckpt_s"], mb / f1["ckpt_s"], max(1, math.ceil(mb)), max(1, math.ceil(mb)) / max(raw_s, 1e-3)))
PY

# deterministic/fast on a loaded machine: PAIRS (default 5) back-to-back fast/det pairs at 1
# and 2 ranks; the ratio of the median step times and the spread of the pairs' ratios
pairs=${PAIRS:-5}
for n in 1 2; do
  steps=""
  for i in $(seq "$pairs"); do
    for det in false true; do
      steps="$steps $(run $n $det | "$py" -c "import json, sys; print(json.load(sys.stdin)['step_ms'])")"
    done
  done
  "$py" - $n $steps <<'PY'
import statistics, sys
n, t = sys.argv[1], [float(x) for x in sys.argv[2:]]
fast, det = t[0::2], t[1::2]
r = sorted(d / f for f, d in zip(fast, det))
print("deterministic/fast at %s rank(s), %d pairs: median step %.1f / %.1f ms = %.2fx; pair ratios %s"
      % (n, len(r), statistics.median(det), statistics.median(fast), statistics.median(det) / statistics.median(fast),
         " ".join("%.2f" % x for x in r)))
PY
done

# input: streaming (each rank reads its samples every step) vs a raw sequential read of the
# same data sets with h5py, same run
stream=$(run 1 false data.memory_budget_mb=0.01)
"$py" - "$stream" <<'PY'
import json, sys, time
import h5py
r = json.loads(sys.argv[1])
t = time.perf_counter()
with h5py.File("data.h5", "r") as f:
    n = f["time"].shape[0]
    for name in ("time", "signal", "logE"):
        f[name][...]
raw = n / (time.perf_counter() - t)
streamed = 128 / (r["input_s"] / 1e3)
print("input: streaming %.0f samples/s (%.2f ms of a %.1f ms step); raw sequential h5py read %.0f samples/s"
      % (streamed, r["input_s"], r["step_ms"], raw))
PY

# overlap of the fast mode's bucket reductions with backward, from the timeline (the part of
# the reductions' time the step did not wait for; tools/timeline_summary.py)
for n in 2 4; do
  rm -rf r
  mpirun --oversubscribe -n "$n" "$build/cascade" train job.ini --out r --quiet --steps 30 \
    --timeline "tl$n.json" >/dev/null 2>&1
  "$py" "$src/tools/timeline_summary.py" "tl$n.json" --json | "$py" -c "
import json, sys
rows = [json.loads(l) for l in sys.stdin]
ov = [r['overlap'] for r in rows if r['overlap'] is not None]
print('overlap at $n ranks (fast): %.0f%% mean over ranks (min %.0f%%); reductions %.1f ms per step, waited %.1f ms'
      % (100 * sum(ov) / len(ov), 100 * min(ov), 1e3 * sum(r['reduction_s'] for r in rows) / len(rows) / 30,
         1e3 * sum(r['wait_s'] for r in rows) / len(rows) / 30))"
done
