#!/usr/bin/env bash
# The simulation-refinement campaign (issue #8) as a chain of SLURM batch jobs, each started
# by `--dependency=afterok` on the jobs it needs:
#
#   sim, data, test   simulate.sbatch airshower: --domain sim, --domain data, held-out data
#   refiner           train.sbatch REFINER_JOB (data.train = sim, data.target = data)
#   refine            refine.sbatch: the simulation refined (labels copied)
#   trigger           tools/apply_trigger.py: stations below the trigger threshold set to 0
#                     again, as in simulation and data (--trigger VEM; 0: no such step)
#   reg-refined       train.sbatch REGRESSOR_JOB on the refined simulation
#   eval-refined      evaluate.sbatch on the held-out data
# and, for the closure (unless --no-closure), the same regressor trained on the simulation
# (reg-sim, eval-sim) and on data with its true labels (reg-data, eval-data), then
#   closure           tools/closure.py: bias, resolution, closure fraction -> closure.json
# and with --xmax the same for an Xmax regressor (XMAX_JOB): xmax-reg-refined, xmax-eval-refined,
# xmax-reg-sim, xmax-eval-sim, xmax-reg-data, xmax-eval-data, xmax-closure -> closure-xmax.json.
#
#   slurm/refine-pipeline.sh [options]
#
# Options (defaults in brackets):
#   --out DIR              output directory: data, runs, metrics, logs [runs/refine-pipeline]
#   --local                run the same chain here, one step after the other, under
#                          `$MPIRUN -n RANKS` [MPIRUN=mpirun], instead of submitting it
#   --ranks N              MPI ranks (SLURM tasks) per step [2]
#   --sim-events N         simulated showers, the refiner's input [20000]
#   --data-events N        measured-domain showers: the refiner's target, and (c)'s training set [20000]
#   --test-events N        held-out measured-domain showers for the evaluation [5000]
#   --seed S               simulation seeds S, S+1, S+2 for sim, data, test [11]
#   --refiner-job FILE     [jobs/airshower-refiner.ini]
#   --regressor-job FILE   [jobs/airshower-energy-closure.ini]
#   --refiner-steps N      refiner updates (cascade train --steps) [the job's]
#   --regressor-steps N    regressor steps [the job's]
#   --trigger VEM          threshold of the trigger re-applied to the refined footprints [3]
#   --set-refiner S.K=V    a `cascade train --set` for the refiner (repeatable)
#   --set-regressor S.K=V  a `cascade train --set` for the three regressors (repeatable)
#   --sbatch-arg ARG       an extra sbatch option for every job, e.g. --sbatch-arg=--time=4:00:00
#                          or --sbatch-arg=--partition=gpu (repeatable)
#   --no-closure           only the refined chain (no reg-sim, reg-data, closure)
#   --xmax                 also the Xmax closure (xmax-* steps, closure-xmax.json)
#   --xmax-job FILE        the Xmax regressor [jobs/airshower-xmax-closure.ini]; with --xmax
#                          it is best refined by a refiner of signal and time
#                          (--refiner-job jobs/airshower-refiner-time.ini)
#   --wait                 SLURM: wait for the last job and print the closure table
#   -h, --help
#
# Every step is resumable. A step whose output exists and whose marker DIR/steps/STEP.done
# (written when the step exited 0) belongs to the same command is skipped; a step that
# has not finished is (re)started — trainings with --resume auto, so they continue from
# their last checkpoint. A step whose job from an earlier submission is still pending or
# running is not submitted again; later steps depend on that job. A finished step made by
# another command (other sizes, seeds, job files) is an error: remove it or use another --out.
# Exit codes: 0 submitted (SLURM) or done (--local), 2 usage, else the failing step's.
# See docs/slurm.md.
set -euo pipefail

me=refine-pipeline.sh
die() {
  echo "$me: $*" >&2
  exit 2
}
usage() {
  sed -n '2,/^# See docs/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

slurm_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$slurm_dir/.." && pwd)

out=runs/refine-pipeline local=0 ranks=2 sim_events=20000 data_events=20000 test_events=5000 seed=11
refiner_job=$repo/jobs/airshower-refiner.ini regressor_job=$repo/jobs/airshower-energy-closure.ini
xmax_job=$repo/jobs/airshower-xmax-closure.ini xmax=0
refiner_steps='' regressor_steps='' closure=1 wait=0 trigger=3
set_refiner=() set_regressor=() sbatch_args=()

# an option's value: --opt=V or --opt V
need_value() { (($2 >= 2)) || die "$1 needs a value (see --help)"; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1: expected a positive integer, got '$2'"; }
while (($#)); do
  opt=$1
  if [[ $opt == --*=* ]]; then
    val=${opt#*=} opt=${opt%%=*}
    set -- "$opt" "$val" "${@:2}"
  fi
  case $opt in
    -h | --help) usage 0 ;;
    --local) local=1; shift; continue ;;
    --no-closure) closure=0; shift; continue ;;
    --xmax) xmax=1; shift; continue ;;
    --wait) wait=1; shift; continue ;;
    --out | --ranks | --sim-events | --data-events | --test-events | --seed | --refiner-job | --regressor-job | \
      --refiner-steps | --regressor-steps | --trigger | --set-refiner | --set-regressor | --sbatch-arg | --xmax-job)
      need_value "$opt" $#
      val=$2
      shift 2
      ;;
    *) die "unknown option '$opt' (see --help)" ;;
  esac
  case $opt in
    --out) [[ -n $val ]] || die "--out: empty directory name"; out=$val ;;
    --ranks) posint "$opt" "$val"; ranks=$val ;;
    --sim-events) posint "$opt" "$val"; sim_events=$val ;;
    --data-events) posint "$opt" "$val"; data_events=$val ;;
    --test-events) posint "$opt" "$val"; test_events=$val ;;
    --seed) [[ $val =~ ^[0-9]+$ ]] || die "--seed: expected a non-negative integer, got '$val'"; seed=$val ;;
    --refiner-job) refiner_job=$val ;;
    --regressor-job) regressor_job=$val ;;
    --xmax-job) xmax_job=$val ;;
    --refiner-steps) posint "$opt" "$val"; refiner_steps=$val ;;
    --regressor-steps) posint "$opt" "$val"; regressor_steps=$val ;;
    --trigger) [[ $val =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--trigger: expected a threshold in VEM (0: none), got '$val'"; trigger=$val ;;
    --set-refiner) [[ $val == *.*=* ]] || die "--set-refiner: expected SECTION.KEY=VALUE, got '$val'"; set_refiner+=(--set "$val") ;;
    --set-regressor) [[ $val == *.*=* ]] || die "--set-regressor: expected SECTION.KEY=VALUE, got '$val'"; set_regressor+=(--set "$val") ;;
    --sbatch-arg) [[ $val == -* ]] || die "--sbatch-arg: expected an sbatch option (-x or --xyz=...), got '$val'"; sbatch_args+=("$val") ;;
  esac
done
for f in "$refiner_job" "$regressor_job" "$xmax_job"; do
  [[ -f $f && -r $f ]] || die "job file $f: no such readable file"
done
refiner_job=$(cd "$(dirname "$refiner_job")" && pwd)/$(basename "$refiner_job")
regressor_job=$(cd "$(dirname "$regressor_job")" && pwd)/$(basename "$regressor_job")
xmax_job=$(cd "$(dirname "$xmax_job")" && pwd)/$(basename "$xmax_job")

# the cascade binary, as the templates find it ($CASCADE, this repository's build, PATH)
# shellcheck disable=SC2034 # used by lib.sh
template_dir=$slurm_dir template_name=$me
# shellcheck source=slurm/lib.sh
source "$slurm_dir/lib.sh"
cascade_find || exit 2
export CASCADE
py=${CASCADE_PYTHON:-/usr/bin/python3}
if ((local)); then
  mpirun=${MPIRUN:-mpirun}
  command -v "${mpirun%% *}" >/dev/null || die "--local: no $mpirun (set MPIRUN)"
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  command -v sbatch >/dev/null || die "sbatch not found: run on a SLURM login node, or use --local"
fi

mkdir -p "$out/data" "$out/runs" "$out/metrics" "$out/steps" "$out/logs" || die "cannot create $out"
out=$(cd "$out" && pwd)
D=$out/data R=$out/runs M=$out/metrics S=$out/steps

declare -A jobid=() # step -> SLURM job id of this or an earlier submission, when not finished
declare -A ran=()   # steps (re)started by this invocation: the steps after them cannot be skipped

# run_step NAME "DEPS" OUTPUT KIND ARGS...: one step. KIND: simulate | train | refine |
# evaluate (the cascade subcommand; ARGS are the template's arguments), or closure |
# apply_trigger (tools/KIND.py ARGS, a one-task job).
run_step() {
  local name=$1 deps=$2 output=$3 kind=$4
  shift 4
  local cmd="$kind $*" done=$S/$name.done d fresh=0
  for d in $deps; do [[ -n ${ran[$d]:-} ]] && fresh=1; done # an input was just (re)made
  if ((!fresh)) && [[ -f $done && -e $output ]]; then
    if [[ $(cat "$S/$name.cmd" 2>/dev/null) != "$cmd" ]]; then
      die "step $name: $output was made by another command:
  $(cat "$S/$name.cmd" 2>/dev/null || echo '(unknown)')
now asked for:
  $cmd
remove $output and $done, or choose another --out"
    fi
    echo "$me: $name: done, skipped ($output)"
    return 0
  fi
  rm -f "$done"
  ran[$name]=1
  # remade: cascade replaces an existing output file only with --force; this one is the
  # pipeline's own (a train step's output is its LATEST, which --resume auto continues from)
  case $kind in simulate | refine | evaluate) rm -f "$output" ;; esac
  if ((local)); then
    local_step "$name" "$kind" "$@"
    return 0
  fi
  # still queued or running from an earlier submission of the same command: wait for that job
  local old
  old=$(cat "$S/$name.jobid" 2>/dev/null || true)
  if [[ -n $old && $(cat "$S/$name.cmd" 2>/dev/null) == "$cmd" ]]; then
    local state
    state=$(squeue -h -j "$old" -o %T 2>/dev/null || true)
    if [[ $state =~ ^(PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|REQUEUE_HOLD|RESIZING|SUSPENDED)$ ]]; then
      jobid[$name]=$old
      echo "$me: $name: job $old from an earlier submission is $state; not submitted again"
      return 0
    fi
  fi
  local after=()
  for d in $deps; do [[ -n ${jobid[$d]:-} ]] && after+=("${jobid[$d]}"); done
  local dep=()
  if ((${#after[@]})); then dep=(--dependency="afterok$(printf ':%s' "${after[@]}")" --kill-on-invalid-dep=yes); fi
  local -a sb=(sbatch --parsable --job-name="rp-$name" --output="$out/logs/%x-%j.out" --ntasks="$ranks"
    "${dep[@]}" "${sbatch_args[@]}")
  local id
  printf '%s\n' "$cmd" >"$S/$name.cmd"
  case $kind in
    closure | apply_trigger)
      local wrap
      wrap="$(printf '%q ' "$py" "$repo/tools/$kind.py" "$@")&& echo \"job \$SLURM_JOB_ID finished \$(date '+%F %T')\" >$(printf %q "$done.tmp") && mv -f $(printf %q "$done.tmp") $(printf %q "$done")"
      id=$("${sb[@]}" --ntasks=1 --wrap "$wrap") ;;
    *) id=$(CASCADE_DONE_FILE=$done "${sb[@]}" "$slurm_dir/$kind.sbatch" "$@") ;;
  esac || die "step $name: sbatch failed"
  id=${id%%;*}
  [[ $id =~ ^[0-9]+$ ]] || die "step $name: sbatch gave no job id: $id"
  echo "$id" >"$S/$name.jobid"
  jobid[$name]=$id
  echo "$me: $name: submitted job $id${after:+ (afterok:$(
    IFS=:
    echo "${after[*]}"
  ))}"
}

# local_step NAME KIND ARGS...: the template's command, under mpirun, here and now
local_step() {
  local name=$1 kind=$2
  shift 2
  local log=$out/logs/$name.log rc=0
  local -a c
  case $kind in
    simulate) c=("$CASCADE" simulate "$1" -n "$2" -o "$3" "${@:4}") ;;
    train) c=("$CASCADE" train "$1" --out "$2" --resume auto "${@:3}") ;;
    refine) c=("$CASCADE" refine "$1" --data "$2" -o "$3") ;;
    evaluate) c=("$CASCADE" evaluate "$1" --data "$2" --out "$3.tmp" "${@:4}") ;;
    closure | apply_trigger) c=("$py" "$repo/tools/$kind.py" "$@") ;;
  esac
  if [[ $kind != closure && $kind != apply_trigger ]]; then
    local -a launcher
    read -r -a launcher <<<"$mpirun" # MPIRUN may carry options: "mpirun --oversubscribe"
    c=("${launcher[@]}" -n "$ranks" "${c[@]}")
  fi
  echo "$me: $name: ${c[*]}"
  printf '%s\n' "$kind $*" >"$S/$name.cmd"
  if [[ $kind == evaluate ]]; then rm -f "$3.tmp"; fi # a stale copy from an interrupted mv
  "${c[@]}" >>"$log" 2>&1 || rc=$?
  if ((rc == 0)) && [[ $kind == evaluate ]]; then mv -f "$3.tmp" "$3" || rc=4; fi
  if ((rc != 0)); then
    echo "$me: $name failed with exit code $rc; the last lines of $log:" >&2
    tail -n 15 "$log" >&2
    echo "$me: run the same command again to continue" >&2
    exit "$rc"
  fi
  echo "local $(date '+%F %T')" >"$S/$name.done"
}

steps_opt() { if [[ -n $1 ]]; then echo "--steps $1"; fi; }
# shellcheck disable=SC2046 # word splitting of steps_opt is intended
{
  run_step sim "" "$D/sim.h5" simulate airshower "$sim_events" "$D/sim.h5" --seed "$seed" --domain sim
  run_step data "" "$D/data.h5" simulate airshower "$data_events" "$D/data.h5" --seed $((seed + 1)) --domain data
  run_step test "" "$D/data-test.h5" simulate airshower "$test_events" "$D/data-test.h5" --seed $((seed + 2)) --domain data
  run_step refiner "sim data" "$R/refiner/checkpoints/LATEST" train "$refiner_job" "$R/refiner" --quiet \
    --set data.train="$D/sim.h5" --set data.target="$D/data.h5" $(steps_opt "$refiner_steps") "${set_refiner[@]}"
  if [[ $trigger =~ ^0*([.]0*)?$ ]]; then
    run_step refine "refiner sim" "$D/sim-refined.h5" refine "$R/refiner" "$D/sim.h5" "$D/sim-refined.h5"
    refined_by=refine
  else
    run_step refine "refiner sim" "$D/sim-refined-raw.h5" refine "$R/refiner" "$D/sim.h5" "$D/sim-refined-raw.h5"
    run_step trigger refine "$D/sim-refined.h5" apply_trigger "$D/sim-refined-raw.h5" -o "$D/sim-refined.h5" --vem "$trigger"
    refined_by=trigger
  fi
  regressor() { # regressor TAG TRAINFILE DEPS [JOB PREFIX]: PREFIX names the steps, runs, metrics
    local job=${4:-$regressor_job} p=${5:-}
    run_step "${p}reg-$1" "$3" "$R/${p}regressor-$1/checkpoints/LATEST" train "$job" "$R/${p}regressor-$1" --quiet \
      --set data.train="$2" $(steps_opt "$regressor_steps") "${set_regressor[@]}"
    run_step "${p}eval-$1" "${p}reg-$1 test" "$M/${p}$1.json" evaluate "$R/${p}regressor-$1" "$D/data-test.h5" \
      "$M/${p}$1.json"
  }
  closure_of() { # closure_of PREFIX JOB [AFTER]: the three regressors of JOB and their closure,
    local p=$1 job=$2 also=${3:-} # its last step also after step AFTER (one chain end to wait for)
    regressor refined "$D/sim-refined.h5" "$refined_by" "$job" "$p"
    if ((closure)); then
      regressor sim "$D/sim.h5" sim "$job" "$p"
      regressor data "$D/data.h5" data "$job" "$p"
      run_step "${p}closure" "${p}eval-sim ${p}eval-refined ${p}eval-data $also" "$out/closure${p:+-${p%-}}.json" \
        closure "$M/${p}sim.json" "$M/${p}refined.json" "$M/${p}data.json" -o "$out/closure${p:+-${p%-}}.json"
    fi
  }
  closure_of "" "$regressor_job"
  if ((xmax)); then closure_of xmax- "$xmax_job" closure; fi
}
# the closure tables (energy, and Xmax with --xmax)
show_closure() {
  "$py" "$repo/tools/closure.py" "$M/sim.json" "$M/refined.json" "$M/data.json"
  if ((xmax)); then "$py" "$repo/tools/closure.py" "$M/xmax-sim.json" "$M/xmax-refined.json" "$M/xmax-data.json"; fi
}

last=eval-refined
((closure)) && last=closure
((xmax && closure)) && last=xmax-closure
if ((local)); then
  ((closure)) && show_closure
  echo "$me: done: $out"
  exit 0
fi
if [[ -z ${jobid[$last]:-} ]]; then
  echo "$me: every step had finished: $out"
  ((closure)) && show_closure
  exit 0
fi
echo "$me: the chain ends with job ${jobid[$last]} ($last); logs in $out/logs"
if ((wait)); then
  while [[ $(squeue -h -j "${jobid[$last]}" -o %T 2>/dev/null || true) =~ ^(PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|REQUEUE_HOLD|RESIZING|SUSPENDED)$ ]]; do
    sleep 2
  done
  if [[ ! -f $S/$last.done ]]; then
    echo "$me: job ${jobid[$last]} ($last) ended without finishing; see $out/logs" >&2
    exit 1
  fi
  ((closure)) && show_closure
  echo "$me: done: $out"
fi
exit 0
