#!/usr/bin/env bash
# tools/plots/skymap.py through plot_dataset.py draws the sky maps, the spectrum and the
# clustering/exposure/deflection panels from a small `cascade simulate skymap` file (with the
# Auger exposure), each a non-empty PNG.
set -euo pipefail
: "${CASCADE_BIN:?set by ctest}" "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BUILD_DIR:?set by ctest}"
PY=${CASCADE_PYTHON:-/usr/bin/python3}
WORK=$(mktemp -d "$CASCADE_BUILD_DIR/it-plots-skymap.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$CASCADE_BIN" simulate skymap -n 60 -o "$WORK/sky.h5" --seed 4 --exposure auger >/dev/null 2>&1
"$PY" "$CASCADE_SOURCE_DIR/tools/plot_dataset.py" "$WORK/sky.h5" -o "$WORK/png"
for png in skymap_maps skymap_spectrum skymap_physics; do
  [ -s "$WORK/png/$png.png" ] || { echo "FAIL: $png.png missing or empty"; exit 1; }
done
echo "ok: skymap plots"
