#!/usr/bin/env bash
# Input memory per node, before and after the shared window, in the same run: the measurement
# of tests/integration/memory_pss.sh (peak summed PSS of the ranks while a job trains on a
# ~100 MB air-shower shaped file, 1 and 4 ranks, 4 ranks as two fake nodes, 4 ranks with the
# window refused) with a reference binary (REF: e.g. a build of main before the window; its
# checks are expected to fail, its numbers are the "before") and with this build.
# Usage: [PSS_SHOWERS=160000] bench/input_memory.sh REF_CASCADE_BINARY [BUILD_DIR]
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:?usage: bench/input_memory.sh REF_CASCADE_BINARY [BUILD_DIR]}
build=$(cd "${2:-$src/build}" && pwd)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for bin in "$ref" "$build/cascade"; do
    echo "== $bin"
    CASCADE_BIN=$bin CASCADE_SOURCE_DIR=$src CASCADE_BUILD_DIR=$build \
        bash "$src/tests/integration/memory_pss.sh" 2>&1 | grep -v '^training '
done
