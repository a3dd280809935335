#!/usr/bin/env bash
# A private single-node SLURM cluster on this machine, for tests and for trying the sbatch
# templates without a real cluster. Needs root (slurmd runs jobs as their users) and the
# Debian packages slurmctld slurmd slurm-client munge (scripts/install-deps installs them).
#
#   scripts/slurm-local.sh start  [STATE_DIR]   start munged, slurmctld, slurmd; wait for the node
#   scripts/slurm-local.sh stop   [STATE_DIR]   stop exactly the daemons `start` started
#   scripts/slurm-local.sh status [STATE_DIR]   which of them run; sinfo
#
# STATE_DIR (default build/slurm-test) receives slurm.conf, the munge key, logs, pid files,
# the controller's state and slurmd's spool. Nothing outside it is touched: munged gets its
# own key and socket (slurm.conf AuthInfo=socket=...), the daemons listen on two free ports,
# so a system-wide SLURM or munge, or another private cluster, is left alone.
#
# `start` prints the daemons' PIDs on stderr and one line on stdout,
#     export SLURM_CONF=STATE_DIR/slurm.conf
# so `eval "$(scripts/slurm-local.sh start DIR)"` points sbatch/srun/squeue at the cluster.
# `stop` kills the PIDs recorded in STATE_DIR/*.pid (checking that each still is the daemon
# it was), never anything found by name. Leftovers of a crashed run are cleaned by both.
set -euo pipefail

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

action=${1:-}
[[ $action == start || $action == stop || $action == status ]] || usage
PATH=$PATH:/usr/sbin:/sbin # the daemons, for users whose PATH lacks the sbin directories
script_dir=$(cd "$(dirname "$0")" && pwd)
state=${2:-${CASCADE_SLURM_DIR:-$script_dir/../build/slurm-test}}
mkdir -p "$state"
state=$(cd "$state" && pwd)
daemons=(munged slurmctld slurmd)

# UNIX socket paths (munge's, slurmstepd's in the spool) are limited to 108 bytes: keep them
# in a short directory under /tmp when STATE_DIR's path is long. Named after the state dir,
# so a later run (and `stop`) finds the same one.
if ((${#state} <= 60)); then
  sockets=$state/run
else
  sockets=/tmp/cascade-slurm-$(printf '%s' "$state" | cksum | cut -d' ' -f1)
fi

log() { echo "slurm-local: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# pid_alive NAME: the PID in STATE/NAME.pid runs and is the daemon NAME (not a recycled PID)
pid_alive() {
  local name=$1 pid
  [[ -s $state/$name.pid ]] || return 1
  pid=$(<"$state/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$name" ]]
}

stop_daemon() {
  local name=$1 pid
  if pid_alive "$name"; then
    pid=$(<"$state/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      pid_alive "$name" || break
      sleep 0.1
    done
    if pid_alive "$name"; then
      log "$name ($pid) ignored SIGTERM for 5 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name ($pid)"
  fi
  rm -f "$state/$name.pid"
}

stop_all() {
  # end the cluster's jobs first, so that no job step outlives it
  if pid_alive slurmctld && [[ -f $state/slurm.conf ]]; then
    local jobs
    jobs=$(SLURM_CONF=$state/slurm.conf timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      log "cancelling jobs ${jobs//$'\n'/ }"
      # shellcheck disable=SC2086 # one job id a word
      SLURM_CONF=$state/slurm.conf timeout 10 scancel $jobs 2>/dev/null || true
      for _ in $(seq 30); do
        [[ -z $(SLURM_CONF=$state/slurm.conf timeout 10 squeue -h -o %i 2>/dev/null) ]] && break
        sleep 0.5
      done
    fi
  fi
  # slurmd, then the controller, munge last
  local i pid
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do stop_daemon "${daemons[i]}"; done
  # job steps that still run (slurmstepd daemonizes, so stopping slurmd leaves them): ours
  # carry this cluster's SLURM_CONF in their environment
  for pid in $(stepd_pids); do
    log "killing left-over slurmstepd $pid"
    kill -KILL "$pid" 2>/dev/null || true
  done
}

stepd_pids() {
  local f pid
  for f in /proc/[0-9]*/comm; do
    [[ $(cat "$f" 2>/dev/null) == slurmstepd ]] || continue
    pid=${f#/proc/}
    pid=${pid%/comm}
    if { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$state/slurm.conf"; then
      echo "$pid"
    fi
  done
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

pick_ports() {
  local p
  for p in 6817 16817 26817 36817 46817 $(shuf -i 20000-60000 -n 20); do
    if port_free "$p" && port_free $((p + 1)); then
      echo "$p"
      return 0
    fi
  done
  return 1
}

write_conf() {
  local port=$1 cpus
  # the CPUs this process may use; nproc alone would honour OMP_NUM_THREADS
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  cat >"$state/slurm.conf" <<EOF
# written by scripts/slurm-local.sh: a private single-node cluster
ClusterName=cascade-test
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job may start again cred_expire seconds after it ended (default 120): short here
# so tests of requeueing do not wait minutes
AuthInfo=socket=$sockets/munge.socket,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
JobRequeue=1
ReturnToService=2
KillWait=10
MinJobAge=600
InactiveLimit=0
SchedulerType=sched/backfill
# look at pending jobs every 2 s (default 60): a requeued job starts as soon as it may
SchedulerParameters=sched_interval=2,bf_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$sockets/spool
SlurmctldPidFile=$state/run/slurmctld.daemon.pid
SlurmdPidFile=$state/run/slurmd.daemon.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Default=YES Nodes=localhost MaxTime=INFINITE State=UP
EOF
  # PMIx client directories (spmix_appdir_UID_JOB.STEP) in the private state: job ids restart at
  # 1 with every private cluster, and directories left in /tmp by an earlier run would clash
  mkdir -p "$state/pmix"
  rm -rf "${state:?}/pmix/"*
  printf 'PMIxCliTmpDirBase=%s\n' "$state/pmix" >"$state/mpi.conf"
}

# start_daemon NAME COMMAND...: runs COMMAND (a daemon in the foreground) in its own session,
# so the caller's terminal signals and exit do not reach it, and records its PID
start_daemon() {
  local name=$1
  shift
  # setsid in a non-interactive shell's background job is no group leader: it execs in place,
  # so $! is the daemon's own PID
  setsid "$@" </dev/null >>"$state/$name.out" 2>&1 &
  echo $! >"$state/$name.pid"
  sleep 0.2
  pid_alive "$name" || die "$name did not start; see $state/$name.out and $state/$name.log"
  log "started $name ($!)"
}

wait_for() {   # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  log "$what"
}

node_idle() { [[ $(timeout 10 sinfo -h -N -n localhost -o %t 2>/dev/null) == idle ]]; }

start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd starts jobs as their users)"
  local tool
  for tool in munged mungekey slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install -y slurmctld slurmd slurm-client munge"
  done
  # leftovers: daemons still running from an earlier start are stopped, stale pid files go
  stop_all
  mkdir -p "$state/ctld" "$state/run" "$state/munge" "$sockets/spool"
  chmod 0700 "$state/munge"
  chmod 0755 "$sockets"
  rm -f "$sockets/munge.socket" "$sockets/munge.socket.lock"
  [[ -s $state/munge/munge.key ]] || mungekey --create --keyfile="$state/munge/munge.key" ||
    dd if=/dev/urandom of="$state/munge/munge.key" bs=1 count=1024 status=none
  chmod 0600 "$state/munge/munge.key"
  local port
  port=$(pick_ports) || die "found no two free TCP ports for slurmctld/slurmd"
  write_conf "$port"
  export SLURM_CONF=$state/slurm.conf

  start_daemon munged munged --foreground --force --key-file="$state/munge/munge.key" \
    --socket="$sockets/munge.socket" --pid-file="$state/run/munged.daemon.pid" \
    --log-file="$state/munged.log" --seed-file="$state/munge/munged.seed"
  wait_for 10 "munge socket ready" test -S "$sockets/munge.socket" ||
    die "munged made no socket in 10 s; see $state/munged.log"
  # -c: forget the jobs and node states of an earlier run: a clean cluster each time
  start_daemon slurmctld slurmctld -D -c -f "$SLURM_CONF"
  wait_for 20 "slurmctld answers" timeout 5 scontrol ping ||
    die "slurmctld does not answer; see $state/slurmctld.log"
  start_daemon slurmd slurmd -D -N localhost -f "$SLURM_CONF"
  if ! wait_for 30 "node localhost idle" node_idle; then
    timeout 10 scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
    wait_for 15 "node localhost idle (after RESUME)" node_idle ||
      die "node localhost is not idle after 45 s: $(timeout 10 sinfo -N -o '%N %t %E' 2>&1); see $state/slurmd.log"
  fi
  log "PIDs: munged $(<"$state/munged.pid") slurmctld $(<"$state/slurmctld.pid") slurmd $(<"$state/slurmd.pid")"
  echo "export SLURM_CONF=$state/slurm.conf"
}

status() {
  local name rc=0
  for name in "${daemons[@]}"; do
    if pid_alive "$name"; then
      echo "$name running ($(<"$state/$name.pid"))"
    else
      echo "$name not running"
      rc=1
    fi
  done
  if ((rc == 0)); then SLURM_CONF=$state/slurm.conf timeout 10 sinfo -N; fi
  return $rc
}

case $action in
  start) start ;;
  stop)
    stop_all
    # the state (slurm.conf, logs, key) stays for inspection; the socket directory goes
    if [[ $sockets != "$state/run" ]]; then rm -rf "$sockets"; fi
    ;;
  status) status ;;
esac
