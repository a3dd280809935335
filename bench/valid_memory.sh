#!/usr/bin/env bash
# Peak memory per rank of `cascade evaluate` on a lartpc-segment checkpoint (per-pixel labels:
# outputs N x 3 x 64 x 64, a pixel ROC AUC) at 1, 2 and 4 ranks, each rank holding only its own
# rows' outputs (issue 20). Prints per rank count the peak RSS of rank 0 and of the largest
# other rank, as ratios to the 1-rank run measured first, and checks that the metrics JSON is
# the same bytes at every rank count.
# usage: bench/valid_memory.sh [BUILD] [N_EVENTS]   (defaults: build, 2000)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-2000}
work=$(mktemp -d "${TMPDIR:-/tmp}/valid-memory.XXXXXX")
src=$(cd "$(dirname "$0")/.." && pwd)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir data
"$build/cascade" simulate lartpc -n 64 --seed 1 -o data/lartpc-train.h5 2>/dev/null
"$build/cascade" simulate lartpc -n 64 --seed 3 -o data/lartpc-valid.h5 2>/dev/null
"$build/cascade" simulate lartpc -n "$n" --seed 4 -o test.h5 2>/dev/null
"$build/cascade" train "$src/jobs/lartpc-segment.ini" --out run --quiet --set train.steps=2 \
  --set train.checkpoint_every=0 >/dev/null 2>&1
ref0=
for p in 1 2 4; do
  start=$(date +%s.%N)
  # one file per rank (OMPI_COMM_WORLD_RANK): stderr lines of the ranks would interleave
  mpirun --oversubscribe -n $p bash -c 'exec /usr/bin/time -f %M -o "rss'$p'.$OMPI_COMM_WORLD_RANK" "$0" "$@"' \
    "$build/cascade" evaluate run --data test.h5 --out eval$p.json >/dev/null
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  r0=$(cat rss$p.0)
  other=
  for ((q = 1; q < p; q++)); do (( $(cat rss$p.$q) > ${other:-0} )) && other=$(cat rss$p.$q); done
  [[ -z $ref0 ]] && ref0=$r0
  cmp -s eval1.json eval$p.json && same=yes || same=NO
  if [[ -z $other ]]; then
    printf '%d rank: %.0f MB, %.1f s\n' $p "$(echo "$r0/1024" | bc -l)" "$wall"
  else
    printf '%d ranks: rank 0 %.0f MB (%.2fx 1 rank), largest other rank %.0f MB (%.2fx), %.1f s, JSON same as 1 rank: %s\n' \
      $p "$(echo "$r0/1024" | bc -l)" "$(echo "$r0/$ref0" | bc -l)" "$(echo "$other/1024" | bc -l)" \
      "$(echo "$other/$ref0" | bc -l)" "$wall" $same
  fi
done
