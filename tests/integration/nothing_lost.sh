#!/usr/bin/env bash
# CONTRACT "Nothing a user gave is lost": an output that is an input is refused and the input
# kept; an existing output is kept unless --force; outputs appear only when complete (a failed
# or killed command leaves the old file or none); run files are not written through symbolic
# links; a run directory is locked while a train uses it (a second train exits 2 naming the
# holder; a lock left by a killed train does not block --resume auto). Partly under mpirun -n 2.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-nothing-lost.XXXXXX")
cd "$here"
py=${CASCADE_PYTHON:-/usr/bin/python3}
cascade=${CASCADE_BIN:?}
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
mpi=(mpirun --oversubscribe -n 2)
sum() { sha256sum "$1" | cut -d' ' -f1; }
# absent NAME...: none of the files exists (no partial output, no leftover NAME.tmp)
absent() {
  local f
  for f in "$@"; do
    if [[ -e $f || -L $f ]]; then
      echo "$f should not exist"
      exit 1
    fi
  done
}

"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 600 -o train.h5 --seed 1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 200 -o valid.h5 --seed 2
cat > job.ini <<'INI'
[job]
name = lost
seed = 3
[data]
train = train.h5
valid = valid.h5
inputs = time, signal
targets = logE
normalize = standard
[train]
batch = 32
micro_batch = 16
steps = 40
checkpoint_every = 20
[optimizer]
type = adam
lr = 3e-3
[model.c1]
type = conv2d
filters = 4
kernel = 3
activation = relu
[model.f]
type = flatten
[model.out]
type = dense
units = 1
INI
"$cascade" train job.ini --out run --quiet

# ---- predict: the output may not be an input, whatever --force says ----
cp valid.h5 user.h5
before=$(sum user.h5)
expect 2 "output user.h5 is the input user.h5" -- "$cascade" predict run --data user.h5 -o user.h5
expect 2 "is the input" -- "$cascade" predict run --data user.h5 -o user.h5 --force
expect 2 "is the input" -- "${mpi[@]}" "$cascade" predict run --data user.h5 -o user.h5 --force
ln user.h5 hardlink.h5 # another name, the same file
expect 2 "output hardlink.h5 is the input user.h5" -- "$cascade" predict run --data user.h5 -o hardlink.h5 --force
ln -s user.h5 link.h5
expect 2 "is the input" -- "$cascade" predict run --data link.h5 -o user.h5 --force
ckpt=run/checkpoints/step-00000040.h5
ckpt_sum=$(sum $ckpt)
expect 2 "is the input $ckpt" -- "$cascade" predict run --data valid.h5 -o $ckpt --force
ln user.h5 pred.h5.tmp # written first to OUT.tmp: that may not be the input either
expect 2 "written first to pred.h5.tmp, which is the input user.h5" -- "$cascade" predict run --data user.h5 -o pred.h5
rm pred.h5.tmp
test "$(sum user.h5)" = "$before"
test "$(sum $ckpt)" = "$ckpt_sum"
"$py" -c "import h5py; f = h5py.File('user.h5', 'r'); assert 'time' in f and 'signal' in f and 'output' not in f, list(f)"
absent pred.h5 user.h5.tmp

# ---- an existing output: kept byte-identical without --force, replaced with it ----
"$cascade" predict run --data valid.h5 -o pred.h5
cp valid.h5 precious.h5
kept=$(sum precious.h5)
expect 2 "output precious.h5 exists; give --force" -- "$cascade" predict run --data valid.h5 -o precious.h5
expect 2 "--force" -- "${mpi[@]}" "$cascade" predict run --data valid.h5 -o precious.h5
test "$(sum precious.h5)" = "$kept"
absent precious.h5.tmp
# with --force, under 2 ranks (collective write, one rename): the same outputs as 1 rank
"${mpi[@]}" "$cascade" predict run --data valid.h5 -o precious.h5 --force
h5diff pred.h5 precious.h5 /output /output
absent precious.h5.tmp
"$cascade" predict --help | grep -q -- --force

# ---- simulate onto an existing file ----
"$cascade" simulate airshower -n 50 -o sim.h5 --seed 1
kept=$(sum sim.h5)
expect 2 "output sim.h5 exists; give --force" -- "$cascade" simulate airshower -n 60 -o sim.h5 --seed 2
expect 2 "--force" -- "${mpi[@]}" "$cascade" simulate airshower -n 60 -o sim.h5 --seed 2
test "$(sum sim.h5)" = "$kept"
"${mpi[@]}" "$cascade" simulate airshower -n 60 -o sim.h5 --seed 2 --force
"$py" -c "import h5py; assert h5py.File('sim.h5', 'r')['time'].shape[0] == 60"
"$cascade" simulate --help | grep -q -- --force

# ---- a killed simulate leaves the old file (or none) under the final name ----
"$cascade" simulate airshower -n 50 -o big.h5 --seed 1
kept=$(sum big.h5)
kill_when_started() { # kill -9 the command once OUT.tmp exists
  local out=$1
  shift
  "$@" > kill.log 2>&1 &
  local pid=$! i
  for ((i = 0; i < 600; i++)); do
    [[ -e $out.tmp ]] && break
    sleep 0.05
  done
  [[ -e $out.tmp ]] || { echo "$out.tmp never appeared"; cat kill.log; exit 1; }
  kill -9 $pid
  wait $pid || true
}
kill_when_started big.h5 "$cascade" simulate airshower -n 3000000 -o big.h5 --seed 5 --force
test "$(sum big.h5)" = "$kept"
kill_when_started fresh.h5 "$cascade" simulate airshower -n 3000000 -o fresh.h5 --seed 5
absent fresh.h5
rm -f big.h5.tmp fresh.h5.tmp

# ---- evaluate: existing --out kept; a failure after the JSON was written leaves none ----
echo '{"mine": 1}' > eval.json
kept=$(sum eval.json)
expect 2 "output eval.json exists; give --force" -- "$cascade" evaluate run --data valid.h5 --out eval.json
test "$(sum eval.json)" = "$kept"
mkdir -p plots/predictions.h5.tmp/in-the-way # evaluate --plots fails after its metrics JSON is complete
expect 4 "predictions.h5.tmp" -- "$cascade" evaluate run --data valid.h5 --out midway.json --plots plots
absent midway.json midway.json.tmp plots/metrics.json
rm -r plots
"$cascade" evaluate run --data valid.h5 --out eval.json --force
"$py" -c "import json; m = json.load(open('eval.json')); assert m['samples'] == 200, m"

# ---- explain: DIR/explain.h5 kept unless --force ----
"$cascade" explain run --method saliency --data valid.h5 --index 0:2 --out expl
kept=$(sum expl/explain.h5)
expect 2 "output expl/explain.h5 exists; give --force" -- "$cascade" explain run --method saliency --data valid.h5 --index 2:4 --out expl
test "$(sum expl/explain.h5)" = "$kept"
"$cascade" explain run --method saliency --data valid.h5 --index 2:4 --out expl --force
test "$(sum expl/explain.h5)" != "$kept"
test -s expl/attribution_2_0.png
absent expl/*.tmp

# ---- run files are never written through symbolic links ----
echo "not a job" > job-target.txt
echo "not metrics" > metrics-target.txt
mkdir linked-job linked-metrics
ln -s ../job-target.txt linked-job/job.ini
ln -s ../metrics-target.txt linked-metrics/metrics.jsonl
"$cascade" train job.ini --out linked-job --quiet
test ! -L linked-job/job.ini
grep -q '^name = lost' linked-job/job.ini
test "$(cat job-target.txt)" = "not a job"
expect 4 "linked-metrics/metrics.jsonl is a symbolic link" -- "$cascade" train job.ini --out linked-metrics --quiet
test "$(cat metrics-target.txt)" = "not metrics"
test -L linked-metrics/metrics.jsonl

# ---- the run-directory lock ----
long=(--steps 30000 --set train.checkpoint_every=2000)
start_train() { # start_train RUNDIR ARGS...: a train in the background, returns once it holds the lock
  local dir=$1 i
  shift
  "$cascade" train job.ini --out "$dir" --quiet "$@" > "$dir.log" 2>&1 &
  train_pid=$!
  for ((i = 0; i < 600; i++)); do
    [[ -s $dir/.lock ]] && return 0
    sleep 0.05
  done
  echo "$dir/.lock never appeared"
  cat "$dir.log"
  exit 1
}
start_train busy "${long[@]}"
first=$train_pid
msg="busy is in use by PID $first on $(hostname) (lock busy/.lock)"
expect 2 "$msg" -- "$cascade" train job.ini --out busy --quiet
expect 2 "$msg" -- "$cascade" train job.ini --out busy --quiet --resume auto
expect 2 "$msg" -- "${mpi[@]}" "$cascade" train job.ini --out busy --quiet --resume auto
kill -0 $first # still running: the refused ones did not disturb it
wait $first
test "$(head -n1 busy/checkpoints/LATEST)" = "step-00030000.h5"
grep -q "^name = lost" busy/job.ini # our job.ini, not a second run's
test ! -s busy/.lock # emptied on a clean exit
# a lock left by a killed train does not block --resume auto
start_train killed "${long[@]}"
for ((i = 0; i < 1200; i++)); do
  [[ -s killed/checkpoints/LATEST ]] && break
  sleep 0.02
done
kill -9 $train_pid
wait $train_pid || true
test -s killed/.lock
"$cascade" train job.ini --out killed --resume auto --steps 8000 --set train.checkpoint_every=2000 > resumed.log 2>&1
grep -q "did not exit cleanly" resumed.log
test "$(head -n1 killed/checkpoints/LATEST)" = "step-00008000.h5"
cd /
rm -rf "$here"
echo "nothing_lost: ok"
