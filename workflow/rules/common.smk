# Helpers shared by the rules: the validated study, job specs, targets.
# Everything that does not need `config` lives in htcore (htcore.config, htcore.stages).

import inspect
import os
import sys
from functools import lru_cache

import yaml

from snakemake.common import overwrite_function_params

import htcore.config as hc
from htcore import jobserver
from htcore.cli import command
from htcore.figures import figure_names, figure_tables
from htcore.provenance import code_hash
from htcore.stages import STAGES
from htcore import claims as hc_claims


def _load_study():
    """The validated study, or exit with one line naming the key. The config files
    Snakemake merged (`configfile:` and every `--configfile`: workflow.configfiles)
    are read again for what Snakemake's loader lets through (keys written twice)."""
    with open(workflow.source_path("../schemas/config.schema.yaml")) as f:
        schema = yaml.safe_load(f)
    try:
        for path in dict.fromkeys(map(str, workflow.configfiles)):
            hc.load_config_file(path)
        return hc.load_study(config, schema)
    except hc.ConfigError as e:
        sys.exit(f"Invalid configuration: {e}")


STUDY = _load_study()


wildcard_constraints:
    experiment="|".join(STUDY.experiments),
    run=hc.RUN_ID_REGEX,
    figure="[a-z_0-9]+",


# ------------------------------------------------------------------ job specs
# Snakemake calls the input, params and resources functions of a job when it builds
# the job, and again for every ready job each time it schedules (at least once a
# second while jobs run), and asks Python for each function's signature every time
# (inspect.signature, a fifth of a 10,000-run dry run's CPU). So each answer is
# computed once and cached (a dictionary lookup), and each function carries its
# signature (`_signed`: Snakemake's own hook, snakemake.common.overwrite_function_params).
def _signed(func):
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


# Which stage id a rule's {run} wildcard is: data or train.
RUN_KIND = {"data": "data", "run": "train"}
#: the code fingerprint of each step a run job runs (htcore.memo keys)
STEP_CODE = {s: code_hash(s) for s in ("data", "train", "spectrum", "evaluate")}


def _run_spec(experiment, r):
    """The spec of a run job (htcore.stages.run): each step's spec and code."""
    exp = STUDY.experiments[experiment]
    train = {**r.spec("train"), "device": STUDY.device}
    spectrum = {**r.spec("train"), "params": {}, "skip_steps": r.skip_steps, "tails": dict(STUDY.tails),
                "updates_top_k": STUDY.updates["top_k"] if "update_sv" in exp.tables and not r.is_init else None}
    evaluate = [{**e.spec("eval"), "skip_steps": e.skip_steps, "features": "feature_esd" in exp.tables}
                for e in exp.evals_by_train[r.train_id]]
    return {"root": "results", "experiment": experiment, "code": STEP_CODE,
            "train": train, "spectrum": spectrum, "evaluate": evaluate}


@lru_cache(maxsize=None)
def _spec(stage, experiment, run_id):
    """The spec (JSON) of one per-run job of ``stage`` (its rule's name)."""
    r = STUDY.run(experiment, RUN_KIND[stage], run_id)
    return hc.to_json(_run_spec(experiment, r) if stage == "run" else r.spec("data"))


@lru_cache(maxsize=None)
def _mem(stage, experiment, run_id):
    """Its memory request (MB): the largest of its steps' (htcore.stages memory models)."""
    r = STUDY.run(experiment, RUN_KIND[stage], run_id)
    if stage == "run":
        return max(STAGES["run"].mem_mb(e.params) for e in STUDY.experiments[experiment].evals_by_train[r.train_id])
    return STAGES[stage].mem_mb(r.params)


def spec_of(rule):
    def spec(wildcards):
        return _spec(rule, wildcards.experiment, wildcards.run)

    return _signed(spec)


def mem_of(rule):
    def mem_mb(wildcards, attempt):
        return _mem(rule, wildcards.experiment, wildcards.run) * attempt

    return _signed(mem_mb)


@lru_cache(maxsize=None)
def _data_file(experiment, run_id):
    r = STUDY.run(experiment, "train", run_id)
    return rules.data.output.out.format(experiment=experiment, run=r.data_id)


@_signed
def data_of(wildcards):
    """The data file a run trains on."""
    return _data_file(wildcards.experiment, wildcards.run)


@lru_cache(maxsize=None)
def _priority(experiment, run_id):
    return 10 if STUDY.run(experiment, "train", run_id).params.steps >= 1000 else 0


@_signed
def train_priority(wildcards):
    """Long trainings first: they are the critical path (long_horizon's 10,000 steps)."""
    return _priority(wildcards.experiment, wildcards.run)


# -------------------------------------------------------------------- targets
@_signed
def manifests(wildcards):
    """What collect / collect_updates wait for: the manifest of every run of the
    experiment, initial runs included. They read the runs' files by
    htcore.stages.LAYOUT."""
    e = wildcards.experiment
    return [rules.run.output.manifest.format(experiment=e, run=r.train_id)
            for r in STUDY.experiments[e].unique("train", with_inits=True)]


@_signed
def collect_spec(wildcards):
    """Its spec: the experiment's configuration (htcore.config.expand_experiment),
    not its runs: thousands would not fit on a command line."""
    return hc.to_json({"root": "results", "source": STUDY.experiments[wildcards.experiment].source})


def experiment_table(experiment, name):
    """Path of an experiment-level table (Experiment.tables)."""
    if name in ("table", "esd"):
        out = {"table": rules.collect.output.table, "esd": rules.collect.output.esd_table}[name]
    else:
        out = {"update_sv": rules.collect_updates.output.sv_table,
               "overlaps": rules.collect_updates.output.overlaps_table,
               "feature_esd": rules.collect_updates.output.feature_table}[name]
    return out.format(experiment=experiment)


def figure_inputs(wildcards):
    """The experiment tables a figure draws from (and the compared experiment's)."""
    plot = STUDY.experiments[wildcards.experiment].plot
    names = figure_tables(plot["kind"], wildcards.figure)
    inputs = {name: experiment_table(wildcards.experiment, name) for name in names}
    if plot.get("compare_with"):
        inputs["compare"] = experiment_table(plot["compare_with"], "table")
    return inputs


def figure_table_args(wildcards):
    return [f"{name}={path}" for name, path in figure_inputs(wildcards).items()]


def figure_spec(wildcards):
    return hc.to_json({"name": wildcards.figure, "plot": STUDY.experiments[wildcards.experiment].plot})


def figure_caption(wildcards):
    with open(workflow.source_path(f"../report/captions/{wildcards.figure}.rst")) as f:
        return f.read()


def experiment_description(wildcards):
    return " ".join(STUDY.experiments[wildcards.experiment].description.split())


def experiment_targets(experiment):
    exp = STUDY.experiments[experiment]
    figs = [
        path.format(experiment=experiment, figure=name)
        for name in figure_names(exp.plot)
        for path in (rules.figure.output.png, rules.figure.output.pdf)
    ]
    return [experiment_table(experiment, t) for t in exp.tables] + figs


def claims_inputs(wildcards):
    """The experiment tables the claims of the selected experiments read."""
    tables = hc_claims.tables_needed(STUDY.selected)
    return [f"{name}={experiment_table(*name.split('/'))}" for name in tables]


def claims_files(wildcards):
    return [t.split("=", 1)[1] for t in claims_inputs(wildcards)]


def all_targets():
    return [t for e in STUDY.selected for t in experiment_targets(e)] + list(rules.claims.output)


# ------------------------------------------------------------------ execution
# A rule's shell line is `htjob <stage> --spec ... --<path> ...`, built from the
# stage's declaration (htcore.cli.command). `htjob` is htcore/jobclient.py (standard
# library only, ~10 ms): for local runs it hands a per-run job to the fork server
# started below, which forks a worker that runs htcore.cli.main, so per-run jobs skip
# Python's start-up; without a server (SLURM, HTCORE_NO_JOBSERVER=1) it runs
# `python -m htcore <stage> ...`. Either way: rule -> htcore.cli.main ->
# htcore.stages.STAGES[stage].run. The interpreter running snakemake (which has
# htcore installed) goes first on PATH, so no venv needs activating.
JOBCLIENT = os.path.join(os.path.dirname(hc.__file__), "jobclient.py")
shell.prefix(
    f'set -euo pipefail; export PATH="{os.path.dirname(sys.executable)}:$PATH"; '
    f'htjob() ( exec python -S -I "{JOBCLIENT}" "$@" ); '
)


# Local runs start htcore.jobserver (README, "Speed": it saves ~N % of the lr_sweep's
# wall time); cluster executors never use it.
onstart:
    jobserver.start_for_jobs(local=workflow.local_exec and not workflow.remote_exec)


onsuccess:
    jobserver.stop_for_jobs()


onerror:
    jobserver.stop_for_jobs()

ENV = "../envs/htstudy.yaml"


# ------------------------------------------------------------ scheduler cost
# Snakemake 9.27 wakes its scheduler on a timer (--max-jobs-per-timespan, default
# 100/1s) but starts a NEW timer thread on every pass of its scheduling loop,
# including the passes that earlier timers trigger: the live timers grow by one per
# finished job, and with them the passes per second. Profiled on a 40-run tiny grid
# (170 jobs): 5,445 passes, each re-selecting among all ready jobs, ~60 % of the
# Snakemake process's CPU. One pending timer wakes the scheduler just as well.
# Measured by benchmarks/bench_scale.py, which runs with and without it
# (HTSTUDY_SNAKEMAKE_TIMERS=1 leaves Snakemake's timers as they are; README, "Speed").
# Remove this when Snakemake keeps a single timer itself.
def _one_pending_reevaluation_timer():
    import threading

    from snakemake.scheduling import job_scheduler

    cls = job_scheduler.JobScheduler
    if (os.environ.get("HTSTUDY_SNAKEMAKE_TIMERS") == "1" or getattr(cls, "_one_timer", False)
            or not hasattr(cls, "_schedule_reevalutation")):
        return

    def schedule_reevaluation(self, delay):
        if getattr(self, "_timer_pending", False):
            return
        self._timer_pending = True

        def fire():
            self._timer_pending = False  # before the wake-up, so that pass re-arms it
            self._open_jobs.release()

        threading.Timer(delay, fire).start()

    cls._schedule_reevalutation = schedule_reevaluation
    cls._one_timer = True


_one_pending_reevaluation_timer()


# Snakemake's default scheduler ("ilp") builds and solves an integer program (pulp +
# cbc) on every scheduling pass, over all ready jobs, to choose which to start. What
# it optimises beyond the greedy scheduler is the early deletion of temp() files; this
# workflow has none, and the greedy scheduler starts jobs by priority and resources
# just the same. Measured by benchmarks/bench_scale.py on a 320-run tiny grid:
# Snakemake's own CPU (solver included) 48 ms per run with ilp, 25 ms with greedy
# (README, "Speed"). So the greedy scheduler is used unless the command line names a
# scheduler (`--scheduler ilp` keeps Snakemake's).
def _greedy_scheduler_unless_asked():
    from snakemake.scheduling import job_scheduler

    cls = job_scheduler.JobScheduler
    if any(a == "--scheduler" or a.startswith("--scheduler=") for a in sys.argv) or getattr(cls, "_greedy", False):
        return
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._job_selector = self.job_selector_greedy

    cls.__init__ = __init__
    cls._greedy = True


_greedy_scheduler_unless_asked()
