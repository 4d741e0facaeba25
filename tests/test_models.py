"""Registries (links, activations) and the loss baselines against closed forms and
Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from htcore import models as M
from htcore.baselines import COLUMNS, gaussian_expectation, loss_baselines


def paper_baselines(rho):
    """loss_baselines as it was for the paper's teacher (frozen reference)."""
    z, w = np.polynomial.hermite_e.hermegauss(200)

    def e(f):
        return float(np.sum(w * f(z)) / math.sqrt(2.0 * math.pi))

    sp = lambda v: np.logaddexp(0.0, v)  # noqa: E731
    second, mean = e(lambda v: sp(v) ** 2), e(sp)
    even = e(lambda v: (0.5 * (sp(v) + sp(-v))) ** 2)
    return {"baseline_zero": second + rho**2, "baseline_const": second - mean**2 + rho**2,
            "baseline_best_odd": even + rho**2}


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.3, 0.7])
def test_paper_baselines_are_exactly_todays(rho):
    ref = paper_baselines(rho)
    for got in (loss_baselines(rho), loss_baselines(rho, "softplus", 1, "tanh"), loss_baselines(rho, M.softplus)):
        assert got == ref and tuple(got) == COLUMNS
    assert ref["baseline_best_odd"] == pytest.approx(0.6712 + rho**2, abs=1e-4)  # 0.761 at rho 0.3


@pytest.mark.parametrize("k", [1, 2, 5])
def test_closed_forms(k):
    rho2 = 0.3**2
    c = (k - 1) / (2 * math.pi)  # (k-1) E[relu]^2
    relu = loss_baselines(0.3, "relu", k)
    assert relu["baseline_zero"] == pytest.approx(0.5 + c + rho2, abs=1e-10)
    assert relu["baseline_const"] == pytest.approx(0.5 - 1 / (2 * math.pi) + rho2, abs=1e-10)
    assert relu["baseline_best_odd"] == pytest.approx(0.25 + c + rho2, abs=1e-10)  # even part |z|/2
    he2 = loss_baselines(0.3, "he2", k)  # mean 0, purely even: nothing to gain for an odd net
    for col in COLUMNS:
        assert he2[col] == pytest.approx(2 + rho2, abs=1e-10)
    th = loss_baselines(0.3, "tanh", k)  # purely odd: only the noise is out of reach
    assert th["baseline_best_odd"] == pytest.approx(rho2, abs=1e-12)
    assert th["baseline_zero"] == pytest.approx(th["baseline_const"], abs=1e-12)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("link", sorted(M.LINKS))
def test_baselines_against_monte_carlo(link, k):
    rho, N = 0.3, 1_000_000
    g = np.random.default_rng([k, sorted(M.LINKS).index(link)])
    z = g.standard_normal((N, k))
    f = M.LINKS[link]
    y = f(z).sum(axis=1) / math.sqrt(k) + rho * g.standard_normal(N)
    odd = (0.5 * (f(z) - f(-z))).sum(axis=1) / math.sqrt(k)  # the best odd predictor
    b = loss_baselines(rho, link, k)
    for col, sq in (("baseline_zero", y**2), ("baseline_const", (y - y.mean()) ** 2),
                    ("baseline_best_odd", (y - odd) ** 2)):
        assert abs(sq.mean() - b[col]) < 5 * sq.std() / math.sqrt(N) + 1e-12, col


def test_non_odd_activation_has_no_best_odd_bound():
    for act in ("relu", "gelu"):
        b = loss_baselines(0.3, "softplus", 2, act)
        assert math.isnan(b["baseline_best_odd"])
        assert b["baseline_zero"] == loss_baselines(0.3, "softplus", 2)["baseline_zero"]
    assert loss_baselines(0.3, "softplus", 2, "erf") == loss_baselines(0.3, "softplus", 2, "tanh")
    for bad in (dict(activation="sigmoid"), dict(k=0), dict(link="cube")):
        with pytest.raises(ValueError):
            loss_baselines(0.3, **bad)


def test_kinked_quadrature_is_accurate_where_gauss_hermite_is_not():
    relu = M.LINKS["relu"]
    exact = 1 / math.sqrt(2 * math.pi)
    assert gaussian_expectation(relu, smooth=False) == pytest.approx(exact, abs=1e-12)
    assert abs(gaussian_expectation(relu) - exact) > 1e-4  # why relu is in KINKED_LINKS
    assert "relu" in M.KINKED_LINKS


@pytest.mark.parametrize("name", sorted(M.ACTIVATIONS))
def test_activation_derivatives_match_central_differences(name):
    u = np.linspace(-4, 4, 801) + 1e-3  # avoid relu's kink at exactly 0
    sigma, dsigma = M.ACTIVATIONS[name], M.ACTIVATION_DERIVATIVES[name]
    h = 1e-6
    np.testing.assert_allclose(dsigma(u), (sigma(u + h) - sigma(u - h)) / (2 * h), atol=1e-8)
    assert sigma(np.float32([0.5])).dtype == np.float32 and dsigma(np.float32([0.5])).dtype == np.float32
    odd = np.allclose(sigma(-u), -sigma(u), atol=1e-15)
    assert odd == (name in M.ODD_ACTIVATIONS)


def test_gelu_is_torchs_exact_gelu():
    torch = pytest.importorskip("torch")
    u = np.linspace(-6, 6, 97)
    np.testing.assert_allclose(M.ACTIVATIONS["gelu"](u), torch.nn.functional.gelu(torch.tensor(u)).numpy(),
                               rtol=1e-12, atol=1e-15)
