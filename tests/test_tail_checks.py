"""htcore.tail_checks: the bootstrap goodness of fit, the alpha interval and the
likelihood-ratio tests accept power laws, reject other tails, are seeded, and give NaN
for a flagged fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from htcore.tail_checks import alpha_ci, compare_alternatives, gof_pvalue
from htcore.tails import fit_hill, fit_ks, fit_ks_naive

from helpers import pareto

ALPHAS = [1.5, 2.0, 2.5, 3.0, 4.0, 6.0]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_gof_does_not_reject_a_true_power_law(alpha):
    x = pareto(alpha, 1000, seed=7)
    fit = fit_ks(x)
    p = gof_pvalue(x, fit, n_boot=40, seed=1)
    assert p > 0.05


def test_gof_does_not_reject_large_sample():
    x = pareto(2.5, 10000, seed=11)
    p = gof_pvalue(x, fit_ks(x), n_boot=10, seed=0)
    assert p > 0.05


def test_gof_rejects_non_power_laws():
    rng = np.random.default_rng(5)
    for x in (rng.lognormal(0.0, 1.0, 1000), rng.random(1000) + 1.0):
        assert gof_pvalue(x, fit_ks(x), n_boot=100, seed=0) < 0.05


def test_gof_is_seeded_and_checks_its_fit():
    x = pareto(2.5, 500, seed=3)
    fit = fit_ks(x)
    assert gof_pvalue(x, fit, n_boot=20, seed=4) == gof_pvalue(x, fit, n_boot=20, seed=4)
    with pytest.raises(ValueError):
        gof_pvalue(x[1:], fit, n_boot=5)
    hill = fit_hill(x)
    assert 0.0 <= gof_pvalue(x, hill, n_boot=20, seed=0) <= 1.0


def test_alpha_ci_covers_truth_and_shrinks_with_n():
    small, large = pareto(2.5, 1000, seed=21), pareto(2.5, 10000, seed=22)
    lo, hi = alpha_ci(small, n_boot=60, seed=0)
    assert lo < 2.5 < hi
    lo2, hi2 = alpha_ci(large, n_boot=15, seed=0)
    assert hi2 - lo2 < hi - lo
    assert alpha_ci(small, n_boot=20, seed=3) == alpha_ci(small, n_boot=20, seed=3)
    lo_h, hi_h = alpha_ci(small, n_boot=50, seed=0, method="hill")
    assert lo_h < fit_hill(small).alpha < hi_h


def test_compare_alternatives_signs():
    x = pareto(2.5, 2000, seed=8)
    res = compare_alternatives(x, fit_ks(x))
    assert set(res) == {"exponential", "lognormal", "truncated_power_law"}
    r, p = res["exponential"]
    assert r > 0 and p < 0.01  # a power law is clearly not exponential
    r, p = res["truncated_power_law"]
    assert r <= 0 and p > 0.05  # the nested cutoff does not help on a pure power law
    assert all(math.isfinite(v) for pair in res.values() for v in pair)

    # exponential data, tail from the median on (Hill's xmin): both alternatives win
    y = np.random.default_rng(9).exponential(1.0, 3000) + 1.0
    res = compare_alternatives(y, fit_hill(y))
    assert res["exponential"][0] < 0 and res["exponential"][1] < 0.01
    assert res["truncated_power_law"][0] < 0 and res["truncated_power_law"][1] < 0.01


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_gives_nan_never_raises(bad):
    x = pareto(2.5, 500, seed=1)
    x[17] = bad
    for fit in (fit_hill(x), fit_ks(x), fit_ks_naive(x)):
        assert math.isnan(gof_pvalue(x, fit, n_boot=5))
        assert all(math.isnan(v) for pair in compare_alternatives(x, fit).values() for v in pair)
    assert all(math.isnan(v) for v in alpha_ci(x, n_boot=5))
