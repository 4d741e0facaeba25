#!/usr/bin/env bash
# Install a single-node SLURM (22.05, Debian 12 packages) for CI: slurmctld,
# slurmd, the client tools and munge, plus slurmdbd + mariadb-server so that
# `sacct` answers (see README.md: without slurmdbd the executor plugin waits
# forever on finished jobs).
#
# Idempotent: returns at once when every binary is already there. Quiet: the
# apt log is printed only on failure. Starts no daemon (up.sh does that).
#
# Env: SLURM_WITH_DBD=0  skip slurmdbd/mariadb-server (then use
#                        `slurm-status-command: squeue`, see README.md)
#      SLURM_INSTALL_TIMEOUT  seconds for the whole apt run (default 600)
set -euo pipefail

with_dbd=${SLURM_WITH_DBD:-1}
pkgs=(slurmctld slurmd slurm-client munge)
bins=(slurmctld slurmd sbatch sinfo squeue scontrol munged munge)
if [[ $with_dbd == 1 ]]; then
    pkgs+=(slurmdbd mariadb-server)
    bins+=(slurmdbd sacct sacctmgr mariadbd mariadb-install-db mariadb)
fi

missing=()
for b in "${bins[@]}"; do
    command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] || missing+=("$b")
done
if ((${#missing[@]} == 0)); then
    echo "[slurm-install] already installed (slurm $(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null))"
    exit 0
fi

if [[ $(id -u) != 0 ]]; then
    echo "[slurm-install] missing ${missing[*]} and not root: cannot apt-get install" >&2
    exit 1
fi

t0=$SECONDS
log=$(mktemp /tmp/htstudy-slurm-install.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
limit=${SLURM_INSTALL_TIMEOUT:-600}

# Keep package scripts from starting daemons (mariadb would otherwise start on
# its default socket in containers that have no policy-rc.d).
own_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
fi
cleanup() { if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

apt_opts=(-y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Use-Pty=0 --no-install-recommends)
run() { timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1; }
if ! { run apt-get update -q && run apt-get install "${apt_opts[@]}" "${pkgs[@]}"; }; then
    echo "[slurm-install] apt-get failed; log $log:" >&2
    tail -n 60 "$log" >&2
    exit 1
fi

for b in "${missing[@]}"; do
    if ! command -v "$b" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$b ]]; then
        echo "[slurm-install] $b still missing after install; log $log" >&2
        exit 1
    fi
done
rm -f "$log"
echo "[slurm-install] installed ${pkgs[*]} in $((SECONDS - t0)) s (slurm $(dpkg-query -W -f='${Version}' slurmctld))"
