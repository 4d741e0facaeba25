"""Every experiment of config.yaml, shrunk (tests/helpers.py: shrink), run end to
end once: tables, figures, experiment-specific numbers, incremental grids, report."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import ROOT, shrink
from htcore.figures import figure_names
from htcore.io import load_npz
from helpers import planned, smk, write_config

pytestmark = pytest.mark.slow

PAPER = yaml.safe_load((ROOT / "config.yaml").read_text())
SMALL = shrink(PAPER)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("all")
    write_config(work, SMALL)
    smk(work, "-j", "2", "all")
    return work


def tbl(work, exp, name="table"):
    return pd.read_parquet(work / "results" / exp / f"{name}.parquet")


def n_runs(exp: dict) -> int:
    n = len(exp.get("cases", [{}])) * len(exp["seeds"])
    for values in exp.get("grid", {}).values():
        n *= len(values)
    return n


@pytest.mark.parametrize("name", list(SMALL["experiments"]))
def test_each_experiment_has_its_table_and_figures(study, name):
    exp = SMALL["experiments"][name]
    t = tbl(study, name)
    assert t["eval_id"].nunique() == n_runs(exp)
    assert len(t) == t.groupby("eval_id").size().sum()
    assert t["step"].min() == 0
    assert np.isfinite(t.loc[~t["diverged"], ["train_loss", "test_loss", "kta", "sim"]]).all().all()
    plot = {"kind": "sweep", **exp.get("plot", {})}
    for fig in figure_names(plot):
        for ext in ("png", "pdf"):
            path = study / "results" / name / "figures" / f"{fig}.{ext}"
            assert path.stat().st_size > 5_000, path


def test_esd_evolution_probes_every_step_and_stores_updates(study):
    t = tbl(study, "esd_evolution")
    assert sorted(t["step"].unique()) == list(range(11))
    sv = tbl(study, "esd_evolution", "update_sv")
    ov = tbl(study, "esd_evolution", "overlaps")
    k = SMALL["updates"]["top_k"]
    runs = t["train_id"].nunique()
    assert len(ov) == runs * 10 * 4 * k * k
    assert set(ov["which"]) == {"U_Wt", "V_Wt", "U_Wnext", "V_Wnext"}
    assert ((ov["overlap"] >= 0) & (ov["overlap"] <= 1 + 1e-12)).all()
    # singular values of M_3 of one run equal a direct SVD of W_4 - W_3
    run = "optimizer~gd/lr~3000/seed~1"
    w = load_npz(study / "results/esd_evolution/train" / run / "weights.npz")
    direct = np.linalg.svd(w["W"][4].astype(np.float64) - w["W"][3].astype(np.float64), compute_uv=False)
    got = sv[(sv["train_id"] == run) & (sv["step"] == 3)].sort_values("index")["singular_value"].to_numpy()
    np.testing.assert_allclose(got, direct, rtol=1e-9)
    fe = tbl(study, "esd_evolution", "feature_esd")
    assert len(fe) == runs * 11 * SMALL["defaults"]["h"]


def test_lr_schedule_decays_the_learning_rate(study):
    trace = pd.read_parquet(study / "results/lr_schedule/train/lr_schedule~step/seed~0/trace.parquet")
    np.testing.assert_allclose(trace["lr"][:10], 1.0 * 0.6 ** np.arange(10))
    const = pd.read_parquet(study / "results/lr_schedule/train/lr_schedule~none/seed~0/trace.parquet")
    assert (const["lr"][:10] == 1.0).all()


def test_vary_reg_lambda_trains_once_per_seed(study):
    t = tbl(study, "vary_reg_lambda")
    assert t["train_id"].nunique() == len(SMALL["experiments"]["vary_reg_lambda"]["seeds"])
    assert t["eval_id"].nunique() == 4 * t["train_id"].nunique()
    # same W for every lambda: identical spectra and teacher alignment, different losses
    g = t.groupby(["train_id", "step"])
    assert (g["sim"].nunique() == 1).all() and (g["lambda_max"].nunique() == 1).all()
    assert (g["train_loss"].nunique() == 4).all()


def test_vary_n_uses_nested_data_and_full_batches(study):
    t = tbl(study, "vary_n")
    assert sorted(t["n"].unique()) == [30, 60, 90, 120]
    assert (t["batch_size"] == t["n"]).all()
    small = load_npz(study / "results/vary_n/data/n~30/seed~0.npz")
    big = load_npz(study / "results/vary_n/data/n~120/seed~0.npz")
    np.testing.assert_array_equal(small["X"], big["X"][:30])
    np.testing.assert_array_equal(small["W0"], big["W0"])


def test_long_horizon_has_log_spaced_snapshots(study):
    t = tbl(study, "long_horizon")
    steps = sorted(t["step"].unique())
    assert steps[0] == 0 and steps[-1] == 60 and 6 <= len(steps) <= 8
    gaps = np.diff(steps)
    assert gaps[-1] > gaps[0]  # denser early, sparser late


def test_minibatch_contrast_uses_minibatches(study):
    t = tbl(study, "minibatch_contrast")
    assert (t["batch_size"] == 20).all() and (t["n"] == 60).all()
    trace = pd.read_parquet(study / "results/minibatch_contrast/train/optimizer~gd/lr~1/seed~0/trace.parquet")
    assert len(trace) == 11  # 10 optimizer updates


def test_weight_norm_keeps_the_frobenius_norm(study):
    t = tbl(study, "weight_norm")
    on = t[t["weight_norm"] & ~t["diverged"]]
    off = t[~t["weight_norm"] & (t["step"] > 0) & (t["optimizer"] == "gd")]
    h, d = SMALL["defaults"]["h"], SMALL["defaults"]["d"]
    # every snapshot, the last included, is taken after the rescaling: ||W_t||_F^2 = h d
    assert len(on) and np.allclose(on["frob_norm2"], h * d, rtol=1e-5)
    assert off["frob_norm2"].max() > 2 * h * d  # without it, GD at lr 3000 grows W


def test_claims_are_judged_from_the_tables(study):
    from htcore.claims import CLAIMS, VERDICTS

    c = pd.read_parquet(study / "results/claims.parquet")
    assert set(c["claim_id"]) == {cl.id for cl in CLAIMS} | {"readout_scaling_robust"}
    assert set(c["verdict"]) <= set(VERDICTS) and "not run" not in set(c["verdict"])  # all experiments ran
    per_scaling = c[c["claim_id"] == "test_loss_sweet_spot"]
    assert set(per_scaling["readout_scaling"]) == {"spec", "authors"}
    # a number that comes from the tables: the paired margin of the best lr over the
    # worse grid end, per seed, median over seeds (calibrated read-out, spec scaling)
    t = tbl(study, "lr_sweep")
    last = t[(t["step"] == t["step"].max()) & (t["readout_scaling"] == "spec") & (t["optimizer"] == "adam")
             & (t["reg_lambda"].astype(str) == "cv")]
    piv = last.pivot_table(index="seed", columns="lr", values="test_loss", aggfunc="first")
    best = piv.mean().idxmin()
    margin = np.minimum(piv[piv.columns[0]] - piv[best], piv[piv.columns[-1]] - piv[best])
    row = per_scaling[(per_scaling["readout_scaling"] == "spec") & (per_scaling["case"] == "optimizer=adam")
                      & (per_scaling["reg_lambda"] == "cv")]
    assert row["value"].iloc[0] == pytest.approx(float(np.median(margin)), rel=1e-12, abs=1e-15)
    assert "Claim verdicts" in (study / "results/claims.html").read_text()


def test_loss_baselines_are_columns_of_every_table(study):
    from htcore.baselines import loss_baselines

    t = tbl(study, "vary_label_noise")
    for rho, g in t.groupby("label_noise_std"):
        expected = loss_baselines(rho)
        for col, v in expected.items():
            assert np.allclose(g[col], v, rtol=0, atol=1e-12), col
    assert t["baseline_best_odd"].min() == pytest.approx(loss_baselines(0.1)["baseline_best_odd"])


def test_report_builds_offline_with_every_experiment(study):
    smk(study, "--report", "results/report.html")
    html = (study / "results/report.html").read_text(errors="replace")
    for name in SMALL["experiments"]:
        assert name in html
    assert "Heavy tails in the weight spectrum" in html
    assert "0. Claim verdicts" in html  # the verdict page, first category


def test_adding_a_value_to_any_grid_plans_only_new_jobs(study, tmp_path):
    import shutil

    work = tmp_path / "copy"
    shutil.copytree(study, work, symlinks=True)
    cfg = copy.deepcopy(SMALL)
    cfg["experiments"]["vary_reg_lambda"]["grid"]["reg_lambda"].append(1.0)
    cfg["experiments"]["vary_n"]["grid"]["n"].append(45)
    write_config(work, cfg)
    jobs = planned(work)
    seeds = len(cfg["experiments"]["vary_n"]["seeds"])
    n_figs = len(figure_names({"kind": "steps"}))
    # no claims job: the claims read lr_sweep, esd_evolution, long_horizon and minibatch_contrast
    # vary_n: a new data set per seed, so a new initial run (step 0) per seed beside the run;
    # vary_reg_lambda: a new evaluation per seed, of the run and of its initial run
    new = 2 * seeds
    assert jobs == {"data": seeds, "train": new, "spectrum": new, "tails": new, "evaluate": new + 2 * seeds,
                    "collect": 2, "figure": 2 * n_figs, "all": 1}


def test_paper_config_expands_to_the_specified_runs(paper_config, schema):
    from htcore.config import load_study

    st = load_study(paper_config, schema)
    e = st.experiments
    # 2 optimizers x 9 lrs x 2 read-out scalings x 2 read-outs x 5 seeds; evaluations share training
    assert len(e["lr_sweep"].runs) == 2 * 9 * 2 * 2 * 5 and len(e["lr_sweep"].unique("train")) == 2 * 9 * 5
    assert e["lr_sweep"].runs[0].params.probe_steps == (0, 1, 10)
    assert {(r.params.optimizer, r.params.lr) for r in e["long_horizon"].runs} == {
        ("gd", 0.1), ("gd", 0.01), ("gd", 1000.0), ("adam", 0.001), ("adam", 0.01)}
    assert {(r.params.optimizer, r.params.lr) for r in e["esd_evolution"].runs} == {("adam", 1.0), ("gd", 3000.0)}
    assert len(e["vary_reg_lambda"].unique("train")) == 3 and len(e["vary_reg_lambda"].runs) == 12
    lh = e["long_horizon"].runs[0].params
    assert lh.steps == 10_000 and 35 <= len(lh.probe_steps) <= 40 and lh.probe_steps[:4] == (0, 1, 2, 3)
    assert all(r.params.batch_size == 200 for r in e["minibatch_contrast"].runs)
    assert e["lr_schedule"].runs[0].params.gamma == 0.6
    # one initial evaluation (step 0) per seed and read-out (2 scalings x 2 lambdas), of one
    # initial training per seed, shared by the 18 runs of each
    assert len(e["lr_sweep"].inits) == 5 * 4 and len(e["lr_sweep"].unique("train", with_inits=True)) == 95
    assert all(r.init_train_id == f"init~0/seed~{r.seed}" for r in e["lr_sweep"].runs)
    # weight normalisation acts at step 0: its own initial runs
    assert {i.train_id for i in e["weight_norm"].inits} == {
        f"init~0/weight_norm~{w}/seed~{s}" for w in ("false", "true") for s in (0, 1, 2)}
