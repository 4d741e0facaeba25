#!/usr/bin/env bash
# The REAL study, tiny, run twice -- locally (`snakemake -j 2`) and through SLURM
# with the workflow profile (workflow/profiles/slurm, executor slurm) -- and the
# two runs' Parquet tables compared exactly. Needs a running cluster:
#   bash .ci/slurm/install.sh && bash .ci/slurm/with-cluster.sh bash .ci/slurm/study_check.sh
#
# Study: tests/configs/tiny.yaml shrunk to lr_sweep with optimizer [gd, adam] x
# lr [0.1, 1e20] x seed [0] (lr 1e20 diverges: its NaN rows must match too).
# Targets: results/lr_sweep/{table,esd}.parquet and the figure `losses`:
# 1 data + 5 run jobs (the 4 runs and the seed's initial run, which computes the
# shared step 0) + collect + figure = 8 jobs, 8 sbatch (one SLURM job per run).
#
# Checks:
#   local    the local run succeeds
#   slurm    the SLURM run succeeds; its sbatch count (the executor's "submitted"
#            lines) equals what a dry run with the profile predicts (its jobs but
#            `all`) and 1 + runs + 1 + figures, and sacct lists them all under the
#            run's name; each run job asked for 1 CPU and the profile's runtime
#            (-t 165), and run jobs overlapped
#   compare  table.parquet and esd.parquet of both runs equal
#            (pandas.testing.assert_frame_equal, check_exact=True)
#   fail     (skip with STUDY_FAIL=0) `device: cuda` with no GPU visible: the run's
#            train step fails inside its run job -> exit 1, 2 sbatch, the error
#            names the rule, its log (holding the RuntimeError) and the SLURM log;
#            no train output left, collect never submitted
# Prints the sbatch counts and both wall times.
#
# Env: PYTHON, SNAKEMAKE (default the repo's .venv/bin/python, .venv/bin/snakemake),
#      STUDY_WORKDIR (default /tmp/htstudy-slurm-study; wiped on start),
#      STUDY_TIMEOUT seconds per snakemake call (default 300; the SLURM run took 136 s here),
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
"$py" - "$repo/tests/configs/tiny.yaml" "$work" <<'PY'
import copy, sys
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
PY

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
# What the profile should submit, from a dry run with it: one sbatch per job (`all`
# runs locally).
(cd "$repo" && timeout "$limit" "$smk" -s "$repo/Snakefile" -d "$work/slurm" -n \
    --workflow-profile "$profile" "${targets[@]}") >"$work/slurm-dry.log" 2>&1 ||
    { bad "dry run with the profile failed"; tail -n 40 "$work/slurm-dry.log"; }
predicted=$("$py" - "$work/slurm-dry.log" <<'PY'
import re, sys
log = open(sys.argv[1]).read()
stats = dict(re.findall(r"^(\w+)\s+(\d+)$", log.split("Job stats:")[1], flags=re.M))
print(sum(int(n) for rule, n in stats.items() if rule not in {"all", "total"}))
PY
) || predicted=-1
n_run=$(sed -n 's/^run  *\([0-9]*\)$/\1/p' "$work/slurm-dry.log" | head -n 1)
n_fig=$(sed -n 's/^figure  *\([0-9]*\)$/\1/p' "$work/slurm-dry.log" | head -n 1)

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
    check "sbatch count $n_sbatch = 1 data + $n_run runs (initial runs included) + 1 collect + $n_fig figure" \
        test "$n_sbatch" -eq $((1 + n_run + 1 + n_fig))
    if ((have_sacct)) && [[ -n $run_id ]]; then
        jobs=$(timeout 10 sacct -n -X -P --name "$run_id" -o JobID,State) || jobs=
        check "sacct lists $n_sbatch COMPLETED jobs named $run_id" \
            test "$(grep -c '|COMPLETED' <<<"$jobs")" -eq "$n_sbatch"
        runs=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\) (log: [^ ]*rule_run.*/\1/p' "$work/slurm.log")
        check "$(wc -w <<<"$runs") run jobs submitted ($n_run planned)" test "$(wc -w <<<"$runs")" -eq "$n_run"
        # `_cores: local` caps each job at 1 CPU without serialising the jobs
        spans=$(timeout 10 sacct -n -X -P -j "$(tr -s ' \n' ',' <<<"$runs" | sed 's/,$//')" -o Start,End) || spans=
        check "run jobs ran side by side" "$py" -c '
import itertools, sys
spans = [l.split("|") for l in sys.argv[1].split()]
sys.exit(not any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2)))' "$spans"
    fi
    # a run job asks for 1 CPU and the profile's runtime (run: 165 min)
    calls=$(grep "^sbatch call: .*--comment .rule_run_wildcards_" "$work/slurm.log" || true)
    check "every run job asked for -t 165 --cpus-per-task=1" test -n "$calls" -a \
        "$(grep -c -- ' -t 165 .*--cpus-per-task=1 ' <<<"$calls")" -eq "$(grep -c . <<<"$calls")"
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
    # `device: cuda` fails the same way on a machine that has one.
    CUDA_VISIBLE_DEVICES= run_smk fail "$work/fail.log" --workflow-profile "$profile" --retries 0 \
        --slurm-init-seconds-before-status-checks 2 "${status_cmd[@]}" results/lr_sweep/table.parquet
    fail_s=$elapsed
    n_fail=$(submitted_in "$work/fail.log")
    say "  fail: exit $rc after ${fail_s}s, $n_fail sbatch submissions (log $work/fail.log)"
    if ((rc != 124 && rc != 137)); then
        tlog=$(find "$work/fail/results/logs/lr_sweep/run" -name "*.log" 2>/dev/null | head -n 1)
        slog=$(sed -n 's|.*[ ,]\(/[^ ]*slurm_logs/rule_run[^ ]*\.log\) (check log.*|\1|p' "$work/fail.log" | head -n 1)
        check "exit status 1 (got $rc)" test "$rc" -eq 1
        check "2 sbatch (data, the run job; collect never submitted)" test "$n_fail" -eq 2
        check "the error names the rule" grep -q "Error in rule run" "$work/fail.log"
        check "the error names the run's log" grep -q "log: results/logs/lr_sweep/run/.*(check log file" "$work/fail.log"
        check "the run's log ($tlog) holds the RuntimeError" grep -q "device: cuda was requested" "${tlog:-/dev/null}"
        check "the SLURM log ($slog) exists" test -s "${slog:-/dev/null}"
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
