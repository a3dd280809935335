#!/usr/bin/env bash
# Training throughput of the sky-map DGCNN (jobs/skymap-dgcnn.ini as shipped: 3 EdgeConv
# layers 8/16/32 with batch norm, k = 8, batch 32, Adam) in cascade vs the same model in
# PyTorch (bench/dgcnn_torch.py: torch.cdist + topk + gather), at 1 and 2 threads, measured
# in the same run on the same simulated maps. As bench/vs_torch.sh: the OpenBLAS pinning
# variables are unset for the timed runs only; cascade's final loss with the pinned kernels
# is compared with the unpinned run's, and the first-step losses of both engines are
# printed (different initial weights: they agree only roughly, near ln 2).
# Usage: bench/dgcnn_vs_torch.sh [BUILD_DIR]   env: STEPS (30), MAPS (1024)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
py=/usr/bin/python3
steps=${STEPS:-30}
maps=${MAPS:-1024}
work=$(mktemp -d "$build/bench-dgcnn.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$build/cascade" simulate skymap -n "$maps" -o sky.h5 --seed 31 >/dev/null 2>&1
# the job as shipped, on this data, a fixed number of steps in file order (validation after
# the last step is not in the timed train lines)
sets=(--set data.train=sky.h5 --set data.shuffle=false
      --steps $steps --set train.log_every=5 --set train.checkpoint_every=0)
cascade_run() { # threads, extra env -> samples/s (mean over logged intervals after the first), first and final loss
  rm -rf run
  env "${@:2}" OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 "$build/cascade" train "$src/jobs/skymap-dgcnn.ini" \
    --out run --quiet "${sets[@]}" >/dev/null 2>&1
  "$py" -c "
import json
r=[json.loads(l) for l in open('run/metrics.jsonl') if '\"train\"' in l]
v=[x['samples_per_s'] for x in r[1:]]
print(sum(v)/len(v), r[0]['loss'], r[-1]['loss'])"
}
read -r _ _ pinned_loss < <(cascade_run 1)
core=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 "$build/bench/sgemm_peak" |
       "$py" -c "import json,sys; print(json.load(sys.stdin)['core'])")
echo "OpenBLAS core (unpinned): $core; $maps maps, batch 32, $steps steps"
printf "%-8s %12s %12s %8s %16s %16s\n" threads cascade/s torch/s ratio cascade_loss1 torch_loss1
for t in 1 2; do
  read -r c_rate c_first c_last < <(cascade_run $t -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  tj=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$src/bench/dgcnn_torch.py" sky.h5 --threads $t --steps $steps)
  "$py" - "$t" "$c_rate" "$c_first" "$tj" <<'PY'
import json, sys
t, c, c1, tj = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
print("%-8s %12.1f %12.1f %8.2f %16.4f %16.4f" % (t, c, tj["samples_per_s"], c / tj["samples_per_s"], c1,
                                                  tj["first_loss"]))
PY
  if [ "$t" = 1 ]; then unpinned_loss=$c_last; fi
done
"$py" -c "
a,b=$pinned_loss,$unpinned_loss
print('cascade final loss pinned kernel %.6g, unpinned %.6g, relative difference %.2e' % (a,b,abs(a-b)/abs(a)))"
