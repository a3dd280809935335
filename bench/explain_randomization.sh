#!/usr/bin/env bash
# Model-randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps"):
# train the demo model (air-shower energy), then re-initialise its layers cascading from the
# top (out, then fc, conv2, conv1; PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))) and
# measure how much each explanation changes: the Spearman rank correlation, per sample, of the
# map from the trained model with the map from the randomised one (of |map| and of the signed
# map), averaged over the samples. A method that explains the model falls towards 0 as more
# layers are randomised; one that mostly reflects the input (or the architecture) stays high.
# Usage: bench/explain_randomization.sh [BUILD] — prints a table; not a test.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
bin=$build/cascade
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/cascade-randomization.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p data
"$bin" simulate airshower -n 4000 -o data/demo-train.h5 --seed 1 2>/dev/null
"$bin" simulate airshower -n 400 -o data/demo-valid.h5 --seed 2 2>/dev/null
"$bin" train "$OLDPWD/jobs/demo.ini" --out run --quiet
ckpt=$(ls run/checkpoints/step-*.h5 | tail -1)
"$py" - "$ckpt" <<'PY'
import h5py, numpy as np, shutil, sys
src = sys.argv[1]
order = ["out", "fc", "conv2", "conv1"]  # top down
rng = np.random.default_rng(0)
for k in range(1, len(order) + 1):
    dst = "rand%d.h5" % k
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        for layer in order[:k]:
            g = f["params/model/" + layer]
            w = g["weight"]
            fan_in = int(np.prod(w.shape[1:]))
            bound = 1 / np.sqrt(fan_in)
            w[...] = rng.uniform(-bound, bound, size=w.shape).astype(np.float32)
            if "bias" in g:
                g["bias"][...] = rng.uniform(-bound, bound, size=g["bias"].shape).astype(np.float32)
PY
methods="saliency inputxgrad guided gradcam lrp"
for c in "$ckpt" rand1.h5 rand2.h5 rand3.h5 rand4.h5; do
    tag=$(basename "$c" .h5)
    for m in $methods; do
        extra=""
        [ $m = gradcam ] && extra="--layer conv2"
        "$bin" explain "$c" --method $m $extra --data data/demo-valid.h5 --index 0:64 --out "e-$m-$tag" \
            --no-pictures 2>/dev/null
    done
done
"$py" - "$(basename "$ckpt" .h5)" $methods <<'PY'
import h5py, numpy as np, sys
from scipy.stats import spearmanr
base, methods = sys.argv[1], sys.argv[2:]
tags = ["rand1", "rand2", "rand3", "rand4"]
labels = ["out", "+fc", "+conv2", "+conv1"]
def maps(m, tag):
    f = h5py.File("e-%s-%s/explain.h5" % (m, tag), "r")
    a = f["map"][...] if m == "gradcam" else f["attribution"][...]
    return a.reshape(a.shape[0], -1).astype(np.float64)
def corr(a, b):
    r = []
    for x, y in zip(a, b):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            r.append(0.0)  # a constant map (e.g. Grad-CAM all zero) carries no ranking
        else:
            r.append(spearmanr(x, y).correlation)
    return np.mean(r)
print("Spearman rank correlation with the trained model's map (mean over 64 samples), layers")
print("re-initialised cascading from the top:")
print("| method | map | " + " | ".join(labels) + " |")
print("|---|---|" + "---|" * len(labels))
for m in methods:
    ref = maps(m, base)
    for kind, f in (("abs", np.abs), ("signed", lambda v: v)):
        row = [corr(f(ref), f(maps(m, t))) for t in tags]
        print("| %s | %s | %s |" % (m, kind, " | ".join("%.2f" % v for v in row)))
PY
