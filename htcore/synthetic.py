"""Spectra with a known shape: the suite that checks :func:`htcore.shape.shape_label`.

Each case is a spectrum (eigenvalues of ``W^T W``) whose true shape is known by
construction, drawn reproducibly from a seed. The tests label a small version of
the suite; ``benchmarks/bench_shape_label.py`` prints the confusion matrix of the
paper-sized one. Conventions as :mod:`htcore.mp` (``W`` is ``h x d``, entries of
variance 1, eigenvalues not divided by any dimension).

The families and their true labels:

* ``mp``: Gaussian noise ``G`` -> ``random-like``.
* ``spikes``: ``G + sum_i theta_i u_i v_i^T`` with orthonormal ``u``'s and ``v``'s,
  ``k`` spikes at ``c`` times the BBP threshold ``theta_c = (h d)^(1/4)``, all at
  one strength (``spread=False``) or log-uniform in ``[2, 10] theta_c``
  (``spread=True``) -> ``bulk+spike``.
* ``pareto``: an MP spectrum whose top ``mass`` fraction is replaced by a Pareto
  tail ``p(x) ~ x^-alpha`` that starts at the MP edge -> ``heavy-tailed``
  (``very-heavy-tailed`` for alpha < 2).
* ``student``: ``W`` with iid Student-t entries, ``nu`` degrees of freedom; for
  ``nu < 4`` the largest entries make a power-law tail of eigenvalues
  -> ``very-heavy-tailed`` for ``nu < 2``, ``heavy-tailed`` above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from htcore.mp import mp_quantile


@dataclass(frozen=True)
class Case:
    """One synthetic spectrum: its family, its settings in words, its true label."""

    family: str
    setting: str
    truth: str
    make: Callable[[int], np.ndarray]  # seed -> eigenvalues of W^T W
    h: int
    d: int


def gram_eigs(W: np.ndarray) -> np.ndarray:
    """Non-zero eigenvalues of ``W^T W`` (from the smaller Gram matrix), float64."""
    W = np.asarray(W, dtype=np.float64)
    g = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
    return np.clip(np.linalg.eigvalsh(g), 0.0, None)


def _orthonormal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


def spiked(h: int, d: int, k: int, c: float, seed: int, spread: bool = False) -> np.ndarray:
    """Eigenvalues of ``G + U diag(theta) V^T``: k spikes at c x BBP (or spread)."""
    rng = np.random.default_rng(seed)
    bbp = (h * d) ** 0.25
    theta = bbp * (np.exp(rng.uniform(math.log(2), math.log(10), k)) if spread else np.full(k, c))
    W = rng.standard_normal((h, d)) + (_orthonormal(rng, h, k) * theta) @ _orthonormal(rng, d, k).T
    return gram_eigs(W)


def pareto_tail(h: int, d: int, mass: float, alpha: float, seed: int) -> np.ndarray:
    """MP eigenvalues (unit variance) whose top ``mass`` fraction is a Pareto tail
    of density exponent ``alpha`` starting at the MP upper edge."""
    rng = np.random.default_rng(seed)
    n, p = max(h, d), min(h, d)
    aspect = p / n
    m = int(round(mass * p))
    bulk = n * mp_quantile(rng.random(p - m), aspect)
    edge = n * (1 + math.sqrt(aspect)) ** 2
    tail = edge * rng.random(m) ** (-1.0 / (alpha - 1.0))
    return np.sort(np.concatenate([bulk, tail]))


def student(h: int, d: int, nu: float, seed: int) -> np.ndarray:
    """Eigenvalues of ``W^T W`` for iid Student-t(nu) entries."""
    return gram_eigs(np.random.default_rng(seed).standard_t(nu, (h, d)))


def _heavy(alpha: float) -> str:
    return "very-heavy-tailed" if alpha < 2 else "heavy-tailed"


def suite(h: int = 1500, d: int = 1000, *, ks=(1, 3, 10, 30, 100), strengths=(2.0, 4.0, 10.0),
          masses=(0.02, 0.05, 0.1), alphas=(2.5, 3.5, 5.0), nus=(1.5, 2.5, 3.0)) -> Iterator[Case]:
    """Every case of the suite for an ``h x d`` matrix (see the module docstring)."""
    yield Case("mp", "Gaussian", "random-like", lambda s: gram_eigs(np.random.default_rng(s).standard_normal((h, d))), h, d)
    for k in ks:
        for c in strengths:
            yield Case("spikes", f"k={k} at {c:g}x BBP", "bulk+spike",
                       lambda s, k=k, c=c: spiked(h, d, k, c, s), h, d)
        yield Case("spikes", f"k={k} spread 2-10x BBP", "bulk+spike",
                   lambda s, k=k: spiked(h, d, k, 0.0, s, spread=True), h, d)
    for mass in masses:
        for a in alphas:
            yield Case("pareto", f"mass {mass:g}, alpha {a:g}", _heavy(a),
                       lambda s, mass=mass, a=a: pareto_tail(h, d, mass, a, s), h, d)
    for nu in nus:
        yield Case("student", f"nu={nu:g}", "very-heavy-tailed" if nu < 2 else "heavy-tailed",
                   lambda s, nu=nu: student(h, d, nu, s), h, d)
