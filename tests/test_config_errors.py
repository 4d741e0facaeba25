"""Malformed configs: each one stops before any job with one line naming the key.

Every case is tests/configs/tiny.yaml with one small edit, written to a file and read
the way the workflow reads it (htcore.configfile.load_config_file, then load_study).
``MALFORMED`` is also the core of benchmarks/malformed_configs.py, which runs the
cases through ``snakemake -n``."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from htcore.config import load_study
from htcore.configfile import ConfigError, load_config_file
from helpers import smk

ROOT = Path(__file__).resolve().parents[1]
TINY_TEXT = (ROOT / "tests/configs/tiny.yaml").read_text()
NAN, INF = math.nan, math.inf


def _set(*path):
    """Edit setting the value at ``path`` (keys and list indices) of the config."""
    *parents, last = path[:-1]
    value = path[-1]

    def edit(c):
        node = c
        for p in parents:
            node = node[p]
        node[last] = value

    return edit


def _d(key, value):
    return _set("defaults", key, value)


def _grid(key, values):
    return _set("experiments", "lr_sweep", "grid", key, values)


def _exp(key, value):
    return _set("experiments", "lr_sweep", key, value)


def _text(old, new):
    """Edit of the file's text (for what a dict cannot hold: duplicate keys, syntax)."""

    def edit(text):
        assert old in text, old
        return text.replace(old, new, 1)

    edit.on_text = True
    return edit


#: name -> (edit of tiny.yaml, the key the one-line message must name)
MALFORMED = {
    # NaN and infinities, in defaults, set, grid and cases
    "grid lr nan": (_grid("lr", [0.1, NAN]), "experiments.lr_sweep.grid.lr[1]"),
    "grid lr inf": (_grid("lr", [0.1, INF]), "experiments.lr_sweep.grid.lr[1]"),
    "default lr nan": (_d("lr", NAN), "defaults.lr"),
    "default lr inf": (_d("lr", INF), "defaults.lr"),
    "reg_lambda nan": (_d("reg_lambda", NAN), "defaults.reg_lambda"),
    "reg_lambda inf": (_d("reg_lambda", INF), "defaults.reg_lambda"),
    "reg_lambda -inf": (_d("reg_lambda", -INF), "defaults.reg_lambda"),
    "label_noise_std nan": (_d("label_noise_std", NAN), "defaults.label_noise_std"),
    "label_noise_std inf": (_d("label_noise_std", INF), "defaults.label_noise_std"),
    "momentum nan": (_d("momentum", NAN), "defaults.momentum"),
    "weight_decay inf": (_d("weight_decay", INF), "defaults.weight_decay"),
    "adam_eps nan": (_d("adam_eps", NAN), "defaults.adam_eps"),
    "adam_beta2 nan": (_d("adam_beta2", NAN), "defaults.adam_beta2"),
    "gamma nan": (_d("gamma", NAN), "defaults.gamma"),
    "set reg_lambda nan": (_exp("set", {"reg_lambda": NAN}), "experiments.lr_sweep.set.reg_lambda"),
    "cases lr -inf": (_exp("cases", [{"reg_lambda": 0.1}, {"reg_lambda": -INF}]),
                      "experiments.lr_sweep.cases[1].reg_lambda"),
    "grid reg_lambda nan": (_grid("reg_lambda", [0.01, NAN]), "experiments.lr_sweep.grid.reg_lambda[1]"),
    "batch_size nan": (_d("batch_size", NAN), "defaults.batch_size"),
    "d inf": (_d("d", INF), "defaults.d"),
    # absurd values
    "label_noise_std 1e300": (_d("label_noise_std", 1e300), "defaults.label_noise_std"),
    "reg_lambda 1e300": (_d("reg_lambda", 1e300), "defaults.reg_lambda"),
    "gamma above 1": (_d("gamma", 1.5), "defaults.gamma"),
    "d huge": (_d("d", 10**9), "defaults.d"),
    "steps huge": (_d("steps", 10**12), "defaults.steps"),
    "n_boot huge": (_set("tails", "n_boot", 10**9), "tails.n_boot"),
    # integer-valued floats where an integer is meant
    "d float": (_d("d", 20.0), "defaults.d"),
    "h float": (_d("h", 30.0), "defaults.h"),
    "steps float": (_d("steps", 10.0), "defaults.steps"),
    "batch_size float": (_d("batch_size", 20.0), "defaults.batch_size"),
    "probe_steps float": (_d("probe_steps", [0, 3.0]), "defaults.probe_steps[1]"),
    "log_spaced float": (_d("probe_steps", {"log_spaced": 4.0}), "defaults.probe_steps.log_spaced"),
    "step_size float": (_d("step_size", 1.0), "defaults.step_size"),
    "seed float": (_exp("seeds", [0.0]), "experiments.lr_sweep.seeds[0]"),
    "grid n float": (_grid("n", [60.0]), "experiments.lr_sweep.grid.n[0]"),
    "min_tail float": (_set("tails", "min_tail", 5.0), "tails.min_tail"),
    # seeds out of range
    "seed 2**63": (_exp("seeds", [0, 2**63]), "experiments.lr_sweep.seeds[1]"),
    "seed 10**40": (_exp("seeds", [10**40]), "experiments.lr_sweep.seeds[0]"),
    "seed 2**32": (_exp("seeds", [2**32]), "experiments.lr_sweep.seeds[0]"),
    "seed negative": (_exp("seeds", [-1]), "experiments.lr_sweep.seeds[0]"),
    # text where a number is meant
    "d quoted": (_d("d", "20"), "defaults.d"),
    "d exponent text": (_d("d", "1e3"), "defaults.d"),
    "lr exponent text": (_d("lr", "1e-3"), "defaults.lr"),
    "grid lr exponent without sign": (_grid("lr", [0.1, "1.0e20"]), "experiments.lr_sweep.grid.lr[1]"),
    "bool for integer": (_d("h", True), "defaults.h"),
    # duplicate keys and a second block for one experiment (file text)
    "duplicate default": (_text("  h: 30\n", "  h: 30\n  h: 40\n"), "defaults.h"),
    "duplicate experiment": (_text("experiments:\n", "experiments:\n  lr_sweep:\n    seeds: [9]\n"),
                             "experiments.lr_sweep"),
    "duplicate top-level key": (_text("device: cpu\n", "device: cpu\ndevice: cuda\n"), "device"),
    "duplicate grid axis": (_text("      optimizer: [gd, adam]\n", "      optimizer: [gd, adam]\n      optimizer: [gd]\n"),
                            "experiments.lr_sweep.grid.optimizer"),
    # per-run checks and plot axes of a selected experiment
    "batch_size above n": (_d("batch_size", 200), "experiments.lr_sweep"),
    "probe step beyond steps": (_d("probe_steps", [0, 3, 5]), "experiments.lr_sweep"),
    "sweep x not varied": (_set("experiments", "lr_sweep", "plot", "x", "n"), "experiments.lr_sweep.plot.x"),
    "hue not varied": (_set("experiments", "lr_sweep", "plot", "hue", "n"), "experiments.lr_sweep.plot.hue"),
    "run unknown": (_set("run", ["lr_swep"]), "run"),
}

#: YAML syntax errors: name -> (edit, "file:line:column" suffix the message starts with)
SYNTAX = {
    "unclosed bracket": (_text("  d: 20\n", "  d: [20\n"), ":7:"),  # found on the next line
    "tab indentation": (_text("  h: 30\n", "\th: 30\n"), ":7:"),
    "bad indentation": (_text("  n: 60\n", "   n: 60\n"), ":8:"),
}


def config_text(edit) -> str:
    """tiny.yaml with ``edit`` applied, as the text of a config file."""
    if getattr(edit, "on_text", False):
        return edit(TINY_TEXT)
    cfg = copy.deepcopy(yaml.safe_load(TINY_TEXT))
    edit(cfg)
    return yaml.safe_dump(cfg, sort_keys=False)


def read(path: Path, schema: dict):
    return load_study(load_config_file(path), schema)


def test_there_are_enough_cases():
    assert len(MALFORMED) >= 40


def error_of(path: Path, edit, schema) -> str:
    """The ConfigError message of tiny.yaml with ``edit``, written to ``path`` and read."""
    path.write_text(config_text(edit))
    with pytest.raises(ConfigError) as info:
        read(path, schema)
    return str(info.value)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_config_gives_one_line_naming_the_key(tmp_path, schema, case):
    edit, key = MALFORMED[case]
    msg = error_of(tmp_path / "config.yaml", edit, schema)
    assert "\n" not in msg
    assert msg.startswith(f"{key}:") or msg.startswith(f"{key} "), msg
    assert "a integer" not in msg and "Traceback" not in msg


@pytest.mark.parametrize("case", list(SYNTAX))
def test_yaml_syntax_error_says_file_line_and_column(tmp_path, schema, case):
    edit, where = SYNTAX[case]
    path = tmp_path / "config.yaml"
    msg = error_of(path, edit, schema)
    assert "\n" not in msg
    assert msg.startswith(f"{path}{where}") and msg.split(":")[2].isdigit(), msg


def test_duplicate_key_message_names_both_lines(tmp_path):
    path = tmp_path / "config.yaml"
    text = config_text(MALFORMED["duplicate experiment"][0])
    path.write_text(text)
    first, second = [i + 1 for i, line in enumerate(text.splitlines()) if line == "  lr_sweep:"]
    with pytest.raises(ConfigError, match=rf"^experiments\.lr_sweep: .*\(lines {first} and {second}\)"):
        load_config_file(path)


@pytest.mark.parametrize("text, hint", [
    ("20", "remove the quotes"),
    ("1e3", "1000"),
])
def test_text_for_an_integer_gets_the_right_hint(tiny_config, schema, text, hint):
    tiny_config["defaults"]["d"] = text
    with pytest.raises(ConfigError) as info:
        load_study(tiny_config, schema)
    msg = str(info.value)
    assert hint in msg and "an integer" in msg
    if text == "20":
        assert "1e" not in msg and "exponent" not in msg


def test_exponent_hint_gives_a_spelling_yaml_reads_as_a_float(tiny_config, schema):
    tiny_config["defaults"]["lr"] = "1e-3"
    with pytest.raises(ConfigError, match=r"write 1\.0e-3"):
        load_study(tiny_config, schema)
    assert yaml.safe_load("lr: 1.0e-3")["lr"] == 0.001


def test_integer_lr_is_accepted_and_named_like_its_float(tiny_config, schema):
    tiny_config["experiments"]["lr_sweep"]["grid"]["lr"] = [1, 10.0]
    runs = load_study(tiny_config, schema).experiments["lr_sweep"].runs
    assert {r.params.lr for r in runs} == {1.0, 10.0}
    assert all(isinstance(r.params.lr, float) for r in runs)
    assert {r.train_id.split("/")[1] for r in runs} == {"lr~1", "lr~10"}


def test_seed_bounds_are_inclusive_of_2_to_the_32_minus_1(tiny_config, schema):
    tiny_config["experiments"]["lr_sweep"]["seeds"] = [0, 2**32 - 1]
    load_study(tiny_config, schema)


# ------------------------------------------- a small --configfile over config.yaml

def small_over_paper(paper_config: dict, tiny: dict) -> dict:
    """The paper's experiments with tiny's defaults, running tiny's lr_sweep only (what
    a small --configfile over config.yaml gives, minus Snakemake's key-by-key merge
    inside lr_sweep, which would depend on config.yaml's lr_sweep block)."""
    merged = copy.deepcopy(paper_config)
    merged.update(run=["lr_sweep"], device="cpu", tails=copy.deepcopy(tiny["tails"]))
    merged["defaults"] = copy.deepcopy(tiny["defaults"])
    merged["experiments"]["lr_sweep"] = copy.deepcopy(tiny["experiments"]["lr_sweep"])
    return merged


def test_small_configfile_checks_only_what_it_runs(paper_config, tiny_config, schema):
    study = load_study(small_over_paper(paper_config, tiny_config), schema)
    assert study.selected == ("lr_sweep",)
    assert "minibatch_contrast" in study.unusable and "minibatch_contrast" not in study.experiments
    assert "batch_size 200 is larger than n = 60" in study.unusable["minibatch_contrast"]


def test_experiment_compared_with_is_checked_too(paper_config, tiny_config, schema):
    merged = small_over_paper(paper_config, tiny_config)
    merged["experiments"]["lr_sweep"]["set"] = {"batch_size": 100}
    merged["run"] = ["minibatch_contrast"]
    merged["experiments"]["minibatch_contrast"]["set"] = {"batch_size": 20}
    with pytest.raises(ConfigError, match=r"^experiments\.lr_sweep: batch_size 100 is larger than n = 60"):
        load_study(merged, schema)


def test_schema_still_covers_experiments_that_do_not_run(paper_config, tiny_config, schema):
    merged = small_over_paper(paper_config, tiny_config)
    merged["experiments"]["long_horizon"].setdefault("set", {})["reg_lambda"] = NAN
    with pytest.raises(ConfigError, match=r"^experiments\.long_horizon\.set\.reg_lambda: nan"):
        load_study(merged, schema)


# ---------------------------------------------------------------- end to end

@pytest.mark.slow
@pytest.mark.parametrize("case", ["grid lr nan", "duplicate experiment", "seed float"])
def test_snakemake_dry_run_stops_with_one_line(tmp_path, case):
    edit, key = MALFORMED[case]
    (tmp_path / "config.yaml").write_text(config_text(edit))
    proc = smk(tmp_path, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = [ln for ln in out.splitlines() if ln.startswith("Invalid configuration: ")]
    assert len(lines) == 1 and lines[0].startswith(f"Invalid configuration: {key}"), out
    assert "Traceback" not in out and 'File "' not in out
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_readme_quick_look_plans_the_tiny_study(tmp_path, root):
    proc = smk(tmp_path / "quick", "-n", "all", "--configfile", str(root / "tests/configs/tiny.yaml"))
    assert "results/lr_sweep/table.parquet" in proc.stdout
    assert "minibatch_contrast" not in proc.stdout


@pytest.mark.slow
def test_snakemake_names_a_duplicate_key_in_a_configfile(tmp_path, root):
    (tmp_path / "config.yaml").write_text(TINY_TEXT)
    extra = tmp_path / "extra.yaml"
    extra.write_text("run: [lr_sweep]\nrun: [lr_sweep]\n")
    proc = smk(tmp_path, "-n", "--configfile", str(extra), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"Invalid configuration: run: written twice in {extra} (lines 1 and 2)" in out, out
    assert "Traceback" not in out


@pytest.mark.slow
def test_snakemake_names_line_and_column_of_a_yaml_error_in_config_yaml(tmp_path):
    (tmp_path / "config.yaml").write_text(TINY_TEXT.replace("  d: 20\n", "  d: [20\n", 1))
    proc = smk(tmp_path, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    line = TINY_TEXT.splitlines().index("  d: 20") + 2  # the error shows on the next line
    assert f"Invalid configuration: config.yaml:{line}:" in out and "YAML syntax error" in out, out
