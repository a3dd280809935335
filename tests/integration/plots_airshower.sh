#!/usr/bin/env bash
# tools/plot_dataset.py draws an airshower file (with traces, and a --domain data one).
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-plots-airshower.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
"$CASCADE_BIN" simulate airshower -n 300 -o showers.h5 --seed 4 --traces >/dev/null 2>&1
"$CASCADE_BIN" simulate airshower -n 300 -o data.h5 --seed 4 --domain data >/dev/null 2>&1
"$py" "$CASCADE_SOURCE_DIR/tools/plot_dataset.py" showers.h5 -o plots --events 2
"$py" "$CASCADE_SOURCE_DIR/tools/plot_dataset.py" data.h5 -o plots-data --events 1
for png in plots/footprint_*.png plots/lateral.png plots/traces.png plots/labels.png plots-data/lateral.png; do
  test -s "$png" || { echo "FAIL: $png missing"; exit 1; }
done
test "$(ls plots/footprint_*.png | wc -l)" -eq 2
! test -e plots-data/traces.png
echo "ok: airshower plots"
rm -rf "$here"
