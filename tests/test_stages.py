"""Stage edges: the tail-fit stage with and without the bootstrap switch, and the
spectra stage against a direct SVD."""

from __future__ import annotations

import numpy as np
import pandas as pd

from htcore import stages
from htcore.io import save_npz, write_table

SPEC = {"experiment": "x", "seed": 0, "data_id": "seed~0", "train_id": "r~1/seed~0", "eval_id": None,
        "params": {"d": 200, "h": 300}}


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


def test_spectra_and_tails_with_and_without_bootstrap(tmp_path):
    path, W = weights(tmp_path)
    stages.spectra(SPEC, str(path), str(tmp_path / "esd.parquet"), str(tmp_path / "summ.parquet"))
    esd = pd.read_parquet(tmp_path / "esd.parquet")
    sv = np.linalg.svd(W[1].astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(np.sort(esd[esd["step"] == 5]["eigenvalue"]), np.sort(sv**2), rtol=1e-9)
    summ = pd.read_parquet(tmp_path / "summ.parquet").set_index("step")
    assert abs(summ.loc[5, "stable_rank"] - np.sum(sv**2) / sv[0] ** 2) < 1e-9

    fast = {**SPEC, "tails": {"min_tail": 5, "bootstrap": False, "n_boot": 20}}
    trained = trace(tmp_path, [1.0, 9.0, 8.0, 2.0, 1.0, 0.5])  # a catapult that recovers
    stages.tails(fast, str(tmp_path / "esd.parquet"), trained, str(tmp_path / "t_fast.parquet"))
    t = pd.read_parquet(tmp_path / "t_fast.parquet").set_index("step")
    assert t["ks_gof_p"].isna().all() and t["ks_alpha_ci_low"].isna().all()
    assert t.loc[0, "shape_label"] == "random-like"
    assert t.loc[5, "shape_label"] in ("heavy-tailed", "very-heavy-tailed")

    slow = {**SPEC, "tails": {"min_tail": 5, "bootstrap": True, "n_boot": 20}}
    stages.tails(slow, str(tmp_path / "esd.parquet"), trained, str(tmp_path / "t_slow.parquet"))
    b = pd.read_parquet(tmp_path / "t_slow.parquet").set_index("step")
    assert b[["ks_gof_p", "ks_alpha_ci_low", "ks_alpha_ci_high", "llr_lognormal_p"]].notna().all().all()
    assert (b["ks_alpha_ci_low"] <= b["ks_alpha"]).all() and (b["ks_alpha"] <= b["ks_alpha_ci_high"]).all()
    # the point estimates do not depend on the switch
    pd.testing.assert_series_equal(t["ks_alpha"], b["ks_alpha"])


def test_tails_stage_labels_a_run_that_never_recovers_stuck(tmp_path):
    path, _ = weights(tmp_path)
    stages.spectra(SPEC, str(path), str(tmp_path / "esd.parquet"), str(tmp_path / "summ.parquet"))
    spec = {**SPEC, "tails": {"min_tail": 5, "bootstrap": False, "n_boot": 20}}
    blown = trace(tmp_path, [1.0, 30.0, 20.0, 12.0, 9.0, 6.0])  # still 6x the start at the end
    stages.tails(spec, str(tmp_path / "esd.parquet"), blown, str(tmp_path / "t.parquet"))
    t = pd.read_parquet(tmp_path / "t.parquet").set_index("step")
    assert t.loc[0, "shape_label"] == "random-like" and t.loc[5, "shape_label"] == "stuck"
    assert np.isfinite(t.loc[5, "ks_alpha"])  # the fit itself is still reported
