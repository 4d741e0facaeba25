"""The whole workflow on the tiny config, in temp dirs: tables, figures, incremental
re-runs (dry runs), determinism, divergence, bad configs, lint."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from htcore import evaluate as E
from htcore.data import test_set as draw_test_set
from htcore.figures import figure_names
from htcore.io import load_npz

from helpers import ROOT, planned, smk, write_config

TINY = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())

pytestmark = pytest.mark.slow
N_FIGS = len(figure_names({"kind": "sweep"}))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny study run once, end to end."""
    work = tmp_path_factory.mktemp("tiny")
    write_config(work, TINY)
    smk(work, "-j", "2", "all")
    return work


def table(work: Path, name: str = "table") -> pd.DataFrame:
    return pd.read_parquet(work / "results/lr_sweep" / f"{name}.parquet")


# ------------------------------------------------------------------------ outputs

def test_table_has_one_row_per_run_and_probe_step(tiny_run):
    t = table(tiny_run)
    exp = TINY["experiments"]["lr_sweep"]
    n_runs = len(exp["grid"]["optimizer"]) * len(exp["grid"]["lr"]) * len(exp["seeds"])
    assert len(t) == n_runs * 2 and t["eval_id"].nunique() == n_runs
    for col in ["experiment", "eval_id", "train_id", "seed", "optimizer", "lr", "n", "d", "h", "step",
                "diverged", "first_bad_step", "train_loss", "test_loss", "kta", "sim", "lambda_max",
                "frob_norm2", "stable_rank", "hill_alpha", "hill_xmin", "hill_n_tail", "hill_D",
                "hill_alphahat", "ks_alpha", "ks_xmin", "ks_n_tail", "ks_D", "ks_alphahat",
                "n_spikes", "shape_label", "student_loss"]:
        assert col in t.columns, col
    assert not t["diverged"].any()
    assert np.isfinite(t[["train_loss", "test_loss", "kta", "sim", "lambda_max", "ks_alpha"]]).all().all()
    assert ((t["sim"] >= 0) & (t["sim"] <= 1) & (t["kta"] > 0) & (t["kta"] <= 1)).all()
    # every run of a seed starts from the same W, a and data: identical step-0 rows
    step0 = t[t["step"] == 0].groupby("seed")[["train_loss", "test_loss", "kta", "sim", "lambda_max"]].nunique()
    assert (step0 == 1).all().all()


@pytest.mark.parametrize("step", [0, 3])
def test_table_values_equal_a_direct_computation(tiny_run, step):
    # step 0 comes from the seed's initial run (shared); it must equal the run's own W_0
    t = table(tiny_run)
    row = t[(t["eval_id"] == "optimizer~adam/lr~10/seed~1") & (t["step"] == step)].iloc[0]
    data = dict(load_npz(tiny_run / "results/lr_sweep/data/seed~1.npz"))
    data.update(draw_test_set(1, TINY["defaults"]["d"], TINY["defaults"]["n_test"], TINY["defaults"]["label_noise_std"]))
    w = load_npz(tiny_run / "results/lr_sweep/train/optimizer~adam/lr~10/seed~1/weights.npz")
    W = w["W"][list(w["probe_steps"]).index(step)]
    m = E.evaluate_snapshot(W, data, TINY["defaults"]["reg_lambda"])
    for k, v in m.items():
        assert row[k] == pytest.approx(v, rel=1e-12)
    W = W.astype(np.float64)
    assert row["lambda_max"] == pytest.approx(np.linalg.svd(W, compute_uv=False)[0] ** 2, rel=1e-9)
    assert row["frob_norm2"] == pytest.approx(np.sum(W**2), rel=1e-9)
    assert row["train_id"] == "optimizer~adam/lr~10/seed~1" and row["lr"] == 10.0


def test_esd_table_is_whole(tiny_run):
    esd = table(tiny_run, "esd")
    d = TINY["defaults"]["d"]
    assert len(esd) == 12 * 2 * d
    one = esd[(esd["train_id"] == "optimizer~gd/lr~1000/seed~0") & (esd["step"] == 3)]
    w = load_npz(tiny_run / "results/lr_sweep/train/optimizer~gd/lr~1000/seed~0/weights.npz")
    sv = np.linalg.svd(w["W"][-1].astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(np.sort(one["eigenvalue"].to_numpy()), np.sort(sv**2), rtol=1e-8)


def test_figures_exist_as_png_and_pdf(tiny_run):
    figs = tiny_run / "results/lr_sweep/figures"
    for name in ["losses", "kta", "sim", "alpha_hill", "alpha_ks", "phase_diagram"]:
        png, pdf = figs / f"{name}.png", figs / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert pdf.read_bytes()[:5] == b"%PDF-"


# ------------------------------------------------------------- incremental re-runs

def test_nothing_changed_plans_nothing(tiny_run):
    assert planned(tiny_run) == {}


def test_every_step_is_a_rule_of_the_dag(tiny_run):
    # the rule graph chains the steps: data -> train -> spectrum -> tails -> collect
    out = smk(tiny_run, "all", "-F", "--rulegraph", "dot").stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', out, flags=re.M))
    edges = {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", out, flags=re.M)}
    assert {("data", "train"), ("train", "spectrum"), ("spectrum", "tails"), ("train", "evaluate"),
            ("data", "evaluate"), ("tails", "collect"), ("evaluate", "collect"), ("collect", "figure"),
            ("collect", "claims")} <= edges, edges


@pytest.fixture()
def copy_of_run(tiny_run, tmp_path) -> Path:
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    return work


def edited(work: Path, edit) -> dict[str, int]:
    cfg = copy.deepcopy(TINY)
    edit(cfg)
    write_config(work, cfg)
    return planned(work)


def computed(work: Path, *args: str, env: dict | None = None) -> dict[str, int]:
    """Run the study up to its table and return the jobs Snakemake ran, per rule (the
    real run's job stats), after checking that exactly those jobs wrote their logs:
    what was planned is what computed."""
    t0 = time.time()
    proc = smk(work, "-j", "2", "results/lr_sweep/table.parquet", *args, env=env)
    out = proc.stdout + proc.stderr
    jobs = {} if "Job stats:" not in out else {
        k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M) if k != "total"}
    written = Counter()
    for log in (work / "results/logs/lr_sweep").rglob("*.log"):
        if log.stat().st_mtime >= t0:
            rel = log.relative_to(work / "results/logs/lr_sweep").parts
            written[{"eval": "evaluate"}.get(rel[0], rel[0]).removesuffix(".log")] += 1
    assert dict(written) == jobs, (dict(written), jobs)
    return jobs


def edited_run(work: Path, edit) -> tuple[dict[str, int], dict[str, int]]:
    """The plan after an edit of the config, and the jobs that then computed."""
    cfg = copy.deepcopy(TINY)
    edit(cfg)
    write_config(work, cfg)
    plan = planned(work)
    return plan, computed(work)


DOWNSTREAM = {"collect": 1, "figure": N_FIGS, "claims": 1, "all": 1}
RUNS_PER_SEED = 6  # tiny lr_sweep: 2 optimizers x 3 learning rates
ALL_RUNS = 2 * (RUNS_PER_SEED + 1)  # 2 seeds, each with its initial run
PER_RUN = ("train", "spectrum", "tails", "evaluate")


def per_run(n: int, rules=PER_RUN) -> dict[str, int]:
    return {r: n for r in rules}


def test_adding_a_learning_rate_plans_and_computes_only_the_new_runs(copy_of_run):
    new_runs = 2 * 2  # 2 optimizers x 2 seeds; their step 0 is the seeds' initial runs'
    plan, jobs = edited_run(copy_of_run, lambda c: c["experiments"]["lr_sweep"]["grid"]["lr"].append(100.0))
    assert plan == {**per_run(new_runs), **DOWNSTREAM}
    assert jobs == {**per_run(new_runs), "collect": 1}


def test_adding_a_seed_plans_and_computes_only_that_seed(copy_of_run):
    per_seed = RUNS_PER_SEED + 1  # and the seed's initial run (step 0, shared)
    plan, jobs = edited_run(copy_of_run, lambda c: c["experiments"]["lr_sweep"]["seeds"].append(7))
    assert plan == {"data": 1, **per_run(per_seed), **DOWNSTREAM}
    assert jobs == {"data": 1, **per_run(per_seed), "collect": 1}


@pytest.mark.parametrize("key, value", [("reg_lambda", 0.1), ("n_test", 30), ("readout_scaling", "authors")])
def test_an_evaluation_parameter_reevaluates_and_never_retrains(copy_of_run, key, value):
    plan, jobs = edited_run(copy_of_run, lambda c: c["defaults"].__setitem__(key, value))
    assert plan == {"evaluate": ALL_RUNS, **DOWNSTREAM}
    assert jobs == {"evaluate": ALL_RUNS, "collect": 1}


def test_a_fit_setting_refits_and_never_retrains(copy_of_run):
    plan, jobs = edited_run(copy_of_run, lambda c: c["tails"].__setitem__("min_tail", 6))
    assert plan == {"tails": ALL_RUNS, **DOWNSTREAM} and jobs == {"tails": ALL_RUNS, "collect": 1}


def test_a_training_default_retrains_the_runs_that_use_it(copy_of_run):
    # adam_beta2 acts on the adam runs only (3 lrs x 2 seeds); the initial runs train 0 steps
    adam_runs = 3 * 2
    plan, jobs = edited_run(copy_of_run, lambda c: c["defaults"].__setitem__("adam_beta2", 0.99))
    assert plan == {**per_run(adam_runs), **DOWNSTREAM} and jobs == {**per_run(adam_runs), "collect": 1}


def test_a_parameter_a_run_does_not_use_changes_nothing_of_that_run(copy_of_run):
    # gamma acts only with lr_schedule: step (none here): no per-run job; the table's column is redrawn
    plan, jobs = edited_run(copy_of_run, lambda c: c["defaults"].__setitem__("gamma", 0.5))
    assert plan == DOWNSTREAM and jobs == {"collect": 1}
    # momentum acts only on gd runs: the 3 x 2 gd runs retrain, the adam runs do not
    gd_runs = 3 * 2
    plan, jobs = edited_run(copy_of_run, lambda c: c["defaults"].__setitem__("momentum", 0.5))
    assert plan == {**per_run(gd_runs), **DOWNSTREAM} and jobs == {**per_run(gd_runs), "collect": 1}


def test_forcing_one_step_reruns_it_and_what_follows(copy_of_run):
    before = table(copy_of_run)
    # a forced tails step: every tails job, then the table; training and spectra stay
    assert computed(copy_of_run, "--forcerun", "tails") == {"tails": ALL_RUNS, "collect": 1}
    pd.testing.assert_frame_equal(before, table(copy_of_run), check_exact=True)


def test_until_a_step_stops_there(copy_of_run):
    cfg = copy.deepcopy(TINY)
    cfg["experiments"]["lr_sweep"]["grid"]["lr"].append(100.0)
    write_config(copy_of_run, cfg)
    out = smk(copy_of_run, "-n", "--until", "train").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    assert counts == {"train": "4", "total": "4"}


# -------------------------------------------------------------------- determinism

# The same config run again gives the same numbers: the study run anew, interrupted
# by kill -9 and resumed, equals tiny_run exactly (test_same_config_same_numbers_...).


# --------------------------------------------------------------------- divergence

def test_diverging_run_is_recorded_and_workflow_succeeds(tmp_path):
    cfg = copy.deepcopy(TINY)
    cfg["experiments"]["lr_sweep"]["grid"] = {"optimizer": ["adam"], "lr": [1.0, 1.0e20]}
    cfg["experiments"]["lr_sweep"]["seeds"] = [0]
    write_config(tmp_path, cfg)
    proc = smk(tmp_path, "-j", "2", "all")
    assert proc.returncode == 0
    t = table(tmp_path)
    bad = t[t["lr"] == 1e20].set_index("step")
    assert bool(bad.loc[3, "diverged"]) and not bool(bad.loc[0, "diverged"])
    assert (bad["first_bad_step"] == 1).all()
    assert np.isnan(bad.loc[3, ["train_loss", "test_loss", "kta", "sim", "lambda_max", "ks_alpha"]].astype(float)).all()
    assert bad.loc[3, "shape_label"] == "diverged"
    assert np.isfinite(bad.loc[0, ["train_loss", "ks_alpha"]].astype(float)).all()
    good = t[t["lr"] == 1.0]
    assert not good["diverged"].any()
    assert (tmp_path / "results/lr_sweep/figures/losses.png").exists()


# -------------------------------------------------------------------- bad configs

BAD = {
    "unknown key": (lambda c: c["defaults"].__setitem__("lrr", 1.0), "defaults.lrr"),
    "unknown grid key": (lambda c: c["experiments"]["lr_sweep"]["grid"].__setitem__("foo", [1]),
                         "experiments.lr_sweep.grid.foo"),
    "unknown optimizer": (lambda c: c["experiments"]["lr_sweep"]["grid"].__setitem__("optimizer", ["sgd"]),
                          "experiments.lr_sweep.grid.optimizer[0]"),
    "negative lr": (lambda c: c["experiments"]["lr_sweep"]["grid"].__setitem__("lr", [0.1, -1.0]),
                    "experiments.lr_sweep.grid.lr[1]"),
    "non-numeric lr": (lambda c: c["defaults"].__setitem__("lr", "fast"), "defaults.lr"),
    "empty grid": (lambda c: c["experiments"]["lr_sweep"]["grid"].__setitem__("lr", []),
                   "experiments.lr_sweep.grid.lr"),
    "huge integer lr": (lambda c: c["experiments"]["lr_sweep"]["grid"].__setitem__("lr", [10**20]),
                        "experiments.lr_sweep.grid.lr[0]"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_stops_before_any_job_naming_the_key(tmp_path, case):
    edit, key = BAD[case]
    cfg = copy.deepcopy(TINY)
    edit(cfg)
    write_config(tmp_path, cfg)
    proc = smk(tmp_path, "-j", "1", "all", check=False)
    assert proc.returncode != 0
    err = proc.stderr + proc.stdout
    assert f"Invalid configuration: {key}" in err, err
    assert "Traceback" not in err and 'File "' not in err
    assert not (tmp_path / "results").exists()


def test_bad_config_loses_nothing_already_computed(copy_of_run):
    before = {p: p.stat().st_mtime for p in (copy_of_run / "results").rglob("*.parquet")}
    cfg = copy.deepcopy(TINY)
    cfg["defaults"]["optimizer"] = "sgd"
    write_config(copy_of_run, cfg)
    assert smk(copy_of_run, "-j", "1", "all", check=False).returncode != 0
    after = {p: p.stat().st_mtime for p in (copy_of_run / "results").rglob("*.parquet")}
    assert before == after


def write_long_run_config(workdir):
    """The tiny lr_sweep and an experiment `long` of one 1000-step run."""
    cfg = copy.deepcopy(TINY)
    cfg["experiments"]["long"] = {"set": {"steps": 1000, "probe_steps": [0, 1000]}, "grid": {"lr": [0.1]},
                                  "seeds": [0]}
    cfg["run"] = ["lr_sweep", "long"]
    write_config(workdir, cfg)


def test_long_trainings_are_scheduled_first(tmp_path):
    # the critical path (long_horizon's 10,000 steps) must not wait behind short runs
    write_long_run_config(tmp_path)
    out = smk(tmp_path, "-n", "all").stdout
    jobs = out.split("rule train:")[1:]
    long_run = [j for j in jobs if "experiment=long, run=lr~0.1/seed~0" in j.split("rule ")[0]]
    assert len(long_run) == 1 and "priority: 10" in long_run[0].split("rule ")[0]
    assert not any("priority:" in j.split("rule ")[0] for j in jobs if "experiment=lr_sweep" in j.split("rule ")[0])
    data = [j.split("rule ")[0] for j in out.split("rule data:")[1:]]
    assert [("priority: 10" in j) for j in data if "experiment=long," in j] == [True]  # its data too
    assert not any("priority:" in j for j in data if "experiment=lr_sweep" in j)


@pytest.mark.slow
def test_long_trainings_do_start_first(tmp_path):
    # one job at a time: the long run's data and training before any other job
    write_long_run_config(tmp_path)
    log = smk(tmp_path, "-j", "1", "all", "--until", "train").stderr
    order = re.findall(r"^(?:local)?rule (data|train):\n(?:.*\n)*?\s+wildcards: experiment=(\w+), run=(\S+)",
                       log, flags=re.M)
    assert order[:2] == [("data", "long", "seed~0"), ("train", "long", "lr~0.1/seed~0")], order[:4]
    assert len(order) > 10 and sum(e == "lr_sweep" for _, e, _ in order) > 8  # the short runs came after


# --------------------------------------------------------------------------- lint

#: The one lint this workflow answers differently: its software is the pinned venv
#: (requirements.txt, installed by README's first command), not a per-rule conda env.
SOFTWARE_LINT = "Specify a conda environment or container for each rule."


def test_snakemake_lint_is_clean_but_for_the_software_environment():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-s", str(ROOT / "Snakefile"), "-d", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    out = proc.stdout + proc.stderr
    lints = re.findall(r"^\s+\* (.+?):?$", out, flags=re.M)
    assert lints, out  # the linter ran and reported (at least the software lint)
    assert set(lints) == {SOFTWARE_LINT.rstrip(".") + "."} or set(lints) == {SOFTWARE_LINT}, out


# ------------------------------------------------------------------ interruption

def test_same_config_same_numbers_even_after_kill_9_unlock_and_rerun_incomplete(tiny_run, tmp_path):
    """The tiny study computed anew in another directory, with a kill -9 half way and
    the documented recovery, gives exactly tiny_run's tables: same config, same numbers
    (one fresh run proves both; each alone would recompute the study)."""
    import signal
    import time

    write_config(tmp_path, TINY)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-j", "2", "all"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "results").rglob("weights.npz"))) < 3:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results/lr_sweep/table.parquet").exists(), "killed too late to test anything"
    time.sleep(3)  # jobs started before the kill run on as orphans; let them end
    # the directory stays locked: even the documented re-run refuses, names --unlock and
    # computes nothing (a dry run does not check the lock; it names the incomplete files
    # when a job was running at the kill, which depends on timing)
    files = sorted((tmp_path / "results").rglob("*"))
    locked = smk(tmp_path, "-j", "2", "all", "--rerun-incomplete", check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    assert sorted((tmp_path / "results").rglob("*")) == files
    smk(tmp_path, "--unlock")
    smk(tmp_path, "-j", "2", "all", "--rerun-incomplete")
    for name in ("table", "esd"):
        pd.testing.assert_frame_equal(table(tiny_run, name), table(tmp_path, name), check_exact=True)
