"""htcore.tails: known answers, exactness against the naive loop and `powerlaw`, statuses.

The trust checks (htcore.tail_checks) are tested in test_tail_checks.py."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from htcore.mp import mp_quantile
from htcore.tails import PowerLawFit, fit_hill, fit_ks, fit_ks_naive, prepare_eigs

from helpers import pareto

ALPHAS = [1.5, 2.0, 2.5, 3.0, 4.0, 6.0]


def gaussian_esd(h: int, d: int, seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal((h, d))
    return np.linalg.eigvalsh(w.T @ w)


def assert_same_fit(fast: PowerLawFit, naive: PowerLawFit) -> None:
    assert fast.status == naive.status
    assert fast.xmin_index == naive.xmin_index
    assert fast.n_tail == naive.n_tail
    for field in ("alpha", "xmin", "D", "se", "alphahat"):
        assert getattr(fast, field) == pytest.approx(getattr(naive, field), rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------- known answers


@pytest.mark.parametrize("n", [1000, 10000])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_ks_recovers_pareto_alpha_and_equals_naive(alpha, n):
    x = pareto(alpha, n, seed=int(10 * alpha) + n)
    fit = fit_ks(x)
    assert fit.status == "ok" and fit.method == "ks"
    assert abs(fit.alpha - alpha) < 3 * fit.se, (fit.alpha, fit.se)
    assert_same_fit(fit, fit_ks_naive(x))


def test_hill_fails_alone_on_a_gaussian_matrix():
    # The motivation for htcore.shape: Hill reads ~2.45 off pure noise.
    fit = fit_hill(gaussian_esd(1500, 1000, seed=0))
    assert fit.status == "ok" and fit.n_tail == 500
    assert 2.3 < fit.alpha < 2.6


# ------------------------------------------------------------ exactness & speed


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: gaussian_esd(1500, 1000, seed=1), id="gaussian-1500x1000"),
        pytest.param(lambda: 3.0 * mp_quantile(np.random.default_rng(2).random(10000), 2 / 3),
                     id="mp-sample-10000"),
        pytest.param(lambda: np.concatenate([mp_quantile(np.random.default_rng(3).random(900), 0.5),
                                             pareto(2.2, 100, seed=4, xmin=3.0)]),
                     id="mp-plus-tail"),
        pytest.param(lambda: np.round(pareto(2.0, 2000, seed=5), 1), id="ties-rounded"),
        pytest.param(lambda: np.repeat(pareto(3.0, 300, seed=6), 3), id="ties-repeated"),
        pytest.param(lambda: np.array([1.0, 1.0, 2.0, 2.0, 2.0, 5.0, 5.0]), id="ties-small"),
        pytest.param(lambda: np.array([1.0, 2.0]), id="two-values"),
        pytest.param(lambda: np.array([3.0, 1.0, 2.0, 7.0, 5.0]), id="five-values"),
        pytest.param(lambda: np.concatenate([np.zeros(50), pareto(4.0, 500, seed=7)]),
                     id="with-zeros"),
        pytest.param(lambda: np.exp(np.random.default_rng(8).normal(0, 30, 2000)), id="huge-range"),
        pytest.param(lambda: 1.0 + 1e-9 * np.random.default_rng(9).random(1000), id="narrow"),
    ],
)
def test_fast_equals_naive(make):
    x = make()
    assert_same_fit(fit_ks(x), fit_ks_naive(x))


# ------------------------------------------------------------ `powerlaw` agreement


@pytest.mark.parametrize("alpha", [1.5, 2.5, 4.0, 6.0])
def test_agrees_with_powerlaw_package_uncapped(alpha):
    powerlaw = pytest.importorskip("powerlaw")
    x = pareto(alpha, 1000, seed=31 + int(alpha))
    ours = fit_ks(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # xmin searched by powerlaw itself; alpha range uncapped (default is [0, 3])
        pl = powerlaw.Fit(x, discrete=False, parameter_ranges={"alpha": [1.0, None]}, verbose=0)
        assert pl.xmin == ours.xmin
        assert pl.alpha == pytest.approx(ours.alpha, abs=1e-6)
        assert pl.D == pytest.approx(ours.D, abs=1e-6)
        assert pl.power_law.n == ours.n_tail
        hill = fit_hill(x)
        fixed = powerlaw.Fit(x, xmin=hill.xmin, discrete=False,
                             parameter_ranges={"alpha": [1.0, None]}, verbose=0).power_law
        assert fixed.alpha == pytest.approx(hill.alpha, abs=1e-6)
        assert fixed.D == pytest.approx(hill.D, abs=1e-6)


def test_powerlaw_default_cap_is_what_we_avoid():
    powerlaw = pytest.importorskip("powerlaw")
    x = pareto(6.0, 1000, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        capped = powerlaw.Fit(x, verbose=0)
    assert capped.alpha <= 3.0 + 1e-9  # silently capped, from a tiny tail
    assert abs(fit_ks(x).alpha - 6.0) < 0.5


# ------------------------------------------------------------ conventions & edge cases


def test_hill_index_for_even_and_odd_n():
    # odd N = 5: k = 2 (the median), n_tail = 3
    f = fit_hill(np.array([5.0, 1.0, 4.0, 2.0, 3.0]), min_tail=1)
    assert (f.xmin_index, f.xmin, f.n_tail) == (2, 3.0, 3)
    assert f.alpha == pytest.approx(1 + 3 / (math.log(4 / 3) + math.log(5 / 3)))
    # even N = 4: k = 2 (upper middle value, the authors' int(N/2)), n_tail = 2
    f = fit_hill(np.array([1.0, 2.0, 4.0, 8.0]), min_tail=1)
    assert (f.xmin_index, f.xmin, f.n_tail) == (2, 4.0, 2)
    assert f.alpha == pytest.approx(1 + 2 / math.log(2))
    assert f.se == pytest.approx((f.alpha - 1) / math.sqrt(2))
    assert f.alphahat == pytest.approx(f.alpha * math.log10(8.0))
    assert f.D == pytest.approx(abs(1 - 2.0 ** (1 - f.alpha) - 0.5))


def test_small_tails_are_flagged_not_hidden():
    x = pareto(2.5, 1000, seed=2)
    fit = fit_ks(x, min_tail=5000)
    assert fit.status == "tail-too-small" and math.isfinite(fit.alpha)
    hill = fit_hill(x[:12])
    assert hill.n_tail == 6 and hill.status == "tail-too-small"
    assert fit_hill(x[:12], min_tail=6).status == "ok"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_never_raises(bad):
    x = pareto(2.5, 500, seed=1)
    x[17] = bad
    for fit in (fit_hill(x), fit_ks(x), fit_ks_naive(x)):
        assert fit.status == "non-finite"
        assert math.isnan(fit.alpha) and math.isnan(fit.D)
        assert fit.xmin_index is None and fit.n_tail is None  # null, not a sentinel


def test_round_off_spread_is_degenerate_not_a_tail():
    # an orthogonal W: every eigenvalue is 1 up to ~4e-15; alpha would be ~1e15
    q = np.linalg.qr(np.random.default_rng(3).standard_normal((300, 200)))[0]
    e = np.linalg.eigvalsh(q.T @ q)
    for fit in (fit_hill(e), fit_ks(e)):
        assert fit.status == "degenerate" and fit.alpha > 1e12


def test_a_fit_with_huge_ks_distance_is_poor():
    x = np.r_[np.ones(999), 5.0]  # 999 equal values plus one: D = 0.998
    for fit in (fit_hill(x), fit_ks(x)):
        assert fit.D > 0.99 and fit.status == "poor-fit"
    assert fit_ks(pareto(2.5, 1000, seed=4)).status == "ok"  # a real power law passes


@pytest.mark.parametrize("x", [[], [0.0, 0.0], [2.0], [3.0, 3.0, 3.0], [-1.0, 0.0]])
def test_degenerate_spectra_have_no_candidate(x):
    for fit in (fit_hill(x), fit_ks(x), fit_ks_naive(x)):
        assert fit.status == "no-candidate" and math.isnan(fit.alpha)


def test_zeros_and_round_off_are_dropped():
    x = pareto(3.0, 400, seed=12)
    noisy = np.concatenate([x, np.zeros(100), [-1e-14, 1e-16 * x.max()]])
    clean, status = prepare_eigs(noisy)
    assert status == "ok" and clean.size == 400 and np.all(np.diff(clean) >= 0)
    a, b = fit_ks(x), fit_ks(noisy)
    fields = ("alpha", "xmin", "D", "xmin_index", "n_eigs")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]


def test_alpha_is_scale_invariant_and_alphahat_is_not():
    x = pareto(2.5, 1000, seed=13)
    a, b = fit_ks(x), fit_ks(100.0 * x)
    assert a.xmin_index == b.xmin_index
    assert a.alpha == pytest.approx(b.alpha, rel=1e-12)
    assert b.alphahat == pytest.approx(a.alpha * math.log10(100.0 * x.max()))


def test_importing_the_modules_does_not_import_scipy():
    code = "import sys, htcore.tails, htcore.tail_checks, htcore.mp, htcore.shape; assert 'scipy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
