"""htcore.claims: each verdict on small constructed tables whose answer is known, both ways."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from htcore import claims as C

LRS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
SEEDS = [0, 1, 2]


def sweep(spike_from: dict, alpha=None, test_loss=None, scalings=("spec",), steps=(0, 1, 10)) -> pd.DataFrame:
    """An lr_sweep-like table: optimizer x lr x scaling x seed x step. ``spike_from``:
    optimizer -> smallest lr with an outlier at step >= 1. ``alpha(opt, lr, seed)`` and
    ``test_loss(opt, lr, seed)`` give the last step's values."""
    rows = []
    for opt, lr, sc, seed, step in itertools.product(spike_from, LRS, scalings, SEEDS, steps):
        spiked = step > 0 and lr >= spike_from[opt]
        last = step == max(steps)
        rows.append({
            "experiment": "lr_sweep", "optimizer": opt, "lr": lr, "readout_scaling": sc, "seed": seed,
            "step": step, "train_id": f"{opt}/{lr}/{seed}", "eval_id": f"{opt}/{lr}/{sc}/{seed}",
            "diverged": False, "n_spikes": 1 if spiked else 0, "n_detached": 1 if spiked else 0,
            "shape_label": "bulk+spike" if spiked else "random-like", "ks_status": "ok",
            "ks_alpha": alpha(opt, lr, seed) if (alpha and last) else 10.0,
            "hill_alpha": 2.4, "sim": 0.4 if spiked and opt == "adam" else 0.03,
            "test_loss": test_loss(opt, lr, seed) if (test_loss and last) else 1.7,
            "lambda_max": 10.0, "mp_spike_threshold": 5.0,
            "baseline_zero": 1.01, "baseline_const": 0.36, "baseline_best_odd": 0.76,
        })
    return pd.DataFrame(rows)


def verdicts(rows: list[dict]) -> list[str]:
    return [r["verdict"] for r in rows]


def test_share_and_threshold_rules():
    assert [C.by_share(s) for s in (1.0, 0.8, 0.5, 0.2, 0.0)] == [C.HOLDS, C.HOLDS, C.INCONCLUSIVE, C.FAILS, C.FAILS]
    assert C.above(1.0, 0.1, 0.5) == C.HOLDS and C.above(0.2, 0.1, 0.5) == C.FAILS
    assert C.above(0.55, 0.1, 0.5) == C.INCONCLUSIVE and C.above(np.nan, 0.1, 0.5) == C.INCONCLUSIVE


def test_adam_spikes_at_smaller_lr_both_ways():
    far = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 0.01, "gd": 1000.0})})
    assert verdicts(far) == [C.HOLDS] and far[0]["value"] == pytest.approx(1e5)
    near = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 1.0, "gd": 1.0})})
    assert verdicts(near) == [C.FAILS] and near[0]["value"] == pytest.approx(1.0)
    # GD never spikes in the grid: the ratio is a lower bound (1000 / 0.001), still >= 100
    bound = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 0.001, "gd": np.inf})})
    assert verdicts(bound) == [C.HOLDS] and "lower bound" in bound[0]["evidence"]
    # Adam never spikes in the grid, GD does: ratio 0, against the claim (log10(0) crashed the job)
    quiet = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": np.inf, "gd": 1000.0})})
    assert verdicts(quiet) == [C.FAILS] and quiet[0]["value"] == 0 and "Adam never spiked" in quiet[0]["evidence"]


def test_adam_aligns_in_one_step():
    rows = C.judge_adam_aligns_in_one_step({"lr_sweep/table": sweep({"adam": 0.01, "gd": 1000.0})})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == pytest.approx(0.4)
    never = C.judge_adam_aligns_in_one_step({"lr_sweep/table": sweep({"adam": np.inf, "gd": 1000.0})})
    assert verdicts(never) == [C.FAILS]


def test_heavier_tails_at_larger_lr_both_ways():
    rng = np.random.default_rng(0)
    down = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 8 - np.log10(lr) + 0.1 * rng.standard_normal())
    up = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 3 + np.log10(lr) + 0.1 * rng.standard_normal())
    flat = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 4.0 + 0.1 * s)  # seeds differ, lr does nothing
    assert verdicts(C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": down})) == [C.HOLDS]
    assert verdicts(C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": up})) == [C.FAILS]
    assert C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": down})[0]["value"] < -0.9
    assert verdicts(C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": flat})) == [C.FAILS]


def test_sweet_spot_both_ways_and_per_scaling():
    u = sweep({"adam": 0.01}, test_loss=lambda o, lr, s: 1.0 + 0.1 * (np.log10(lr) - 0.0) ** 2 + 0.01 * s,
              scalings=("spec", "authors"))
    rows = C.judge_sweet_spot({"lr_sweep/table": u})
    assert verdicts(rows) == [C.HOLDS, C.HOLDS] and {r["readout_scaling"] for r in rows} == {"spec", "authors"}
    assert all("best lr 1" in r["evidence"] for r in rows)
    mono = sweep({"adam": 0.01}, test_loss=lambda o, lr, s: 2.0 - 0.1 * np.log10(lr))
    assert verdicts(C.judge_sweet_spot({"lr_sweep/table": mono})) == [C.FAILS]


def test_beats_zero_predictor_both_ways():
    good = sweep({"adam": 0.01}, test_loss=lambda o, lr, s: 0.8)
    bad = sweep({"adam": 0.01}, test_loss=lambda o, lr, s: 1.7)
    assert verdicts(C.judge_beats_zero_predictor({"lr_sweep/table": good})) == [C.HOLDS]
    assert verdicts(C.judge_beats_zero_predictor({"lr_sweep/table": bad})) == [C.FAILS]


def evolution(labels_by_step: list[str]) -> pd.DataFrame:
    rows = []
    for seed, (step, label) in itertools.product(SEEDS, enumerate(labels_by_step)):
        rows.append({"optimizer": "adam", "lr": 1.0, "seed": seed, "step": step, "train_id": f"r/{seed}",
                     "eval_id": f"r/{seed}", "diverged": False, "shape_label": label,
                     "n_spikes": 0 if label == "random-like" else 5, "n_detached": 1,
                     "lambda_max": 10.0, "mp_spike_threshold": 5.0})
    return pd.DataFrame(rows)


def test_bulk_spike_after_one_step_and_tail_from_spike_both_ways():
    story = evolution(["random-like", "bulk+spike", "bulk+spike", "heavy-tailed"])
    jump = evolution(["random-like", "heavy-tailed", "heavy-tailed", "heavy-tailed"])
    t = {"esd_evolution/table": story}
    assert verdicts(C.judge_bulk_spike_after_one_step(t)) == [C.HOLDS]
    assert verdicts(C.judge_tail_grows_from_spike(t)) == [C.HOLDS]
    t = {"esd_evolution/table": jump}
    assert verdicts(C.judge_bulk_spike_after_one_step(t)) == [C.FAILS]
    assert verdicts(C.judge_tail_grows_from_spike(t)) == [C.FAILS]


def test_minibatch_changes_alpha_both_ways():
    full = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 4.0 + 0.01 * s)
    same = full.assign(experiment="minibatch_contrast")
    shifted = same.assign(ks_alpha=same["ks_alpha"] + 2.0 * (same["step"] == 10))
    t = {"lr_sweep/table": full, "minibatch_contrast/table": same}
    assert verdicts(C.judge_minibatch_changes_alpha(t)) == [C.FAILS]
    t["minibatch_contrast/table"] = shifted
    rows = C.judge_minibatch_changes_alpha(t)
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == pytest.approx(2.0)


def test_judge_all_marks_missing_experiments_and_readout_dependence():
    table = sweep({"adam": 0.01, "gd": 1000.0}, alpha=lambda o, lr, s: 8 - np.log10(lr),
                  test_loss=lambda o, lr, s: 1.0 + 0.1 * np.log10(lr) ** 2,
                  scalings=("spec", "authors"))
    # authors' scaling: a monotone loss, so the sweet-spot verdict changes with the scaling
    mono = table["readout_scaling"].eq("authors") & table["step"].eq(10)
    table.loc[mono, "test_loss"] = 2.0 - 0.1 * np.log10(table.loc[mono, "lr"])
    out = C.judge_all({"lr_sweep/table": table})
    assert list(out.columns) == list(C.COLUMNS) and set(out["verdict"]) <= set(C.VERDICTS)
    missing = out[out["claim_id"] == "long_horizon_tail"]
    assert missing["verdict"].tolist() == [C.NOT_RUN] and "long_horizon" in missing["evidence"].iloc[0]
    meta = out[out["claim_id"] == "readout_scaling_robust"].iloc[0]
    assert meta["verdict"] == C.FAILS and meta["value"] >= 1 and "test_loss_sweet_spot" in meta["evidence"]
    assert C.tables_needed(["lr_sweep"]) == ["lr_sweep/table"]
    html = C.to_html(out)
    assert html.count("<tr>") == len(out) + 1 and "does not hold" in html


def test_features_show_spike_both_ways():
    table = evolution(["random-like", "bulk+spike", "bulk+spike"])
    rows = []
    for seed, step in itertools.product(SEEDS, range(3)):
        top = [3.6, 3.5] if step == 0 else [300.0, 3.5]  # a detached top eigenvalue after step 0
        for i, v in enumerate([1.0, 2.0, *top]):
            rows.append({"eval_id": f"r/{seed}", "step": step, "index": i, "eigenvalue": v})
    shown = pd.DataFrame(rows)
    t = {"esd_evolution/table": table, "esd_evolution/feature_esd": shown}
    out = C.judge_features_show_spike(t)
    assert verdicts(out) == [C.HOLDS] and out[0]["value"] == 1.0
    flat = shown.assign(eigenvalue=shown["eigenvalue"].where(shown["eigenvalue"] < 100, 3.7))
    t["esd_evolution/feature_esd"] = flat
    assert verdicts(C.judge_features_show_spike(t)) == [C.FAILS]


# ------------------------------------------------------------------ beyond the paper

def rank_table(spikes_per_k, last_label="heavy-tailed", optimizer="adam", lr=1.0) -> pd.DataFrame:
    """A teacher_rank-like table: k x seed x step 0..3; ``spikes_per_k(k, seed)`` outliers
    at steps >= 1 (bulk+spike), ``last_label`` at the last step."""
    rows = []
    for k, seed, step in itertools.product((1, 2, 4, 8), SEEDS, range(4)):
        n = spikes_per_k(k, seed) if step > 0 else 0
        label = "random-like" if step == 0 else (last_label if step == 3 else "bulk+spike")
        rows.append({"experiment": "teacher_rank", "optimizer": optimizer, "lr": lr, "teacher_k": k, "seed": seed,
                     "step": step, "train_id": f"{k}/{seed}", "eval_id": f"{k}/{seed}", "diverged": False,
                     "n_spikes": n + 30 * (step > 0), "n_detached": n, "shape_label": label})
    return pd.DataFrame(rows)


def test_spikes_track_teacher_rank_both_ways():
    tracks = C.judge_spikes_track_teacher_rank({"teacher_rank/table": rank_table(lambda k, s: k)})
    assert verdicts(tracks) == [C.HOLDS] and tracks[0]["value"] == pytest.approx(1.0)
    assert "k=8: 8 (38)" in tracks[0]["evidence"]  # spikes (all outliers, the edge group included)
    flat = C.judge_spikes_track_teacher_rank({"teacher_rank/table": rank_table(lambda k, s: 1 + s % 2)})
    assert verdicts(flat) == [C.FAILS] and abs(flat[0]["value"]) < 0.3
    one = C.judge_spikes_track_teacher_rank({"teacher_rank/table": rank_table(lambda k, s: 1)})
    assert verdicts(one) == [C.FAILS] and one[0]["value"] == 0.0  # one spike whatever k


def test_tail_grows_for_every_rank_both_ways():
    grows = C.judge_tail_grows_for_every_rank({"teacher_rank/table": rank_table(lambda k, s: k)})
    assert verdicts(grows) == [C.HOLDS] and grows[0]["value"] == 1.0
    stays = C.judge_tail_grows_for_every_rank({"teacher_rank/table": rank_table(lambda k, s: k, "bulk+spike")})
    assert verdicts(stays) == [C.FAILS] and stays[0]["value"] == 0.0


def test_sign_gd_spikes_like_adam_both_ways():
    def family(spike_from):
        t = sweep(spike_from)
        return {"optimizer_family/table": t.assign(experiment="optimizer_family")}

    alike = C.judge_sign_gd_spikes_like_adam(family({"gd": 1000.0, "adam": 0.01, "sign_gd": 0.01}))
    assert verdicts(alike) == [C.HOLDS] and alike[0]["value"] == pytest.approx(1.0)
    unlike = C.judge_sign_gd_spikes_like_adam(family({"gd": 1000.0, "adam": 0.01, "sign_gd": 1000.0}))
    assert verdicts(unlike) == [C.FAILS] and unlike[0]["value"] == pytest.approx(1e5)
