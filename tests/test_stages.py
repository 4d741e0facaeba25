"""Stage edges: the spectrum stage (ESD, summaries, tail fits with and without the
bootstrap switch, shape label, update analysis, shared step 0) against direct
computations, and the stage declarations against the functions they name."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from htcore import cli, stages
from htcore.io import save_npz, write_table

SPEC = {"experiment": "x", "seed": 0, "data_id": "seed~0", "train_id": "r~1/seed~0", "eval_id": None,
        "params": {}, "tails": {"min_tail": 5, "bootstrap": False, "n_boot": 20}}


def weights(tmp_path):
    g = np.random.default_rng(0)
    W = np.stack([g.standard_normal((300, 200)), g.standard_t(1.5, (300, 200))]).astype(np.float32)
    path = tmp_path / "w.npz"
    save_npz(path, {"probe_steps": np.array([0, 5]), "W": W, "a": np.zeros((2, 300), np.float32),
                    "diverged": np.array(False), "first_bad_step": np.array(-1)})
    return path, W


def trace(tmp_path, loss) -> str:
    """A trace.parquet with the given training loss at steps 0..len(loss)-1."""
    path = str(tmp_path / "trace.parquet")
    write_table(path, {"step": np.arange(len(loss)), "student_loss": np.asarray(loss, dtype=np.float64)})
    return path


def run_spectrum(tmp_path, spec, loss, tag=""):
    path, W = weights(tmp_path)
    out = {k: str(tmp_path / f"{k}{tag}.parquet") for k in ("esd", "table", "update_sv", "overlaps")}
    stages.spectrum(spec, str(path), trace(tmp_path, loss), **out)
    return W, {k: pd.read_parquet(v) for k, v in out.items()}


def test_spectrum_with_and_without_bootstrap(tmp_path):
    recovers = [1.0, 9.0, 8.0, 2.0, 1.0, 0.5]  # a catapult that recovers
    W, out = run_spectrum(tmp_path, SPEC, recovers)
    esd = out["esd"]
    sv = np.linalg.svd(W[1].astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(np.sort(esd[esd["step"] == 5]["eigenvalue"]), np.sort(sv**2), rtol=1e-9)
    t = out["table"].set_index("step")
    assert abs(t.loc[5, "stable_rank"] - np.sum(sv**2) / sv[0] ** 2) < 1e-9
    assert t["ks_gof_p"].isna().all() and t["ks_alpha_ci_low"].isna().all()
    assert t.loc[0, "shape_label"] == "random-like"
    assert t.loc[5, "shape_label"] in ("heavy-tailed", "very-heavy-tailed")
    assert len(out["update_sv"]) == 0 and len(out["overlaps"]) == 0  # not asked for

    slow = {**SPEC, "tails": {"min_tail": 5, "bootstrap": True, "n_boot": 20}}
    _, b = run_spectrum(tmp_path, slow, recovers, tag="_slow")
    b = b["table"].set_index("step")
    assert b[["ks_gof_p", "ks_alpha_ci_low", "ks_alpha_ci_high", "llr_lognormal_p"]].notna().all().all()
    assert (b["ks_alpha_ci_low"] <= b["ks_alpha"]).all() and (b["ks_alpha"] <= b["ks_alpha_ci_high"]).all()
    # the point estimates do not depend on the switch
    pd.testing.assert_series_equal(t["ks_alpha"], b["ks_alpha"])


def test_spectrum_labels_the_shape_whatever_the_loss_did(tmp_path):
    # a run still 6x its initial loss at the end: its shape is still its spectrum's
    # (the training state is collect's train_state, htcore.state)
    _, blown = run_spectrum(tmp_path, SPEC, [1.0, 30.0, 20.0, 12.0, 9.0, 6.0])
    _, calm = run_spectrum(tmp_path, SPEC, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], tag="_calm")
    pd.testing.assert_frame_equal(blown["table"], calm["table"])
    assert "stuck" not in set(blown["table"]["shape_label"])
    t = blown["table"].set_index("step")
    assert t.loc[0, "update_norm"] == 0.0 and t.loc[5, "update_norm"] > 0


def test_spectrum_skips_the_shared_step_and_analyses_the_update(tmp_path):
    spec = {**SPEC, "skip_steps": [0], "updates_top_k": 3}
    W, out = run_spectrum(tmp_path, spec, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    assert sorted(out["esd"]["step"].unique()) == [5] and list(out["table"]["step"]) == [5]
    # the update M_0 = W_5 - W_0 still uses W_0: its singular values by direct SVD
    direct = np.linalg.svd(W[1].astype(np.float64) - W[0].astype(np.float64), compute_uv=False)
    got = out["update_sv"].sort_values("index")["singular_value"].to_numpy()
    np.testing.assert_allclose(got, direct[:len(got)], rtol=1e-9)
    assert len(out["overlaps"]) == 4 * 3 * 3


@pytest.mark.parametrize("name", list(stages.STAGES))
def test_each_stage_declares_the_paths_its_function_takes(name):
    st = stages.STAGES[name]
    args = list(inspect.signature(st.run).parameters)
    assert args == ["spec", *st.inputs, *st.outputs]
    line = cli.command(name)
    for p in st.inputs + st.outputs:
        assert f"--{p.replace('_', '-')} {{" in line


@pytest.mark.parametrize("step", ["train", "spectrum", "evaluate"])
def test_a_runs_step_files_are_its_stages_outputs(step):
    # the run job writes each step's declared outputs where htcore.stages.LAYOUT says
    files = stages.artifacts("results", "e", step, "lr~1/seed~0")
    assert tuple(files) == stages.STAGES[step].outputs
    assert len({f.rsplit("/", 1)[0] for f in files.values()}) == 1  # one directory: one memo stamp


def test_the_run_rule_writes_the_manifest_stages_name():
    import re

    from conftest import ROOT

    rule = (ROOT / "workflow/rules/run.smk").read_text()
    pattern = re.search(r'manifest="([^"]+)"', rule).group(1)
    assert pattern == stages.manifest("results", "{experiment}", "{run}")
