"""Teacher, data sets and student initialisation for one seed.

Everything random in a run is drawn here, from independent NumPy streams keyed by
``(seed, stream)``. One seed therefore fixes the teacher beta*, the training, probe
and test sets and the initial (W, a); every run of that seed, whatever its optimizer
or learning rate, starts from the same arrays. Because each quantity has its own
stream, changing n leaves W0 unchanged and the smaller training set is a prefix of
the larger one (nested data sets for the vary_n experiment).

Arrays of the data file (float32 except ``beta``, float64):
``X`` (n, d), ``y`` (n,), ``X_probe`` (n, d), ``y_probe`` (n,), ``beta`` (d,),
``W0`` (h, d), ``a0`` (h,). The test set ``X_test`` (n_test, d), ``y_test``
(n_test,) is drawn where it is used (:func:`test_set`), so ``n_test`` is not part of
the training data.
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


def labelled_set(seed: int, which: str, size: int, d: int, beta: np.ndarray,
                 label_noise_std: float) -> dict[str, np.ndarray]:
    """One labelled set: ``which`` is "" (training), "_probe" or "_test"; inputs and
    noise come from the streams ``"X" + which`` and ``"noise" + which``."""
    X = rng(seed, "X" + which).standard_normal((size, d), dtype=np.float32)
    eps = label_noise_std * rng(seed, "noise" + which).standard_normal(size)
    return {"X" + which: X, "y" + which: teacher_labels(X, beta, eps).astype(np.float32)}


def generate(seed: int, d: int, h: int, n: int, label_noise_std: float) -> dict[str, np.ndarray]:
    """Draw teacher, the training and probe sets and the student's initial weights
    (the test set is drawn by the evaluation: :func:`test_set`)."""
    beta = rng(seed, "beta").standard_normal(d)
    beta /= np.linalg.norm(beta)
    out: dict[str, np.ndarray] = {"beta": beta}
    for which in ("", "_probe"):
        out.update(labelled_set(seed, which, n, d, beta, label_noise_std))
    out["W0"] = rng(seed, "W0").standard_normal((h, d), dtype=np.float32)
    out["a0"] = rng(seed, "a0").standard_normal(h, dtype=np.float32)
    return out


def test_set(seed: int, beta: np.ndarray, n_test: int, label_noise_std: float) -> dict[str, np.ndarray]:
    """The seed's test set of ``n_test`` samples (``X_test``, ``y_test``); its own
    random streams, so its size changes nothing else."""
    return labelled_set(seed, "_test", n_test, len(beta), beta, label_noise_std)
