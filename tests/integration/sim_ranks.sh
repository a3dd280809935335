#!/usr/bin/env bash
# Every simulator writes identical data for 1, 2 and 3 ranks (and for another write block
# size), the output appears only complete (no OUT.tmp left), and unknown options are errors.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-sim.XXXXXX")
cd "$here"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
kinds=$("$CASCADE_BIN" simulate --help | sed -n 's/^ *KIND: //p' | tr -d '|')
[ -n "$kinds" ] || { echo "no simulators registered"; exit 1; }
for kind in $kinds; do
  extra=()
  [ "$kind" = airshower ] && extra=(--traces)
  "$CASCADE_BIN" simulate "$kind" -n 37 -o "$kind-1.h5" --seed 9 "${extra[@]}" >/dev/null 2>&1
  mpirun --oversubscribe -n 2 "$CASCADE_BIN" simulate "$kind" -n 37 -o "$kind-2.h5" --seed 9 --block 5 "${extra[@]}" >/dev/null 2>&1
  mpirun --oversubscribe -n 3 "$CASCADE_BIN" simulate "$kind" -n 37 -o "$kind-3.h5" --seed 9 --compress "${extra[@]}" >/dev/null 2>&1
  for r in 2 3; do
    h5diff "$kind-1.h5" "$kind-$r.h5" || { echo "FAIL: $kind differs between 1 and $r ranks"; exit 1; }
  done
  ! ls ./*.tmp >/dev/null 2>&1 || { echo "FAIL: temporary file left"; exit 1; }
  if "$CASCADE_BIN" simulate "$kind" -n 5 -o bad.h5 --no-such-option 3 2>err.txt; then
    echo "FAIL: unknown option accepted"; exit 1
  fi
  grep -q "no-such-option" err.txt
  echo "ok: $kind identical for 1, 2, 3 ranks"
done
rm -rf "$here"
