"""Code fingerprints follow what each stage runs, and ignore comments and docstrings."""

from __future__ import annotations

import shutil

import pytest

from htcore import provenance
from htcore.stages import STAGES

from conftest import ROOT


@pytest.fixture()
def copy(tmp_path, monkeypatch):
    """A copy of htcore/ the fingerprints are read from; edit it, then call hashes()."""
    pkg = tmp_path / "htcore"
    shutil.copytree(ROOT / "htcore", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "ROOT", pkg)
    return pkg


def hashes() -> dict[str, str]:
    provenance.clear_caches()
    return {s: provenance.code_hash(s) for s in STAGES}


def edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_each_stage_runs_the_modules_it_imports():
    mods = {s: provenance.stage_code(STAGES[s].run.__name__)[1] for s in STAGES}
    assert "train" in mods["train"] and "data" in mods["train"]  # train imports rng from data
    assert "train" not in mods["spectrum"] and "train" not in mods["evaluate"]
    assert {"spectra", "shape", "tails", "updates"} <= set(mods["spectrum"])
    assert {"evaluate", "baselines", "data"} <= set(mods["evaluate"]) and "shape" not in mods["evaluate"]
    assert mods["figure"] == ["figures", "io"] or "train" not in mods["figure"]


def test_comments_and_docstrings_change_no_fingerprint(copy):
    before = hashes()
    edit(copy / "train.py", '"""Training the two-layer student', '"""Training (reworded) the two-layer student')
    edit(copy / "stages.py", "def spectrum(", "# a comment\ndef spectrum(")
    edit(copy / "evaluate.py", "import numpy as np", "import numpy as np  # arrays")
    assert hashes() == before


def test_a_code_edit_reruns_exactly_the_stages_that_run_it(copy):
    before = hashes()
    edit(copy / "train.py", "PROGRESS_MIN_STEPS = 200", "PROGRESS_MIN_STEPS = 201")
    after = hashes()
    # the run job runs train among its steps: its Snakemake job re-runs, and inside it
    # only the train step's key changes (htcore.memo: spectrum and evaluate follow it)
    assert after["train"] != before["train"] and after["run"] != before["run"]
    assert all(after[s] == before[s] for s in STAGES if s not in ("train", "run"))
    # a helper of the spectrum stage in stages.py: spectra re-run, training does not
    edit(copy / "stages.py", "def _long(parts", "def _long(parts_renamed_arg=None, *, parts")
    again = hashes()
    assert again["spectrum"] != after["spectrum"] and again["train"] == after["train"]
    assert again["evaluate"] == after["evaluate"] and again["run"] != after["run"]
