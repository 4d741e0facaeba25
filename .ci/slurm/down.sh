#!/usr/bin/env bash
# Stop the cluster that up.sh started: cancel its jobs, then stop each daemon
# by the PID recorded in $SLURM_STATE_DIR/pids (SIGTERM, bounded wait, then
# SIGKILL). Safe to call twice, and after up.sh failed half-way. Logs stay in
# $SLURM_STATE_DIR/log. Env: SLURM_STATE_DIR (default /tmp/htstudy-slurm),
# SLURM_DOWN_TIMEOUT seconds per daemon before SIGKILL (default 15).
set -uo pipefail

state=${SLURM_STATE_DIR:-/tmp/htstudy-slurm}
limit=${SLURM_DOWN_TIMEOUT:-15}
PATH=$PATH:/usr/sbin:/sbin
log() { echo "[slurm-down] $*" >&2; }

[[ -d $state/pids ]] || { log "nothing to stop ($state/pids absent)"; exit 0; }

alive() {
    [[ -r /proc/$1/stat ]] || return 1
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# Cancel the jobs still on the cluster so that no job step outlives slurmd.
ctld=$(cat "$state/pids/slurmctld" 2>/dev/null || true)
if [[ -n $ctld ]] && alive "$ctld"; then
    if [[ -n $(timeout 5 squeue -h -o %i 2>/dev/null) ]]; then
        log "cancelling the jobs still queued or running"
        timeout 10 scancel --full --user=root >/dev/null 2>&1 || true
        end=$((SECONDS + limit))
        while [[ -n $(timeout 5 squeue -h -t PD,R,CG,S -o %i 2>/dev/null) ]] && ((SECONDS < end)); do
            sleep 0.5
        done
    fi
fi

status=0
# Stop order: compute side first, the things they talk to last.
for name in slurmd slurmctld slurmdbd mariadb munged; do
    f=$state/pids/$name
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid"; then
        # guard against a recycled PID: the process must still be that daemon
        comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
        case $name:$comm in
            slurmd:slurmd | slurmctld:slurmctld | slurmdbd:slurmdbd | mariadb:mariadbd | munged:munged) ;;
            *)
                log "pid $pid is '$comm', not $name: leaving it alone"
                rm -f "$f"
                continue
                ;;
        esac
        kill -TERM "$pid" 2>/dev/null || true
        end=$((SECONDS + limit))
        while alive "$pid" && ((SECONDS < end)); do sleep 0.1; done
        if alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for ${limit}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            alive "$pid" && { log "$name (pid $pid) still alive"; status=1; }
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$f"
done
exit $status
