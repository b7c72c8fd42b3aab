#!/usr/bin/env bash
# A throwaway one-node Slurm cluster for the tests of `bapw sweep --backend slurm`
# (tests/sweep_slurm.rs). No systemd, no munge daemon, nothing outside DIR: the controller and
# the node daemon run in the foreground of background processes, with auth/none (fine for a
# cluster that only listens on 127.0.0.1 and lives for one test binary).
#
#   scripts/slurm-local.sh install             install the Debian packages when sbatch is missing
#   scripts/slurm-local.sh start DIR [OWNER]   write DIR/slurm.conf, start slurmctld and slurmd,
#                                              wait until the node is idle, print SLURM_CONF's value;
#                                              with OWNER (a pid): when it exits, stop the cluster
#                                              and remove DIR if `start` created it
#   scripts/slurm-local.sh stop DIR            cancel the jobs, stop the daemons started in DIR and
#                                              any process left from their jobs
#
# The node has 4 CPUs (on however many cores the machine has: SlurmdParameters=config_overrides)
# and two fake GPUs (character devices, as gres.conf wants) for `--gres=gpu:N`.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client)

die() {
  echo "slurm-local: $*" >&2
  exit 1
}

install() {
  if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "installing ${PACKAGES[*]} needs root (apt-get)"
  echo "slurm-local: installing ${PACKAGES[*]}" >&2
  # Their post-install scripts try to start the services; without systemd that is refused,
  # harmlessly.
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Kills the pid in a pid file when that process is the daemon we started (its command line
# names our config), then waits for it to go.
stop_pidfile() {
  local file=$1 conf=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# What is left of this cluster's jobs after its daemons stopped: the slurmstepd processes
# whose environment names our slurm.conf (slurmd passed it on), and everything below them.
leftovers() {
  local conf=$1 p pid ppid rest
  local -a found=()
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && found+=("${p#/proc/}")
  done
  local grew=1
  while [ ${#found[@]} -gt 0 ] && [ $grew = 1 ]; do
    grew=0
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      # Field 4 of stat is the parent; the name (field 2) may hold spaces, so cut after ')'.
      rest=$(sed 's/.*) //' "$p/stat" 2>/dev/null) || continue
      ppid=$(echo "$rest" | cut -d' ' -f2)
      if [[ " ${found[*]} " == *" $ppid "* && " ${found[*]} " != *" $pid "* ]]; then
        found+=("$pid")
        grew=1
      fi
    done
  done
  echo "${found[*]}"
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  local conf="$dir/slurm.conf"
  if [ -f "$dir/watchdog.pid" ] && [ "$(cat "$dir/watchdog.pid")" != "${WATCHDOG:-}" ]; then
    kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
  fi
  rm -f "$dir/watchdog.pid"
  # Jobs first, so that their tasks stop the way they would on a real cluster.
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    local jobs
    jobs=$(SLURM_CONF=$conf timeout 10 squeue -h -o %A 2>/dev/null | sort -u || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$conf timeout 10 scancel $jobs 2>/dev/null || true
      for _ in $(seq 150); do
        [ -z "$(SLURM_CONF=$conf timeout 10 squeue -h -o %A 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  # The node daemon first: it ends the job steps it runs.
  stop_pidfile "$dir/slurmd.pid" "$conf"
  stop_pidfile "$dir/slurmctld.pid" "$conf"
  local left
  left=$(leftovers "$conf")
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null || true
  fi
}

# Waits for OWNER to exit, then stops the cluster and removes DIR (when `start` created it).
watch() {
  local dir=$1 owner=$2
  echo $$ >"$dir/watchdog.pid"
  while kill -0 "$owner" 2>/dev/null; do sleep 1; done
  WATCHDOG=$$ stop "$dir"
  if [ -f "$dir/.created-by-slurm-local" ]; then
    rm -rf "$dir"
  fi
}

start() {
  local dir=$1 owner=${2:-}
  command -v slurmctld >/dev/null || die "slurmctld is not installed (scripts/slurm-local.sh install)"
  if [ ! -e "$dir" ]; then
    mkdir -p "$dir"
    touch "$dir/.created-by-slurm-local"
  fi
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    die "a cluster is already running in $dir (scripts/slurm-local.sh stop $dir)"
  fi
  local host node=bapwnode
  host=$(hostname -s)
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/dev"
  for i in 0 1; do
    # gres.conf wants character devices; these are /dev/null's numbers.
    [ -c "$dir/dev/nvidia$i" ] || mknod "$dir/dev/nvidia$i" c 1 3
  done
  local ctld_port slurmd_port
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
  cat >"$dir/slurm.conf" <<EOF
ClusterName=bapwtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
GresTypes=gpu
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/state/slurmctld.pid
SlurmdPidFile=$dir/spool/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
KillWait=20
# A requeued job waits cred_expire seconds (default 120) before it may start again, and the
# scheduler's main loop runs every sched_interval (default 60): short ones keep the tests short.
AuthInfo=cred_expire=5
SchedulerParameters=sched_interval=2
NodeName=$node NodeHostname=$host NodeAddr=127.0.0.1 CPUs=4 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$dir/gres.conf" <<EOF
NodeName=$node Name=gpu File=$dir/dev/nvidia[0-1]
EOF
  export SLURM_CONF="$dir/slurm.conf"
  setsid slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 </dev/null &
  echo $! >"$dir/slurmctld.pid"
  setsid slurmd -D -N "$node" -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 </dev/null &
  echo $! >"$dir/slurmd.pid"
  if [ -n "$owner" ]; then
    # Stops the cluster when the test binary that started it ends, however it ends; in its own
    # session, so that nothing sent to our process group reaches it.
    setsid "$0" watch "$dir" "$owner" >/dev/null 2>&1 </dev/null &
  fi
  local deadline=$((SECONDS + 90)) state=""
  while [ $SECONDS -lt $deadline ]; do
    state=$(sinfo -h -N -n "$node" -o %T 2>/dev/null || true)
    case "$state" in
      idle | mixed | allocated) echo "$SLURM_CONF"; return 0 ;;
    esac
    for d in slurmctld slurmd; do
      if ! kill -0 "$(cat "$dir/$d.pid" 2>/dev/null)" 2>/dev/null; then
        tail -n 20 "$dir/log/$d.out" "$dir/log/$d.log" >&2 2>/dev/null || true
        stop "$dir"
        die "$d exited while starting (logs above, in $dir/log)"
      fi
    done
    sleep 0.2
  done
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
  stop "$dir"
  die "the node is not idle after 90 s (state: '${state:-none}'; logs above, in $dir/log)"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 2 ] || die "usage: $0 start DIR [OWNER_PID]"; start "$2" "${3:-}" ;;
  stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  watch) watch "$2" "$3" ;;
  *) die "usage: $0 install | start DIR [OWNER_PID] | stop DIR" ;;
esac
