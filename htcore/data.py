"""Teacher, data sets and student initialisation for one seed.

Everything random in a run is drawn here, from independent NumPy streams keyed by
``(seed, stream)``. One seed therefore fixes the teacher beta*, the training, probe
and test sets and the initial (W, a); every run of that seed, whatever its optimizer
or learning rate, starts from the same arrays. Because each quantity has its own
stream, changing n leaves W0 unchanged and the smaller training set is a prefix of
the larger one (nested data sets for the vary_n experiment).

Arrays (float32 except ``beta``, float64):
``X`` (n, d), ``y`` (n,), ``X_probe`` (n, d), ``y_probe`` (n,), ``X_test``
(n_test, d), ``y_test`` (n_test,), ``beta`` (d,), ``W0`` (h, d), ``a0`` (h,).
"""

from __future__ import annotations

import numpy as np

STREAMS = {
    "beta": 0, "X": 1, "noise": 2, "X_probe": 3, "noise_probe": 4,
    "X_test": 5, "noise_test": 6, "W0": 7, "a0": 8, "batches": 9,
}


def rng(seed: int, stream: str) -> np.random.Generator:
    """The generator of one named random stream of ``seed``."""
    return np.random.default_rng([int(seed), STREAMS[stream]])


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), stable for large |z|."""
    return np.logaddexp(0.0, z)


def teacher_labels(X: np.ndarray, beta: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """y = softplus(beta^T x) + eps, computed in float64."""
    return softplus(X.astype(np.float64) @ beta) + noise


def generate(seed: int, d: int, h: int, n: int, n_test: int, label_noise_std: float) -> dict[str, np.ndarray]:
    """Draw teacher, the three data sets and the student's initial weights."""
    beta = rng(seed, "beta").standard_normal(d)
    beta /= np.linalg.norm(beta)
    out: dict[str, np.ndarray] = {"beta": beta}
    for name, size in (("", n), ("_probe", n), ("_test", n_test)):
        X = rng(seed, "X" + name).standard_normal((size, d), dtype=np.float32)
        eps = label_noise_std * rng(seed, "noise" + name).standard_normal(size)
        out["X" + name] = X
        out["y" + name] = teacher_labels(X, beta, eps).astype(np.float32)
    out["W0"] = rng(seed, "W0").standard_normal((h, d), dtype=np.float32)
    out["a0"] = rng(seed, "a0").standard_normal(h, dtype=np.float32)
    return out
