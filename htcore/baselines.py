"""Honest baselines for every loss: what a trivial or an ideal predictor would score.

The test losses of the study only mean something next to what is reachable. The
teacher is ``y = g(z) + eps`` with ``z = beta*^T x ~ N(0, 1)`` (``||beta*|| = 1``),
``g = softplus`` and ``eps ~ N(0, rho^2)``, ``rho = label_noise_std``. Three
population test MSEs, per run (they depend on ``rho``):

* ``baseline_zero``: always predict 0, ``E[y^2] = E[g(z)^2] + rho^2`` (~1.01 at
  rho 0.3).
* ``baseline_const``: the best constant, ``E[y]``; scores ``Var(y) = Var(g(z)) +
  rho^2`` (~0.36).
* ``baseline_best_odd``: the best predictor this network can express. It has no
  biases and tanh is odd, so every function it computes (the network itself and the
  ridge read-out on its features alike) is odd in ``x``. The best odd predictor of
  ``y`` is the odd part of ``E[y | x] = g(z)``, ``(g(z) - g(-z)) / 2`` (``z / 2``
  for softplus), so the lowest reachable test MSE is ``E[((g(z) + g(-z)) / 2)^2] +
  rho^2`` (~0.761 at rho 0.3): the even part of the teacher is out of reach.

A read-out test loss above ``baseline_zero`` is worse than predicting nothing
(SPEC's read-out at initialisation scores ~1.74). These are population values; the
test set has only ``n_test`` samples (sd of the test loss ~0.07 at n_test 200).
Expectations over ``z ~ N(0, 1)`` use Gauss-Hermite quadrature (probabilists'
weight ``exp(-z^2 / 2)``, ``QUAD_NODES`` nodes: exact to ~1e-12 for these smooth
integrands), not hard-coded numbers.
"""

from __future__ import annotations

import math

import numpy as np

#: Quadrature nodes for E over z ~ N(0, 1).
QUAD_NODES = 200
#: Columns added to every evaluation table (and table.parquet).
COLUMNS = ("baseline_zero", "baseline_const", "baseline_best_odd")


def gaussian_expectation(f) -> float:
    """E[f(z)], z ~ N(0, 1), by Gauss-Hermite quadrature."""
    z, w = np.polynomial.hermite_e.hermegauss(QUAD_NODES)
    return float(np.sum(w * f(z)) / math.sqrt(2.0 * math.pi))


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), stable for large |z| (the teacher's link)."""
    return np.logaddexp(0.0, z)


def loss_baselines(label_noise_std: float, link=softplus) -> dict[str, float]:
    """The three population test MSEs of the module docstring for teacher link ``link``."""
    noise = float(label_noise_std) ** 2
    second = gaussian_expectation(lambda z: link(z) ** 2)
    mean = gaussian_expectation(link)
    even = gaussian_expectation(lambda z: (0.5 * (link(z) + link(-z))) ** 2)
    return {
        "baseline_zero": second + noise,
        "baseline_const": second - mean**2 + noise,
        "baseline_best_odd": even + noise,
    }
