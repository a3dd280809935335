#!/usr/bin/env bash
# Checkpoint write rate at 1, 2, 4 ranks against a raw write of the same bytes, same run:
#  - build/bench/ckpt_write (bench/ckpt_write.c): MBS (64 256) MB of float32 tensors (4 MiB
#    weights, 4 KiB biases) written raw (each rank its block, MPI_File_write_at_all + sync),
#    by cascade's writer with every rank writing its block's part of each tensor ("owners", as
#    checkpoints now), the same unaligned, and by rank 0 alone ("rank0", checkpoints before);
#    median of REPS (5) interleaved repetitions, from creation to the synced, renamed file;
#  - a real checkpoint: `cascade train` of the air-shower reference model of bench/dist.sh
#    with fc widened to 1024 units (5.4M parameters, Adam: 62 MB), deterministic (ZeRO-1
#    shards), checkpoint_every = 3: the median write time of its checkpoints (run.c times them
#    into metrics.jsonl), with ckpt_write's raw rate for the same size in the same run.
# One node, one disk, 4 ranks oversubscribed on 2 cores: this measures the overhead of the
# HDF5 layer over MPI-IO, not a parallel file system.
# Usage: [MBS="64 256"] [REPS=5] bench/ckpt_write.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
py=/usr/bin/python3
work=$(mktemp -d "$build/bench-ckpt.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
unset CASCADE_H5_ALIGN
reps=${REPS:-5}
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc --all) cores; $(df -h . | tail -1 | awk '{print $1}')"
table() { # JSON lines of ckpt_write -> one row per mode
  "$py" -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print("%-5d %7.1f %-15s %8.3f %8.3f %8.3f %8.0f %7.2f" % (r["ranks"], r["mb"], r["mode"], r["seconds"], r["min_s"],
          r["max_s"], r["mb_per_s"], r["vs_raw"]))'
}
printf "%-5s %7s %-15s %8s %8s %8s %8s %7s\n" ranks MB mode median_s min_s max_s MB/s vs_raw
for mb in ${MBS:-64 256}; do
  for n in 1 2 4; do
    mpirun --oversubscribe -n $n "$build/bench/ckpt_write" . "$mb" "$reps" | table
  done
done

# ---- a real checkpoint ----
"$py" "$src/tools/toy_airshower.py" -n 1024 -o data.h5 --seed 11 >/dev/null
sed -n "/^cat > job.ini <<INI/,/^INI/p" "$src/bench/vs_torch.sh" | sed '1d;$d' | sed 's/\$steps/12/' \
  | sed 's/^micro_batch = 128/micro_batch = 32/; s/^checkpoint_every = 0/checkpoint_every = 3/' > job.ini
echo
printf "%-5s %7s %-15s %8s %8s %8s %8s %7s\n" ranks MB mode median_s min_s max_s MB/s vs_raw
for n in 1 2 4; do
  rm -rf r
  mpirun --oversubscribe -n $n "$build/cascade" train job.ini --out r --quiet --set train.deterministic=true \
    --set model.fc.units=1024 --set train.keep_checkpoints=1 >/dev/null 2>&1
  mb=$("$py" -c "
import glob, h5py
f = h5py.File(sorted(glob.glob('r/checkpoints/step-*.h5'))[-1], 'r')
sizes = []
f.visititems(lambda n, o: sizes.append(o.nbytes) if isinstance(o, h5py.Dataset) else None)
print(sum(sizes) / 1048576)")
  raw=$(mpirun --oversubscribe -n $n "$build/bench/ckpt_write" . "$mb" "$reps" | head -1)
  "$py" - "$mb" "$raw" "$n" <<'PY'
import json, statistics, sys
mb, raw, n = float(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
t = sorted(r["seconds"] for r in map(json.loads, open("r/metrics.jsonl")) if r["split"] == "checkpoint")
med = statistics.median(t)
print("%-5d %7.1f %-15s %8.3f %8.3f %8.3f %8.0f %7.2f" % (n, mb, "cascade train", med, t[0], t[-1], mb / med,
      raw["seconds"] / med))
print("%-5d %7.1f %-15s %8.3f %8.3f %8.3f %8.0f %7.2f" % (n, raw["mb"], "raw", raw["seconds"], raw["min_s"],
      raw["max_s"], raw["mb_per_s"], 1.0))
PY
done
