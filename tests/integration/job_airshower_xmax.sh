#!/usr/bin/env bash
# The per-station pattern of jobs/airshower-xmax-traces.ini: traces (9,9,80) -> one LSTM per
# station (leading axes are positions, shared weights) -> hexconv over the array -> Xmax.
# Also: simulate's flags may be followed by short options and negative values.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-xmax.XXXXXX")
cd "$here"
"$CASCADE_BIN" simulate airshower -n 200 --traces -o data.h5 --seed 3 --xmax-shift -40 2>/dev/null
sed "s#data/showers-traces.h5#data.h5#" "$CASCADE_SOURCE_DIR/jobs/airshower-xmax-traces.ini" > job.ini
"$CASCADE_BIN" train job.ini --out run --steps 4 --set train.checkpoint_every=0 2> log.txt
grep -q "station *lstm *(81,8)" log.txt
grep -q "hex *hexconv *(16,9,9)" log.txt
grep -q '"xmax_resolution"' run/metrics.jsonl
echo "xmax_traces: ok"
rm -rf "$here"
