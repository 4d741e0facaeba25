# Helpers shared by the rules: the validated study, run lookups, targets.
# Everything that does not need `config` lives in htcore (htcore.config).

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
RESULTS = "results"


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
    return f"{RESULTS}/{r.experiment}/data/{r.data_id}.npz"


def data_of_eval(wildcards):
    r = _run("eval", wildcards)
    return f"{RESULTS}/{r.experiment}/data/{r.data_id}.npz"


def weights_of_eval(wildcards):
    r = _run("eval", wildcards)
    return f"{RESULTS}/{r.experiment}/train/{r.train_id}/weights.npz"


# -------------------------------------------------------------------- targets
def per_run(experiment, stage, pattern):
    """`pattern` (with {e} and {r}) for every distinct `stage` id of an experiment."""
    exp = STUDY.experiments[experiment]
    return [pattern.format(e=experiment, r=getattr(r, f"{stage}_id")) for r in exp.unique(stage)]


def collect_inputs(wildcards):
    e = wildcards.experiment
    return {
        "eval": per_run(e, "eval", RESULTS + "/{e}/eval/{r}.parquet"),
        "summary": per_run(e, "train", RESULTS + "/{e}/spectra/{r}/summary.parquet"),
        "esd": per_run(e, "train", RESULTS + "/{e}/spectra/{r}/esd.parquet"),
        "tails": per_run(e, "train", RESULTS + "/{e}/tails/{r}.parquet"),
        "trace": per_run(e, "train", RESULTS + "/{e}/train/{r}/trace.parquet"),
    }


def plot_spec(wildcards):
    return hc.to_json(STUDY.experiments[wildcards.experiment].plot)


def figure_caption(wildcards):
    with open(workflow.source_path(f"../report/captions/{wildcards.figure}.rst")) as f:
        return f.read()


def experiment_targets(experiment):
    exp = STUDY.experiments[experiment]
    figs = [
        f"{RESULTS}/{experiment}/figures/{name}.{ext}"
        for name in figure_names(exp.plot)
        for ext in ("png", "pdf")
    ]
    return [f"{RESULTS}/{experiment}/table.parquet", f"{RESULTS}/{experiment}/esd.parquet"] + figs


def all_targets():
    return [t for e in STUDY.selected for t in experiment_targets(e)]


# ------------------------------------------------------------------ execution
PY = sys.executable  # the interpreter running snakemake, which has htcore installed
ENV = "../envs/htstudy.yaml"


def stage_mem_mb(stage):
    """Memory request (MB) of a per-run job, from the run's array sizes."""
    kind = {"data": "data", "train": "train", "evaluate": "eval", "spectra": "train", "tails": "train"}[stage]

    def mem_mb(wildcards, attempt):
        return hc.mem_mb(stage, _run(kind, wildcards).params) * attempt

    return mem_mb
