#!/usr/bin/env bash
# cascade evaluate on GAN runs (docs/gan-evaluation.md), on tiny runs:
#  - an air-shower wgan-gp: metrics JSON with the generic and footprint observables, the lateral
#    profile, observables.h5 and the PNGs with --plots; the same numbers on 2 ranks;
#  - the data against itself (--data F --samples F): every separation power is 0;
#  - a conditional calorimeter wgan-gp: the CaloGAN observables, the classifier test (AUC);
#  - errors: GAN options on a supervised run, a GAN run without held-out data.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-gan-eval.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
"$CASCADE_BIN" simulate airshower -n 600 -o sh.h5 --seed 5 > /dev/null
"$CASCADE_BIN" simulate calorimeter -n 600 -o calo.h5 --seed 6 > /dev/null

cat > sh.ini <<'INI'
[job]
kind = wgan-gp
seed = 2
[data]
train = sh.h5
valid_fraction = 0.25
inputs = signal
log_inputs = signal
normalize = standard
[train]
batch = 32
micro_batch = 16
steps = 4
[gan]
latent = 8
critic_steps = 2
[generator.d1]
type = dense
input = z
units = 32
activation = leaky_relu
[generator.d2]
type = dense
units = 81
[generator.out]
type = reshape
shape = 1, 9, 9
[critic.c1]
type = conv2d
input = x
filters = 4
kernel = 3
padding = same
[critic.ln]
type = layernorm
activation = leaky_relu
[critic.flat]
type = flatten
[critic.out]
type = dense
units = 1
bias = false
INI
"$CASCADE_BIN" train sh.ini --out sh-run --quiet
"$CASCADE_BIN" evaluate sh-run --plots sh-eval > /dev/null
mpirun --oversubscribe -n 2 "$CASCADE_BIN" evaluate sh-run --out sh2.json
"$py" - <<'PY'
import json, os, h5py, math
m = json.load(open("sh-eval/metrics.json"))
assert m["samples"] == 150 and m["data_kind"] == "airshower" and m["cell_threshold"] == 3, m
obs = m["observables"]
for k in ["signal.sum", "signal.nonzero", "signal.mean", "signal.std", "total_signal", "n_triggered",
          "max_signal", "barycentre_r"]:
    assert k in obs and 0 <= obs[k]["separation_power"] <= 1, k
assert obs["total_signal"]["highlevel"] and not obs["signal.sum"]["highlevel"]
assert len(m["lateral_profile"]["real"]) == 12 and m["lateral_profile"]["real"][0] > 0
assert 0 < m["median_separation_power"] <= 1
for f in ["real.h5", "generated.h5", "observables.h5", "histograms.png", "separation.png",
          "lateral_profile.png", "hist_total_signal.png"]:
    assert os.path.exists("sh-eval/" + f), f
g = h5py.File("sh-eval/generated.h5", "r")
assert g["signal"].shape == (150, 9, 9)
o = h5py.File("sh-eval/observables.h5", "r")
assert o["real/total_signal"].shape == (150,)
assert abs(o["hist/total_signal/real"][:].sum() - 1) < 1e-5
m2 = json.load(open("sh2.json"))
for k, v in obs.items():  # generation does not depend on the rank count
    assert m2["observables"][k]["separation_power"] == v["separation_power"], k
print("airshower evaluate ok: median separation power %.3f" % m["median_separation_power"])
PY

# --apply-threshold: sub-trigger stations read as 0 on both sides; the counts use the same rule
"$CASCADE_BIN" evaluate sh-run --apply-threshold --out thr.json
"$py" - <<'PY'
import json
a, b = json.load(open("thr.json")), json.load(open("sh-eval/metrics.json"))
assert a["threshold_applied"] is True and b["threshold_applied"] is False
assert a["observables"]["n_triggered"] == b["observables"]["n_triggered"]
assert a["observables"]["total_signal"]["real_mean"] == b["observables"]["total_signal"]["real_mean"]
print("--apply-threshold ok")
PY

# the data against itself
"$CASCADE_BIN" evaluate sh-run --data sh.h5 --samples sh.h5 --out self.json
"$py" - <<'PY'
import json
m = json.load(open("self.json"))
assert m["samples"] == 600
assert all(v["separation_power"] == 0 for v in m["observables"].values()), m["observables"]
assert m["median_separation_power"] == 0 and m["median_separation_power_highlevel"] == 0
assert all(r == 1 for r in m["lateral_profile"]["ratio"] if r is not None)
print("data vs itself: all %d separation powers 0" % len(m["observables"]))
PY

cat > calo.ini <<'INI'
[job]
kind = wgan-gp
seed = 3
[data]
train = calo.h5
valid_fraction = 0.5
inputs = layer_1
condition = energy
log_inputs = layer_1
[train]
batch = 32
micro_batch = 32
steps = 3
[gan]
latent = 8
critic_steps = 1
[generator.zc]
type = concat
input = z, c
[generator.d1]
type = dense
units = 144
activation = relu
[generator.out]
type = reshape
shape = 1, 12, 12
[critic.flat]
type = flatten
input = x
[critic.xc]
type = concat
input = flat, c
[critic.d1]
type = dense
units = 16
activation = leaky_relu
[critic.out]
type = dense
units = 1
bias = false
INI
"$CASCADE_BIN" train calo.ini --out calo-run --quiet
"$CASCADE_BIN" evaluate calo-run --out calo.json --classifier-test --classifier-epochs 2
"$py" - <<'PY'
import json
m = json.load(open("calo.json"))
assert m["data_kind"] == "calorimeter" and m["samples"] == 300
obs = m["observables"]
for k in ["E_layer_1", "eta_layer_1", "phi_layer_1", "width_eta_layer_1", "width_phi_layer_1",
          "sparsity_layer_1", "Etot_over_Einc", "layer_1.sum"]:
    assert k in obs, k
assert abs(obs["Etot_over_Einc"]["real_mean"] - 0.9) < 0.1, obs["Etot_over_Einc"]
for k in ["classifier_cells", "classifier_highlevel"]:
    c = m[k]
    assert 0 <= c["auc"] <= 1 and c["train"] == 360 and c["valid"] == 120 and c["test"] == 120, c
    # the lowest-validation-loss model of 2 epochs (2 steps of 128 each) is evaluated
    assert c["patience"] == 5 and c["best_step"] in (2, 4), c
assert m["classifier_cells"]["features"] == 145 and m["classifier_highlevel"]["features"] == len(obs)
print("calorimeter evaluate ok: AUC cells %.3f, high-level %.3f" % (
    m["classifier_cells"]["auc"], m["classifier_highlevel"]["auc"]))
PY

# ---- errors ----
expect() { # expect CODE TEXT -- command...
  local code=$1 text=$2
  shift 3
  set +e
  "$@" > err.out 2> err.log
  local rc=$?
  set -e
  if [[ $rc != "$code" ]] || ! grep -qF -- "$text" err.log; then
    echo "expected exit $code and '$text' from: $*"; cat err.log; exit 1
  fi
}
sed 's/^valid_fraction = 0.25$//' sh.ini > noheld.ini
"$CASCADE_BIN" train noheld.ini --out noheld-run --quiet
expect 2 "the run held out no samples" -- "$CASCADE_BIN" evaluate noheld-run
expect 3 "calo.h5: no data set 'signal'" -- "$CASCADE_BIN" evaluate sh-run --samples calo.h5
cat > sup.ini <<'INI'
[job]
kind = supervised
[data]
train = sh.h5
inputs = signal
targets = logE
[train]
batch = 32
steps = 1
[model.f]
type = flatten
[model.out]
type = dense
units = 1
INI
"$CASCADE_BIN" train sup.ini --out sup-run --quiet
expect 2 "evaluate --classifier-test is for GAN runs" -- "$CASCADE_BIN" evaluate sup-run --classifier-test
echo "gan_eval: all checks passed"
