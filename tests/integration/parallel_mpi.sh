#!/usr/bin/env bash
# src/parallel under MPI: test_parallel (also run alone as a unit test) on 1 to 6, 16 and 17 ranks
# — partition, agreement from any failing rank, the exact reducer bitwise equal to the
# reference sum for every rank count (uneven deals of 20 micro-batches), the fast reducer flat
# vs hierarchical (fake nodes of 2 ranks, CASCADE_RANKS_PER_NODE), gathers.
set -euo pipefail
build=${CASCADE_BUILD_DIR:?CASCADE_BUILD_DIR is set by ctest (tests/CMakeLists.txt)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for ranks in 1 2 3 4 5 6 16 17; do  # 16, 17: radix-16 rounds, and a fold
    echo "== mpirun -n $ranks test_parallel"
    # a hang (a rank left out of a collective call) fails fast instead of at ctest's timeout
    timeout 120 mpirun --oversubscribe -n "$ranks" "$build/tests/test_parallel"
done
echo "== mpirun -n 4 test_parallel with fake nodes of 2 ranks for every communicator"
CASCADE_RANKS_PER_NODE=2 timeout 120 mpirun --oversubscribe -x CASCADE_RANKS_PER_NODE -n 4 "$build/tests/test_parallel"
