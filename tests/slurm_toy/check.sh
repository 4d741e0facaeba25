#!/usr/bin/env bash
# Run the toy workflow through a running SLURM cluster (.ci/slurm/up.sh) with
# Snakemake's SLURM executor and check outputs, sbatch counts and error reports.
#   bash .ci/slurm/with-cluster.sh bash tests/slurm_toy/check.sh [SCENARIO...]
# Scenarios (default: real fail):
#   real       workflow/profiles/slurm as is: 2 runs -> 4 sbatch for 10 jobs
#              (generate_data, one group job per run, collect); a group job asks for
#              1 CPU and the sum of its steps' runtimes; the two run side by side
#   fail       the same, run r2's spectra fails, --keep-going (--retries 0): exit 1,
#              logs named, r1 complete, r2's group outputs (its train too) removed
#   packed     the same with --group-components run=2: both runs in one job -> 3 sbatch
#   ungrouped  tests/slurm_toy/profile-ungrouped: one sbatch per job -> 10 sbatch
#   all        the four
# Env: SNAKEMAKE (default .venv/bin/snakemake, else snakemake on PATH),
#      TOY_WORKDIR (default /tmp/htstudy-slurm-toy), TOY_TIMEOUT per scenario
#      in seconds (default 240).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
smk=${SNAKEMAKE:-$repo/.venv/bin/snakemake}
[[ -x $smk ]] || smk=$(command -v snakemake)
work=${TOY_WORKDIR:-/tmp/htstudy-slurm-toy}
limit=${TOY_TIMEOUT:-240}
failures=0
passed=0

say() { echo "[slurm-toy] $*"; }
ok() { say "  ok: $*"; }
bad() { say "  FAIL: $*"; failures=$((failures + 1)); }
check() { # description, command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# Status command: sacct where slurmdbd answers, else squeue (see README.md).
extra=()
if ! timeout 10 sacct -n -X >/dev/null 2>&1; then
    say "sacct does not answer (no slurmdbd): using --slurm-status-command squeue"
    extra+=(--slurm-status-command squeue)
fi

run_toy() { # name, expected rc (0 or nonzero), snakemake args...
    local name=$1 want=$2
    shift 2
    dir=$work/$name
    log=$work/$name.log
    rm -rf "$dir"
    mkdir -p "$dir"
    say "scenario $name: snakemake $*"
    local t0=$SECONDS rc=0
    (cd "$repo" && timeout --kill-after=20 "$limit" "$smk" -s tests/slurm_toy/Snakefile -d "$dir" \
        --executor slurm -j 10 --verbose "${extra[@]}" "$@") >"$log" 2>&1 || rc=$?
    elapsed=$((SECONDS - t0))
    submitted=$(grep -c "has been submitted with SLURM jobid" "$log" || true)
    say "  exit $rc after ${elapsed}s, $submitted sbatch submissions (log $log)"
    if ((rc == 124 || rc == 137)); then
        bad "$name timed out after ${limit}s"
        tail -n 40 "$log"
        return 1
    fi
    if [[ $want == 0 && $rc != 0 ]] || [[ $want != 0 && $rc == 0 ]]; then
        bad "$name exit status $rc (wanted $([[ $want == 0 ]] && echo 0 || echo non-zero))"
        tail -n 60 "$log"
        return 1
    fi
    # sacct's view of the run (the executor names every job by its run ID)
    local uuid
    uuid=$(sed -n 's/^SLURM run ID: //p' "$log" | head -n 1)
    if [[ -n $uuid ]] && timeout 10 sacct -n -X >/dev/null 2>&1; then
        in_sacct=$(timeout 10 sacct -n -X -P --name "$uuid" -o JobID | wc -l)
        check "sacct lists the $submitted jobs of run $uuid" test "$in_sacct" -eq "$submitted"
    fi
}

job_of() { # file, rule: the SLURM job id stamped by that rule in that output
    sed -n "s/^$2 .*slurm_job=\([^ ]*\) .*/\1/p" "$1" | head -n 1
}

run_job() { # run dir: the one SLURM job id of all its stamps (fails if several/none)
    local ids
    ids=$(sed -n "s/^\(train\|evaluate\|spectra\|tails\) .*slurm_job=\([^ ]*\) .*/\2/p" \
        "$1"/evaluate.txt "$1"/tails.txt | sort -u)
    [[ -n $ids && $ids != none && $(wc -l <<<"$ids") == 1 ]] || return 1
    echo "$ids"
}

overlap() { # two SLURM job ids: did they run at the same time (sacct)?
    local a b
    a=$(timeout 10 sacct -n -X -P -j "$1" -o Start,End) || return 1
    b=$(timeout 10 sacct -n -X -P -j "$2" -o Start,End) || return 1
    [[ ${a%|*} < ${b#*|} && ${b%|*} < ${a#*|} ]]
}

group_ids() { # SLURM job ids of the group jobs submitted in $log
    sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\) (log: [^ ]*group_run.*/\1/p' "$log"
}

# Group job request with the real profile (toy rules set no mem_mb: default 1000):
# 1 CPU, runtime = train 120 + evaluate 15 + spectra 15 + tails 20 = 170 min per run.
group_request() { # runs per job
    grep -q "comment rule_run_evaluate_spectra_tails_train .* -t $((170 * $1)) --mem 1000 --ntasks=1 --cpus-per-task=1 " "$log"
}

scenario_real() {
    run_toy real 0 --workflow-profile workflow/profiles/slurm \
        --slurm-init-seconds-before-status-checks 2 || return 0
    check "summary written" test -s "$dir/collect/summary.txt"
    check "4 sbatch for 10 jobs (generate_data, a group job per run, collect)" \
        test "$submitted" -eq 4
    local r1 r2
    r1=$(run_job "$dir/runs/r1") || r1=
    r2=$(run_job "$dir/runs/r2") || r2=
    check "r1: train, evaluate, spectra, tails in one SLURM job ($r1)" test -n "$r1"
    check "r2: the same, in another SLURM job ($r2)" test -n "$r2" -a "$r1" != "$r2"
    check "group job asks for 1 CPU, the largest mem, summed runtime (-t 170 --mem 1000 --cpus-per-task=1)" \
        group_request 1
    check "per-rule runtime (generate_data: -t 10)" grep -q "comment rule_generate_data .* -t 10 " "$log"
    local ids
    ids=($(group_ids))
    if ((${#ids[@]} == 2)) && timeout 10 sacct -n -X >/dev/null 2>&1; then
        check "the two group jobs ran at the same time (cores: 1 caps a job, not the cluster)" \
            overlap "${ids[0]}" "${ids[1]}"
    fi
}

scenario_fail() {
    run_toy fail 1 --workflow-profile workflow/profiles/slurm --retries 0 \
        --slurm-init-seconds-before-status-checks 2 --keep-going --config fail_run=r2 || return 0
    check "3 sbatch (generate_data, 2 group jobs; collect never submitted)" test "$submitted" -eq 3
    check "error names the failing group" grep -q "Error in group run" "$log"
    check "error names the rule's log logs/spectra/r2.log" \
        grep -q "log: logs/spectra/r2.log (check log file" "$log"
    local slog
    slog=$(sed -n 's|.*log: \(/[^ ]*slurm_logs/group_run[^ ]*\.log\) (check log.*|\1|p' "$log" | head -n 1)
    check "error names the SLURM log ($slog), which exists" test -s "$slog"
    check "the rule's log holds the job's stderr" grep -q "toy failure on purpose" "$dir/logs/spectra/r2.log"
    check "--keep-going: the other run finished (r1 tails)" test -s "$dir/runs/r1/tails.txt"
    check "failed group's outputs removed, its train output too" test ! -e "$dir/runs/r2/train.txt"
    check "collect not run" test ! -e "$dir/collect/summary.txt"
}

scenario_packed() {
    run_toy packed 0 --workflow-profile workflow/profiles/slurm --group-components run=2 \
        --slurm-init-seconds-before-status-checks 2 || return 0
    check "summary written" test -s "$dir/collect/summary.txt"
    check "3 sbatch for 10 jobs (generate_data, one group job for both runs, collect)" \
        test "$submitted" -eq 3
    local r1 r2
    r1=$(run_job "$dir/runs/r1") || r1=
    r2=$(run_job "$dir/runs/r2") || r2=
    check "both runs in the same SLURM job ($r1 $r2)" test -n "$r1" -a "$r1" == "$r2"
    check "packed job asks for 1 CPU and 2 x the runtime (-t 340 --mem 1000 --cpus-per-task=1)" \
        group_request 2
}

scenario_ungrouped() {
    run_toy ungrouped 0 --workflow-profile tests/slurm_toy/profile-ungrouped || return 0
    check "summary written" test -s "$dir/collect/summary.txt"
    check "10 sbatch for 10 jobs" test "$submitted" -eq 10
}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(real fail)
[[ ${scenarios[*]} == all ]] && scenarios=(real fail packed ungrouped)
mkdir -p "$work"
for s in "${scenarios[@]}"; do
    declare -F "scenario_$s" >/dev/null || { echo "unknown scenario $s" >&2; exit 2; }
    before=$failures
    "scenario_$s"
    if ((failures == before)); then passed=$((passed + 1)); fi
done
echo "slurm_toy: $passed passed, $((${#scenarios[@]} - passed)) failed"
((failures == 0))
