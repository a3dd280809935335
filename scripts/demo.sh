#!/usr/bin/env bash
# The README demo: simulate a small air-shower data set, train jobs/demo.ini on 2 MPI ranks,
# evaluate on a held-out set and draw the training curves. Run from anywhere, after the build
# (`make demo` does both). Outputs: data/demo-{train,valid,test}.h5 and runs/demo/.
# BUILD_DIR selects the build (default: build). Stops at the first failing step, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
CASCADE=$BUILD_DIR/cascade
PYTHON=/usr/bin/python3          # Debian's, with numpy/h5py/matplotlib (not a pyenv shim)
JOB=jobs/demo.ini
RUN=runs/demo
RANKS=2

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Two ranks share the cores: give each its share of OpenMP/OpenBLAS threads.
cores=$(nproc 2>/dev/null || echo "$RANKS")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / RANKS > 0 ? cores / RANKS : 1 ))}
export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}

step_number=0
step() {   # step "description" command...: runs one step, stops the demo if it fails
  local name=$1 status
  shift
  step_number=$((step_number + 1))
  echo
  echo "==> [$step_number/4] $name"
  # In a subshell with errexit, so a step stops at its first failing command (errexit would
  # be ignored in a function called as `cmd || ...`).
  set +e
  (set -e; "$@")
  status=$?
  set -e
  if ((status != 0)); then
    echo "demo: step $step_number ($name) failed with exit code $status" >&2
    exit "$status"
  fi
}

make_data() {
  mkdir -p data
  local simulate=("$CASCADE" simulate airshower)
  if ! "$CASCADE" simulate --help >/dev/null 2>&1; then
    echo "    ($CASCADE simulate is not available: using the stand-in tools/toy_airshower.py)"
    simulate=("$PYTHON" tools/toy_airshower.py)
  fi
  local split name n seed
  for split in train:4000:1 valid:1000:2 test:1000:3; do
    IFS=: read -r name n seed <<<"$split"
    rm -f "data/demo-$name.h5"
    echo "    ${simulate[*]} -n $n -o data/demo-$name.h5 --seed $seed"
    "${simulate[@]}" -n "$n" -o "data/demo-$name.h5" --seed "$seed"
  done
}

train() {
  if [[ ! -r $JOB ]]; then
    echo "demo: $JOB not found" >&2
    return 2
  fi
  # A fresh run each time: train refuses to overwrite a run directory with checkpoints.
  rm -rf "$RUN"
  local launch=()
  if command -v mpirun >/dev/null 2>&1; then
    launch=(mpirun -n "$RANKS" --oversubscribe)
  else
    echo "    (mpirun not found: training on one rank)"
  fi
  echo "    ${launch[*]} $CASCADE train $JOB --out $RUN   (OMP_NUM_THREADS=$OMP_NUM_THREADS)"
  "${launch[@]}" "$CASCADE" train "$JOB" --out "$RUN"
}

evaluate() {
  echo "    $CASCADE evaluate $RUN --data data/demo-test.h5 --out $RUN/metrics-test.json --plots $RUN/plots/evaluation"
  "$CASCADE" evaluate "$RUN" --data data/demo-test.h5 --out "$RUN/metrics-test.json" --plots "$RUN/plots/evaluation"
  cat "$RUN/metrics-test.json"
  echo
}

plot() {
  echo "    $PYTHON tools/plot_metrics.py $RUN/metrics.jsonl -o $RUN/plots/"
  "$PYTHON" tools/plot_metrics.py "$RUN/metrics.jsonl" -o "$RUN/plots/"
  echo "    $PYTHON tools/plot_dataset.py data/demo-test.h5 -o $RUN/plots/dataset"
  "$PYTHON" tools/plot_dataset.py data/demo-test.h5 -o "$RUN/plots/dataset"
}

if [[ ! -x $CASCADE ]]; then
  echo "demo: $CASCADE not found; build first (make build)" >&2
  exit 2
fi
start=$SECONDS
step "simulate air showers (train 4000, valid 1000, test 1000)" make_data
step "train $JOB on $RANKS ranks" train
step "evaluate on data/demo-test.h5" evaluate
step "plot training curves and air-shower footprints" plot
echo
echo "demo: done in $((SECONDS - start)) s. Run: $RUN  metrics: $RUN/metrics-test.json  plots: $RUN/plots/"
