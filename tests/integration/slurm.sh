#!/usr/bin/env bash
# SLURM end to end, on a private single-node cluster (scripts/slurm-local.sh; needs root and
# the slurmctld slurmd slurm-client munge packages; fails, never skips, without them):
#  A. slurm/train.sbatch on 2 tasks (srun --mpi=pmix); after the first checkpoint
#     `scancel --signal=USR1` reaches both cascade ranks: checkpoint, exit 75, the script
#     requeues the job, which resumes (--resume auto) and finishes.
#  B. the same job uninterrupted under mpirun -n 2: final /params and /optimizer bitwise equal.
#  C. the template's own `--signal=USR1@120` (time limit warning) and `scancel --signal=USR1`
#     reach every rank: train.sbatch with a probe in place of cascade that reports per rank.
#  D. a plain scancel: the ranks checkpoint (exit 75), the job is not requeued.
#  E. slurm/simulate.sbatch passes its arguments to `cascade simulate`.
set -euo pipefail
src=${CASCADE_SOURCE_DIR:?}
cascade=${CASCADE_BIN:?}
py=${CASCADE_PYTHON:-/usr/bin/python3}
build=${CASCADE_BUILD_DIR:-$src/build}
unset SLURM_CONF # never a real cluster: only the private one started below
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
here=$(mktemp -d "$build/it-slurm.XXXXXX")
cd "$here"
state=$build/slurm-test
cluster=$src/scripts/slurm-local.sh

logs_on_failure() {
  local f
  if [[ -n ${SLURM_CONF:-} ]]; then
    echo "---- squeue; scontrol show job" >&2
    timeout 10 squeue >&2 || true
    timeout 10 scontrol show job >&2 || true
  fi
  for f in "$here"/*.out "$state/slurmctld.log" "$state/slurmd.log"; do
    [[ -f $f ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 30 "$f" >&2
  done
}
fail() {
  echo "slurm test FAILED: $*" >&2
  logs_on_failure
  exit 1
}

# job_field ID NAME: one field of `scontrol show job`, e.g. JobState, Restarts, ExitCode
job_field() { timeout 10 scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
job_ended() { [[ $(job_field "$1" JobState) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)$ ]]; }
# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds, fails the test after SECONDS
wait_until() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < limit)) || fail "$what: not within $limit s"
    sleep 0.5
  done
  echo "slurm test: $what ($((SECONDS - start)) s)"
}
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

[[ $(id -u) -eq 0 ]] || fail "needs root: the private cluster's slurmd starts jobs as their users"
set +e
cluster_env=$(timeout 120 "$cluster" start "$state")
status=$?
set -e
# stop exactly the daemons started (their PIDs are in $state/*.pid), whatever happens next
trap 'timeout 60 "$cluster" stop "$state" || true' EXIT
((status == 0)) || fail "could not start the private SLURM cluster (scripts/slurm-local.sh start $state," \
  "exit $status); packages: apt-get install -y slurmctld slurmd slurm-client munge"
eval "$cluster_env"
echo "slurm test: $SLURM_CONF"

"$py" "$src/tools/toy_airshower.py" -n 2000 -o d.h5 --seed 1 >/dev/null
cat >job.ini <<'INI'
[job]
name = slurm-requeue
seed = 7
[data]
train = d.h5
inputs = time, signal
targets = logE
normalize = standard
[train]
batch = 32
micro_batch = 8
steps = 800
deterministic = true
checkpoint_every = 20
[optimizer]
type = adam
lr = 1e-3
[model.c1]
type = conv2d
filters = 8
kernel = 3
padding = same
activation = relu
[model.f]
type = flatten
[model.h]
type = dense
units = 32
activation = relu
[model.out]
type = dense
units = 1
INI
final=checkpoints/step-00000800.h5

# ---- A: interrupted by scancel --signal=USR1, requeued, resumed
id=$(CASCADE=$cascade timeout 30 sbatch --parsable --ntasks=2 "$src/slurm/train.sbatch" job.ini run --quiet) ||
  fail "sbatch slurm/train.sbatch"
log=cascade-train-$id.out
echo "slurm test: A: job $id"
wait_until 120 "A: first checkpoint" test -s run/checkpoints/LATEST
job_ended "$id" && fail "A: job $id ended before it was signalled: training too short for this machine?"
# both ranks are cascade processes with a SIGUSR1 handler (SigCgt bit 10)
ranks=$(timeout 10 scontrol listpids "$id" | awk '$3 == "0" && $4 ~ /^[0-9]+$/ {print $1}')
[[ $(wc -w <<<"$ranks") -eq 2 ]] || fail "A: expected 2 task PIDs in step $id.0, got: $ranks"
for pid in $ranks; do
  [[ $(cat "/proc/$pid/comm") == cascade ]] || fail "A: task $pid is $(cat "/proc/$pid/comm"), not cascade"
  mask=$(sed -n 's/^SigCgt:\s*//p' "/proc/$pid/status")
  (((16#$mask >> 9) & 1)) || fail "A: rank process $pid does not catch SIGUSR1 (SigCgt $mask)"
done
timeout 10 scancel --signal=USR1 "$id" || fail "A: scancel --signal=USR1 $id"
wait_until 60 "A: checkpoint written, exit 75, requeued" grep -q "job $id requeued" "$log"
wait_until 180 "A: requeued job $id finished" job_ended "$id"
[[ $(job_field "$id" JobState) == COMPLETED && $(job_field "$id" ExitCode) == 0:0 ]] ||
  fail "A: job $id ended $(job_field "$id" JobState) with exit code $(job_field "$id" ExitCode)"
[[ $(job_field "$id" Restarts) == 1 ]] || fail "A: Restarts=$(job_field "$id" Restarts), expected 1"
stopped=$(sed -n 's/.*stopped by a signal at step \([0-9]*\) after writing a checkpoint.*/\1/p' "$log")
[[ -n $stopped ]] || fail "A: cascade did not report stopping by a signal"
((stopped < 800)) || fail "A: stopped at step $stopped, not before the end"
grep -q "cascade exited with code 75" "$log" || fail "A: exit code 75 not logged"
[[ $(count "train.sbatch: job $id start" "$log") -eq 2 ]] || fail "A: the log does not show two starts"
grep -q "resuming run at step $stopped " "$log" || fail "A: the second run did not resume at step $stopped"
grep -q "cascade exited with code 0" "$log" || fail "A: the resumed run did not finish"
[[ $(head -n1 run/checkpoints/LATEST) == "${final#checkpoints/}" ]] || fail "A: LATEST is $(head -n1 run/checkpoints/LATEST)"
echo "slurm test: A: stopped at step $stopped, requeued, resumed, finished"

# ---- C (submitted now, runs while B trains): a probe in place of cascade reports per rank
cat >probe.sh <<'EOF'
#!/usr/bin/env bash
# Stands in for cascade: reports which rank got which signal in which run of the job; after
# SIGUSR1 or SIGTERM, run 1 exits 75 (as cascade does after checkpointing), run 2 exits 0.
run=$((${SLURM_RESTART_COUNT:-0} + 1)) got=
trap got=SIGUSR1 USR1
trap got=SIGTERM TERM
echo "probe: rank $SLURM_PROCID run $run ready"
for ((i = 0; i < 1500; i++)); do [[ -n $got ]] && break; sleep 0.1; done 2>/dev/null
[[ -n $got ]] || { echo "probe: rank $SLURM_PROCID run $run: no signal within 150 s"; exit 1; }
echo "probe: rank $SLURM_PROCID run $run got $got"
((run == 1)) && exit 75
exit 0
EOF
chmod +x probe.sh
probe_job=$(CASCADE=$here/probe.sh timeout 30 sbatch --parsable --ntasks=2 --time=10 "$src/slurm/train.sbatch" \
  job.ini probe-run) || fail "sbatch slurm/train.sbatch (probe)"
plog=cascade-train-$probe_job.out
echo "slurm test: C: job $probe_job"
both_ready() { [[ $(count 'run 1 ready' "$1") -eq 2 ]]; }
wait_until 60 "C: both probe ranks ready" both_ready "$plog"
timeout 10 scancel --signal=USR1 "$probe_job" || fail "C: scancel --signal=USR1 $probe_job"
wait_until 60 "C: probe requeued" grep -q "job $probe_job requeued" "$plog"
# run 2 gets a 1-minute limit: SLURM then sends the template's --signal=USR1@120 at once
# (at its next periodic check, within 30 s); nobody else signals it
timeout 10 scontrol update JobId="$probe_job" TimeLimit=1 || fail "C: scontrol update TimeLimit"

# ---- B: the same job uninterrupted, under mpirun
timeout 240 mpirun -n 2 "$cascade" train job.ini --out ref --quiet >ref.log 2>&1 ||
  fail "B: mpirun -n 2 cascade train (exit $?): $(tail -n 5 ref.log)"
h5diff "ref/$final" "run/$final" /params /params || fail "B: /params differ between the requeued and the uninterrupted run"
h5diff "ref/$final" "run/$final" /optimizer /optimizer || fail "B: /optimizer differs between the requeued and the uninterrupted run"
echo "slurm test: B: requeued and uninterrupted runs bitwise identical (/params, /optimizer)"

wait_until 150 "C: probe job finished" job_ended "$probe_job"
for run in 1 2; do
  for rank in 0 1; do
    grep -q "probe: rank $rank run $run got SIGUSR1" "$plog" || fail "C: rank $rank did not get SIGUSR1 in run $run"
  done
done
[[ $(job_field "$probe_job" JobState) == COMPLETED ]] || fail "C: probe job ended $(job_field "$probe_job" JobState)"
echo "slurm test: C: scancel --signal=USR1 and --signal=USR1@120 reached both ranks"

# ---- D: a plain scancel (SIGTERM, then the job is gone): checkpoint (exit 75), no requeue
d_job=$(CASCADE=$here/probe.sh timeout 30 sbatch --parsable --ntasks=2 "$src/slurm/train.sbatch" job.ini probe-d) ||
  fail "sbatch slurm/train.sbatch (probe, D)"
dlog=cascade-train-$d_job.out
wait_until 60 "D: both probe ranks ready" both_ready "$dlog"
timeout 10 scancel "$d_job" || fail "D: scancel $d_job"
wait_until 60 "D: cancelled job ended" job_ended "$d_job"
sleep 3 # had it been requeued, the job would now be pending again
grep -q "cascade exited with code 75" "$dlog" || fail "D: the probe did not exit with 75 after SIGTERM"
grep -q "not requeued" "$dlog" || fail "D: train.sbatch did not decline to requeue a cancelled job"
[[ $(job_field "$d_job" JobState) == CANCELLED && $(job_field "$d_job" Restarts) == 0 ]] ||
  fail "D: cancelled job is $(job_field "$d_job" JobState) with Restarts=$(job_field "$d_job" Restarts)"
echo "slurm test: D: a cancelled job checkpoints and stays cancelled"

# ---- E: simulate.sbatch passes KIND N OUT and extra arguments through
sim_job=$(CASCADE=$cascade timeout 30 sbatch --parsable --ntasks=2 "$src/slurm/simulate.sbatch" airshower 40 sim.h5 --seed 3) ||
  fail "sbatch slurm/simulate.sbatch"
slog=cascade-simulate-$sim_job.out
wait_until 120 "E: simulate job finished" job_ended "$sim_job"
grep -q "simulate airshower -n 40 -o sim.h5 --seed 3" "$slog" || fail "E: arguments not passed through"
if "$cascade" simulate --help | grep -q 'KIND:.*airshower'; then
  [[ $(job_field "$sim_job" ExitCode) == 0:0 ]] || fail "E: simulate job exit code $(job_field "$sim_job" ExitCode)"
  "$cascade" info sim.h5 | grep -q signal || fail "E: sim.h5 is not an air-shower data set"
  echo "slurm test: E: simulate.sbatch wrote sim.h5"
else
  # no simulator registered in this build: the error must come from cascade, exit code 2
  grep -q "unknown kind 'airshower'" "$slog" || fail "E: expected cascade's unknown-kind error"
  [[ $(job_field "$sim_job" ExitCode) == 2:0 ]] || fail "E: exit code $(job_field "$sim_job" ExitCode), expected 2:0"
  echo "slurm test: E: simulate.sbatch passed its arguments (no simulator kinds in this build)"
fi
cd /
rm -rf "$here"
echo "slurm test: passed"
