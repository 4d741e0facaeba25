"""Configs that used to be accepted silently, or refused with a misleading message
(issue 21), and how every config file reaches the workflow.

* a ``grid``/``cases``/``set`` value of a parameter that none of the experiment's runs
  use (``teacher_k`` with a single-index teacher) is refused, naming the setting that
  makes it unused;
* experiment names follow one documented rule (htcore.config.EXPERIMENT_NAME, at most
  64 characters, no tail that Snakemake takes for a runaway wildcard);
* ``grid: {}``, an experiment that varies nothing, a look-alike non-ASCII value and
  ``device: cuda`` without a GPU get messages that name what the user wrote;
* config files: what the Snakefile can check itself, and what Snakemake decides before
  the Snakefile runs (``--configfile`` is parsed by Snakemake's command line).

``SILENT`` and ``SILENT_ACCEPTED`` are also cases of benchmarks/malformed_configs.py."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

import htcore.config as hc
import htcore.device as hd
from htcore.config import load_study
from htcore.configfile import ConfigError, load_config_file
from helpers import smk
from test_config_errors import TINY_TEXT, _exp, _grid, _set, config_text

ROOT = Path(__file__).resolve().parents[1]
CYRILLIC_A = "\u0430"  # looks like the Latin "a"


def _edits(*edits):
    """One edit applying several."""
    def edit(c):
        for e in edits:
            e(c)

    return edit


def _rename(new: str):
    """Edit renaming tiny's lr_sweep (and its ``run:`` entry) to ``new``."""
    def edit(c):
        c["experiments"] = {new: c["experiments"].pop("lr_sweep")}
        c["run"] = [new]

    return edit


def _drop_exp(*keys):
    def edit(c):
        for k in keys:
            c["experiments"]["lr_sweep"].pop(k, None)

    return edit


#: name -> (edit of tiny.yaml, key path the message starts with (then ": "), text it must hold)
SILENT = {
    # 1. a parameter that none of the experiment's runs use
    "grid teacher_k with a single-index teacher": (
        _grid("teacher_k", [1, 4]), "experiments.lr_sweep.grid.teacher_k",
        "teacher_k is used only when teacher_kind is multi_index; this experiment's runs have "
        "teacher_kind single_index"),
    "grid momentum with Adam only": (
        _edits(_grid("optimizer", ["adam"]), _grid("momentum", [0.0, 0.9])),
        "experiments.lr_sweep.grid.momentum", "momentum is used only when optimizer is gd or momentum"),
    "set adam_beta1 with GD only": (
        _edits(_grid("optimizer", ["gd"]), _exp("set", {"adam_beta1": 0.5})),
        "experiments.lr_sweep.set.adam_beta1", "optimizer gd"),
    "case gamma without a step schedule": (
        _exp("cases", [{"reg_lambda": 0.1}, {"gamma": 0.5}]),
        "experiments.lr_sweep.cases[1].gamma", "gamma is used only when lr_schedule is step"),
    "grid step_size with a constant lr": (
        _grid("step_size", [1, 2]), "experiments.lr_sweep.grid.step_size", "lr_schedule none"),
    # 3. experiment names
    "experiment name of 300 characters": (
        _rename("a" + "bc" * 149 + "d"), "experiments." + ("a" + "bc" * 149)[:64] + "...",
        "is 300 characters long, at most 64"),
    "experiment name ending in a long run of one character": (
        _rename("lr_sweep" + "b" * 25), "experiments.lr_sweep" + "b" * 25, "PeriodicWildcardError"),
    "experiment name ending in a repeated pair": (
        _rename("x" + "ab" * 20), "experiments.x" + "ab" * 20, "PeriodicWildcardError"),
    "experiment name with a capital": (_rename("Lr_sweep"), "experiments.Lr_sweep", "^[a-z][a-z0-9_]{0,63}$"),
    # 4. weak messages
    "empty grid": (_exp("grid", {}), "experiments.lr_sweep.grid", "empty"),
    "empty grid under a style": (
        _edits(_exp("grid", {}), _set("experiments", "lr_sweep", "plot", "style", "reg_lambda")),
        "experiments.lr_sweep.grid", "empty"),
    "default sweep x not varied": (
        _edits(_exp("grid", {"n": [60, 80]}), _set("experiments", "lr_sweep", "plot", {"kind": "sweep"})),
        "experiments.lr_sweep.plot.x", "not given"),
    "sweep of an experiment that varies nothing": (
        _edits(_drop_exp("grid"), _set("experiments", "lr_sweep", "plot", {"kind": "sweep"})),
        "experiments.lr_sweep.plot.kind", "varies nothing"),
    "cyrillic a in a grid value": (
        _grid("optimizer", ["gd", CYRILLIC_A + "dam"]), "experiments.lr_sweep.grid.optimizer[1]",
        "contains non-ASCII character U+0430 (CYRILLIC SMALL LETTER A); did you mean 'adam'?"),
    "cyrillic e in a default": (
        _set("defaults", "readout_scaling", "sp\u0435c"), "defaults.readout_scaling",
        "U+0435 (CYRILLIC SMALL LETTER IE); did you mean 'spec'?"),
    "cyrillic c in reg_lambda cv": (
        _set("defaults", "reg_lambda", "\u0441v"), "defaults.reg_lambda", "did you mean 'cv'?"),
    "cyrillic key": (_grid("l\u0433", [1.0]), "experiments.lr_sweep.grid.l\u0433", "did you mean 'lr'?"),
    "cyrillic experiment in run": (
        _set("run", ["lr_sw\u0435ep"]), "run", "did you mean 'lr_sweep'?"),
}

#: name -> edit of tiny.yaml that must be accepted (and what to check of the study)
SILENT_ACCEPTED = {
    "grid momentum over gd and adam": _grid("momentum", [0.0, 0.9]),
    "only seeds (one run per seed)": _drop_exp("grid", "plot"),
    "case momentum with a gd case": _edits(_drop_exp("grid", "plot"), _exp("cases", [
        {"optimizer": "gd", "momentum": 0.9}, {"optimizer": "adam"}])),
    "grid adam_beta1 over gd and adam": _grid("adam_beta1", [0.5, 0.9]),
}


def study_of(tmp_path, edit, schema):
    path = tmp_path / "config.yaml"
    path.write_text(config_text(edit))
    return load_study(load_config_file(path), schema)


# ---------------------------------------------------------------- refused, in one line

@pytest.mark.parametrize("case", list(SILENT))
def test_silently_accepted_config_is_refused_in_one_line(tmp_path, schema, case):
    edit, key, text = SILENT[case]
    with pytest.raises(ConfigError) as info:
        study_of(tmp_path, edit, schema)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{key}: "), msg
    assert text in msg, msg


@pytest.mark.parametrize("case", list(SILENT_ACCEPTED))
def test_meaningful_config_is_accepted(tmp_path, schema, case):
    study_of(tmp_path, SILENT_ACCEPTED[case], schema)


def test_unused_parameter_message_names_setting_and_way_out(tiny_config, schema):
    tiny_config["experiments"]["lr_sweep"]["grid"]["teacher_k"] = [1, 4]
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, schema)
    assert str(info.value) == (
        "experiments.lr_sweep.grid.teacher_k: teacher_k is used only when teacher_kind is multi_index; "
        "this experiment's runs have teacher_kind single_index (set teacher_kind: multi_index, or "
        "remove teacher_k)")


def test_a_parameter_set_in_defaults_is_never_unused(tiny_config, schema):
    # defaults list every parameter (config.yaml): only grid, cases and set are checked
    tiny_config["defaults"].update(teacher_k=3, momentum=0.5, gamma=0.5)
    load_study(tiny_config, schema)


def test_shipped_configs_still_load(paper_config, tiny_config, schema):
    study = load_study(paper_config, schema)
    assert not study.unusable
    for name in ("teacher_rank", "long_horizon", "weight_norm", "optimizer_family", "lr_schedule"):
        assert study.experiments[name].runs
    load_study(tiny_config, schema)


def test_an_unselected_experiment_with_an_unused_parameter_is_left_out(paper_config, schema):
    paper = copy.deepcopy(paper_config)
    paper["run"] = ["vary_n"]
    paper["experiments"]["lr_sweep"]["grid"]["teacher_k"] = [1, 2]
    study = load_study(paper, schema)
    assert "teacher_k is used only when" in study.unusable["lr_sweep"]


# ----------------------------------------------------------------- experiment names

@pytest.mark.parametrize("name", ["a", "lr_sweep", "exp_" + "0123456789" * 6, "x" + "b" * 18, "lr_sweep_" + "ab" * 9,
                                  "abc" * 6 + "d"])
def test_experiment_names_within_the_rule_are_accepted(tmp_path, schema, name):
    study_of(tmp_path, _rename(name), schema)


def test_the_name_rule_excludes_what_snakemake_takes_for_periodic_wildcards():
    from snakemake.io import PeriodicityDetector

    detector = PeriodicityDetector()  # what the DAG checks every wildcard value with
    names = ["a" * 20, "a" * 19, "x" + "b" * 19, "x" + "b" * 20, "q" + "ab" * 20, "q" + "ab" * 19,
             "abc" * 20, "z_" + "abc" * 20 + "_", "lr_sweep" + "b" * 25, "vary_n", "a" * 64]
    for name in names:
        periodic = detector.is_periodic(name) is not None
        ok = hc.experiment_name_problem(name) is None
        assert not (periodic and ok), name
        if len(name) <= 64 and not periodic:
            assert ok, name


def test_a_long_name_is_stopped_before_the_dry_run_plans_it(tmp_path):
    (tmp_path / "config.yaml").write_text(config_text(_rename("a" + "bc" * 149 + "d")))
    out = _dry(tmp_path)
    assert out.returncode != 0
    assert _one_config_line(out).startswith("Invalid configuration: experiments.abcbc"), out.stdout + out.stderr


# ------------------------------------------------------- an experiment of seeds only

def test_an_experiment_of_seeds_only_has_one_run_per_seed_and_a_steps_plot(tiny_config, schema):
    exp = tiny_config["experiments"]["lr_sweep"]
    del exp["grid"], exp["plot"]
    exp["seeds"] = [0, 1, 2]
    e = load_study(tiny_config, schema).experiments["lr_sweep"]
    assert [r.eval_id for r in e.runs] == ["seed~0", "seed~1", "seed~2"]
    assert e.axes == () and e.plot["kind"] == "steps" and e.plot["hue"] == []


def test_the_default_plot_of_an_experiment_of_seeds_only_draws(tmp_path, tiny_config, schema):
    import numpy as np
    import pandas as pd

    from htcore.figures import draw, figure_names

    exp = tiny_config["experiments"]["lr_sweep"]
    del exp["grid"], exp["plot"]
    e = load_study(tiny_config, schema).experiments["lr_sweep"]
    rows = [{"experiment": "lr_sweep", "eval_id": r.eval_id, "train_id": r.train_id, "seed": r.seed,
             "step": s, "diverged": False}
            for r in e.runs for s in r.params.probe_steps]
    table = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    for col in ("train_loss", "test_loss", "student_loss", "kta", "sim", "hill_alpha", "hill_se",
                "ks_alpha", "ks_se", "lambda_max", "stable_rank", "n_spikes"):
        table[col] = rng.random(len(table)) + 0.5
    for name in figure_names(e.plot):
        draw(name, {"table": table}, e.plot, str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}.pdf"))
        assert (tmp_path / f"{name}.png").stat().st_size > 0


@pytest.mark.slow
def test_dry_run_plans_an_experiment_of_seeds_only(tmp_path):
    (tmp_path / "config.yaml").write_text(config_text(_drop_exp("grid", "plot")))
    out = _dry(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "results/lr_sweep/figures/losses_steps.png" in out.stdout


# --------------------------------------------------------------------------- device

def test_device_cuda_without_a_gpu_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(hd, "_cuda_problem", lambda: "torch sees no usable GPU here")
    with pytest.raises(ConfigError) as info:
        hd.check_device("cuda")
    msg = str(info.value)
    assert msg.startswith("device: cuda") and "\n" not in msg
    assert "device: auto" in msg and "device: cpu" in msg


def test_device_cuda_with_a_gpu_and_other_devices_are_accepted(monkeypatch):
    monkeypatch.setattr(hd, "_cuda_problem", lambda: None)
    hd.check_device("cuda")
    monkeypatch.setattr(hd, "_cuda_problem", lambda: pytest.fail("probed the GPU for cpu/auto"))
    hd.check_device("cpu")
    hd.check_device("auto")


def test_cuda_problem_agrees_with_torch():
    torch = pytest.importorskip("torch")
    assert (hd._cuda_problem() is None) == torch.cuda.is_available()


@pytest.mark.parametrize("argv, env, elsewhere", [
    (["snakemake", "-n"], {}, False),
    (["snakemake", "-j", "2", "--executor", "local"], {}, False),
    (["snakemake", "--executor", "slurm"], {}, True),
    (["snakemake", "--executor=slurm"], {}, True),
    (["snakemake", "-e", "slurm"], {}, True),
    (["snakemake", "--workflow-profile", "workflow/profiles/slurm", "-n"], {}, True),
    (["snakemake", "--workflow-profile", "none"], {}, False),
    (["snakemake", "--profile", "mycluster"], {}, True),
    (["snakemake", "-n"], {"SNAKEMAKE_PROFILE": "mycluster"}, True),
])
def test_jobs_may_run_elsewhere_reads_the_command_line(argv, env, elsewhere):
    assert hd.jobs_may_run_elsewhere(argv, env) is elsewhere


@pytest.mark.parametrize("settings, elsewhere", [
    (None, False), ("scheduler: greedy\n", False), ("executor: local\n", False),
    ("executor: slurm\njobs: 10\n", True), ("executor: [unclosed\n", True)])
def test_the_default_workflow_profile_counts_when_no_other_is_named(tmp_path, settings, elsewhere):
    if settings is not None:
        (tmp_path / "config.yaml").write_text(settings)
    assert hd.jobs_may_run_elsewhere(["snakemake", "-n"], {}, tmp_path) is elsewhere
    named = ["snakemake", "--workflow-profile", "none"]
    assert hd.jobs_may_run_elsewhere(named, {}, tmp_path) is False  # not read when another is named


@pytest.mark.slow
def test_dry_run_refuses_device_cuda_without_a_gpu(tmp_path):
    if hd._cuda_problem() is None:
        pytest.skip("this machine has a usable GPU")
    (tmp_path / "config.yaml").write_text(config_text(_set("device", "cuda")))
    out = _dry(tmp_path)
    assert out.returncode != 0
    line = _one_config_line(out)
    assert line.startswith("Invalid configuration: device: cuda") and "device: auto" in line, line


# ---------------------------------------------------------------- config files

def _dry(workdir: Path, *args: str):
    return smk(workdir, "-n", *args, check=False)


def _dry_with_configfile(workdir: Path, text: str):
    """Dry-run the tiny config.yaml with a second --configfile holding ``text``."""
    (workdir / "config.yaml").write_text(TINY_TEXT)
    extra = workdir / "extra.yaml"
    extra.write_text(text)
    return _dry(workdir, "--configfile", str(extra)), extra


def _one_config_line(proc) -> str:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and not re.search(r'^\s*File "', out, re.M), out
    lines = [ln for ln in out.splitlines() if ln.startswith("Invalid configuration: ")]
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.slow
def test_no_config_file_at_all_gives_one_line(tmp_path):
    out = _dry(tmp_path)
    assert out.returncode != 0
    line = _one_config_line(out)
    assert line.startswith("Invalid configuration: config.yaml: not found") and "--configfile" in line, line


@pytest.mark.slow
@pytest.mark.parametrize("text", ["pathvars: [1, 2]\n", "pathvars: 3\n"])
def test_a_key_snakemake_reads_itself_is_refused_before_snakemake_reads_it(tmp_path, text):
    # Snakemake's `configfile:` reads `pathvars` from config.yaml and crashes with a
    # traceback on a malformed one; the Snakefile reads config.yaml before that. (In a
    # --configfile, Snakemake reads it before the Snakefile runs: out of reach.)
    (tmp_path / "config.yaml").write_text(TINY_TEXT + text)
    out = _dry(tmp_path)
    assert out.returncode != 0
    line = _one_config_line(out)
    assert line.startswith("Invalid configuration: pathvars: unknown key in config.yaml"), line


@pytest.mark.slow
def test_a_configfile_snakemake_accepts_is_read_like_config_yaml(tmp_path):
    # Snakemake's loader (yaml.FullLoader) builds Python objects from python/ tags;
    # the Snakefile's reading (safe) names file, line and column.
    out, extra = _dry_with_configfile(tmp_path, "run: [lr_sweep]\ndevice: !!python/tuple [cpu]\n")
    assert out.returncode != 0
    assert _one_config_line(out).startswith(f"Invalid configuration: {extra}:2:9: "), out.stdout + out.stderr


@pytest.mark.slow
def test_a_yaml_error_in_a_configfile_stops_before_any_job_without_a_traceback(tmp_path):
    # What is achievable: Snakemake parses --configfile itself before the Snakefile runs
    # (snakemake.settings.types.ConfigSettings) and stops with its own one-line error.
    out, _ = _dry_with_configfile(tmp_path, "run: [lr_sweep\n")
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Traceback" not in text
    assert "Config file is not valid JSON or YAML" in text
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="Snakemake parses --configfile before the Snakefile runs and says "
                   "only 'Config file is not valid JSON or YAML' (snakemake/common/configfile.py)")
def test_a_yaml_error_in_a_configfile_names_file_line_and_column(tmp_path):
    out, extra = _dry_with_configfile(tmp_path, "run: [lr_sweep\n")
    line = _one_config_line(out)
    assert line.startswith(f"Invalid configuration: {extra}:2:")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="Snakemake opens each --configfile before the Snakefile runs, "
                   "outside its own FileNotFoundError handler: a traceback (snakemake/common/configfile.py)")
def test_a_missing_configfile_gives_one_line(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY_TEXT)
    line = _one_config_line(_dry(tmp_path, "--configfile", str(tmp_path / "nope.yaml")))
    assert "nope.yaml" in line
