"""Stage edges: the spectrum stage (ESD, summaries, tail fits with and without the
bootstrap switch, shape label, update analysis, shared step 0) against direct
computations, and the stage declarations against the functions they name."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from htcore import cli, stages
from htcore.plan import RUN_KIND
from htcore.io import save_npz

SPEC = {"experiment": "x", "seed": 0, "data_id": "seed~0", "train_id": "r~1/seed~0", "eval_id": None,
        "params": {}, "tails": {"min_tail": 5, "bootstrap": False, "n_boot": 20}}


def weights(tmp_path):
    g = np.random.default_rng(0)
    W = np.stack([g.standard_normal((300, 200)), g.standard_t(1.5, (300, 200))]).astype(np.float32)
    path = tmp_path / "w.npz"
    save_npz(path, {"probe_steps": np.array([0, 5]), "W": W, "a": np.zeros((2, 300), np.float32),
                    "diverged": np.array(False), "first_bad_step": np.array(-1)})
    return path, W


def run_spectrum(tmp_path, spec, tag=""):
    """The spectrum stage, then the tails stage on its ESD; the tails table joined
    to the summary (as htcore.collect does) under the name ``table``."""
    path, W = weights(tmp_path)
    out = {k: str(tmp_path / f"{k}{tag}.parquet") for k in ("esd", "summary", "update_sv", "overlaps")}
    stages.spectrum(spec, str(path), **out)
    tails = str(tmp_path / f"tails{tag}.parquet")
    stages.tails({**spec, "h": 300, "d": 200}, out["esd"], tails)
    frames = {k: pd.read_parquet(v) for k, v in out.items()}
    keys = ["experiment", "train_id", "seed", "step"]
    frames["table"] = frames["summary"].merge(pd.read_parquet(tails), on=keys)
    return W, frames


def test_spectrum_with_and_without_bootstrap(tmp_path):
    W, out = run_spectrum(tmp_path, SPEC)
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
    _, b = run_spectrum(tmp_path, slow, tag="_slow")
    b = b["table"].set_index("step")
    assert b[["ks_gof_p", "ks_alpha_ci_low", "ks_alpha_ci_high", "llr_lognormal_p"]].notna().all().all()
    assert (b["ks_alpha_ci_low"] <= b["ks_alpha"]).all() and (b["ks_alpha"] <= b["ks_alpha_ci_high"]).all()
    # the point estimates do not depend on the switch
    pd.testing.assert_series_equal(t["ks_alpha"], b["ks_alpha"])


def test_spectrum_reports_how_far_w_moved(tmp_path):
    W, out = run_spectrum(tmp_path, SPEC)
    t = out["table"].set_index("step")
    W64 = W.astype(np.float64)
    assert t.loc[0, "update_norm"] == 0.0
    assert t.loc[5, "update_norm"] == pytest.approx(np.linalg.norm(W64[1] - W64[0]) / np.linalg.norm(W64[0]))


def test_spectrum_skips_the_shared_step_and_analyses_the_update(tmp_path):
    spec = {**SPEC, "skip_steps": [0], "updates_top_k": 3}
    W, out = run_spectrum(tmp_path, spec)
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


@pytest.mark.parametrize("name", list(stages.STAGES))
def test_each_stage_is_a_rule_with_its_declared_inputs_and_outputs(name):
    # one rule per stage, named like it, declaring the stage's inputs and outputs
    import re

    from helpers import ROOT

    text = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    rule = re.search(rf"^rule {name}:\n(.*?)(?=^rule |\Z)", text, re.S | re.M)
    assert rule, f"no rule {name}"
    body = rule.group(1)
    outputs = re.search(r"output:\n(.*?)\n    \w+:", body, re.S).group(1)
    assert [m for m in re.findall(r"^        (\w+)=", outputs, re.M)] == list(stages.STAGES[name].outputs)
    if name not in ("figure", "claims"):  # those read their tables through params (name=path)
        per_run = name in RUN_KIND  # a per-run step's {run} is one of a run's ids (htcore.plan)
        code = f'code=code_of("{name}")' if per_run else f'code=code_hash("{name}")'
        assert "spec=" in body and code in body
