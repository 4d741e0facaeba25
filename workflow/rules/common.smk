# Helpers shared by the rules: the validated study, run lookups, targets.
# Everything that does not need `config` lives in htcore (htcore.config).

import os
import sys

import yaml

import htcore.config as hc
from htcore import jobserver
from htcore.provenance import code_hash
from htcore.figures import figure_names, figure_tables
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

# experiment-level tables beyond table.parquet and esd.parquet:
# name -> (stage whose ids they span, per-run output of which rule)
EXTRA_TABLES = {
    "update_sv": ("train", "updates", "sv"),
    "overlaps": ("train", "updates", "overlaps"),
    "feature_esd": ("eval", "feature_spectra", "esd"),
}


wildcard_constraints:
    experiment="|".join(STUDY.experiments),
    run=hc.RUN_ID_REGEX,
    figure="[a-z_0-9]+",
    extra="|".join(EXTRA_TABLES),


# ---------------------------------------------------------------- run lookups
def _run(stage, wildcards):
    return STUDY.run(wildcards.experiment, stage, wildcards.run)


def data_spec(wildcards):
    return hc.to_json(_run("data", wildcards).spec("data"))


def train_spec(wildcards):
    return hc.to_json(_run("train", wildcards).spec("train"))


def eval_spec(wildcards):
    return hc.to_json(_run("eval", wildcards).spec("eval"))


def updates_spec(wildcards):
    return hc.to_json({**_run("train", wildcards).spec("train"), "updates": dict(STUDY.updates)})


def tails_spec(wildcards):
    return hc.to_json({**_run("train", wildcards).spec("train"), "tails": dict(STUDY.tails)})


def _data_of(stage):
    def data(wildcards):
        r = _run(stage, wildcards)
        return rules.generate_data.output[0].format(experiment=r.experiment, run=r.data_id)

    return data


data_of_train = _data_of("train")
data_of_eval = _data_of("eval")


def weights_of_eval(wildcards):
    r = _run("eval", wildcards)
    return rules.train.output.weights.format(experiment=r.experiment, run=r.train_id)


# -------------------------------------------------------------------- targets
def per_run(experiment, stage, pattern):
    """Output `pattern` of a rule for every distinct `stage` id of an experiment."""
    exp = STUDY.experiments[experiment]
    return [pattern.format(experiment=experiment, run=getattr(r, f"{stage}_id")) for r in exp.unique(stage)]


def collect_inputs(wildcards):
    e = wildcards.experiment
    return {
        "eval": per_run(e, "eval", rules.evaluate.output[0]),
        "summary": per_run(e, "train", rules.spectra.output.summary),
        "esd": per_run(e, "train", rules.spectra.output.esd),
        "tails": per_run(e, "train", rules.tails.output[0]),
        "trace": per_run(e, "train", rules.train.output.trace),
    }


def extra_inputs(wildcards):
    stage, rule_name, out = EXTRA_TABLES[wildcards.extra]
    return per_run(wildcards.experiment, stage, getattr(getattr(rules, rule_name).output, out))


def experiment_table(experiment, name):
    """Path of an experiment-level table (table, esd, or one of EXTRA_TABLES)."""
    if name in ("table", "esd"):
        return getattr(rules.collect.output, name).format(experiment=experiment)
    return rules.collect_extra.output[0].format(experiment=experiment, extra=name)


def figure_inputs(wildcards):
    """The experiment tables a figure draws from (and the compared experiment's)."""
    plot = STUDY.experiments[wildcards.experiment].plot
    names = figure_tables(plot["kind"], wildcards.figure)
    inputs = {name: experiment_table(wildcards.experiment, name) for name in names}
    if plot.get("compare_with"):
        inputs["compare"] = experiment_table(plot["compare_with"], "table")
    return inputs


def figure_table_args(wildcards):
    return " ".join(f"{name}={path}" for name, path in figure_inputs(wildcards).items())


def plot_spec(wildcards):
    return hc.to_json(STUDY.experiments[wildcards.experiment].plot)


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
    return [rules.collect.output.table.format(experiment=experiment),
            rules.collect.output.esd.format(experiment=experiment)] + figs


def claims_inputs(wildcards):
    """The experiment tables the claims of the selected experiments read."""
    tables = hc_claims.tables_needed(STUDY.selected)
    return {name: experiment_table(*name.split("/")) for name in tables}


def claims_table_args(wildcards):
    return " ".join(f"{name}={path}" for name, path in claims_inputs(wildcards).items())


def all_targets():
    return [t for e in STUDY.selected for t in experiment_targets(e)] + list(rules.claims.output)


# ------------------------------------------------------------------ execution
# Jobs run `htjob <stage> ...`: the stdlib-only client htcore/jobclient.py, which
# hands the job to the fork server started below (local runs) or, without one, runs
# `python -m htcore <stage> ...`. The interpreter running snakemake (which has
# htcore installed) goes first on PATH, so no venv needs activating.
JOBCLIENT = os.path.join(os.path.dirname(hc.__file__), "jobclient.py")
shell.prefix(
    f'set -euo pipefail; export PATH="{os.path.dirname(sys.executable)}:$PATH"; '
    f'htjob() ( exec python -S -I "{JOBCLIENT}" "$@" ); '
)


# Local runs start htcore.jobserver so per-run jobs skip Python's start-up
# (HTCORE_NO_JOBSERVER=1 turns it off); cluster executors never use it.
onstart:
    jobserver.start_for_jobs(local=workflow.local_exec and not workflow.remote_exec)


onsuccess:
    jobserver.stop_for_jobs()


onerror:
    jobserver.stop_for_jobs()


ENV = "../envs/htstudy.yaml"


def stage_mem_mb(stage):
    """Memory request (MB) of a per-run job, from the run's array sizes."""
    kind = {"data": "data", "train": "train", "evaluate": "eval", "spectra": "train", "tails": "train",
            "updates": "train"}[stage]

    def mem_mb(wildcards, attempt):
        return hc.mem_mb(stage, _run(kind, wildcards).params) * attempt

    return mem_mb
