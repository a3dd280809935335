#!/usr/bin/env bash
# The HDF5 layer under MPI: test_h5io and test_h5ckpt (also run alone as unit tests) on 2 and
# 3 ranks. Every rank reads its own rows / index lists / flat parts, checkpoint arrays are
# written in parts by different ranks, and an error on one rank reaches all ranks (no hang).
set -euo pipefail
build=${CASCADE_BUILD_DIR:?CASCADE_BUILD_DIR is set by ctest (tests/CMakeLists.txt)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HDF5_USE_FILE_LOCKING=FALSE
for ranks in 2 3; do
    for test in test_h5io test_h5ckpt; do
        echo "== mpirun -n $ranks $test"
        # a hang (a rank left out of a collective call) fails fast instead of at ctest's timeout
        timeout 120 mpirun --oversubscribe -n "$ranks" "$build/tests/$test"
    done
done
