#!/usr/bin/env bash
# jobs/calo-wgan-gp.ini, jobs/calo3-wgan-gp.ini and jobs/airshower-wgan-gp.ini as shipped: a
# few steps on tiny data sets at the paths the jobs name, then `cascade evaluate --plots` with
# the observables each kind must have (all CaloGAN observables for the three-layer job).
set -euo pipefail
: "${CASCADE_SOURCE_DIR:?set by ctest}" "${CASCADE_BIN:?set by ctest}"
py=${CASCADE_PYTHON:-/usr/bin/python3}
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-jobgan.XXXXXX")
trap 'rm -rf "$here"' EXIT
cd "$here"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir data
"$CASCADE_BIN" simulate calorimeter -n 700 --seed 11 -o data/calo.h5 2>/dev/null
"$CASCADE_BIN" simulate airshower -n 700 --seed 12 -o data/showers.h5 2>/dev/null
for job in calo-wgan-gp calo3-wgan-gp airshower-wgan-gp; do
  "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/$job.ini" --out "run-$job" --steps 3 \
    --set train.checkpoint_every=0 --quiet
  "$CASCADE_BIN" evaluate "run-$job" --plots "eval-$job" > /dev/null
done
"$py" - <<'PY'
import json, os
want = {
    "calo-wgan-gp": ["E_layer_1", "width_eta_layer_1", "sparsity_layer_1", "Etot_over_Einc"],
    "calo3-wgan-gp": ["E_layer_0", "E_layer_2", "eta_layer_0", "width_phi_layer_2", "E_total",
                      "Etot_over_Einc", "frac_layer_0", "frac_layer_1", "frac_layer_2", "shower_depth"],
    "airshower-wgan-gp": ["total_signal", "n_triggered", "max_signal", "barycentre_r"],
}
for job, names in want.items():
    m = json.load(open("eval-%s/metrics.json" % job))
    assert m["samples"] == 70 and m["step"] == 3, (job, m["samples"], m["step"])
    for n in names:
        assert n in m["observables"], (job, n)
    assert os.path.exists("eval-%s/histograms.png" % job)
    print("%-18s %2d observables, median separation power %.3f" % (job, len(m["observables"]),
          m["median_separation_power"]))
PY
echo "job_gan: all checks passed"
