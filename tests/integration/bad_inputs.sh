#!/usr/bin/env bash
# Bad input never crashes: every case exits with the CONTRACT code and a message naming the
# culprit (file:line and key, or file + data set + shape), and an existing run's checkpoints
# are left byte-for-byte untouched.
set -uo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-bad.XXXXXX")
cd "$here" || exit 1
py=${CASCADE_PYTHON:-/usr/bin/python3}
cascade=${CASCADE_BIN:?}
fail=0
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 200 -o good.h5 --seed 1 >/dev/null || exit 1

job() { # job NAME [extra lines for sections] -> writes NAME.ini from a good template + edits
  cat > "$1.ini" <<'INI'
[job]
name = bad
[data]
train = good.h5
inputs = time, signal
targets = logE
[train]
batch = 32
micro_batch = 16
steps = 4
[model.c1]
type = conv2d
filters = 2
kernel = 3
[model.f]
type = flatten
[model.out]
type = dense
units = 1
INI
}

expect() { # expect CODE "substring" "substring2" -- command...
  local code=$1 a=$2 b=$3
  shift 4
  "$@" >out.txt 2>err.txt
  local got=$?
  if [ "$got" != "$code" ] || ! grep -qF -- "$a" err.txt || ! grep -qF -- "$b" err.txt; then
    echo "FAIL: '$*' exited $got (want $code), stderr:"; cat err.txt
    echo "  (wanted '$a' and '$b')"
    fail=$((fail + 1))
  else
    echo "ok: exit $got: $(head -c 200 err.txt)"
  fi
}

job j; sed -i 's/^\[train\]/[trian]/' j.ini
expect 2 "j.ini:7" "trian" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^filters = 2/filters = 2\nfilter_size = 3/' j.ini
expect 2 "j.ini:14" "filter_size" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^type = conv2d/type = conv9d/' j.ini
expect 2 "j.ini:12" "conv9d" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^filters = 2/filters = two/' j.ini
expect 2 "j.ini:13" "filters" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^micro_batch = 16/micro_batch = 10/' j.ini
expect 2 "micro_batch" "32" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^\[model.f\]/[model.f]\ninput = ghost/' j.ini
expect 2 "ghost" "j.ini" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^\[model.c1\]/[model.c1]\ninput = out/' j.ini
expect 2 "cycle" "c1" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^kernel = 3/kernel = 12/' j.ini
expect 2 "model.c1" "(2,9,9)" -- "$cascade" train j.ini --out r1
job j
expect 2 "train.nosuch" "" -- "$cascade" train j.ini --out r1 --set train.nosuch=1
job j; sed -i 's/^targets = logE/targets = logE\nlog_inputs = xmax/' j.ini
expect 2 "log_inputs" "xmax" -- "$cascade" train j.ini --out r1
# data problems
job j; sed -i 's/^targets = logE/targets = logE\nlog_inputs = time/' j.ini
expect 3 "time" "log_inputs needs values >= 0" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^train = good.h5/train = missing.h5/' j.ini
expect 4 "missing.h5" "" -- "$cascade" train j.ini --out r1
echo "not hdf5" > garbage.h5
job j; sed -i 's/^train = good.h5/train = garbage.h5/' j.ini
expect 4 "garbage.h5" "" -- "$cascade" train j.ini --out r1
head -c 3000 good.h5 > truncated.h5
job j; sed -i 's/^train = good.h5/train = truncated.h5/' j.ini
expect 4 "truncated.h5" "" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^targets = logE/targets = energy/' j.ini
expect 3 "good.h5" "energy" -- "$cascade" train j.ini --out r1
"$py" - <<'PY'
import h5py, numpy as np, shutil
shutil.copy("good.h5", "nan.h5")
with h5py.File("nan.h5", "a") as f:
    s = f["signal"][:]; s[17, 3, 4] = np.nan; f["signal"][...] = s
shutil.copy("good.h5", "short.h5")
with h5py.File("short.h5", "a") as f:
    y = f["logE"][:150]; del f["logE"]; f["logE"] = y
PY
job j; sed -i 's/^train = good.h5/train = nan.h5/' j.ini
expect 3 "signal" "17" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^train = good.h5/train = short.h5/' j.ini
expect 3 "logE" "150" -- "$cascade" train j.ini --out r1
# declared sizes: storage, unwritten rows, memory (docs/hdf5.md "Reading data sets")
"$py" - <<'PY'
import h5py, os
# (2^40, 9, 9) declared and never written (h5py allocates contiguous storage on first write)
with h5py.File("huge.h5", "w") as f:
    for k, s in (("time", (2**40, 9, 9)), ("signal", (2**40, 9, 9)), ("logE", (2**40,))):
        f.create_dataset(k, shape=s, dtype="f4")
# resized to 3000 rows, only rows 0..199 written: chunks of rows 200.. were never written
with h5py.File("good.h5", "r") as g, h5py.File("holes.h5", "w") as f:
    for k in ("time", "signal", "logE"):
        v = g[k][...]
        d = f.create_dataset(k, data=v, chunks=(100,) + v.shape[1:], maxshape=(None,) + v.shape[1:])
        d.resize(3000, axis=0)
# allocated (a sparse file) but larger than this machine's memory: refused before allocating
rows = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (81 * 4) + 1
with h5py.File("bigger.h5", "w") as f:
    for k, s in (("time", (rows, 9, 9)), ("signal", (rows, 9, 9)), ("logE", (rows,))):
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        h5py.h5d.create(f.id, k.encode(), h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple(s), dcpl).close()
print(rows, file=open("bigger.rows", "w"))
PY
job j; sed -i 's/^train = good.h5/train = huge.h5/' j.ini
expect 3 "huge.h5: data set 'time' of shape (1099511627776,9,9)" "never written" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^train = good.h5/train = holes.h5/' j.ini
expect 3 "holes.h5: data set 'time' of shape (3000,9,9)" "28 of its 30 chunks hold no data (they would read as zeros), the first in rows 200 to 299" -- "$cascade" train j.ini --out r1
job j; sed -i 's/^train = good.h5/train = good.h5\nvalid = bigger.h5/' j.ini
expect 3 "bigger.h5: loading $(cat bigger.rows) samples of data set 'time'" "more than this machine's memory" -- "$cascade" train j.ini --out r1
rm -f bigger.h5
# SIGTERM while loading: every rank stops at the next chunk with exit 75, and no checkpoint is
# written (nothing was trained). The job comes through a FIFO: once it is read, cascade has its
# signal handlers (set before the job is read), so the signal lands before or during the load.
"$py" - <<'PY'
import h5py, numpy as np
n = 60000  # 5 loader chunks of 4 MiB
r = np.random.default_rng(1)
with h5py.File("many.h5", "w") as f:
    f["time"] = r.random((n, 9, 9), dtype=np.float32)
    f["signal"] = r.random((n, 9, 9), dtype=np.float32)
    f["logE"] = r.random(n, dtype=np.float32)
PY
job j0; sed -i 's/^train = good.h5/train = many.h5/' j0.ini
rm -f fifo.ini; mkfifo fifo.ini
"$cascade" train fifo.ini --out sigrun >out.txt 2>err.txt &
pid=$!
cat j0.ini > fifo.ini # returns once cascade has read the whole job
kill -TERM $pid
wait $pid
got=$?
if [ "$got" != 75 ] || ! grep -q "stopped by a signal while loading .*many.h5" out.txt err.txt || \
   ls sigrun/checkpoints/*.h5 >/dev/null 2>&1; then
  echo "FAIL: SIGTERM while loading: exit $got (want 75), checkpoints: $(ls sigrun/checkpoints 2>&1)"
  cat out.txt err.txt; fail=$((fail + 1))
else
  echo "ok: exit 75: $(grep -h "while loading" out.txt err.txt)"
fi
# divergence: NaN/Inf steps are skipped by every rank; after max_nonfinite in a row the run
# stops with exit 3, and no checkpoint holds a non-finite value
job j; sed -i 's/^steps = 4/steps = 40\ncheckpoint_every = 1\nmax_nonfinite = 3/' j.ini
printf '[optimizer]\ntype = sgd\nlr = 1e30\n' >> j.ini
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  expect 3 "NaN/Inf in 3 steps in a row" "max_nonfinite = 3" -- mpirun --oversubscribe -n 2 "$cascade" train j.ini --out nanrun
"$py" - <<'PY' || { echo "FAIL: a checkpoint holds NaN/Inf"; fail=$((fail + 1)); }
import glob, h5py, numpy as np
files = glob.glob("nanrun/checkpoints/step-*.h5")
assert files, "no checkpoint before the divergence"
for name in files:
    with h5py.File(name, "r") as f:
        f.visititems(lambda k, o: isinstance(o, h5py.Dataset) and not np.all(np.isfinite(o[...])) and
                     (_ for _ in ()).throw(AssertionError(name + ":" + k)))
print("ok: %d checkpoints, all finite" % len(files))
PY
# an existing run is never overwritten, and a failing run does not touch it
job j
"$cascade" train j.ini --out run --quiet >/dev/null 2>&1 || { echo "FAIL: good run"; fail=$((fail + 1)); }
before=$(cd run/checkpoints && md5sum * | md5sum)
expect 2 "already holds checkpoints" "" -- "$cascade" train j.ini --out run
# resuming on other data or another model is refused naming the keys (exit 2) unless given
# with --set; then the data and the checkpoint are checked as always (exit 3)
sed -i 's/^train = good.h5/train = nan.h5/' j.ini
expect 2 "[data] train = nan.h5 (checkpoint: good.h5)" "" -- "$cascade" train j.ini --out run --resume auto
job j
expect 3 "signal" "" -- "$cascade" train j.ini --out run --resume auto --set data.train=nan.h5
job j; sed -i 's/^filters = 2/filters = 3/' j.ini
expect 2 "[model.c1] filters = 3 (checkpoint: 2)" "" -- "$cascade" train j.ini --out run --resume auto
job j
expect 3 "c1" "weight" -- "$cascade" train j.ini --out run --resume auto --set model.c1.filters=3
after=$(cd run/checkpoints && md5sum * | md5sum)
[ "$before" = "$after" ] || { echo "FAIL: checkpoints changed"; fail=$((fail + 1)); }
echo "bad_inputs: $fail failed"
[ $fail -eq 0 ] && rm -rf "$here"
exit $fail
