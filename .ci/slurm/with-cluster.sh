#!/usr/bin/env bash
# with-cluster.sh <command...>
# Bring the one-node SLURM cluster up (up.sh), run the command under a time
# limit, and always bring the cluster down again (down.sh) -- on success,
# failure, timeout, Ctrl-C or SIGTERM. Exits with the command's status
# (124 when the time limit killed it, 130/143 when interrupted).
#
# Env: SLURM_CMD_TIMEOUT  seconds for the command (default 600); after it the
#                         command gets SIGTERM, and SIGKILL 30 s later
#      SLURM_STATE_DIR, SLURM_WITH_DBD, SLURM_UP_TIMEOUT ... see up.sh / down.sh
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
limit=${SLURM_CMD_TIMEOUT:-600}
state=${SLURM_STATE_DIR:-/tmp/htstudy-slurm}
log() { echo "[with-cluster] $*" >&2; }

if (($# == 0)); then
    echo "usage: $0 <command...>" >&2
    exit 2
fi

child=
running() { # pid alive and not a zombie (our exited child stays a zombie until `wait`)
    [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}
stop_child() { # SIGTERM to the command (timeout passes it on), SIGKILL to its group 30 s later
    [[ -n $child ]] || return 0
    if running "$child"; then
        kill -TERM "$child" 2>/dev/null
        local end=$((SECONDS + 30))
        while running "$child" && ((SECONDS < end)); do sleep 0.5; done
        # timeout leads its own process group: take the command with it
        if running "$child"; then
            log "command ignored SIGTERM for 30 s: SIGKILL"
            kill -KILL -- "-$child" 2>/dev/null
        fi
    fi
    wait "$child" 2>/dev/null
    child=
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_child
    bash "$here/down.sh" || log "down.sh failed (rc $?)"
    exit "$rc"
}
on_signal() {
    log "got SIG$1: stopping the command"
    stop_child
    exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

bash "$here/up.sh" || { rc=$?; log "up.sh failed (rc $rc)"; exit "$rc"; }

t0=$SECONDS
log "running (limit ${limit}s): $*"
# In the background so that the traps run at once on a signal; timeout gives
# the command its own process group and forwards SIGTERM to it.
timeout --kill-after=30 "$limit" "$@" &
child=$!
wait "$child"
rc=$?
child=
if ((rc == 124 || (rc == 137 && SECONDS - t0 >= limit))); then
    log "command timed out after ${limit}s (rc $rc: 124 = ended on SIGTERM, 137 = SIGKILL 30 s later)"
elif ((rc != 0)); then
    log "command failed (rc $rc) after $((SECONDS - t0)) s; cluster logs: $state/log"
else
    log "command succeeded in $((SECONDS - t0)) s"
fi
exit "$rc"
