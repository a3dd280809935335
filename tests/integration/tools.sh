#!/usr/bin/env bash
# The Python helpers in tools/: toy_airshower.py writes the CONTRACT air-shower schema
# (deterministically in the seed, with sane physics), plot_metrics.py turns a metrics.jsonl
# (also one with a half-written last line) into non-empty PNGs and rejects a corrupt one.
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BUILD_DIR:?set by ctest}"
PY=${CASCADE_PYTHON:-/usr/bin/python3}
TOOLS=$CASCADE_SOURCE_DIR/tools
WORK=$(mktemp -d "$CASCADE_BUILD_DIR/it-tools.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "--- toy_airshower.py"
"$PY" "$TOOLS/toy_airshower.py" -n 500 -o "$WORK/a.h5" --seed 7
"$PY" "$TOOLS/toy_airshower.py" -n 500 -o "$WORK/b.h5" --seed 7
"$PY" "$TOOLS/toy_airshower.py" -n 500 -o "$WORK/c.h5" --seed 8 --domain data
[[ ! -e "$WORK/a.h5.tmp" ]] || fail "temporary file left behind"

if command -v h5ls >/dev/null 2>&1; then
  listing=$(h5ls "$WORK/a.h5" | tr -s ' ')
  for expect in "signal Dataset {500, 9, 9}" "time Dataset {500, 9, 9}" "axis Dataset {500, 3}" \
                "core Dataset {500, 2}" "logE Dataset {500}" "xmax Dataset {500}" "mass Dataset {500}"; do
    grep -qxF "$expect" <<<"$listing" || fail "h5ls: no '$expect' in: $listing"
  done
fi
if command -v h5diff >/dev/null 2>&1; then
  h5diff -q "$WORK/a.h5" "$WORK/b.h5" || fail "same seed gave different files"
fi

"$PY" - "$WORK/a.h5" "$WORK/b.h5" "$WORK/c.h5" <<'PYEOF'
import sys
import h5py
import numpy as np

a_path, b_path, c_path = sys.argv[1:]
shapes = dict(time=(500, 9, 9), signal=(500, 9, 9), logE=(500,), xmax=(500,), axis=(500, 3),
              core=(500, 2), mass=(500,))
with h5py.File(a_path) as a, h5py.File(b_path) as b, h5py.File(c_path) as c:
    for name, shape in shapes.items():
        assert a[name].shape == shape, (name, a[name].shape)
        assert a[name].dtype == np.float32, (name, a[name].dtype)
        assert np.all(np.isfinite(a[name][...])), name
        assert np.array_equal(a[name][...], b[name][...]), f"{name}: same seed, other data"
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in a.attrs.items()}
    assert attrs["kind"] == "airshower" and attrs["domain"] == "sim", attrs
    assert attrs["spacing_m"] == 1500 and attrs["seed"] == 7, attrs
    assert attrs["generator"] and attrs["version"], attrs
    assert c.attrs["domain"] == b"data"
    assert not np.array_equal(a["signal"][...], c["signal"][...]), "other seed, same data"

    sig, t = a["signal"][...], a["time"][...]
    assert np.all((sig == 0) | (sig >= 3)), "a station below 3 VEM kept its signal"
    assert np.all(t[sig == 0] == 0), "a silent station has a time"
    assert np.mean((sig > 0).sum(axis=(1, 2)) >= 3) > 0.9, "too few events with 3 stations"
    axis = a["axis"][...]
    assert np.allclose(np.linalg.norm(axis, axis=1), 1, atol=1e-5) and np.all(axis[:, 2] > 0)
    assert np.all(np.degrees(np.arccos(axis[:, 2])) <= 60.0 + 1e-3)
    logE, mass, core = a["logE"][...], a["mass"][...], a["core"][...]
    assert logE.min() >= 18.5 and logE.max() <= 20.0
    assert set(np.unique(mass)) <= {1.0, 4.0, 14.0, 56.0}
    assert np.all(np.hypot(core[:, 0], core[:, 1]) <= 1500 / np.sqrt(3) + 1e-3), "core off cell"

    # Physics: more energy, more signal (away from the core, whose distance to the nearest
    # station dominates its signal); the station nearest the core is the brightest.
    ring = sig.copy()
    ring[:, 4, 4] = 0
    total = ring.sum(axis=(1, 2)) + 1
    assert np.corrcoef(logE, np.log(total))[0, 1] > 0.8, "signal does not follow energy"
    assert np.mean(sig.reshape(500, -1).argmax(axis=1) == 4 * 9 + 4) > 0.5
    # Protons reach deeper than iron by about 100 g/cm^2.
    xmax = a["xmax"][...]
    gap = xmax[mass == 1].mean() - xmax[mass == 56].mean()
    assert 60 < gap < 140, gap
    # Plane front: upstream stations (d . axis > 0) triggered earlier than the core.
    r, col = np.meshgrid(np.arange(9), np.arange(9), indexing="ij")
    x = (col - 4 + (r % 2) / 2) * 1500
    y = (r - 4) * 1500 * np.sqrt(3) / 2
    along = (x[None] - core[:, 0, None, None]) * axis[:, 0, None, None] + \
            (y[None] - core[:, 1, None, None]) * axis[:, 1, None, None]
    hit = sig > 0
    slope = np.polyfit(along[hit], t[hit], 1)[0]
    assert abs(slope * 0.299792458 + 1) < 0.1, f"time vs distance along axis: {slope} ns/m"
print("toy data set: schema, determinism and physics ok")
PYEOF

echo "--- plot_metrics.py"
RUN=$WORK/run
mkdir -p "$RUN"
"$PY" - "$RUN/metrics.jsonl" <<'PYEOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for step in range(1, 41):
        rec = dict(step=step, epoch=step // 10, split="train", loss=1.0 / step,
                   lr=1e-3 * min(1, step / 5), samples_per_s=1000.0 + step, time_s=0.1 * step)
        f.write(json.dumps(rec) + "\n")
        if step % 10 == 0:
            f.write(json.dumps(dict(step=step, epoch=step // 10, split="valid",
                                    loss=1.2 / step, xmax_resolution=40.0 - step / 2,
                                    note="text is ignored")) + "\n")
    f.write('{"step": 41, "epoch": 4, "split": "tr')   # a run still writing
PYEOF
"$PY" "$TOOLS/plot_metrics.py" "$RUN/metrics.jsonl" -o "$WORK/plots"
for png in loss lr metric-samples_per_s metric-time_s metric-xmax_resolution; do
  f=$WORK/plots/$png.png
  [[ -s "$f" ]] || fail "$f missing or empty"
  [[ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] || fail "$f is not a PNG"
done
[[ ! -e "$WORK/plots/metric-note.png" ]] || fail "a text field was plotted"

[[ -s "$WORK/plots/summary.png" ]] || fail "no summary.png (one page of panels)"

# Several runs overlaid: one page and per-key figures naming both runs.
RUN2=$WORK/run2
mkdir -p "$RUN2"
head -n 20 "$RUN/metrics.jsonl" > "$RUN2/metrics.jsonl"   # a shorter second run
out=$("$PY" "$TOOLS/plot_metrics.py" "$RUN" "$RUN2/metrics.jsonl" -o "$WORK/overlay")
grep -q "2 run(s)" <<<"$out" || fail "two runs not both read: $out"
for png in summary loss metric-xmax_resolution; do
  [[ -s "$WORK/overlay/$png.png" ]] || fail "overlay: $png.png missing"
done
cmp -s "$WORK/plots/loss.png" "$WORK/overlay/loss.png" && fail "overlay loss.png is the single run's"

# RUNDIR form, default output directory RUNDIR/plots.
"$PY" "$TOOLS/plot_metrics.py" "$RUN"
[[ -s "$RUN/plots/loss.png" ]] || fail "RUNDIR form wrote no $RUN/plots/loss.png"

# An empty file is not an error; a corrupt line before the last one is, naming file:line.
: > "$WORK/empty.jsonl"
"$PY" "$TOOLS/plot_metrics.py" "$WORK/empty.jsonl" -o "$WORK/empty-plots"
printf '{"step": 1, "split": "train", "loss": 1}\n{oops\n{"step": 2, "split": "train", "loss": 0.5}\n' \
  > "$WORK/bad.jsonl"
set +e
message=$("$PY" "$TOOLS/plot_metrics.py" "$WORK/bad.jsonl" -o "$WORK/bad-plots" 2>&1)
status=$?
set -e
[[ $status -eq 3 ]] || fail "corrupt metrics: exit $status, expected 3 ($message)"
grep -q "bad.jsonl:2" <<<"$message" || fail "corrupt metrics: message does not name line 2: $message"
echo "tools: all checks passed"
