#!/usr/bin/env bash
# The radio pictures: a small simulated file (with noise-only events) through plot_dataset.py.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-plots-radio.XXXXXX")
cd "$here"
"$CASCADE_BIN" simulate radio -n 300 -o radio.h5 --seed 2 --signal-fraction 0.8 >/dev/null
"$CASCADE_PYTHON" "$CASCADE_SOURCE_DIR/tools/plot_dataset.py" radio.h5 -o plots
for png in radio_traces radio_snr radio_spectra; do
  [ -s "plots/$png.png" ] || { echo "FAIL: plots/$png.png missing"; exit 1; }
done
echo "ok: radio plots"
rm -rf "$here"
