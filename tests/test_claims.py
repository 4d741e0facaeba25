"""htcore.claims: each verdict on small constructed tables whose answer is known, both ways.

Every judge of ``C.CLAIMS`` (and the meta-claim ``readout_dependence``) gets a table on
which it must hold and one on which it must not (and its documented inconclusive path
where it has one); each test checks the verdict and a number that could have come out
wrong (the value, the seeds that agree). The paired statistics (within seed), the
calibrated read-out first, judge_all and docs/claims.md's table are tested on their own.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from htcore import claims as C

ROOT = Path(__file__).resolve().parents[1]
LRS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
SEEDS = [0, 1, 2]
TAILED = "heavy-tailed"


def _at(v, *args):
    """``v``, or ``v(*args)`` when it is a function."""
    return v(*args) if callable(v) else v


def sweep(spike_from: dict, *, tail_from: dict | None = None, alpha=None, test_loss=None, zero_loss=1.01,
          sim=None, diverged=None, update_norm=0.5, scalings=("spec",), lambdas=("cv",), seeds=SEEDS,
          steps=(0, 1, 10), lrs=LRS, experiment="lr_sweep", baseline_zero=1.01) -> pd.DataFrame:
    """An lr_sweep-like table: optimizer x lr x read-out scaling x reg_lambda x seed x step.

    ``spike_from``: optimizer -> the smallest lr (or seed -> lr) with an outlier at steps
    >= 1 (bulk+spike); ``tail_from``: optimizer -> the smallest lr (or seed -> lr) whose
    last step is heavy-tailed. ``alpha(opt, lr, seed)`` and ``test_loss(opt, lr, seed,
    scaling, lam)`` give the last step's values; ``zero_loss`` is a number or seed ->
    number (each seed's own test set); ``sim(opt, lr, seed, step)``; ``diverged(opt, lr,
    seed)``: the run diverged at steps >= 1 (NaN metrics, shape "diverged")."""
    tail_from = tail_from or {}
    rows = []
    for opt, lr, sc, lam, seed, step in itertools.product(spike_from, lrs, scalings, lambdas, seeds, steps):
        last = step == max(steps)
        div = step > 0 and bool(diverged and diverged(opt, lr, seed))
        spiked = step > 0 and lr >= _at(spike_from[opt], seed)
        tailed = last and lr >= _at(tail_from.get(opt, np.inf), seed)
        label = "diverged" if div else TAILED if tailed else "bulk+spike" if spiked else "random-like"
        loss = test_loss(opt, lr, seed, sc, lam) if (test_loss and last) else 1.7
        rows.append({
            "experiment": experiment, "optimizer": opt, "lr": lr, "readout_scaling": sc, "reg_lambda": lam,
            "seed": seed, "step": step, "train_id": f"{opt}/{lr:g}/{seed}",
            "eval_id": f"{opt}/{lr:g}/{sc}/{lam}/{seed}", "diverged": div,
            "n_spikes": math.nan if div else int(spiked or tailed),
            "n_detached": math.nan if div else int(spiked or tailed), "shape_label": label,
            "ks_status": "ok", "ks_alpha": math.nan if div else (alpha(opt, lr, seed) if (alpha and last) else 10.0),
            "hill_alpha": 2.4, "sim": sim(opt, lr, seed, step) if sim else (0.4 if spiked and opt == "adam" else 0.03),
            "test_loss": math.nan if div else loss, "zero_loss": math.nan if div else _at(zero_loss, seed),
            "lambda_max": 10.0, "mp_spike_threshold": 5.0, "update_norm": _at(update_norm, opt, lr, seed),
            "baseline_zero": baseline_zero, "baseline_const": 0.36, "baseline_best_odd": 0.76,
            "train_state": "diverged" if div else "initial" if step == 0 else "trained",
        })
    return pd.DataFrame(rows)


def evolution(labels, steps=None, *, optimizer="adam", lr=1.0, seeds=SEEDS, update_norm=0.5, h=100, d=100,
              lambda_max=None) -> pd.DataFrame:
    """An esd_evolution-like (or long_horizon-like) table: per seed, ``labels[i]`` at
    ``steps[i]`` (``labels``: a list, or seed -> list; steps 0, 1, 2, ... by default).
    A snapshot other than random-like at step >= 1 has one detached spike."""
    rows = []
    for seed in seeds:
        labs = _at(labels, seed)
        for step, label in zip(steps or range(len(labs)), labs):
            outlier = step > 0 and label not in ("random-like", "diverged")
            rows.append({"experiment": "esd_evolution", "optimizer": optimizer, "lr": lr, "seed": seed,
                         "step": step, "train_id": f"{optimizer}/{lr:g}/{seed}",
                         "eval_id": f"{optimizer}/{lr:g}/{seed}", "diverged": label == "diverged",
                         "shape_label": label, "n_spikes": 5 if outlier else 0, "n_detached": int(outlier),
                         "lambda_max": _at(lambda_max, seed, step) if lambda_max else 10.0,
                         "mp_spike_threshold": 5.0, "hill_alpha": 3.0, "test_loss": 1.0,
                         "update_norm": 0.0 if step == 0 else _at(update_norm, seed), "h": h, "d": d,
                         "train_state": "diverged" if label == "diverged" else "initial" if step == 0 else "trained"})
    return pd.DataFrame(rows)


def rank_table(spikes, last_label=TAILED, cos2=0.03, optimizer="adam", lr=1.0, d=1000) -> pd.DataFrame:
    """A teacher_rank-like table: k x seed x step 0..3; ``spikes(k, seed)`` detached
    outliers at steps >= 1 (bulk+spike), ``last_label`` at the last step,
    ``cos2(k, seed)`` W's second principal cosine with span(B*) at the last step."""
    rows = []
    for k, seed, step in itertools.product((1, 2, 4, 8), SEEDS, range(4)):
        n = spikes(k, seed) if step > 0 else 0
        label = "random-like" if step == 0 else (last_label if step == 3 else "bulk+spike")
        rows.append({"experiment": "teacher_rank", "optimizer": optimizer, "lr": lr, "teacher_k": k, "seed": seed,
                     "step": step, "train_id": f"{k}/{seed}", "eval_id": f"{k}/{seed}", "diverged": False,
                     "n_spikes": n + 30 * (step > 0), "n_detached": n, "shape_label": label, "d": d,
                     "sim": 0.3, "sim_mean": 0.3, "sim_cos_1": 0.4,
                     "sim_cos_2": (_at(cos2, k, seed) if step == 3 else 0.03) if k > 1 else math.nan})
    return pd.DataFrame(rows)


def verdicts(rows: list[dict]) -> list[str]:
    return [r["verdict"] for r in rows]


def col(rows: list[dict], key: str) -> list:
    return [r[key] for r in rows]


# ------------------------------------------------------------------ the decision rules

def test_by_share():
    assert [C.by_share(s) for s in (1.0, 0.8, 0.79, 0.5, 0.21, 0.2, 0.0)] == \
        [C.HOLDS, C.HOLDS, C.INCONCLUSIVE, C.INCONCLUSIVE, C.INCONCLUSIVE, C.FAILS, C.FAILS]
    assert C.by_share(math.nan) == C.INCONCLUSIVE
    # the shares as agree() makes them: 4 of 5 seeds hold, 1 of 5 does not
    assert C.by_share(4 / 5) == C.HOLDS and C.by_share(1 / 5) == C.FAILS and C.by_share(2 / 3) == C.INCONCLUSIVE


def test_above():
    assert C.above(1.0, 0.1, 0.5) == C.HOLDS and C.above(0.2, 0.1, 0.5) == C.FAILS
    assert C.above(0.55, 0.1, 0.5) == C.INCONCLUSIVE and C.above(math.nan, 0.1, 0.5) == C.INCONCLUSIVE
    assert C.above(0.6, math.nan, 0.5) == C.HOLDS  # no spread: the value alone decides
    assert C.above(0.5, 0.0, 0.5) == C.INCONCLUSIVE  # on the threshold: neither


def test_agree():
    assert C.agree([True, False, True]) == "2/3"
    assert C.agree(np.array([1, 0, 0, 0])) == "1/4"
    assert C.agree(np.array([], dtype=bool)) == "0/0"
    assert C.agree(pd.Series([True] * 5)) == "5/5"


def test_moved_enough():
    # (h d)^(-1/4) with h = d = 100 is 0.1: the BBP threshold of a rank-one perturbation
    assert C.moved_enough(0.1, 100, 100) and C.moved_enough(0.5, 100, 100)
    assert not C.moved_enough(0.09, 100, 100)
    assert C.moved_enough(0.2, 10, 1000) and not C.moved_enough(0.05, 10, 1000)  # (10^4)^(-1/4) = 0.1
    assert not C.moved_enough(math.nan, 100, 100) and not C.moved_enough(math.inf, 100, 100)


# ------------------------------------------------------------------ the paper's claims

def test_bulk_spike_after_one_step_both_ways():
    story = {"esd_evolution/table": evolution(["random-like", "bulk+spike", "bulk+spike", TAILED])}
    rows = C.judge_bulk_spike_after_one_step(story)
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == 1.0 and rows[0]["seeds_agree"] == "3/3"
    assert rows[0]["case"] == "optimizer=adam, lr=1" and "step 1" in rows[0]["statistic"]
    jump = {"esd_evolution/table": evolution(["random-like", TAILED, TAILED, TAILED])}
    rows = C.judge_bulk_spike_after_one_step(jump)
    assert verdicts(rows) == [C.FAILS] and rows[0]["value"] == 0.0 and rows[0]["seeds_agree"] == "0/3"
    # one seed of three: neither
    mixed = evolution(lambda s: ["random-like", "bulk+spike" if s == 0 else TAILED, TAILED])
    rows = C.judge_bulk_spike_after_one_step({"esd_evolution/table": mixed})
    assert verdicts(rows) == [C.INCONCLUSIVE] and rows[0]["value"] == pytest.approx(1 / 3)
    assert rows[0]["seeds_agree"] == "1/3"
    # the first probe step is the first step > 0, whatever its number
    late = evolution(["random-like", "bulk+spike", TAILED], steps=[0, 5, 50])
    rows = C.judge_bulk_spike_after_one_step({"esd_evolution/table": late})
    assert verdicts(rows) == [C.HOLDS] and "step 5" in rows[0]["statistic"]


def test_adam_spikes_at_smaller_lr_both_ways():
    far = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 0.01, "gd": 1000.0})})
    assert verdicts(far) == [C.HOLDS] and far[0]["value"] == pytest.approx(1e5) and far[0]["seeds_agree"] == "3/3"
    assert far[0]["spread"] == pytest.approx(0.0)
    near = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 1.0, "gd": 1.0})})
    assert verdicts(near) == [C.FAILS] and near[0]["value"] == pytest.approx(1.0) and near[0]["seeds_agree"] == "0/3"
    # >= 100 in two seeds of three: the median is large, but not every seed -> inconclusive
    some = sweep({"adam": lambda s: 0.01 if s < 2 else 100.0, "gd": 1000.0})
    rows = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": some})
    assert verdicts(rows) == [C.INCONCLUSIVE] and rows[0]["value"] == pytest.approx(1e5)
    assert rows[0]["seeds_agree"] == "2/3"
    # GD never spikes in the grid: the ratio is a lower bound (1000 / 0.001), still >= 100
    bound = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 0.001, "gd": np.inf})})
    assert verdicts(bound) == [C.HOLDS] and bound[0]["value"] == pytest.approx(1e6)
    assert "lower bound" in bound[0]["evidence"]
    # Adam never spikes in the grid, GD does: ratio 0, against the claim
    quiet = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": np.inf, "gd": 1000.0})})
    assert verdicts(quiet) == [C.FAILS] and quiet[0]["value"] == 0 and "Adam never spiked" in quiet[0]["evidence"]
    only = C.judge_adam_spikes_at_smaller_lr({"lr_sweep/table": sweep({"adam": 0.01})})
    assert verdicts(only) == [C.INCONCLUSIVE]


def test_adam_aligns_in_one_step_both_ways():
    rows = C.judge_adam_aligns_in_one_step({"lr_sweep/table": sweep({"adam": 0.01, "gd": 1000.0})})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == pytest.approx(0.4) and rows[0]["seeds_agree"] == "3/3"
    never = C.judge_adam_aligns_in_one_step({"lr_sweep/table": sweep({"adam": np.inf, "gd": 1000.0})})
    assert verdicts(never) == [C.FAILS] and never[0]["value"] == pytest.approx(0.03)
    assert never[0]["seeds_agree"] == "0/3"
    # at the best lr (1) the seeds give 0.1, 0.3, 0.5: mean 0.3, sd 0.2 straddles 0.25
    spread = sweep({"adam": 0.01}, sim=lambda o, lr, s, step: 0.1 + 0.2 * s if (lr == 1.0 and step > 0) else 0.03)
    rows = C.judge_adam_aligns_in_one_step({"lr_sweep/table": spread})
    assert verdicts(rows) == [C.INCONCLUSIVE] and rows[0]["value"] == pytest.approx(0.3)
    assert rows[0]["spread"] == pytest.approx(0.2) and rows[0]["seeds_agree"] == "2/3"
    assert "at lr 1;" in rows[0]["evidence"]


def test_heavier_tails_at_larger_lr_both_ways():
    rng = np.random.default_rng(0)
    down = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 8 - np.log10(lr) + 0.1 * rng.standard_normal())
    # a failed KS fit is left out: its alpha against the trend does not count
    bad_fit = down["lr"].eq(1000.0) & down["step"].eq(10)
    down.loc[bad_fit, ["ks_alpha", "ks_status"]] = [100.0, "too-small"]
    down.loc[down["lr"].eq(100.0) & down["step"].eq(10), "train_state"] = "saturated"
    rows = C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": down})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] < -0.9 and rows[0]["spread"] < C.TREND_P
    assert "n = 18" in rows[0]["statistic"] and "100: " in rows[0]["evidence"] and "(saturated)" in rows[0]["evidence"]
    assert "n = 15" in rows[0]["evidence"]  # trained runs only: lr 100 left out
    up = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 3 + np.log10(lr) + 0.1 * rng.standard_normal())
    rows = C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": up})
    assert verdicts(rows) == [C.FAILS] and rows[0]["value"] > 0.9
    flat = sweep({"adam": 0.01}, alpha=lambda o, lr, s: 4.0 + 0.1 * s)  # seeds differ, lr does nothing
    rows = C.judge_heavier_tails_at_larger_lr({"lr_sweep/table": flat})
    assert verdicts(rows) == [C.FAILS] and rows[0]["value"] == pytest.approx(0.0, abs=1e-12)


def test_tail_grows_from_spike_two_rows_per_case():
    story = C.judge_tail_grows_from_spike(
        {"esd_evolution/table": evolution(["random-like", "bulk+spike", "bulk+spike", TAILED])})
    assert col(story, "case") == ["optimizer=adam, lr=1", "optimizer=adam, lr=1, the tail persists"]
    assert verdicts(story) == [C.HOLDS, C.HOLDS] and col(story, "value") == [1.0, 1.0]
    assert col(story, "seeds_agree") == ["3/3", "3/3"]
    # the tail comes and goes: the order holds, the tail does not persist
    transient = C.judge_tail_grows_from_spike(
        {"esd_evolution/table": evolution(["random-like", "bulk+spike", TAILED, "bulk+spike"])})
    assert verdicts(transient) == [C.HOLDS, C.FAILS] and col(transient, "value") == [1.0, 0.0]
    assert col(transient, "seeds_agree") == ["3/3", "0/3"]
    # a tail without a spike first: the order does not hold
    jump = C.judge_tail_grows_from_spike(
        {"esd_evolution/table": evolution(["random-like", TAILED, TAILED, TAILED])})
    assert verdicts(jump) == [C.FAILS, C.HOLDS] and col(jump, "seeds_agree") == ["0/3", "3/3"]
    # no tail at all: the order does not hold, persistence cannot be judged
    none = C.judge_tail_grows_from_spike(
        {"esd_evolution/table": evolution(["random-like", "bulk+spike", "bulk+spike", "bulk+spike"])})
    assert verdicts(none) == [C.FAILS, C.INCONCLUSIVE] and none[0]["value"] == 0.0 and math.isnan(none[1]["value"])
    assert col(none, "seeds_agree") == ["0/3", "0/0"]
    # persistence is judged among the seeds with a tail only: seed 0 keeps it, seed 1 loses
    # it, seed 2 has none
    runs = {0: ["random-like", "bulk+spike", TAILED, TAILED], 1: ["random-like", "bulk+spike", TAILED, "bulk+spike"],
            2: ["random-like", "bulk+spike", "bulk+spike", "bulk+spike"]}
    some = C.judge_tail_grows_from_spike({"esd_evolution/table": evolution(runs.get)})
    assert some[0]["seeds_agree"] == "2/3" and some[1]["seeds_agree"] == "1/2"
    assert some[1]["value"] == pytest.approx(0.5) and verdicts(some) == [C.INCONCLUSIVE, C.INCONCLUSIVE]


def u_shape(curv=0.1, shift=lambda s: 0.0):
    """A test loss best at lr 1: shift(seed) + 1 + curv * log10(lr)^2."""
    return lambda o, lr, s, sc, lam: shift(s) + 1.0 + curv * np.log10(lr) ** 2


def falling(o, lr, s, sc, lam):
    """A test loss best at the largest lr: 2 - 0.1 (log10 lr + 3)."""
    return 2.0 - 0.1 * (np.log10(lr) + 3)


def test_sweet_spot_both_ways_calibrated_readout_first():
    # calibrated read-out: a sweet spot at lr 1; the paper's lambda: monotone (best at the grid end)
    def loss(o, lr, s, sc, lam):
        return u_shape()(o, lr, s, sc, lam) if lam == "cv" else falling(o, lr, s, sc, lam)

    t = sweep({"adam": 0.01}, lambdas=("0.01", "cv"), test_loss=loss)
    rows = C.judge_sweet_spot({"lr_sweep/table": t})
    assert col(rows, "reg_lambda") == ["cv", "0.01"]  # cv first, whatever the table's order
    assert verdicts(rows) == [C.HOLDS, C.FAILS]
    assert rows[0]["value"] == pytest.approx(0.9) and rows[0]["seeds_agree"] == "3/3"  # 1.9 at both ends, 1.0 at lr 1
    assert rows[1]["value"] == pytest.approx(0.0) and rows[1]["seeds_agree"] == "0/3"  # best is the end itself
    assert "best lr 1;" in rows[0]["evidence"] and "best lr 1000;" in rows[1]["evidence"]
    assert "calibrated" in rows[0]["statistic"] and "fixed lambda 0.01" in rows[1]["statistic"]


def test_sweet_spot_is_paired_within_seed():
    # each seed's test set is shifted by its own constant (0, 5, 10; its zero loss too):
    # the seed-to-seed spread dwarfs the effect, yet every seed prefers lr 1
    shift = {0: 0.0, 1: 5.0, 2: 10.0}
    t = sweep({"adam": 0.01}, test_loss=u_shape(0.01, shift.get), zero_loss=lambda s: 2.0 + shift[s])
    end = t[t["step"] == 10]
    assert end.groupby("lr")["test_loss"].std().min() > 10 * 0.09  # an unpaired comparison drowns in it
    rows = C.judge_sweet_spot({"lr_sweep/table": t})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["seeds_agree"] == "3/3"
    assert rows[0]["value"] == pytest.approx(0.09)  # 0.01 * 3^2 in every seed, the shifts cancel


def test_sweet_spot_needs_the_seeds_to_agree():
    # seed 0 falls with lr, seed 1 rises, both dip at lr 1: the mean is best at lr 1
    # (inside the grid) but in neither seed does lr 1 beat both ends
    def loss(o, lr, s, sc, lam):
        x = np.log10(lr) + 3
        return (2.0 - 0.1 * x if s == 0 else 1.4 + 0.1 * x) - 0.05 * (lr == 1.0)

    rows = C.judge_sweet_spot({"lr_sweep/table": sweep({"adam": 0.01}, test_loss=loss, seeds=[0, 1])})
    assert "best lr 1;" in rows[0]["evidence"]
    assert verdicts(rows) == [C.FAILS] and rows[0]["seeds_agree"] == "0/2" and rows[0]["value"] == pytest.approx(-0.25)


def test_sweet_spot_counts_a_diverged_run_as_worse():
    # the loss falls with lr up to 100; lr 1000 diverges in every seed (NaN loss): as +inf
    # the best lr (100) is inside the grid and beats both ends
    t = sweep({"adam": 0.01}, test_loss=falling, diverged=lambda o, lr, s: lr == 1000.0)
    rows = C.judge_sweet_spot({"lr_sweep/table": t})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["seeds_agree"] == "3/3"
    assert rows[0]["value"] == pytest.approx(0.5)  # the low end (2.0) minus lr 100 (1.5); the high end is inf
    assert "best lr 100;" in rows[0]["evidence"] and "diverged" in rows[0]["evidence"]


def test_beats_zero_predictor_both_ways_calibrated_readout_first():
    # reg_lambda as a number beside "cv" (an object column): read as text "0.01"
    t = sweep({"adam": 0.01}, lambdas=(0.01, "cv"), test_loss=lambda o, lr, s, sc, lam: 0.8 if lam == "cv" else 1.7)
    rows = C.judge_beats_zero_predictor({"lr_sweep/table": t})
    assert col(rows, "reg_lambda") == ["cv", "0.01"] and verdicts(rows) == [C.HOLDS, C.FAILS]
    assert rows[0]["value"] == pytest.approx(1.01 - 0.8) and rows[0]["seeds_agree"] == "3/3"
    assert rows[1]["value"] == pytest.approx(1.01 - 1.7) and rows[1]["seeds_agree"] == "0/3"


def test_beats_zero_predictor_is_paired_within_seed():
    # each seed's zero predictor has its own loss (0.5, 1.0, 1.5); at lr 1 the read-out beats
    # it by 0.02 in every seed. Its mean test loss (0.98) is above the population zero loss
    # (0.9): an unpaired comparison would say it does not beat zero.
    zero = {0: 0.5, 1: 1.0, 2: 1.5}
    t = sweep({"adam": 0.01}, zero_loss=zero.get, baseline_zero=0.9,
              test_loss=lambda o, lr, s, sc, lam: zero[s] - 0.02 if lr == 1.0 else zero[s] + 0.5)
    at = t[(t["step"] == 10) & (t["lr"] == 1.0)]
    assert at["test_loss"].mean() > at["baseline_zero"].iloc[0]
    rows = C.judge_beats_zero_predictor({"lr_sweep/table": t})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["seeds_agree"] == "3/3"
    assert rows[0]["value"] == pytest.approx(0.02) and rows[0]["spread"] == pytest.approx(0.0, abs=1e-12)
    assert "best lr 1:" in rows[0]["evidence"]


def test_beats_zero_predictor_leaves_diverged_runs_out():
    # lr 1000 diverges (NaN loss): not a candidate for the best lr, no crash
    t = sweep({"adam": 0.01}, test_loss=lambda o, lr, s, sc, lam: 0.9, diverged=lambda o, lr, s: lr == 1000.0)
    rows = C.judge_beats_zero_predictor({"lr_sweep/table": t})
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == pytest.approx(0.11)


def test_beats_zero_predictor_ignores_the_early_snapshot_of_a_run_diverged_at_the_end():
    # every run that is finite at the last step loses to zero (1.5 > 1.01); lr 1000 diverges
    # at the last step, its step-1 read-out (0.1) is no end of training: does not hold
    t = sweep({"adam": 0.01}, test_loss=lambda o, lr, s, sc, lam: 1.5)
    late = t["lr"].eq(1000.0) & t["step"].eq(10)
    t.loc[late, ["diverged", "test_loss", "zero_loss", "shape_label"]] = [True, math.nan, math.nan, "diverged"]
    t.loc[t["lr"].eq(1000.0) & t["step"].eq(1), "test_loss"] = 0.1
    rows = C.judge_beats_zero_predictor({"lr_sweep/table": t})
    assert verdicts(rows) == [C.FAILS] and rows[0]["seeds_agree"] == "0/3"


def test_beats_zero_predictor_without_step_zero():
    t = sweep({"adam": 0.01}, test_loss=lambda o, lr, s, sc, lam: 0.8, steps=(1, 10))
    rows = C.judge_beats_zero_predictor({"lr_sweep/table": t})
    assert verdicts(rows) == [C.HOLDS]


def overlaps_case(left, right, sigma=(1.0, 2.0, 5.0, 5.1)):
    """An esd_evolution table (steps 0..3, sqrt(lambda_max) = sigma[step]) and its
    overlaps: ``left(seed, step)`` / ``right(seed, step)`` the top-1 overlap of the
    update step -> step + 1 (steps 1 and 2; step 0 and the non-top entries are noise)."""
    table = evolution(["random-like", "bulk+spike", "bulk+spike", "bulk+spike"],
                      lambda_max=lambda s, step: sigma[step] ** 2)
    rows = []
    for seed, step, which, i, j in itertools.product(SEEDS, range(3), ("U_Wt", "V_Wt", "U_Wnext"), (0, 1), (0, 1)):
        top = i == 0 and j == 0 and step >= 1
        side = left if which == "U_Wt" else right if which == "V_Wt" else (lambda s, st: 0.99)
        rows.append({"experiment": "esd_evolution", "train_id": f"adam/1/{seed}", "seed": seed, "step": step,
                     "next_step": step + 1, "which": which, "i": i, "j": j,
                     "overlap": side(seed, step) if top else 0.0})
    return {"esd_evolution/table": table, "esd_evolution/overlaps": pd.DataFrame(rows)}


def test_updates_align_per_side_weighted_by_the_move_of_sigma1():
    # sigma_1: 1, 2, 5, 5.1 -> the update 1 -> 2 moves it by 3, the update 2 -> 3 by 0.1.
    # left: 0.9 then 0.1 (weighted mean 0.874; unweighted 0.5 would not pass 0.5);
    # right: 0.1 then 0.9 (weighted mean 0.126)
    t = overlaps_case(lambda s, st: 0.9 if st == 1 else 0.1, lambda s, st: 0.1 if st == 1 else 0.9)
    rows = C.judge_updates_align(t)
    assert col(rows, "case") == ["optimizer=adam, lr=1, side=left", "optimizer=adam, lr=1, side=right"]
    assert verdicts(rows) == [C.HOLDS, C.FAILS]
    assert rows[0]["value"] == pytest.approx((0.9 * 3 + 0.1 * 0.1) / 3.1)
    assert rows[1]["value"] == pytest.approx((0.1 * 3 + 0.9 * 0.1) / 3.1)
    assert col(rows, "seeds_agree") == ["3/3", "0/3"]
    # seed 2 aligns on the left only in the update that barely moves sigma_1: 2 of 3 seeds
    t = overlaps_case(lambda s, st: (0.9 if st == 1 else 0.1) if s < 2 else (0.1 if st == 1 else 0.9),
                      lambda s, st: 0.9)
    rows = C.judge_updates_align(t)
    assert verdicts(rows) == [C.INCONCLUSIVE, C.HOLDS] and col(rows, "seeds_agree") == ["2/3", "3/3"]
    assert rows[1]["value"] == pytest.approx(0.9) and rows[1]["spread"] == pytest.approx(0.0, abs=1e-12)


def test_long_horizon_tail_both_ways_and_inconclusive_when_w_barely_moved():
    steps = [0, 100, 10000]
    lh = lambda labels, **kw: {"long_horizon/table": evolution(labels, steps, **kw)}  # noqa: E731
    # h = d = 100: W must move by (hd)^(-1/4) = 0.1 relative to W_0
    rows = C.judge_long_horizon_tail(lh(["random-like", "random-like", TAILED], update_norm=0.5))
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == 1.0 and rows[0]["seeds_agree"] == "3/3"
    assert "10000 steps" in rows[0]["statistic"]
    rows = C.judge_long_horizon_tail(lh(["random-like", "random-like", "bulk+spike"], update_norm=0.5))
    assert verdicts(rows) == [C.FAILS] and rows[0]["value"] == 0.0 and rows[0]["seeds_agree"] == "0/3"
    # W barely moved and no tail: the case cannot answer
    rows = C.judge_long_horizon_tail(lh(["random-like", "random-like", "random-like"], update_norm=0.01))
    assert verdicts(rows) == [C.INCONCLUSIVE] and rows[0]["value"] == 0.0 and "barely moved" in rows[0]["evidence"]
    # one seed of three barely moved: still inconclusive when no tail was found
    rows = C.judge_long_horizon_tail(lh(["random-like", "random-like", "random-like"],
                                        update_norm=lambda s: 0.01 if s == 0 else 0.5))
    assert verdicts(rows) == [C.INCONCLUSIVE]
    # a tail found although W barely moved: the verdict stands
    rows = C.judge_long_horizon_tail(lh(["random-like", TAILED, TAILED], update_norm=0.01))
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == 1.0


def minibatch_case(mini_alpha_shift, full_tail_from=1.0, mini_tail_from=1.0, untailed_shift=5.0):
    """A full-batch lr_sweep and a minibatch_contrast table: both tailed at lr >= the
    given lr (last step); full alpha 2 + 0.01 seed; the minibatch alpha shifted by
    ``mini_alpha_shift(lr, seed)`` where both are tailed and by ``untailed_shift``
    elsewhere; the minibatch moves W half as far."""
    full = sweep({"adam": 0.01}, tail_from={"adam": full_tail_from}, alpha=lambda o, lr, s: 2.0 + 0.01 * s,
                 update_norm=0.4)
    mini = sweep({"adam": 0.01}, tail_from={"adam": mini_tail_from}, experiment="minibatch_contrast",
                 alpha=lambda o, lr, s: 2.0 + 0.01 * s + (mini_alpha_shift(lr, s)
                                                          if lr >= max(full_tail_from, mini_tail_from)
                                                          else untailed_shift), update_norm=0.2)
    return {"lr_sweep/table": full, "minibatch_contrast/table": mini}


def test_minibatch_changes_alpha_both_ways():
    rows = C.judge_minibatch_changes_alpha(minibatch_case(lambda lr, s: 0.5 + 0.01 * s))
    assert verdicts(rows) == [C.HOLDS] and rows[0]["value"] == pytest.approx(0.51)
    assert rows[0]["seeds_agree"] == "12/12" and "n = 12" in rows[0]["statistic"]  # lr 1..1000 x 3 seeds
    assert rows[0]["spread"] == pytest.approx(1.96 * np.std([0.5, 0.51, 0.52] * 4, ddof=1) / math.sqrt(12))
    assert "median 0.5" in rows[0]["evidence"]  # the update norm ratio, minibatch over full batch
    # no change where both have a tail; the pairs without a tail (shifted by 5) do not count
    rows = C.judge_minibatch_changes_alpha(minibatch_case(lambda lr, s: 0.0))
    assert verdicts(rows) == [C.FAILS] and rows[0]["value"] == pytest.approx(0.0) and rows[0]["seeds_agree"] == "0/12"


def test_minibatch_changes_alpha_inconclusive_with_fewer_than_two_tailed_pairs():
    rows = C.judge_minibatch_changes_alpha(minibatch_case(lambda lr, s: 2.0, mini_tail_from=np.inf))
    assert verdicts(rows) == [C.INCONCLUSIVE] and math.isnan(rows[0]["value"]) and rows[0]["seeds_agree"] == "0/0"
    assert "0 of 21 pairs" in rows[0]["evidence"]
    one = minibatch_case(lambda lr, s: 2.0, full_tail_from=1000.0, mini_tail_from=1000.0)
    t = one["minibatch_contrast/table"]
    t.loc[(t["seed"] > 0) & (t["step"] == 10) & (t["lr"] == 1000.0), "shape_label"] = "bulk+spike"
    rows = C.judge_minibatch_changes_alpha(one)
    assert verdicts(rows) == [C.INCONCLUSIVE] and rows[0]["value"] == pytest.approx(2.0)
    assert rows[0]["seeds_agree"] == "1/1"


def feature_case(top_after, top_init=(10.0, 11.0), seed_init=None):
    """An esd_evolution table (steps 0..3: random-like, bulk+spike, bulk+spike,
    random-like) and its feature ESDs: eigenvalues 1, 2, then ``top_init`` at step 0
    (``seed_init(seed)`` instead where given) and ``top_after`` at steps >= 1."""
    table = evolution(["random-like", "bulk+spike", "bulk+spike", "random-like"])
    rows = []
    for seed, step in itertools.product(SEEDS, range(4)):
        top = (seed_init(seed) if seed_init else top_init) if step == 0 else top_after
        for i, v in enumerate([1.0, 2.0, *top]):
            rows.append({"experiment": "esd_evolution", "eval_id": f"adam/1/{seed}", "train_id": f"adam/1/{seed}",
                         "seed": seed, "step": step, "index": i, "eigenvalue": v})
    return {"esd_evolution/table": table, "esd_evolution/feature_esd": pd.DataFrame(rows)}


def test_feature_top_ratio_returns_ratio_and_largest_top_gap():
    fe = feature_case((10.0, 100.0))["esd_evolution/feature_esd"]
    r = C.feature_top_ratio(fe).set_index(["eval_id", "step"])
    assert {"feature_ratio", "feature_max_gap"} <= set(r.columns)
    # at initialisation 1, 2, 10, 11: lambda_1 / lambda_2 = 1.1, the largest top gap 10 / 2 = 5
    assert r.loc[("adam/1/0", 0), "feature_ratio"] == pytest.approx(1.1)
    assert r.loc[("adam/1/0", 0), "feature_max_gap"] == pytest.approx(5.0)
    assert r.loc[("adam/1/0", 1), "feature_ratio"] == pytest.approx(10.0)


def test_features_show_spike_both_ways():
    # after step 0: 1, 2, 10, 100 -> lambda_1 / lambda_2 = 10, above the null (5)
    shown = C.judge_features_show_spike(feature_case((10.0, 100.0)))
    assert verdicts(shown) == [C.HOLDS] and shown[0]["value"] == 1.0
    assert shown[0]["seeds_agree"] == "6/6"  # 3 seeds x steps 1, 2 (step 3 has no detached spike)
    # 1, 2, 10, 30: lambda_1 / lambda_2 = 3 is above the initial lambda_1 / lambda_2 (1.1)
    # but not above the initial spectrum's largest top gap (5): not shown
    hidden = C.judge_features_show_spike(feature_case((10.0, 30.0)))
    assert verdicts(hidden) == [C.FAILS] and hidden[0]["value"] == 0.0 and hidden[0]["seeds_agree"] == "0/6"
    # the null is the same seed's: seed 2 starts with a gap of 20, above the 10 after
    own = C.judge_features_show_spike(feature_case((10.0, 100.0), seed_init=lambda s: (10.0, 200.0) if s == 2
                                                   else (10.0, 11.0)))
    assert verdicts(own) == [C.INCONCLUSIVE] and own[0]["value"] == pytest.approx(4 / 6)
    assert own[0]["seeds_agree"] == "4/6"


# ------------------------------------------------------------------ beyond the paper

def test_one_spike_for_any_rank_both_ways():
    one = C.judge_one_spike_for_any_rank({"teacher_rank/table": rank_table(lambda k, s: 1 if k > 1 else 0)})
    assert verdicts(one) == [C.HOLDS] and one[0]["value"] == 1.0
    assert one[0]["seeds_agree"] == "9/9"  # k = 2, 4, 8 x 3 seeds; k = 1 (no spike here) is left out
    tracks = C.judge_one_spike_for_any_rank({"teacher_rank/table": rank_table(lambda k, s: k)})
    assert verdicts(tracks) == [C.FAILS] and tracks[0]["value"] == 0.0 and tracks[0]["seeds_agree"] == "0/9"
    assert "k=8: 8 detached" in tracks[0]["evidence"]
    some = C.judge_one_spike_for_any_rank({"teacher_rank/table": rank_table(lambda k, s: 1 if s < 2 else 2)})
    assert verdicts(some) == [C.INCONCLUSIVE] and some[0]["value"] == pytest.approx(2 / 3)
    assert some[0]["seeds_agree"] == "6/9"


def test_rank_judges_split_centred_from_uncentred_teachers():
    """With teacher_center varied, each (optimizer, lr, teacher_center) is its own row:
    one spike for the centred teacher, k spikes for the uncentred one here."""
    plain = rank_table(lambda k, s: k).assign(teacher_center=False)
    centred = rank_table(lambda k, s: 1).assign(teacher_center=True)
    centred[["train_id", "eval_id"]] = "c" + centred[["train_id", "eval_id"]]
    rows = C.judge_one_spike_for_any_rank({"teacher_rank/table": pd.concat([plain, centred])})
    assert col(rows, "case") == ["optimizer=adam, lr=1, teacher_center=False", "optimizer=adam, lr=1, teacher_center=True"]
    assert verdicts(rows) == [C.FAILS, C.HOLDS] and col(rows, "seeds_agree") == ["0/9", "9/9"]
    one_kind = C.judge_one_spike_for_any_rank({"teacher_rank/table": centred})
    assert col(one_kind, "case") == ["optimizer=adam, lr=1"]  # not varied: the case reads as before
    grows = C.judge_tail_grows_for_every_rank({"teacher_rank/table": pd.concat([plain, centred])})
    assert len(grows) == 2 and verdicts(grows) == [C.HOLDS, C.HOLDS]


def test_more_directions_with_steps_both_ways():
    # d = 1000: 3 sqrt(k/d) is 0.134 (k = 2), 0.190 (k = 4), 0.268 (k = 8)
    learned = C.judge_more_directions_with_steps({"teacher_rank/table": rank_table(lambda k, s: 1, cos2=0.5)})
    assert verdicts(learned) == [C.HOLDS] and learned[0]["value"] == 1.0 and learned[0]["seeds_agree"] == "9/9"
    random = C.judge_more_directions_with_steps({"teacher_rank/table": rank_table(lambda k, s: 1, cos2=0.05)})
    assert verdicts(random) == [C.FAILS] and random[0]["value"] == 0.0 and random[0]["seeds_agree"] == "0/9"
    # 0.2 clears the level for k = 2 and 4, not for k = 8
    some = C.judge_more_directions_with_steps({"teacher_rank/table": rank_table(lambda k, s: 1, cos2=0.2)})
    assert verdicts(some) == [C.INCONCLUSIVE] and some[0]["value"] == pytest.approx(2 / 3)
    assert some[0]["seeds_agree"] == "6/9"
    # at the last step only: a second cosine of 0.5 at step 1 that falls back does not count
    back = rank_table(lambda k, s: 1, cos2=0.05)
    back.loc[(back["step"] == 1) & (back["teacher_k"] > 1), "sim_cos_2"] = 0.5
    assert verdicts(C.judge_more_directions_with_steps({"teacher_rank/table": back})) == [C.FAILS]
    no_col = rank_table(lambda k, s: 1).drop(columns="sim_cos_2")
    assert verdicts(C.judge_more_directions_with_steps({"teacher_rank/table": no_col})) == [C.INCONCLUSIVE]


def test_tail_grows_for_every_rank_both_ways():
    grows = C.judge_tail_grows_for_every_rank({"teacher_rank/table": rank_table(lambda k, s: k)})
    assert verdicts(grows) == [C.HOLDS] and grows[0]["value"] == 1.0 and grows[0]["seeds_agree"] == "9/9"
    stays = C.judge_tail_grows_for_every_rank({"teacher_rank/table": rank_table(lambda k, s: k, "bulk+spike")})
    assert verdicts(stays) == [C.FAILS] and stays[0]["value"] == 0.0 and stays[0]["seeds_agree"] == "0/9"


def family(spike_from, tail_from):
    return {"optimizer_family/table": sweep(spike_from, tail_from=tail_from, experiment="optimizer_family")}


def test_sign_gd_tail_like_adam_both_ways():
    alike = C.judge_sign_gd_tail_like_adam(family({"gd": 1000.0, "adam": 0.01, "sign_gd": 0.01},
                                                  {"adam": 10.0, "sign_gd": 10.0}))
    assert verdicts(alike) == [C.HOLDS] and alike[0]["value"] == 1.0
    assert alike[0]["seeds_agree"] == "9/9"  # Adam tailed at lr 10, 100, 1000 x 3 seeds
    assert "step 10" in alike[0]["statistic"]
    unlike = C.judge_sign_gd_tail_like_adam(family({"gd": 1000.0, "adam": 0.01, "sign_gd": 0.01},
                                                   {"adam": 10.0}))
    assert verdicts(unlike) == [C.FAILS] and unlike[0]["value"] == 0.0 and unlike[0]["seeds_agree"] == "0/9"
    some = C.judge_sign_gd_tail_like_adam(family({"adam": 0.01, "sign_gd": 0.01}, {"adam": 10.0, "sign_gd": 100.0}))
    assert verdicts(some) == [C.INCONCLUSIVE] and some[0]["value"] == pytest.approx(2 / 3)
    assert some[0]["seeds_agree"] == "6/9"


def test_sign_gd_tail_like_adam_inconclusive_without_an_adam_tail():
    none = C.judge_sign_gd_tail_like_adam(family({"adam": 0.01, "sign_gd": 0.01}, {"sign_gd": 10.0}))
    assert verdicts(none) == [C.INCONCLUSIVE] and math.isnan(none[0]["value"]) and none[0]["seeds_agree"] == "0/0"
    missing = C.judge_sign_gd_tail_like_adam(family({"adam": 0.01, "gd": 1000.0}, {"adam": 10.0}))
    assert verdicts(missing) == [C.INCONCLUSIVE] and "sign_gd" in missing[0]["evidence"]


# ------------------------------------------------------------------ the read-outs, judge_all, the table

def test_readouts_calibrated_first():
    t = pd.DataFrame({"readout_scaling": ["spec", "authors", "spec", "authors"],
                      "reg_lambda": [0.01, "cv", "cv", 0.01], "x": range(4)})
    assert [(sc, lam) for sc, lam, _ in C.readouts(t)] == \
        [("spec", "cv"), ("authors", "cv"), ("spec", "0.01"), ("authors", "0.01")]


def verdict_rows(*rows) -> pd.DataFrame:
    """claims.parquet-like rows from (claim_id, case, readout_scaling, reg_lambda, verdict)."""
    return pd.DataFrame([{"claim_id": c, "case": case, "readout_scaling": sc, "reg_lambda": lam, "verdict": v}
                         for c, case, sc, lam, v in rows])


def test_readout_dependence_both_ways_at_the_calibrated_readout():
    sweet, zero = "test_loss_sweet_spot", "beats_zero_predictor"
    # the scalings agree at cv; they differ at the paper's lambda, which is not compared
    same = C.readout_dependence(verdict_rows(
        (sweet, "optimizer=adam", "spec", "cv", C.HOLDS), (sweet, "optimizer=adam", "authors", "cv", C.HOLDS),
        (zero, "optimizer=adam", "spec", "cv", C.FAILS), (zero, "optimizer=adam", "authors", "cv", C.FAILS),
        (sweet, "optimizer=adam", "spec", "0.01", C.HOLDS), (sweet, "optimizer=adam", "authors", "0.01", C.FAILS),
        ("bulk_spike_one_step", "optimizer=adam, lr=1", "", "", C.HOLDS)))
    assert same["verdict"] == C.HOLDS and same["value"] == 0 and same["reg_lambda"] == "cv"
    assert same["evidence"] == "all 2 agree" and same["claim_id"] == "readout_scaling_robust"
    differ = C.readout_dependence(verdict_rows(
        (sweet, "optimizer=adam", "spec", "cv", C.HOLDS), (sweet, "optimizer=adam", "authors", "cv", C.FAILS),
        (zero, "optimizer=adam", "spec", "cv", C.FAILS), (zero, "optimizer=adam", "authors", "cv", C.FAILS),
        (sweet, "optimizer=adam", "spec", "0.01", C.HOLDS), (sweet, "optimizer=adam", "authors", "0.01", C.HOLDS)))
    assert differ["verdict"] == C.FAILS and differ["value"] == 1
    assert "test_loss_sweet_spot [optimizer=adam]" in differ["evidence"] and zero not in differ["evidence"]
    # without a calibrated read-out the fixed lambda is compared
    fixed = C.readout_dependence(verdict_rows(
        (sweet, "optimizer=adam", "spec", "0.01", C.HOLDS), (sweet, "optimizer=adam", "authors", "0.01", C.FAILS)))
    assert fixed["verdict"] == C.FAILS and fixed["value"] == 1 and fixed["reg_lambda"] == "0.01"
    # one scaling only: not run
    one = C.readout_dependence(verdict_rows((sweet, "optimizer=adam", "spec", "cv", C.HOLDS)))
    assert one["verdict"] == C.NOT_RUN
    none = C.readout_dependence(verdict_rows(("bulk_spike_one_step", "", "", "", C.HOLDS)))
    assert none["verdict"] == C.NOT_RUN


def full_sweep(authors_loss_at) -> pd.DataFrame:
    """An lr_sweep with two optimizers, both scalings and both lambdas: a sweet spot at
    lr 1, except the authors' scaling at ``authors_loss_at`` (a lambda), where the loss
    falls with lr."""
    def loss(o, lr, s, sc, lam):
        if sc == "authors" and lam == authors_loss_at:
            return falling(o, lr, s, sc, lam)
        return u_shape()(o, lr, s, sc, lam)

    return sweep({"adam": 0.01, "gd": 1000.0}, alpha=lambda o, lr, s: 8 - np.log10(lr) + 0.01 * s, test_loss=loss,
                 scalings=("spec", "authors"), lambdas=("cv", "0.01"))


def test_judge_all_columns_states_and_not_run():
    out = C.judge_all({"lr_sweep/table": full_sweep("0.01")})
    assert list(out.columns) == list(C.COLUMNS) and set(out["verdict"]) <= set(C.VERDICTS)
    assert set(out["claim_id"]) == {c.id for c in C.CLAIMS} | {"readout_scaling_robust"}
    # a claim whose experiment table is missing: one "not run" row naming the experiment
    for c in C.CLAIMS:
        rows = out[out["claim_id"] == c.id]
        assert (rows["states"] == c.states).all() and (rows["claim"] == c.statement).all()
        assert (rows["experiments"] == ", ".join(c.experiments)).all()
        if not all(t == "lr_sweep/table" for t in c.tables):
            assert rows["verdict"].tolist() == [C.NOT_RUN], c.id
            missing = [e for e in c.experiments if e != "lr_sweep"]
            assert all(e in rows["evidence"].iloc[0] for e in missing), c.id
        else:
            assert C.NOT_RUN not in set(rows["verdict"]), c.id
    sweet = C.CLAIMS[[c.id for c in C.CLAIMS].index("test_loss_sweet_spot")]
    assert "diverged run counts as worse" in out[out["claim_id"] == "test_loss_sweet_spot"]["states"].iloc[0]
    assert sweet.states != C.NOT_DIVERGED
    # the read-out claims: one row per optimizer and read-out, cv before 0.01
    rows = out[out["claim_id"] == "test_loss_sweet_spot"]
    assert len(rows) == 2 * 4
    lams = rows["reg_lambda"].tolist()
    assert lams == sorted(lams, key=lambda lam: lam != "cv") and lams[:4] == ["cv"] * 4
    bad = rows[(rows["readout_scaling"] == "authors") & (rows["reg_lambda"] == "0.01")]
    assert set(bad["verdict"]) == {C.FAILS} and set(rows[rows["reg_lambda"] == "cv"]["verdict"]) == {C.HOLDS}
    # the scalings differ at the paper's lambda only: robust at the calibrated read-out
    meta = out[out["claim_id"] == "readout_scaling_robust"]
    assert len(meta) == 1 and meta["verdict"].iloc[0] == C.HOLDS and meta["value"].iloc[0] == 0
    assert meta["reg_lambda"].iloc[0] == "cv" and meta["states"].iloc[0] == C.NOT_DIVERGED
    assert C.tables_needed(["lr_sweep"]) == ["lr_sweep/table"]
    html = C.to_html(out)
    assert html.count("<tr>") == len(out) + 1 and "not run" in html


def test_judge_all_readout_scaling_robust_fails_when_scalings_differ_at_cv():
    out = C.judge_all({"lr_sweep/table": full_sweep("cv")})
    meta = out[out["claim_id"] == "readout_scaling_robust"].iloc[0]
    # the falling loss ends at 1.4 (lr 1000), above the zero predictor's 1.01: both the
    # sweet spot and beats_zero change with the scaling, for adam and for gd
    assert meta["verdict"] == C.FAILS and meta["value"] == 4
    for cid, opt in itertools.product(("test_loss_sweet_spot", "beats_zero_predictor"), ("adam", "gd")):
        assert f"{cid} [optimizer={opt}]" in meta["evidence"]


def test_judge_all_with_nothing_run():
    out = C.judge_all({})
    assert list(out.columns) == list(C.COLUMNS) and len(out) == len(C.CLAIMS) + 1
    assert set(out["verdict"]) == {C.NOT_RUN}


def test_markdown_table_lists_every_claim_once():
    md = C.markdown_table()
    lines = md.splitlines()
    assert lines[0].startswith("| claim |") and set(lines[1]) <= {"|", "-"} and md.endswith("\n")
    ids = [c.id for c in C.CLAIMS] + ["readout_scaling_robust"]
    body = lines[2:]
    assert [re.match(r"\| `([a-z0-9_]+)` \|", line).group(1) for line in body] == ids
    assert all(line.count("|") == lines[0].count("|") for line in body)  # no stray | inside a cell
    for c, line in zip(C.CLAIMS, body):
        assert ", ".join(c.experiments) in line and c.states.replace("|", "/") in line


def test_docs_claims_md_holds_the_claims_table():
    # docs/claims.md must hold exactly C.markdown_table() between the two marker lines
    # (regenerate it with `python -m htcore claims-table`)
    path = ROOT / "docs" / "claims.md"
    assert path.exists(), "docs/claims.md is missing"
    text = path.read_text()
    start, end = "<!-- claims-table:start -->", "<!-- claims-table:end -->"
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == start]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], "one start and one end marker, in order"
    between = "".join(lines[starts[0] + 1:ends[0]])
    assert between.strip("\n") == C.markdown_table().strip("\n"), \
        "docs/claims.md is out of date: rerun `python -m htcore claims-table`"


def theory_sweep(first_spike: dict, predicted_detect: dict, ratio: float) -> pd.DataFrame:
    """A step-1 lr_sweep table with theory columns: per optimizer the first lr with an
    outlier (measured), the predicted detection lr, and lambda_max = ratio x theory."""
    rows = []
    for opt, lr, seed in itertools.product(first_spike, LRS, SEEDS):
        spiked = lr >= first_spike[opt]
        predicted = lr >= predicted_detect[opt]
        rows.append({"experiment": "lr_sweep", "optimizer": opt, "lr": lr, "seed": seed, "step": 1,
                     "train_id": f"{opt}/{lr}/{seed}", "eval_id": f"{opt}/{lr}/{seed}", "diverged": False,
                     "n_spikes": 1 if spiked else 0, "lambda_max": ratio * 100.0 * lr,
                     "theory_lambda1": 100.0 * lr, "theory_spike": predicted,
                     "theory_lr_detect": predicted_detect[opt], "theory_lr_bbp": predicted_detect[opt] / 1.1})
    return pd.DataFrame(rows)


def test_one_step_theory_both_ways():
    good = C.judge_one_step_theory({"lr_sweep/table": theory_sweep({"gd": 1000.0}, {"gd": 500.0}, 1.05)})
    assert [r["verdict"] for r in good] == [C.HOLDS, C.HOLDS]
    assert good[0]["seeds_agree"] == "3/3" and good[1]["value"] == 1.0 and good[1]["seeds_agree"] == "3/3"
    # the spike appears a grid step later than predicted, and lambda_max is 30 % off
    bad = C.judge_one_step_theory({"lr_sweep/table": theory_sweep({"gd": 1000.0}, {"gd": 50.0}, 1.3)})
    assert [r["verdict"] for r in bad] == [C.FAILS, C.FAILS]
    assert bad[0]["value"] == 0.0 and "first spiking grid lr 100" in bad[0]["evidence"] and bad[1]["value"] == 0.0


def test_the_shipped_config_defines_every_experiment_a_claim_reads(paper_config):
    assert C.missing_experiments(list(paper_config["experiments"])) == {}
    renamed = [e if e != "teacher_rank" else "rank_sweep" for e in paper_config["experiments"]]
    missing = C.missing_experiments(renamed)
    assert set(missing) == {"one_spike_for_any_rank", "more_directions_with_steps", "tail_grows_for_every_rank"}
    note = C.missing_note(renamed)
    assert note.startswith("Note: 3 claim(s) will read 'not run': the config defines no experiment teacher_rank")
