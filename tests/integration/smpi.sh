#!/usr/bin/env bash
# The SMPI build (CMake CASCADE_SMPI=ON, docs/scaling.md): builds it with SimGrid's smpicc into
# the test's directory, runs 16 simulated ranks of airshower-energy (one micro-batch of 64
# per rank, synthetic input) for a few steps on a generated fat tree and checks that a step
# time comes out; then that the synthetic-input build accepts what the scaling study needs —
# streamed and preloaded input, integer labels (lartpc-segment's per-pixel cross entropy), a
# WGAN-GP job with several inputs and a condition, fast and deterministic modes — and
# refuses, with a message, a missing CASCADE_SYNTHETIC and a data set it does not list.
# Skips (exit 77) only when smpicc is missing: scripts/install-deps installs SimGrid.
set -euo pipefail
if ! command -v smpicc >/dev/null 2>&1 || ! command -v smpirun >/dev/null 2>&1; then
    echo "SKIP: smpicc/smpirun not found (SimGrid SMPI: apt-get install libsimgrid-dev, or scripts/install-deps)"
    exit 77
fi
src=${CASCADE_SOURCE_DIR:?CASCADE_SOURCE_DIR is set by ctest (tests/CMakeLists.txt)}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-smpi.XXXXXX")
cd "$here"
source "$src/tests/support/expect.sh"
py=${CASCADE_PYTHON:-/usr/bin/python3}

echo "== configure and build the SMPI variant"
cmake -S "$src" -B build-smpi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCASCADE_WERROR=ON -DCASCADE_SMPI=ON >cmake.log 2>&1 ||
    { cat cmake.log; exit 1; }
cmake --build build-smpi -j2 >build.log 2>&1 || { tail -50 build.log; exit 1; }
export CASCADE_SMPI_BUILD=$here/build-smpi

echo "== compute regions: calibrated on one rank, then charged (layers skipped) to 16 ranks"
"$py" "$src/bench/smpi/scaling.py" point airshower-energy fast 1 --steps 12 --regions regions.tsv
test "$(grep -c 'forward|' regions.tsv)" -ge 5 # a median per layer forward (at least)
one=$("$py" "$src/bench/smpi/scaling.py" point airshower-energy fast 1 --regions regions.tsv)
again=$("$py" "$src/bench/smpi/scaling.py" point airshower-energy fast 1 --regions regions.tsv)
out=$("$py" "$src/bench/smpi/scaling.py" point airshower-energy fast 16 --regions regions.tsv)
echo "$one"; echo "$out"
# the same calibration gives the same simulated step, whatever the load of this machine; 16
# ranks add only communication (own allreduce, overlapped), not 16 noisy draws of compute
"$py" - "$one" "$again" "$out" <<'PY'
import json, sys
one, again, out = (json.loads(a) for a in sys.argv[1:])
assert one["step_ms"] == again["step_ms"], (one, again)
assert out["ranks"] == 16 and one["step_ms"] <= out["step_ms"] < 1.5 * one["step_ms"], (one, out)
PY

echo "== what the synthetic build accepts: labels, a WGAN-GP job, deterministic mode, preloaded input"
"$py" "$src/bench/smpi/scaling.py" point lartpc-segment deterministic 2 --steps 2
"$py" "$src/bench/smpi/scaling.py" point calo3-wgan-gp deterministic 2 --steps 2
"$py" "$src/bench/smpi/fattree.py" 2 p.xml hosts
mkdir -p data
run() { smpirun -np 2 -platform p.xml -hostfile hosts --log=root.thres:critical "$CASCADE_SMPI_BUILD/cascade" "$@"; }
CASCADE_SYNTHETIC="512 time=9x9 signal=9x9 logE" run train "$src/jobs/airshower-energy.ini" --out runs/pre \
    --steps 2 --quiet  # preloaded, standardised inputs and targets, a validation file of 512
grep -q '"split":"valid"' runs/pre/metrics.jsonl

echo "== what it refuses"
unset CASCADE_SYNTHETIC
expect 2 "set CASCADE_SYNTHETIC" -- run train "$src/jobs/airshower-energy.ini" --out runs/r1 --steps 1 --quiet
CASCADE_SYNTHETIC="512 time=9x9 logE" expect 3 "no data set 'signal'" -- \
    run train "$src/jobs/airshower-energy.ini" --out runs/r2 --steps 1 --quiet
CASCADE_SYNTHETIC="512 time=9y9 signal=9x9 logE" expect 2 "bad shape '9y9'" -- \
    run train "$src/jobs/airshower-energy.ini" --out runs/r3 --steps 1 --quiet
echo "smpi test: ok"
