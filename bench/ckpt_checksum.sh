#!/usr/bin/env bash
# Cost of checkpoint checksums (docs/hdf5.md "Checksums and verification"): REF_BINARY, a cascade
# without them (e.g. built from the commit before), against BUILD_DIR's cascade, interleaved in
# the same session, at 1 and 2 ranks, on bench/ckpt_write.sh's real checkpoint (bench/dist.sh's
# air-shower model with fc widened to 1024 units: 5.4M parameters, Adam, 61 MB of data sets;
# deterministic, a checkpoint every 3 of 12 steps):
#  - write: the median of the checkpoint times run.c puts into metrics.jsonl (creation to LATEST:
#    with checksums that includes the CRCs of the parts, their XOR allreduce, the attributes and
#    rank 0 reading the file back for LATEST's record);
#  - load: wall and CPU time (user + system of mpirun and the ranks, /usr/bin/time) of `cascade
#    train --resume auto` of that run with nothing left to train (start-up, data, then the
#    checkpoint: verified — file CRC, every data set's CRC and finiteness — and read), median of
#    REPS; the difference is the verification. CPU time is less disturbed by a loaded machine.
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
      /usr/bin/time -f "%e %U %S" -a -o load_${which}_$n.txt \
        mpirun --oversubscribe -n $n "$bin" train job.ini --out r_$which --quiet --resume auto "${sets[@]}" >/dev/null 2>&1
    done
  done
done
"$py" - <<'PY'
import statistics as s
print("%-5s %-16s %10s %10s %11s" % ("ranks", "", "without", "with", "difference"))
for n in (1, 2):
    w = {k: [list(map(float, l.split())) for l in open("write_%s_%d.txt" % (k, n))] for k in ("ref", "new")}
    l = {k: [list(map(float, l.split())) for l in open("load_%s_%d.txt" % (k, n))] for k in ("ref", "new")}
    rows = [("write (wall)", [r[0] for r in w["ref"]], [r[0] for r in w["new"]]),
            ("load (wall)", [r[0] for r in l["ref"]], [r[0] for r in l["new"]]),
            ("load (CPU, all ranks)", [r[1] + r[2] for r in l["ref"]], [r[1] + r[2] for r in l["new"]])]
    for name, a, b in rows:
        print("%-5d %-22s %7.3f s %8.3f s %+9.3f s   (min/max %.3f/%.3f vs %.3f/%.3f, %d each)" % (
            n, name, s.median(a), s.median(b), s.median(b) - s.median(a), min(a), max(a), min(b), max(b), len(a)))
print("checkpoint file: %.1f MB without, %.1f MB with checksums" % (w["ref"][0][1], w["new"][0][1]))
PY
