# Helpers shared by the rules: the validated study, run lookups, targets.
# Everything that does not need `config` lives in htcore (htcore.config).

import os
import sys

import yaml

import htcore.config as hc
from htcore.provenance import code_hash
from htcore.figures import figure_names


def _load_study():
    with open(workflow.source_path("../schemas/config.schema.yaml")) as f:
        schema = yaml.safe_load(f)
    try:
        return hc.load_study(config, schema)
    except hc.ConfigError as e:
        sys.exit(f"Invalid configuration: {e}")


STUDY = _load_study()


wildcard_constraints:
    experiment="|".join(STUDY.experiments),
    run=hc.RUN_ID_REGEX,
    figure="[a-z_0-9]+",


# ---------------------------------------------------------------- run lookups
def _run(stage, wildcards):
    return STUDY.run(wildcards.experiment, stage, wildcards.run)


def data_spec(wildcards):
    return hc.to_json(_run("data", wildcards).spec("data"))


def train_spec(wildcards):
    return hc.to_json(_run("train", wildcards).spec("train"))


def eval_spec(wildcards):
    return hc.to_json(_run("eval", wildcards).spec("eval"))


def tails_spec(wildcards):
    return hc.to_json({**_run("train", wildcards).spec("train"), "tails": dict(STUDY.tails)})


def data_of_train(wildcards):
    r = _run("train", wildcards)
    return rules.generate_data.output[0].format(experiment=r.experiment, run=r.data_id)


def data_of_eval(wildcards):
    r = _run("eval", wildcards)
    return rules.generate_data.output[0].format(experiment=r.experiment, run=r.data_id)


def weights_of_eval(wildcards):
    r = _run("eval", wildcards)
    return rules.train.output.weights.format(experiment=r.experiment, run=r.train_id)


# -------------------------------------------------------------------- targets
def per_run(experiment, stage, pattern):
    """`pattern` (with {e} and {r}) for every distinct `stage` id of an experiment."""
    exp = STUDY.experiments[experiment]
    return [pattern.format(e=experiment, r=getattr(r, f"{stage}_id")) for r in exp.unique(stage)]


def collect_inputs(wildcards):
    e = wildcards.experiment
    return {
        "eval": per_run(e, "eval", "results/{e}/eval/{r}.parquet"),
        "summary": per_run(e, "train", "results/{e}/spectra/{r}/summary.parquet"),
        "esd": per_run(e, "train", "results/{e}/spectra/{r}/esd.parquet"),
        "tails": per_run(e, "train", "results/{e}/tails/{r}.parquet"),
        "trace": per_run(e, "train", "results/{e}/train/{r}/trace.parquet"),
    }


def plot_spec(wildcards):
    return hc.to_json(STUDY.experiments[wildcards.experiment].plot)


def figure_caption(wildcards):
    with open(workflow.source_path(f"../report/captions/{wildcards.figure}.rst")) as f:
        return f.read()


def experiment_targets(experiment):
    exp = STUDY.experiments[experiment]
    figs = [
        path.format(experiment=experiment, figure=name)
        for name in figure_names(exp.plot)
        for path in (rules.figure.output.png, rules.figure.output.pdf)
    ]
    return [rules.collect.output.table.format(experiment=experiment),
            rules.collect.output.esd.format(experiment=experiment)] + figs


def all_targets():
    return [t for e in STUDY.selected for t in experiment_targets(e)]


# ------------------------------------------------------------------ execution
# Jobs run `python -m htcore`: put the interpreter running snakemake (which has
# htcore installed) first on PATH, so no venv needs activating.
shell.prefix(f'set -euo pipefail; export PATH="{os.path.dirname(sys.executable)}:$PATH"; ')
ENV = "../envs/htstudy.yaml"


def stage_mem_mb(stage):
    """Memory request (MB) of a per-run job, from the run's array sizes."""
    kind = {"data": "data", "train": "train", "evaluate": "eval", "spectra": "train", "tails": "train"}[stage]

    def mem_mb(wildcards, attempt):
        return hc.mem_mb(stage, _run(kind, wildcards).params) * attempt

    return mem_mb
