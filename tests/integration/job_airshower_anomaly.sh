#!/usr/bin/env bash
# jobs/airshower-anomaly.ini as shipped: a few steps on simulated footprints, then the anomaly
# score on a sim + data mix (tools/h5mix.py, label is_data) with `cascade evaluate`.
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-jobair.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
"$CASCADE_BIN" simulate airshower -n 600 --domain sim --seed 31 -o data/showers-sim-train.h5 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 200 --domain sim --seed 32 -o sim.h5 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 200 --domain data --seed 33 -o dat.h5 2>/dev/null
"$py" "$CASCADE_SOURCE_DIR/tools/h5mix.py" mixed.h5 --label is_data sim.h5:0 dat.h5:1 >/dev/null
"$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/airshower-anomaly.ini" --out run --steps 5 \
  --set train.checkpoint_every=0 2> log.txt
grep -q "h1 *hexconv *(32,9,9)" log.txt
"$CASCADE_BIN" evaluate run --data mixed.h5 --anomaly-label is_data --out eval.json
"$py" - <<'PY'
import json
m = json.load(open("eval.json"))
assert m["samples"] == 400 and 0 <= m["anomaly_auc"] <= 1, m
print("job_airshower_anomaly: ok, AUC after 5 steps %.3f" % m["anomaly_auc"])
PY
