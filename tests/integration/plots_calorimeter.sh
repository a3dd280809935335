#!/usr/bin/env bash
# tools/plot_dataset.py draws a simulated calorimeter file (one particle, and the mix with
# particle_id): mean layer images, single showers, longitudinal profile, total energy.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-plots-calo.XXXXXX")
cd "$here"
for particle in e+ mix; do
  "$CASCADE_BIN" simulate calorimeter -n 400 -o "calo-$particle.h5" --seed 3 --particle "$particle" >/dev/null
  "$CASCADE_PYTHON" "$CASCADE_SOURCE_DIR/tools/plot_dataset.py" "calo-$particle.h5" -o "png-$particle" --events 3
  for png in mean_layers single_showers longitudinal total_energy; do
    test -s "png-$particle/calorimeter_$png.png" || { echo "FAIL: $particle: calorimeter_$png.png missing"; exit 1; }
  done
done
echo "ok: calorimeter plots"
rm -rf "$here"
