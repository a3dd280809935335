#!/usr/bin/env bash
# Training throughput of cascade vs PyTorch on the issue's reference model
# (3 x conv 3x3 32/32/64 + dense 128 + dense 1 on 2x9x9 inputs, batch 128, Adam), at 1 and
# 2 threads, measured in the same run; plus cascade's GFLOP/s as a fraction of OpenBLAS sgemm
# peak. PyTorch's oneDNN picks its own kernels, so the OpenBLAS pinning variables are unset
# for the timed runs only; the final loss is compared with a pinned-kernel cascade run.
# Usage: bench/vs_torch.sh [BUILD_DIR]   (default build)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
py=/usr/bin/python3
work=$(mktemp -d "$build/bench-vs-torch.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
steps=60
"$py" "$src/tools/toy_airshower.py" -n 4096 -o data.h5 --seed 11 >/dev/null
cat > job.ini <<INI
[job]
name = bench
seed = 1
[data]
train = data.h5
inputs = time, signal
targets = logE
normalize = standard
shuffle = false
[train]
batch = 128
micro_batch = 128
steps = $steps
log_every = 10
checkpoint_every = 0
[optimizer]
type = adam
lr = 1e-3
[model.c1]
type = conv2d
filters = 32
kernel = 3
padding = same
activation = relu
[model.c2]
type = conv2d
filters = 32
kernel = 3
padding = same
activation = relu
[model.c3]
type = conv2d
filters = 64
kernel = 3
padding = same
activation = relu
[model.flat]
type = flatten
[model.fc]
type = dense
units = 128
activation = relu
[model.out]
type = dense
units = 1
INI
# FLOPs per training sample: forward multiply-adds x2, backward twice the forward
fwd=$(( 2 * (81*32*2*9 + 81*32*32*9 + 81*64*32*9 + 5184*128 + 128) ))
train_flops=$(( 3 * fwd ))
cascade_rate() { # threads, extra env -> samples/s (mean over logged intervals after the first) and final loss
  rm -rf run
  env "${@:2}" OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 "$build/cascade" train job.ini --out run --quiet >/dev/null 2>&1
  "$py" -c "
import json
r=[json.loads(l) for l in open('run/metrics.jsonl') if '\"train\"' in l]
v=[x['samples_per_s'] for x in r[1:]]
print(sum(v)/len(v), r[-1]['loss'])"
}
read -r pinned_rate pinned_loss < <(cascade_rate 1)
printf "%-8s %14s %14s %8s %12s %10s\n" threads cascade/s torch/s ratio cascade_GF/s of_peak
for t in 1 2; do
  read -r c_rate c_loss < <(cascade_rate $t -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  t_rate=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$src/bench/torch_reference.py" data.h5 --threads $t --steps $steps | "$py" -c "import json,sys; print(json.load(sys.stdin)['samples_per_s'])")
  peak=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/bench/sgemm_peak")
  gf=$("$py" -c "print($c_rate*$train_flops/1e9)")
  "$py" - "$t" "$c_rate" "$t_rate" "$gf" "$peak" <<'PY'
import json, sys
t, c, tr, gf, peak = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
print("%-8s %14.0f %14.0f %8.2f %12.2f %9.0f%%   (OpenBLAS core %s, sgemm %.1f GFLOP/s)" %
      (t, c, tr, c / tr, gf, 100 * gf / peak["sgemm_gflops"], peak["core"], peak["sgemm_gflops"]))
PY
  if [ "$t" = 1 ]; then unpinned_loss=$c_loss; fi
done
"$py" -c "
a,b=$pinned_loss,$unpinned_loss
print('final loss pinned kernel %.6g, unpinned %.6g, relative difference %.2e' % (a,b,abs(a-b)/abs(a)))"
