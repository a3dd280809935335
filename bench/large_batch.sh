#!/usr/bin/env bash
# Large-batch study on jobs/airshower-energy.ini (docs/scaling.md, "Large batch: the air-shower
# energy job"): the job as shipped (global batch 128, Adam, lr 1e-3, cosine) against global
# batch 4096 with LAMB, lr 1e-3 scaled linearly from reference batch 128 (= 0.032), warm-up of
# one epoch (14 updates), cosine — the same 8 epochs, one rank, OMP_NUM_THREADS=1 (the global
# batch is what matters, not the rank count). Test resolution: std of dE/E for logE >= 19 on a
# held-out file (tools/shower_resolution.py on `cascade predict`), and the ratio 4096 / 128.
# Then the probes of bench/large_batch_probe.py: dead ReLU units of both final nets, and the
# gradient noise scale B_simple at batch 128's checkpoint of update 2000.
# Writes WORK_DIR/large-batch.png (validation resolution per epoch, tools/large_batch_plot.py;
# docs/images/large-batch.png is the same plot over all the runs of docs/scaling.md).
# Usage: bench/large_batch.sh [BUILD_DIR] [WORK_DIR]     (about 15 min on one free core each)
# Env: LAMB_LR (1e-3), LAMB_WARMUP (14), EPOCHS (8), EXTRA (more --set for the 4096 run).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=${2:-$build/bench-large-batch}
py=/usr/bin/python3
mkdir -p "$work"
cd "$work"
export OMP_NUM_THREADS=1
B="$build/cascade"
[[ -f showers-train.h5 ]] || "$B" simulate airshower -n 60000 --seed 101 -o showers-train.h5
[[ -f showers-valid.h5 ]] || "$B" simulate airshower -n 6000 --seed 303 -o showers-valid.h5
[[ -f showers-test.h5 ]] || "$B" simulate airshower -n 20000 --seed 202 -o showers-test.h5
data=(--set data.train="$work/showers-train.h5" --set data.valid="$work/showers-valid.h5"
      --set train.epochs="${EPOCHS:-8}")
rm -rf b128 b4096-lamb
"$B" train "$src/jobs/airshower-energy.ini" "${data[@]}" --out b128 --quiet &
"$B" train "$src/jobs/airshower-energy.ini" "${data[@]}" --out b4096-lamb \
  --set train.batch=4096 --set train.micro_batch=256 --set optimizer.type=lamb \
  --set optimizer.lr="${LAMB_LR:-1e-3}" --set optimizer.lr_scaling=linear --set optimizer.reference_batch=128 \
  --set optimizer.warmup="${LAMB_WARMUP:-14}" ${EXTRA:-} 2> b4096-lamb.log &
wait
grep "lr .* x " b4096-lamb.log
for r in b128 b4096-lamb; do
  "$B" predict $r --data showers-test.h5 -o $r/pred-test.h5 >/dev/null
  "$py" "$src/tools/shower_resolution.py" $r/pred-test.h5 --task energy --json $r/resolution.json >/dev/null
  "$py" "$src/bench/large_batch_probe.py" dead "$r/checkpoints/$(cat $r/checkpoints/LATEST)" showers-test.h5 \
    --pred $r/pred-test.h5
done
[[ ! -f b128/checkpoints/step-00002000.h5 ]] || "$py" "$src/bench/large_batch_probe.py" noise b128/checkpoints/step-00002000.h5 showers-train.h5
"$py" - <<'PY'
import json
r = {k: json.load(open(f"{k}/resolution.json")) for k in ("b128", "b4096-lamb")}
v = {k: [json.loads(l) for l in open(f"{k}/metrics.jsonl")] for k in r}
print("| run | updates | final valid logE resolution | test std dE/E (logE >= 19) | test hw68 |")
print("|---|---|---|---|---|")
for k in r:
    last = [d for d in v[k] if d.get("split") == "valid"][-1]
    print(f"| {k} | {last['step']} | {last['logE_resolution']:.4f} | {r[k]['dE_over_E_std']:.4f} | {r[k]['dE_over_E_hw68']:.4f} |")
ratio = r["b4096-lamb"]["dE_over_E_std"] / r["b128"]["dE_over_E_std"]
print(f"ratio 4096 / 128 of the test resolution: {ratio:.3f} (target <= 1.05: {'met' if ratio <= 1.05 else 'missed'})")
PY
"$py" "$src/tools/large_batch_plot.py" -o "$work/large-batch.png" \
  b128="batch 128, adam (as shipped)" b4096-lamb="batch 4096, lamb, lr x 32 (linear), warm-up"
