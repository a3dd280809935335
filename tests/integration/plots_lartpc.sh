#!/usr/bin/env bash
# lartpc pictures: a small simulated file gives event displays (charge and pixel labels) for
# each class and the sample summary.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-plots-lartpc.XXXXXX")
"$CASCADE_BIN" simulate lartpc -n 60 -o "$here/lartpc.h5" --seed 4 >/dev/null 2>&1
"$CASCADE_PYTHON" "$CASCADE_SOURCE_DIR/tools/plot_dataset.py" "$here/lartpc.h5" -o "$here/plots" --events 3
for png in lartpc_events_numu_cc lartpc_events_nue_cc lartpc_events_nc lartpc_summary; do
  [ -s "$here/plots/$png.png" ] || { echo "FAIL: $png.png missing"; exit 1; }
done
rm -rf "$here"
