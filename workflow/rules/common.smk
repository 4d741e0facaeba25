# Helpers shared by the rules: the validated study, wildcard constraints, and the
# input, params and target functions. What they compute lives in htcore.plan (tested);
# here they only read the wildcards.

import inspect
import os
import sys

import yaml

from snakemake.common import overwrite_function_params

import htcore.config as hc
from htcore.cli import command
from htcore.configfile import ConfigError
from htcore.device import check_device, jobs_may_run_elsewhere
from htcore.figures import figure_names, figure_tables
from htcore.plan import Plan, code_hash
from htcore.stages import STAGES
from htcore import claims as hc_claims
from htcore import snakemake_timers


def _load_study():
    """The validated study, or exit with one line naming the key. (The Snakefile has
    read each config file before Snakemake merged them: htcore.configfile.read_config_files.)
    `device: cuda` needs a GPU here when the jobs run here (not under a cluster
    executor or profile, nor inside a cluster job, which checks for itself)."""
    with open(workflow.source_path("../schemas/config.schema.yaml")) as f:
        schema = yaml.safe_load(f)
    try:
        study = hc.load_study(config, schema)
        default_profile = os.path.join(workflow.basedir, "profiles", "default")
        if not (workflow.remote_exec or jobs_may_run_elsewhere(sys.argv, os.environ, default_profile)):
            check_device(study.device)
        return study
    except ConfigError as e:
        sys.exit(f"Invalid configuration: {e}")


STUDY = _load_study()
# One pending re-evaluation timer in Snakemake's scheduler (an upstream bug; the
# module's docstring says what it fixes and what it saved).
snakemake_timers.install()
PLAN = Plan(STUDY)
if _note := hc_claims.missing_note(list(STUDY.experiments)):
    print(_note, file=sys.stderr)


wildcard_constraints:
    experiment="|".join(STUDY.experiments),
    run=hc.RUN_ID_REGEX,
    figure="[a-z_0-9]+",


# Snakemake calls a job's input, params and resources functions when it builds the
# job and again for every ready job each time it schedules, and asks Python for each
# function's signature every time; htcore.plan caches the answers, and each function
# carries its signature (Snakemake's own hook, snakemake.common.overwrite_function_params).
def _signed(func):
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


def spec_of(rule):
    return _signed(lambda wildcards: PLAN.spec(rule, wildcards.experiment, wildcards.run))


def code_of(rule):
    return _signed(lambda wildcards: PLAN.code(rule, wildcards.experiment, wildcards.run))


def mem_of(rule):
    return _signed(lambda wildcards, attempt: PLAN.mem_mb(rule, wildcards.experiment, wildcards.run) * attempt)


@_signed
def data_of(wildcards):
    """The data file a run trains on."""
    return rules.data.output.out.format(experiment=wildcards.experiment,
                                        run=PLAN.upstream("train", wildcards.experiment, wildcards.run))


@_signed
def eval_inputs(wildcards):
    """An evaluation's data file and its training's weights."""
    e, r = wildcards.experiment, wildcards.run
    run = PLAN.run("evaluate", e, r)
    return {"data": rules.data.output.out.format(experiment=e, run=run.data_id),
            "weights": rules.train.output.weights.format(experiment=e, run=run.train_id)}


@_signed
def train_priority(wildcards):
    return PLAN.priority(wildcards.experiment, wildcards.run)


@_signed
def data_priority(wildcards):
    return PLAN.data_priority(wildcards.experiment, wildcards.run)


# -------------------------------------------------------------------- targets
def _per_run(output, experiment, ids):
    return [output.format(experiment=experiment, run=i) for i in ids]


@_signed
def collect_inputs(wildcards):
    """Every run's files of the experiment (initial runs included)."""
    e = wildcards.experiment
    trains, evals = PLAN.trainings(e), PLAN.evaluations(e)
    return {"evals": _per_run(rules.evaluate.output.out, e, evals),
            "summaries": _per_run(rules.spectrum.output.summary, e, trains),
            "tails": _per_run(rules.tails.output.table, e, trains),
            "traces": _per_run(rules.train.output.trace, e, trains),
            "esds": _per_run(rules.spectrum.output.esd, e, trains)}


@_signed
def collect_updates_inputs(wildcards):
    e = wildcards.experiment
    trains, evals = PLAN.trainings(e), PLAN.evaluations(e)
    return {"update_svs": _per_run(rules.spectrum.output.update_sv, e, trains),
            "overlaps": _per_run(rules.spectrum.output.overlaps, e, trains),
            "feature_esds": _per_run(rules.evaluate.output.feature_esd, e, evals)}


@_signed
def surgery_inputs(wildcards):
    """Every surgery file of the experiment (its evaluations after step 0)."""
    e = wildcards.experiment
    return _per_run(rules.surgery.output.out, e, [r.eval_id for r in STUDY.experiments[e].unique("eval")])


@_signed
def collect_spec(wildcards):
    return PLAN.collect_spec(wildcards.experiment)


def experiment_table(experiment, name):
    """Path of an experiment-level table (Experiment.tables)."""
    if name in ("table", "esd"):
        out = {"table": rules.collect.output.table, "esd": rules.collect.output.esd_table}[name]
    elif name == "surgery":
        out = rules.collect_surgery.output.surgery_table
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
