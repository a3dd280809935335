#!/usr/bin/env bash
# jobs/airshower-xmax.ini as shipped, 3 steps on tiny data: traces (9,9,80) + time + signal
# concatenated per station (layout = features, x (9,9,82)), sliced apart again, one LSTM per
# station, hexconv over the array, dense head -> Xmax. Then predict / evaluate --plots on a
# held-out file of another seed, tools/shower_resolution.py --task xmax (resolution and bias
# in bins of energy, the plot), and bench/physics_torch.py on the run's job.ini (the PyTorch
# twin must have exactly cascade's parameter count). Also: the data errors of the features
# layout and of slice, and simulate's flags followed by short options and negative values.
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-xmax.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
"$CASCADE_BIN" simulate airshower -n 300 --traces -o data/showers-traces-train.h5 --seed 101 --xmax-shift -40 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 100 --traces -o data/showers-traces-valid.h5 --seed 303 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 150 --traces -o test.h5 --seed 202 2>/dev/null
job=$CASCADE_SOURCE_DIR/jobs/airshower-xmax.ini
"$CASCADE_BIN" train "$job" --out run --set train.epochs= --set train.steps=3 --set train.checkpoint_every=0 2> log.txt
for layer in "trace *slice *(9,9,80)" "seq *reshape *(81,20,4)" "station *lstm *(81,16)" \
             "timing *slice *(9,9,2)" "per_station *concat *(9,9,18)" "hex3 *hexconv *(64,9,9)"; do
  grep -q "^  $layer" log.txt || { echo "missing layer '$layer' in:"; cat log.txt; exit 1; }
done
grep -q '"xmax_resolution"' run/metrics.jsonl
params=$(sed -n 's/^net model: \([0-9]*\) parameters/\1/p' log.txt)
"$CASCADE_BIN" predict run --data test.h5 -o pred.h5
"$CASCADE_BIN" evaluate run --data test.h5 --plots plots > /dev/null
test -s plots/regression_xmax.png
"$py" "$CASCADE_SOURCE_DIR/tools/shower_resolution.py" pred.h5 --labels test.h5 --task xmax \
  --json res.json --plot xmax.png > /dev/null
test -s xmax.png
"$py" "$CASCADE_SOURCE_DIR/bench/physics_torch.py" run/job.ini --train data/showers-traces-train.h5 \
  --test test.h5 --task xmax > torch.json
"$py" - "$params" <<'PY'
import glob, json, sys
import h5py
import numpy as np
params = int(sys.argv[1])
res, th, ev = (json.load(open(p)) for p in ("res.json", "torch.json", "plots/metrics.json"))
assert th["params"] == params and th["steps"] == 3, (th, params)
with h5py.File("test.h5", "r") as t, h5py.File("pred.h5", "r") as p:
    d = p["output"][:, 0] - t["xmax"][:]
    hi = t["logE"][:] >= 19.3
    assert res["n_all"] == 150 and res["n"] == hi.sum(), res
    assert abs(res["xmax_std"] - d[hi].std()) < 1e-3 and abs(res["xmax_bias"] - d[hi].mean()) < 1e-3, res
    assert abs(res["xmax_std_all"] - ev["xmax_resolution"]) < 1e-2 * ev["xmax_resolution"], (res, ev)
    assert sum(b["n"] for b in res["bins"]) == 150 and sum(m["n"] for m in res["by_mass"].values()) == hi.sum()
with h5py.File(sorted(glob.glob("run/checkpoints/*.h5"))[-1], "r") as c:  # per-feature statistics
    n = {k: c["normalization/%s/mean" % k].shape for k in ("traces", "time", "signal")}
    assert n == {"traces": (80,), "time": (1,), "signal": (1,)}, n
print("job_airshower_xmax: %d parameters, torch twin equal; xmax_std %.1f g/cm2 after 3 steps" %
      (params, res["xmax_std"]))
PY
# features layout: an input whose leading axes differ from the traces' is a data error naming both
set +e
"$CASCADE_BIN" train "$job" --out bad1 --set train.epochs= --set train.steps=1 --set data.inputs=traces,axis,signal 2> err1.txt
rc1=$?
"$CASCADE_BIN" train "$job" --out bad2 --set train.epochs= --set train.steps=1 --set model.timing.start=82 2> err2.txt
rc2=$?
set -e
[ $rc1 -eq 3 ] && grep -q "inputs 'traces' ([0-9]*,9,9,80) and 'axis' ([0-9]*,3) cannot be concatenated on the last axis" err1.txt \
  || { echo "rc $rc1"; cat err1.txt; exit 1; }
[ $rc2 -eq 2 ] && grep -q "timing.*slice start = 82, stop = end of axis -1 (size 82) of the input (9,9,82) is empty" err2.txt \
  || { echo "rc $rc2"; cat err2.txt; exit 1; }
echo "job_airshower_xmax: ok"
