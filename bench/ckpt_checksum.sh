#!/usr/bin/env bash
# Cost of checkpoint checksums (docs/hdf5.md "Checksums and verification"): REF_BINARY, a cascade
# without them (e.g. built from the commit before), against BUILD_DIR's cascade, interleaved in
# the same session, at 1 and 2 ranks, on bench/ckpt_write.sh's real checkpoint (bench/dist.sh's
# air-shower model with fc widened to 1024 units: 5.4M parameters, Adam, 61 MB of data sets;
# deterministic, a checkpoint every 3 of 12 steps):
#  - write: the median of the checkpoint times run.c puts into metrics.jsonl (creation to LATEST:
#    with checksums that includes the CRCs of the parts, their XOR allreduce, the attributes and
#    rank 0 reading the file back for LATEST's record);
#  - load: wall time of `cascade train --resume auto` of that run with nothing left to train
#    (start-up, data, then the checkpoint: verified — file CRC, every data set's CRC and
#    finiteness — and read), median of REPS; the difference is the verification.
# Usage: [REPS=5] bench/ckpt_checksum.sh REF_BINARY [BUILD_DIR]
set -euo pipefail
ref=$(readlink -f "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${2:-$src/build}" && pwd)
py=/usr/bin/python3
work=$(mktemp -d "$build/bench-ckcrc.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
unset CASCADE_H5_ALIGN
reps=${REPS:-5}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc --all) cores; REPS=$reps"
"$py" "$src/tools/toy_airshower.py" -n 1024 -o data.h5 --seed 11 >/dev/null
sed -n "/^cat > job.ini <<INI/,/^INI/p" "$src/bench/vs_torch.sh" | sed '1d;$d' | sed 's/\$steps/12/' \
  | sed 's/^micro_batch = 128/micro_batch = 32/; s/^checkpoint_every = 0/checkpoint_every = 3/' > job.ini
sets=(--set train.deterministic=true --set model.fc.units=1024 --set train.keep_checkpoints=1)
for n in 1 2; do
  for rep in $(seq "$reps"); do
    for which in ref new; do
      bin=$ref
      [ $which = new ] && bin=$build/cascade
      rm -rf r_$which
      mpirun --oversubscribe -n $n "$bin" train job.ini --out r_$which --quiet "${sets[@]}" >/dev/null 2>&1
      "$py" -c "
import json
for l in open('r_$which/metrics.jsonl'):
    r = json.loads(l)
    if r['split'] == 'checkpoint': print(r['seconds'], r['mb'])" >> write_${which}_$n.txt
      t0=$(date +%s.%N)
      mpirun --oversubscribe -n $n "$bin" train job.ini --out r_$which --quiet --resume auto "${sets[@]}" >/dev/null 2>&1
      t1=$(date +%s.%N)
      echo "$t0 $t1" | awk '{print $2 - $1}' >> load_${which}_$n.txt
    done
  done
done
"$py" - <<'PY'
import statistics as s
print("%-5s %-9s %12s %12s %12s %9s" % ("ranks", "", "without", "with", "difference", "file MB"))
for n in (1, 2):
    w = {k: [list(map(float, l.split())) for l in open("write_%s_%d.txt" % (k, n))] for k in ("ref", "new")}
    l = {k: [float(x) for x in open("load_%s_%d.txt" % (k, n))] for k in ("ref", "new")}
    wr, wn = s.median(r[0] for r in w["ref"]), s.median(r[0] for r in w["new"])
    lr, ln = s.median(l["ref"]), s.median(l["new"])
    mb = (s.median(r[1] for r in w["ref"]), s.median(r[1] for r in w["new"]))
    print("%-5d %-9s %10.3f s %10.3f s %+10.3f s %4.1f/%4.1f" % (n, "write", wr, wn, wn - wr, mb[0], mb[1]))
    print("%-5d %-9s %10.3f s %10.3f s %+10.3f s" % (n, "load", lr, ln, ln - lr))
    print("      (write: %d checkpoints each, min/max %.3f/%.3f vs %.3f/%.3f; load min/max %.3f/%.3f vs %.3f/%.3f)" % (
        len(w["new"]), min(r[0] for r in w["ref"]), max(r[0] for r in w["ref"]), min(r[0] for r in w["new"]),
        max(r[0] for r in w["new"]), min(l["ref"]), max(l["ref"]), min(l["new"]), max(l["new"])))
PY
