#!/usr/bin/env bash
# Simulator throughput: events per second per rank (generation only, and including the
# parallel HDF5 write) for every registered kind at 1 and 2 ranks, and the 1 -> 2 rank
# speed-up of the whole run, measured in the same run. Usage: bench/simulate.sh [BUILD] [N]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
n=${2:-50000}
work=$(mktemp -d "$build/bench-sim.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
kinds=$("$build/cascade" simulate --help | sed -n 's/^ *KIND: //p' | tr -d '|')
printf "%-12s %6s %16s %16s %10s %9s\n" kind ranks gen_events/s/rank total_events/s/rank gen_share speedup
for kind in $kinds; do
  t1=0
  for r in 1 2; do
    line=$(mpirun --oversubscribe -n $r "$build/cascade" simulate "$kind" -n "$n" -o "$kind.h5" --seed 1 2>&1 | grep "events/s per rank")
    # "simulate K: N events -> F in T s (generation G s, R events/s per rank)"
    total=$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$line")
    gen=$(sed -E 's/.*generation ([0-9.]+) s.*/\1/' <<<"$line")
    [ "$r" = 1 ] && t1=$total
    /usr/bin/python3 -c "
n, r, tot, gen, t1 = $n, $r, $total, $gen, $t1
print('%-12s %6d %16.0f %16.0f %9.0f%% %9.2f' % ('$kind', r, n / r / max(gen, 1e-9), n / r / tot, 100 * gen / tot, t1 / tot))"
    rm -f "$kind.h5"
  done
done
