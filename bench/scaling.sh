#!/usr/bin/env bash
# Weak and strong scaling of cascade's training step predicted with SimGrid SMPI on simulated
# fat trees up to 1024 ranks (docs/scaling.md). Builds the SMPI variant into build-smpi when
# missing; reads the core's sgemm speed from build/bench/sgemm_peak when present.
#
#   bench/scaling.sh             the study: writes docs/scaling-results.md, docs/img/scaling-*.png
#                                (hours on the 2-core machine; env SCALING_DOCS=DIR elsewhere)
#   bench/scaling.sh --quick     airshower-energy: fast at 1, 16, 256 ranks, deterministic at 1, 64
#                                ranks, nodes 1x and 8x this core: one JSON line per point
#                                (< 10 minutes on a quiet machine)
#   bench/scaling.sh --validate  predicted vs measured (mpirun) step times at 1, 2 and 4 ranks
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CASCADE_SMPI_BUILD=${CASCADE_SMPI_BUILD:-build-smpi}
if [[ ! -x "$CASCADE_SMPI_BUILD/cascade" ]]; then
  command -v smpicc >/dev/null || { echo "scaling.sh: smpicc missing (scripts/install-deps)" >&2; exit 1; }
  cmake -S . -B "$CASCADE_SMPI_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCASCADE_SMPI=ON >/dev/null
  cmake --build "$CASCADE_SMPI_BUILD" -j2 >/dev/null
fi
case "${1:-}" in
  --quick) exec /usr/bin/python3 bench/smpi/scaling.py sweep --quick ;;
  --validate) exec /usr/bin/python3 bench/smpi/scaling.py validate ;;
  "") exec /usr/bin/python3 bench/smpi/scaling.py sweep --docs "${SCALING_DOCS:-docs}" ;;
  *) sed -n '2,12s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
