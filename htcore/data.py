"""Teacher, data sets and student initialisation for one seed.

Everything random in a run is drawn here, from independent NumPy streams keyed by
``(seed, stream)``. One seed therefore fixes the teacher B*, the training, probe
and test sets and the initial (W, a); every run of that seed, whatever its optimizer
or learning rate, starts from the same arrays. Because each quantity has its own
stream, changing n leaves W0 unchanged and the smaller training set is a prefix of
the larger one (nested data sets for the vary_n experiment).

Teacher (:class:`htcore.models.Teacher`; default single_index, k = 1, softplus):
``y = (1/sqrt(k)) sum_j g(b_j^T x) + eps``, x ~ N(0, I_d), eps ~ N(0, rho^2),
computed in float64 and stored as float32; with ``teacher_center`` each term is
``g(b_j^T x) - E g(z)`` (E y = 0 whatever k). Its directions come from the stream
``beta``:

* k = 1: ``beta = standard_normal(d)``, divided by its norm (the paper's arrays; a
  ``multi_index`` teacher with k = 1 draws exactly these).
* k > 1: a (d, k) standard normal matrix M from the same stream, orthonormalised by
  QR with the sign fix that makes diag(R) positive: B* = Q diag(sign(diag R)), the
  Gram-Schmidt orthonormalisation of M's columns (so b_1 = M[:, 0] / ||M[:, 0]||).

Each labelled set (training ``""``, probe ``"_probe"``, test ``"_test"``) is drawn by
:func:`labelled_set` from its own streams ``"X" + which`` and ``"noise" + which``, so
any one of them (the test set in the evaluation job, say) can be drawn alone and is
bit-identical to the one :func:`generate` returns.

Arrays of :func:`generate` (float32 except the teacher's, float64):
``X`` (n, d), ``y`` (n,), ``X_probe`` (n, d), ``y_probe`` (n,), ``X_test``
(n_test, d), ``y_test`` (n_test,), ``W0`` (h, d), ``a0`` (h,), and the teacher:
``beta`` (d,) when k = 1, ``B`` (d, k) when k > 1 (no ``beta`` then: a consumer
that expects one direction fails loudly instead of using b_1 alone).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from htcore.io import Schema
from htcore.models import Teacher, link_fn, softplus  # noqa: F401  (softplus: public here since v0.1)

STREAMS = {
    "beta": 0, "X": 1, "noise": 2, "X_probe": 3, "noise_probe": 4,
    "X_test": 5, "noise_test": 6, "W0": 7, "a0": 8, "batches": 9,
}
#: The labelled sets by suffix: training, probe, test.
SETS = ("", "_probe", "_test")


def rng(seed: int, stream: str) -> np.random.Generator:
    """The generator of one named random stream of ``seed``."""
    return np.random.default_rng([int(seed), STREAMS[stream]])


def teacher_directions(seed: int, d: int, k: int = 1) -> np.ndarray:
    """B* (d, k), float64, orthonormal columns, from stream ``beta`` (module docstring).

    For k = 1 the single column is exactly the paper's beta*."""
    if not 1 <= k <= d:
        raise ValueError(f"teacher k must be in [1, d = {d}], got {k}")
    g = rng(seed, "beta")
    if k == 1:
        beta = g.standard_normal(d)
        beta /= np.linalg.norm(beta)
        return beta[:, None]
    Q, R = np.linalg.qr(g.standard_normal((d, k)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def teacher_labels(X: np.ndarray, B: np.ndarray, noise: np.ndarray,
                   link: str | Callable = "softplus", center: bool = False) -> np.ndarray:
    """y = (1/sqrt(k)) sum_j g(b_j^T x) + eps, in float64. ``B`` is beta* (d,) or
    B* (d, k); for one direction this is g(X beta) + eps, the paper's operations.
    ``center`` (a named link only): each term is g(b_j^T x) - E g(z), the link's
    population mean (:func:`htcore.baselines.link_mean`), so E y = 0."""
    g = link_fn(link)
    if center:
        from htcore.baselines import link_mean

        g0, shift = g, link_mean(link)
        g = lambda z: g0(z) - shift  # noqa: E731
    if B.ndim == 1 or B.shape[1] == 1:
        beta = B if B.ndim == 1 else B[:, 0]
        return g(X.astype(np.float64) @ beta) + noise
    return g(X.astype(np.float64) @ B).sum(axis=1) / math.sqrt(B.shape[1]) + noise


def labelled_set(seed: int, which: str, size: int, d: int, B: np.ndarray, label_noise_std: float,
                 link: str | Callable = "softplus", center: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One labelled set (X float32 (size, d), y float32 (size,)) of ``seed``.

    ``which`` is ``""`` (training), ``"_probe"`` or ``"_test"``; X comes from stream
    ``"X" + which``, the label noise from ``"noise" + which``; ``B`` is the teacher's
    beta* or B* (:func:`teacher_directions`)."""
    if which not in SETS:
        raise ValueError(f"which must be one of {SETS}, got {which!r}")
    X = rng(seed, "X" + which).standard_normal((size, d), dtype=np.float32)
    eps = label_noise_std * rng(seed, "noise" + which).standard_normal(size)
    return X, teacher_labels(X, B, eps, link, center).astype(np.float32)


def generate(seed: int, d: int, h: int, n: int, n_test: int | None, label_noise_std: float,
             teacher: Teacher | Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Draw teacher, the data sets and the student's initial weights.

    ``teacher``: a :class:`~htcore.models.Teacher` or a mapping of its fields (kind,
    k, link); None is the paper's. ``n_test`` None leaves the test set out (the
    workflow's data file: the evaluation draws it, :func:`test_set`). Keys and
    dtypes: module docstring."""
    t = Teacher.of(teacher)
    B = teacher_directions(seed, d, t.k)
    out: dict[str, np.ndarray] = {"beta": B[:, 0]} if t.k == 1 else {"B": B}
    sets = (("", n), ("_probe", n)) + ((("_test", n_test),) if n_test is not None else ())
    for which, size in sets:
        out["X" + which], out["y" + which] = labelled_set(seed, which, size, d, B, label_noise_std, t.link, t.center)
    out["W0"] = rng(seed, "W0").standard_normal((h, d), dtype=np.float32)
    out["a0"] = rng(seed, "a0").standard_normal(h, dtype=np.float32)
    return out


#: The arrays of the workflow's data file (htcore.stages.data: :func:`generate` without
#: a test set), in the order written: the teacher first, ``beta`` (d,) for k = 1 or
#: ``B`` (d, k) for k > 1, then the training and probe sets and the initial weights.
DATA_FILE = Schema(("X", "y", "X_probe", "y_probe", "W0", "a0"),
                   {"beta": np.float64, "B": np.float64, "X": np.float32, "y": np.float32, "X_probe": np.float32,
                    "y_probe": np.float32, "W0": np.float32, "a0": np.float32}, one_of=("beta", "B"))


def test_set(seed: int, d: int, n_test: int, label_noise_std: float,
             teacher: Teacher | Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The seed's test set alone (``X_test``, ``y_test``), bit-identical to the one
    :func:`generate` draws: its own random streams, so its size changes nothing else."""
    t = Teacher.of(teacher)
    X, y = labelled_set(seed, "_test", n_test, d, teacher_directions(seed, d, t.k), label_noise_std, t.link,
                        t.center)
    return {"X_test": X, "y_test": y}
