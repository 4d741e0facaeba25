#!/usr/bin/env bash
# Run the toy workflow through a running SLURM cluster (.ci/slurm/up.sh) with
# Snakemake's SLURM executor and check outputs, sbatch counts and error reports.
#   bash .ci/slurm/with-cluster.sh bash tests/slurm_toy/check.sh [SCENARIO...]
# Scenarios (default: real fail):
#   real       workflow/profiles/slurm as is (train threads cut to the node's 2
#              CPUs): 2 runs -> 4 sbatch (generate_data, 1 group per run, collect)
#   fail       the same profile, run r2's spectra fails, --keep-going: exit 1,
#              both logs named, r1 complete, r2's group outputs removed
#   grouped    tests/slurm_toy/profile: 2 runs packed in one job -> 3 sbatch
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

chain_in_one_job() { # output dir of a run: train..tails share one SLURM job id
    local f=$1/tails.txt id r
    id=$(job_of "$f" train)
    [[ -n $id && $id != none ]] || return 1
    for r in evaluate spectra tails; do [[ $(job_of "$f" "$r") == "$id" ]] || return 1; done
}

scenario_real() {
    run_toy real 0 --workflow-profile workflow/profiles/slurm --set-threads train=1 \
        --slurm-init-seconds-before-status-checks 2 || return 0
    check "summary written" test -s "$dir/collect/summary.txt"
    check "4 sbatch for 2 runs (generate_data, 2 groups, collect)" test "$submitted" -eq 4
    check "r1: train..tails in one SLURM job" chain_in_one_job "$dir/runs/r1"
    check "r2: train..tails in one SLURM job" chain_in_one_job "$dir/runs/r2"
    check "r1 and r2 in different SLURM jobs" \
        test "$(job_of "$dir/runs/r1/tails.txt" train)" != "$(job_of "$dir/runs/r2/tails.txt" train)"
    check "group job asks for max mem and summed runtime (--mem 4000, -t 310)" \
        grep -q "comment rule_run_evaluate_spectra_tails_train .* -t 310 --mem 4000 " "$log"
    check "per-rule resources (generate_data: -t 20 --mem 2000)" \
        grep -q "comment rule_generate_data .* -t 20 --mem 2000 " "$log"
}

scenario_fail() {
    run_toy fail 1 --workflow-profile workflow/profiles/slurm --set-threads train=1 \
        --slurm-init-seconds-before-status-checks 2 --keep-going --config fail_run=r2 || return 0
    check "3 sbatch (collect never submitted)" test "$submitted" -eq 3
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

scenario_grouped() {
    run_toy grouped 0 --workflow-profile tests/slurm_toy/profile || return 0
    check "summary written" test -s "$dir/collect/summary.txt"
    check "3 sbatch for 10 jobs (group-components run=2)" test "$submitted" -eq 3
    check "both runs' chains in one SLURM job" \
        test "$(job_of "$dir/runs/r1/tails.txt" tails)" == "$(job_of "$dir/runs/r2/tails.txt" tails)"
    check "r1: train..tails in one SLURM job" chain_in_one_job "$dir/runs/r1"
}

scenario_ungrouped() {
    run_toy ungrouped 0 --workflow-profile tests/slurm_toy/profile-ungrouped || return 0
    check "summary written" test -s "$dir/collect/summary.txt"
    check "10 sbatch for 10 jobs" test "$submitted" -eq 10
}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(real fail)
[[ ${scenarios[*]} == all ]] && scenarios=(real fail grouped ungrouped)
mkdir -p "$work"
for s in "${scenarios[@]}"; do
    declare -F "scenario_$s" >/dev/null || { echo "unknown scenario $s" >&2; exit 2; }
    before=$failures
    "scenario_$s"
    if ((failures == before)); then passed=$((passed + 1)); fi
done
echo "slurm_toy: $passed passed, $((${#scenarios[@]} - passed)) failed"
((failures == 0))
