"""Honest baselines for every loss: what a trivial or an ideal predictor would score.

The test losses of the study only mean something next to what is reachable. The
teacher is ``y = (1/sqrt(k)) sum_j g(z_j) + eps`` with ``z_j = b_j^T x``, B* = (b_j)
orthonormal, so the z_j are i.i.d. N(0, 1); ``g`` is the link (paper: k = 1,
``g = softplus``) and ``eps ~ N(0, rho^2)``, ``rho = label_noise_std``. Three
population test MSEs, per run (they depend on rho, the link, k and the student's
activation):

* ``baseline_zero``: always predict 0, ``E[y^2] = E[g^2] + (k - 1) E[g]^2 + rho^2``
  (the k(k - 1) cross terms E[g(z_i) g(z_j)] = E[g]^2, over k); ~1.01 at k 1,
  softplus, rho 0.3.
* ``baseline_const``: the best constant, ``E[y] = sqrt(k) E[g]``; scores ``Var(y) =
  Var(g) + rho^2`` whatever k (~0.36).
* with ``teacher_center`` each term is ``g(z_j) - E g``: the formulas hold with that
  centred link, so ``E[y] = 0`` and ``baseline_zero`` equals ``baseline_const``.
* ``baseline_best_odd``: the best predictor this network can express when its
  activation is odd (``models.ODD_ACTIVATIONS``: tanh, erf). It has no biases, so
  every function it computes (the network itself and the ridge read-out on its
  features alike) is then odd in ``x``. The best odd predictor of ``y`` is the odd
  part of ``E[y | x] = (1/sqrt(k)) sum_j g(z_j)``, i.e. ``(1/sqrt(k)) sum_j
  g_odd(z_j)``; what is left is ``(1/sqrt(k)) sum_j g_even(z_j)`` with ``g_even(z) =
  (g(z) + g(-z)) / 2``, so the lowest reachable test MSE is ``E[g_even^2] + (k - 1)
  E[g_even]^2 + rho^2`` (E[g_even] = E[g]); ~0.761 for softplus at k 1, rho 0.3:
  the even part of the teacher is out of reach. For ``he2`` (purely even) it equals
  ``baseline_zero``; for ``tanh`` (odd) it is rho^2. With a non-odd activation
  (relu, gelu) the network is not confined to odd functions and this number bounds
  nothing, so it is NaN.

A read-out test loss above ``baseline_zero`` is worse than predicting nothing
(SPEC's read-out at initialisation scores ~1.74). These are population values; the
test set has only ``n_test`` samples (sd of the test loss ~0.07 at n_test 200).
Expectations over ``z ~ N(0, 1)`` use Gauss-Hermite quadrature (probabilists'
weight ``exp(-z^2 / 2)``, ``QUAD_NODES`` nodes: exact to ~1e-12 for these smooth
integrands), not hard-coded numbers; for a link with a kink at 0
(``models.KINKED_LINKS``: relu, where Gauss-Hermite is off by ~1e-3) adaptive
quadrature on each half-line instead.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np

from htcore import models
from htcore.models import softplus  # noqa: F401  (the paper's link; public here since v0.1)

#: Quadrature nodes for E over z ~ N(0, 1).
QUAD_NODES = 200
#: Columns added to every evaluation table (and table.parquet).
COLUMNS = ("baseline_zero", "baseline_const", "baseline_best_odd")


def gaussian_expectation(f, smooth: bool = True) -> float:
    """E[f(z)], z ~ N(0, 1): Gauss-Hermite quadrature, or (``smooth`` false, for an f
    with a kink at 0) scipy's adaptive quadrature on (-inf, 0) and (0, inf)."""
    if not smooth:
        from scipy.integrate import quad

        def density(z):
            return float(f(np.array([z]))[0]) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

        opts = dict(epsabs=1e-13, epsrel=1e-12, limit=200)
        return quad(density, -np.inf, 0.0, **opts)[0] + quad(density, 0.0, np.inf, **opts)[0]
    z, w = np.polynomial.hermite_e.hermegauss(QUAD_NODES)
    return float(np.sum(w * f(z)) / math.sqrt(2.0 * math.pi))


@functools.lru_cache(maxsize=None)
def link_mean(link: str) -> float:
    """E g(z), z ~ N(0, 1), for a link named in ``models.LINKS``: what a centred
    teacher (``teacher_center``) subtracts from each direction's term."""
    return gaussian_expectation(models.link_fn(link), link not in models.KINKED_LINKS)


def loss_baselines(label_noise_std: float, link: str | Callable = "softplus", k: int = 1,
                   activation: str = "tanh", center: bool = False) -> dict[str, float]:
    """The three population test MSEs of the module docstring (keys ``COLUMNS``).

    ``link``: a name in ``models.LINKS`` or a smooth callable; ``k``: the teacher's
    number of directions; ``activation``: the student's, a name in
    ``models.ACTIVATIONS`` (``baseline_best_odd`` is NaN unless it is odd); ``center``:
    the teacher's terms are centred (g - E g: the formulas hold with g - E g for g, so
    E[g] is 0 and zero is the best constant). At the paper's (softplus, 1, tanh,
    uncentred) the numbers are those of the k = 1 formulas exactly."""
    g = models.link_fn(link)
    smooth = not (isinstance(link, str) and link in models.KINKED_LINKS)
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    models.check_activation(activation)
    if center:
        g0, shift = g, gaussian_expectation(g, smooth)
        g = lambda z: g0(z) - shift  # noqa: E731
    noise = float(label_noise_std) ** 2
    second = gaussian_expectation(lambda z: g(z) ** 2, smooth)
    mean = gaussian_expectation(g, smooth)
    even = gaussian_expectation(lambda z: (0.5 * (g(z) + g(-z))) ** 2, smooth)
    cross = 0.0 if k == 1 else (k - 1) * mean**2  # E[g_even] = E[g]
    return {
        "baseline_zero": (second if k == 1 else second + cross) + noise,
        "baseline_const": second - mean**2 + noise,
        "baseline_best_odd": ((even if k == 1 else even + cross) + noise
                              if activation in models.ODD_ACTIVATIONS else math.nan),
    }
