#!/usr/bin/env bash
# jobs/radio-detect.ini and jobs/radio-denoise.ini as shipped: a few steps on tiny data sets at
# the paths the jobs name, `cascade predict`, and tools/radio_analysis.py on the outputs
# (threshold at a fixed false-positive rate, efficiency vs SNR, matched-filter baseline,
# pulse power, energy calibration, SNR gain, plots).
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-jobradio.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
mkdir data
"$CASCADE_BIN" simulate radio -n 600 --signal-fraction 0.5 --seed 1 -o data/radio-train.h5 2>/dev/null
"$CASCADE_BIN" simulate radio -n 400 --signal-fraction 0.5 --seed 2 -o calib.h5 2>/dev/null
"$CASCADE_BIN" simulate radio -n 400 --signal-fraction 0.5 --seed 3 -o test.h5 2>/dev/null
for job in radio-detect radio-denoise; do
  "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/$job.ini" --out "run-$job" --steps 3 \
    --set train.checkpoint_every=0 --quiet
  for f in calib test; do "$CASCADE_BIN" predict "run-$job" --data $f.h5 -o "$job-$f.h5"; done
done
"$py" "$CASCADE_SOURCE_DIR/tools/radio_analysis.py" --test test.h5 --calib calib.h5 \
  --detect radio-detect-test.h5 --calib-detect radio-detect-calib.h5 \
  --denoise radio-denoise-test.h5 --calib-denoise radio-denoise-calib.h5 \
  --baseline --fpr 0.01 --json analysis.json -o plots 2> log.txt
for p in radio_detect_efficiency radio_denoise_vs_snr radio_denoise_traces; do test -s plots/$p.png; done
"$py" - <<'PY'
import h5py, json
a = json.load(open("analysis.json"))
with h5py.File("radio-detect-test.h5") as p:
    assert p["output"].shape == (400, 1), p["output"].shape
with h5py.File("radio-denoise-test.h5") as p:
    assert p["output"].shape == (400, 1, 512), p["output"].shape
d = a["detection"]
assert d["target_fpr"] == 0.01 and d["test_noise_events"] > 100
assert 0 <= d["efficiency_snr_gt3"]["eff"] <= 1 and d["efficiency_vs_snr"]
mf = a["matched_filter"]  # the classical baseline finds the strong pulses without training
assert mf["efficiency_snr_gt5"]["eff"] > 0.8, mf["efficiency_snr_gt5"]
n = a["denoising"]
assert n["calibration"]["fits"]["clean"]["b"] > 0.15, n["calibration"]  # energy grows with pulse power
assert n["snr_gt3"]["events"] > 20 and n["vs_snr"]
# the 512-sample target gets one pooled entry per valid line, and every line is valid JSON
rows = [json.loads(l) for l in open("run-radio-denoise/metrics.jsonl")]
va = [r for r in rows if r["split"] == "valid"]
assert va and "clean_resolution" in va[-1] and not any(k.startswith("clean_0") for k in va[-1]), va[-1].keys()
print("job_radio: ok, matched-filter efficiency SNR>5 %.2f" % mf["efficiency_snr_gt5"]["eff"])
PY
