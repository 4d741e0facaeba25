#!/usr/bin/env bash
# The REAL study, tiny, run twice -- locally (`snakemake -j 2`) and through SLURM
# with the workflow profile (workflow/profiles/slurm, executor slurm, one group job
# per run) -- and the two runs' Parquet tables compared exactly. Needs a running cluster:
#   bash .ci/slurm/install.sh && bash .ci/slurm/with-cluster.sh bash .ci/slurm/study_check.sh
#
# Study: tests/configs/tiny.yaml shrunk to lr_sweep with optimizer [gd, adam] x
# lr [0.1, 1e20] x seed [0] (lr 1e20 diverges: its NaN rows must match too).
# Targets: results/lr_sweep/{table,esd}.parquet and the figure `losses`:
# 23 jobs (1 data; per run train, spectrum, tails, evaluate for the 4 runs and the
# seed's initial run, which computes the shared step 0; collect; figure). The
# profile groups a run's 4 steps into one group job (`groups:` run), so
#   sbatch = data files + runs (initial runs included) + collect + figures
#          = 1 + (4 + 1) + 1 + 1 = 8.
#
# Checks:
#   local    the local run succeeds
#   dry run  the dry run with the profile plans 5 group jobs `run`, each exactly
#            {train, spectrum, tails, evaluate} of one run, plus 3 single jobs; its
#            sbatch prediction (group jobs + single jobs but `all`) = the formula;
#            on the shipped config.yaml (every experiment) no per-run job is left
#            out of a group; with `gpu: 1` uncommented (a copy of the profile) each
#            group job holds train's GPU, and with the command-line override
#            `--groups spectrum=cpu tails=cpu evaluate=cpu surgery=cpu` train goes
#            alone with its GPU and runtime (1 + 5 + 5 + 5 + 1 + 1 = 18 sbatch)
#   slurm    the SLURM run succeeds; its sbatch count (the executor's "submitted"
#            lines) equals the dry run's prediction and the formula; sacct lists
#            them all COMPLETED under the run's name; every sbatch call asks for
#            --cpus-per-task=1 and the profile's runtime: a group job -t = the sum of
#            train + spectrum + tails + evaluate runtimes in the profile (165), data,
#            collect, figure their own; --mem = the largest mem_mb of the job's steps
#            (dry run); group jobs ran side by side
#   compare  table.parquet and esd.parquet of both runs equal
#            (pandas.testing.assert_frame_equal, check_exact=True)
#   fail     (skip with STUDY_FAIL=0) `device: cuda` with no GPU visible: not refused
#            at plan time (a profile may send jobs to GPU nodes), the run's train step
#            fails inside its group job -> exit 1, 2 sbatch (data, the group job),
#            the error names the group and train's log, which holds the RuntimeError;
#            the group's SLURM log exists; spectrum/tails/evaluate never started; no
#            train output left; collect never submitted
# Prints the sbatch counts and both wall times.
#
# Env: PYTHON, SNAKEMAKE (default the repo's .venv/bin/python, .venv/bin/snakemake),
#      STUDY_WORKDIR (default /tmp/htstudy-slurm-study; wiped on start),
#      STUDY_TIMEOUT seconds per snakemake call (default 300),
#      STUDY_FAIL=0 skips the failure scenario.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
smk=${SNAKEMAKE:-$repo/.venv/bin/snakemake}
work=${STUDY_WORKDIR:-/tmp/htstudy-slurm-study}
limit=${STUDY_TIMEOUT:-300}
profile=$repo/workflow/profiles/slurm
targets=(results/lr_sweep/table.parquet results/lr_sweep/esd.parquet results/lr_sweep/figures/losses.png)
failures=0

say() { echo "[study-check] $*"; }
ok() { say "  ok: $*"; }
bad() { say "  FAIL: $*"; failures=$((failures + 1)); }
check() { # description, command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

for x in "$py" "$smk"; do
    [[ -x $x ]] || { say "$x not found (make the venv: see .ci/run)"; exit 2; }
done
command -v sbatch >/dev/null || { say "sbatch not found: run .ci/slurm/install.sh"; exit 2; }
timeout 10 sinfo -h >/dev/null 2>&1 || { say "no SLURM cluster answers: use .ci/slurm/with-cluster.sh"; exit 2; }
# sacct needs slurmdbd (up.sh starts it when installed); without it the profile's
# `slurm-status-command: sacct` would wait forever on finished jobs.
status_cmd=()
have_sacct=1
if ! timeout 10 sacct -n -X >/dev/null 2>&1; then
    say "sacct does not answer (no slurmdbd): using --slurm-status-command squeue"
    status_cmd=(--slurm-status-command squeue)
    have_sacct=0
fi

# --- configs ---------------------------------------------------------------------
rm -rf "$work"
mkdir -p "$work"/{local,slurm,fail}
# prints the number of runs (grid points x seeds) and of seeds (one initial run each)
read -r runs seeds < <("$py" - "$repo/tests/configs/tiny.yaml" "$work" <<'PY'
import copy, math, sys
import yaml

src, work = sys.argv[1], sys.argv[2]
tiny = yaml.safe_load(open(src))
cfg = copy.deepcopy(tiny)
cfg["run"] = ["lr_sweep"]
exp = cfg["experiments"]["lr_sweep"]
exp["grid"] = {"optimizer": ["gd", "adam"], "lr": [0.1, 1.0e20]}
exp["seeds"] = [0]
for d in ("local", "slurm"):
    with open(f"{work}/{d}/config.yaml", "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
# failure scenario: one run, training asks for CUDA where there is none
fail = copy.deepcopy(cfg)
fail["device"] = "cuda"
fail["experiments"]["lr_sweep"]["grid"] = {"optimizer": ["gd"], "lr": [0.1]}
fail["experiments"]["lr_sweep"]["set"] = {"probe_steps": [3]}  # no step 0: no initial run, one group job
with open(f"{work}/fail/config.yaml", "w") as f:
    yaml.safe_dump(fail, f, sort_keys=False)
print(math.prod(len(v) for v in exp["grid"].values()) * len(exp["seeds"]), len(exp["seeds"]))
PY
)
[[ -n ${seeds:-} ]] || { say "could not write the configs"; exit 2; }

run_smk() { # name, log, snakemake args... -> sets rc, elapsed
    local name=$1 log=$2
    shift 2
    say "$name: snakemake $*"
    local t0
    t0=$(now)
    rc=0
    (cd "$repo" && timeout --kill-after=20 "$limit" "$smk" -s "$repo/Snakefile" -d "$work/$name" "$@") \
        >"$log" 2>&1 || rc=$?
    elapsed=$(secs "$t0" "$(now)")
    if ((rc == 124 || rc == 137)); then
        bad "$name timed out after ${limit}s (log $log)"
        tail -n 40 "$log"
    fi
}

submitted_in() { grep -c "has been submitted with SLURM jobid" "$1" || true; }
run_id_in() { sed -n 's/^SLURM run ID: //p' "$1" | head -n 1; }

# --- local ---------------------------------------------------------------------------
run_smk local "$work/local.log" -j 2 "${targets[@]}"
local_s=$elapsed
say "  local: exit $rc after ${local_s}s (log $work/local.log)"
if ((rc != 0)); then
    bad "local run failed"
    tail -n 60 "$work/local.log"
fi

# --- SLURM -----------------------------------------------------------------------------
# OK/FAIL lines of .ci/slurm/jobs.py -> ok/bad
verdicts() {
    local line
    while IFS= read -r line; do
        case $line in
            OK\ *) ok "${line#OK }" ;;
            FAIL\ *) bad "${line#FAIL }" ;;
            *) [[ -z $line ]] || say "  $line" ;;
        esac
    done
}
dry_run() { # dir, log, snakemake args...: a dry run with the profile
    local dir=$1 log=$2
    shift 2
    (cd "$repo" && timeout "$limit" "$smk" -s "$repo/Snakefile" -d "$dir" -n --workflow-profile "$profile" "$@") \
        >"$log" 2>&1 || { bad "dry run with the profile in $dir failed"; tail -n 40 "$log"; return 1; }
}
plan_of() { "$py" "$here/jobs.py" plan "$1" 2>&1 || echo "predicted=-1"; }
value_of() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<<" $1"; }

# What the profile should submit, from a dry run with it: one sbatch per group job
# (a run's steps) and per other job (`all` runs locally).
predicted=-1
if dry_run "$work/slurm" "$work/slurm-dry.log" "${targets[@]}"; then
    plan=$(plan_of "$work/slurm-dry.log")
    say "  dry run: $plan"
    predicted=$(value_of "$plan" predicted)
    n_group=$(value_of "$plan" groups)
    n_data=$(value_of "$plan" n_data)
    n_train=$(value_of "$plan" n_train)
    n_collect=$(value_of "$plan" n_collect)
    n_fig=$(value_of "$plan" n_figure)
    "$py" "$here/jobs.py" grouping "$work/slurm-dry.log" | verdicts
    check "the dry run plans $runs runs + $seeds initial run(s) = $((runs + seeds)) trainings (got $n_train)" \
        test "$n_train" -eq $((runs + seeds))
    check "each group job is one run's {train, spectrum, tails, evaluate} ($(value_of "$plan" group_members))" \
        test "$(value_of "$plan" group_members)" = "evaluate,spectrum,tails,trainx$n_train" \
        -a "$(value_of "$plan" one_run_per_group)" = 1
    check "predicted sbatch $predicted = $n_data data + $n_group group jobs + $n_collect collect + $n_fig figure = 1 + ($runs + $seeds) + 1 + 1" \
        test "$predicted" -eq $((n_data + n_group + n_collect + n_fig)) -a "$predicted" -eq $((1 + runs + seeds + 1 + 1))
fi
# The shipped config.yaml (every experiment): no per-run rule left out of the group
# (a rule added later would otherwise get one sbatch per job). Plan only.
mkdir -p "$work/plan"
cp "$repo/config.yaml" "$work/plan/config.yaml"
if dry_run "$work/plan" "$work/plan-dry.log"; then
    say "  config.yaml: $(plan_of "$work/plan-dry.log" | cut -d' ' -f1-2,6-8)"
    "$py" "$here/jobs.py" grouping "$work/plan-dry.log" | sed 's/^\(OK\|FAIL\) /\1 config.yaml: /' | verdicts
fi

# GPUs (plan only; this cluster has none): the profile with its `gpu: 1` line under
# train uncommented. As shipped, each run's group job holds the GPU; with the groups
# overridden on the command line as the profile says, train goes alone with its GPU
# and runtime and the CPU steps form GPU-less group jobs: 1 + 5 + (5 + 5) + 1 + 1 = 18.
mkdir -p "$work/gpu-profile"
sed 's/^    # gpu: 1$/    gpu: 1/' "$profile/config.yaml" >"$work/gpu-profile/config.yaml"
if ! grep -q '^    gpu: 1$' "$work/gpu-profile/config.yaml"; then
    bad "the profile has no '    # gpu: 1' line under train to uncomment"
else
    profile=$work/gpu-profile dry_run "$work/slurm" "$work/gpu-grouped-dry.log" "${targets[@]}" &&
        "$py" "$here/jobs.py" gpu "$work/gpu-grouped-dry.log" grouped "$work/gpu-profile" | verdicts
    if profile=$work/gpu-profile dry_run "$work/slurm" "$work/gpu-split-dry.log" "${targets[@]}" \
        --groups spectrum=cpu tails=cpu evaluate=cpu surgery=cpu; then
        "$py" "$here/jobs.py" gpu "$work/gpu-split-dry.log" split "$work/gpu-profile" | verdicts
        split=$(value_of "$(plan_of "$work/gpu-split-dry.log")" predicted)
        check "split: sbatch $split = 1 data + $((runs + seeds)) train + $((runs + seeds)) spectrum+tails + $((runs + seeds)) evaluate + 1 collect + 1 figure" \
            test "$split" -eq $((1 + 3 * (runs + seeds) + 2))
    fi
fi

run_smk slurm "$work/slurm.log" --workflow-profile "$profile" --verbose \
    --slurm-init-seconds-before-status-checks 2 "${status_cmd[@]}" "${targets[@]}"
slurm_s=$elapsed
slurm_rc=$rc
n_sbatch=$(submitted_in "$work/slurm.log")
run_id=$(run_id_in "$work/slurm.log")
say "  slurm: exit $rc after ${slurm_s}s, $n_sbatch sbatch submissions, SLURM run ID $run_id (log $work/slurm.log)"
if ((rc != 0)); then
    bad "SLURM run failed"
    tail -n 60 "$work/slurm.log"
else
    check "sbatch count $n_sbatch = the dry run's prediction ($predicted)" test "$n_sbatch" -eq "$predicted"
    check "sbatch count $n_sbatch = 1 data + ($runs runs + $seeds initial) group jobs + 1 collect + 1 figure" \
        test "$n_sbatch" -eq $((1 + runs + seeds + 1 + 1))
    # each sbatch call: -t from the profile (a group job: the sum of its steps'),
    # --mem the largest mem_mb of its steps, 1 CPU
    "$py" "$here/jobs.py" calls "$work/slurm-dry.log" "$work/slurm.log" "$profile" | verdicts
    groups_sub=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\) (log: [^ ]*slurm_logs\/group_run_.*/\1/p' "$work/slurm.log")
    check "$(wc -w <<<"$groups_sub") group jobs submitted ($n_group planned), logs under slurm_logs/group_run_*" \
        test "$(wc -w <<<"$groups_sub")" -eq "${n_group:--1}"
    if ((have_sacct)) && [[ -n $run_id ]]; then
        jobs=$(timeout 10 sacct -n -X -P --name "$run_id" -o JobID,State) || jobs=
        check "sacct lists $n_sbatch COMPLETED jobs named $run_id" \
            test "$(grep -c '|COMPLETED' <<<"$jobs")" -eq "$n_sbatch"
        # `_cores: local` caps each job at 1 CPU without serialising the jobs
        spans=$(timeout 10 sacct -n -X -P -j "$(tr -s ' \n' ',' <<<"$groups_sub" | sed 's/^,//; s/,$//')" -o Start,End) || spans=
        check "group jobs ran side by side" "$py" -c '
import itertools, sys
spans = [l.split("|") for l in sys.argv[1].split()]
sys.exit(not any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2)))' "$spans"
    fi
fi

# --- compare -------------------------------------------------------------------------
if ((rc == 0)) && [[ -s $work/local/results/lr_sweep/table.parquet ]]; then
    if "$py" - "$work/local" "$work/slurm" <<'PY'; then
import sys
import pandas as pd
from pandas.testing import assert_frame_equal

local, slurm = sys.argv[1], sys.argv[2]
for name in ("table", "esd"):
    a = pd.read_parquet(f"{local}/results/lr_sweep/{name}.parquet")
    b = pd.read_parquet(f"{slurm}/results/lr_sweep/{name}.parquet")
    assert_frame_equal(a, b, check_exact=True)
    extra = ""
    if name == "table":
        assert a["diverged"].any() and not a["diverged"].all(), "wanted diverged and finite runs"
        extra = (f", {a['eval_id'].nunique()} runs, {int(a['diverged'].sum())} diverged rows,"
                 f" device {sorted(a['device'].unique())}")
    print(f"[study-check]   {name}.parquet: {a.shape[0]} rows x {a.shape[1]} columns equal{extra}")
PY
        ok "local and SLURM tables equal (check_exact=True)"
    else
        bad "local and SLURM tables differ"
    fi
    check "figure written by the SLURM run" test -s "$work/slurm/results/lr_sweep/figures/losses.png"
fi

# --- failure -------------------------------------------------------------------------
if [[ ${STUDY_FAIL:-1} != 0 ]]; then
    # CUDA_VISIBLE_DEVICES= hides any GPU (the jobs inherit the environment), so
    # `device: cuda` fails the same way on a machine that has one. A local run
    # refuses it at plan time (htcore.device.check_device); with a profile the jobs
    # may run on GPU nodes, so it is planned, and train fails inside its group job.
    CUDA_VISIBLE_DEVICES= run_smk fail "$work/fail.log" --workflow-profile "$profile" --retries 0 \
        --slurm-init-seconds-before-status-checks 2 "${status_cmd[@]}" results/lr_sweep/table.parquet
    fail_s=$elapsed
    n_fail=$(submitted_in "$work/fail.log")
    say "  fail: exit $rc after ${fail_s}s, $n_fail sbatch submissions (log $work/fail.log)"
    if ((rc != 124 && rc != 137)); then
        flogs=$work/fail/results/logs/lr_sweep
        tlog=$(find "$flogs/train" -name "*.log" 2>/dev/null | head -n 1)
        slog=$(grep -o '/[^ ,]*slurm_logs/group_run_[^ ]*\.log' "$work/fail.log" | head -n 1)
        check "exit status 1 (got $rc)" test "$rc" -eq 1
        check "2 sbatch (data, the run's group job; collect never submitted)" test "$n_fail" -eq 2
        check "the error names the group job" grep -q "Error in group run" "$work/fail.log"
        check "the error names train's log" grep -q "results/logs/lr_sweep/train/.*\.log" "$work/fail.log"
        check "train's log ($tlog) holds the RuntimeError" grep -q "device: cuda was requested" "${tlog:-/dev/null}"
        check "the group job's SLURM log ($slog) exists" test -s "${slog:-/dev/null}"
        # The submitting Snakemake reports every step of the failed group job as an
        # "Error in rule ..." (and leaves their log files empty); the group job itself
        # ran train only and stopped at its failure.
        check "the group job ran train only (its SLURM log starts no other step)" \
            test "$(grep -o '^localrule [a-z_]*' "${slog:-/dev/null}" | sort -u | tr '\n' ' ')" = "localrule train "
        check "spectrum, tails, evaluate never started (their logs empty or absent)" \
            test -z "$(find "$flogs/spectrum" "$flogs/tails" "$flogs/eval" -type f -size +0 2>/dev/null)"
        check "no train output left" test -z "$(find "$work/fail/results/lr_sweep" -path '*/train/*' -type f 2>/dev/null)"
        check "collect not run" test ! -e "$work/fail/results/lr_sweep/table.parquet"
    fi
fi

say "sbatch submissions: $n_sbatch for the study ($predicted predicted)${n_fail:+, $n_fail in the failure scenario}"
say "wall time: local -j 2 ${local_s}s, SLURM ${slurm_s}s${fail_s:+, failure scenario ${fail_s}s}"
if ((failures)); then
    say "FAILED: $failures check(s)"
    exit 1
fi
say "passed"
