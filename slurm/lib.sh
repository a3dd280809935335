# shellcheck shell=bash
# Shared by the sbatch templates in this directory (sourced, not run; the template sets
# template_dir, the directory of the submitted script). Provides
#   cascade_setup NAME    finds the cascade binary ($CASCADE), sets the per-rank environment
#   cascade_srun ARGS...  runs `srun --mpi=pmix [--cpus-per-task] ARGS...` as the job step,
#                         passing SIGUSR1 that reaches this batch shell on to the step;
#                         sets $step_status to its exit code
#   cascade_done          after a successful step (step_status 0): when CASCADE_DONE_FILE is
#                         set, writes that file (atomically) — how slurm/refine-pipeline.sh
#                         learns that a step has finished

# The cascade binary: $CASCADE if set, else build/cascade of the repository these templates
# belong to, else `cascade` on PATH.
cascade_find() {
  : "${template_dir:?set by the template}"
  if [[ -n ${CASCADE:-} ]]; then
    [[ -x $CASCADE ]] || { echo "$template_name: CASCADE=$CASCADE is not an executable" >&2; return 2; }
    return 0
  fi
  if [[ -x $template_dir/../build/cascade ]]; then
    CASCADE=$(cd "$template_dir/../build" && pwd)/cascade
  elif command -v cascade >/dev/null; then
    CASCADE=$(command -v cascade)
  else
    echo "$template_name: no cascade binary: set CASCADE=/path/to/cascade, build $template_dir/../build," \
      "or put cascade on PATH" >&2
    return 2
  fi
}

cascade_setup() {
  template_name=$1
  cascade_find || exit 2
  # One OpenMP/OpenBLAS thread per CPU SLURM gave each rank (--cpus-per-task), not one per
  # core of the node: ranks sharing a node would otherwise oversubscribe it.
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  # Parallel HDF5 on shared file systems (Lustre, GPFS, NFS): POSIX locks are unsupported or
  # slow there, and cascade coordinates its own writers.
  export HDF5_USE_FILE_LOCKING=FALSE
  echo "$template_name: job ${SLURM_JOB_ID:-none} start $((${SLURM_RESTART_COUNT:-0} + 1))" \
    "on ${SLURM_JOB_NODELIST:-$(hostname)}, ${SLURM_NTASKS:-?} ranks x $OMP_NUM_THREADS threads," \
    "$(date '+%F %T')"
  echo "$template_name: $CASCADE"
}

# A SIGUSR1 sent to the batch shell only (sbatch --signal=B:USR1@..., scancel --batch) is
# passed on to srun, which forwards it to every task. With the default --signal=USR1@120 or
# `scancel --signal=USR1 JOBID`, SLURM signals the tasks itself and the shell sees nothing.
# SIGTERM (time limit, scancel, preemption) reaches the tasks from slurmd directly; the shell
# only survives it, to report the step's exit code.
cascade_srun() {
  local step_pid interrupted=
  local -a cpus=()
  # since 22.05 srun no longer takes --cpus-per-task from the batch allocation by itself
  [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && cpus=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
  # --kill-on-bad-exit=0: the ranks exit 75 together but not at the same instant; killing the
  # later ones when the first has exited would turn 75 into 143. A rank that dies (crash,
  # out of memory) still ends the step: SLURM's PMIx plugin aborts it.
  local -a srun_cmd=(srun --mpi=pmix --kill-on-bad-exit=0 "${cpus[@]}" "$@")
  echo "$template_name: ${srun_cmd[*]}"
  "${srun_cmd[@]}" &
  step_pid=$!
  trap 'interrupted=1; echo "$template_name: SIGUSR1 passed on to the job step"; kill -USR1 "$step_pid" 2>/dev/null' USR1
  trap 'interrupted=1; echo "$template_name: SIGTERM; waiting for the job step to end"' TERM
  while :; do
    step_status=0
    wait "$step_pid" || step_status=$?
    # wait returns >128 when a trapped signal interrupts it; the step still runs (or has ended
    # and wait, asked again, gives its real status)
    if ((step_status > 128)) && [[ -n $interrupted ]]; then
      interrupted=
      continue
    fi
    break
  done
}

# Marks a finished step for pipelines (slurm/refine-pipeline.sh): when CASCADE_DONE_FILE is set
# (sbatch passes the submitting shell's environment on) and the step exited 0, that file is
# written via a temporary name and renamed, so it exists only complete. Nothing otherwise.
cascade_done() {
  [[ -n ${CASCADE_DONE_FILE:-} && ${step_status:-1} -eq 0 ]] || return 0
  if ! { echo "job ${SLURM_JOB_ID:-none} finished $(date '+%F %T')" >"$CASCADE_DONE_FILE.tmp" &&
    mv -f "$CASCADE_DONE_FILE.tmp" "$CASCADE_DONE_FILE"; }; then
    echo "$template_name: cannot write CASCADE_DONE_FILE=$CASCADE_DONE_FILE" >&2
    step_status=4
  fi
}
