"""Evaluation of a weight snapshot W_t: ridge read-out, KTA and teacher alignment.

For a snapshot W (h x d), with features Z = sigma(X W^T / sqrt(d)) / sqrt(h)
(sigma = ``activation``, tanh unless the run says otherwise; :mod:`htcore.models`):

* ridge read-out on the probe set: a_hat = (Z^T Z + lambda (n/h) I_h)^{-1} Z^T y,
  solved by Cholesky (no explicit inverse), in float64;
* ``train_loss`` = MSE(Z a_hat, y) on the probe set, ``test_loss`` the same on the
  test set;
* ``kta`` = <Z Z^T, y y^T>_F / (||Z Z^T||_F ||y y^T||_F), computed as
  ||Z^T y||^2 / (||Z^T Z||_F ||y||^2) from the h x h Gram matrix (no n x n kernel);
* ``sim`` = |<v1, beta*>| / ||v1||, v1 the top right singular vector of W (the top
  eigenvector of W^T W), for a one-direction teacher (data key ``beta``).
  For a k-direction teacher (data key ``B``, d x k orthonormal, k > 1), ``sim`` is
  the mean of the cosines of the k principal angles between span(V_k), V_k the top-k
  right singular vectors of W, and span(B*): the singular values of V_k^T B*, each in
  [0, 1]; all 1 when span(B*) lies in W's top-k right subspace, about sqrt(k/d) each
  for a random W (E[sum cos^2] = k^2/d). The cosines, largest first, are reported
  too, as ``sim_cos_1`` ... ``sim_cos_k`` (:func:`metric_names`). At k = 1 the two
  definitions agree; the k = 1 path is the one above, unchanged.

``readout_scaling = "authors"`` reproduces the published code, which divides the
pre-activation by d instead of sqrt(d) (an in-place division applied twice).
A snapshot with non-finite entries (a diverged run) gives NaN metrics.
"""

from __future__ import annotations

import math

import numpy as np

from htcore import models

METRICS = ("train_loss", "test_loss", "kta", "sim")


def metric_names(k: int = 1) -> tuple[str, ...]:
    """The keys of :func:`evaluate_snapshot` for a k-direction teacher: METRICS, and
    for k > 1 the principal-angle cosines ``sim_cos_1`` ... ``sim_cos_k``."""
    return METRICS if k == 1 else METRICS + tuple(f"sim_cos_{i + 1}" for i in range(k))


def features(X: np.ndarray, W: np.ndarray, scaling: str = "spec", activation: str = "tanh") -> np.ndarray:
    """Z = sigma(X W^T / s) / sqrt(h), s = sqrt(d) (spec) or d (authors); sigma
    applied in float32, Z returned in float64."""
    d = X.shape[1]
    h = W.shape[0]
    s = math.sqrt(d) if scaling == "spec" else float(d)
    sigma = np.tanh if activation == "tanh" else models.ACTIVATIONS[models.check_activation(activation)]
    Z = sigma((X @ W.T) / np.float32(s))
    return Z.astype(np.float64) / math.sqrt(h)


def ridge(Z: np.ndarray, y: np.ndarray, reg_lambda: float, gram: np.ndarray | None = None) -> np.ndarray:
    """a_hat = (Z^T Z + lambda (n/h) I)^{-1} Z^T y via a Cholesky solve."""
    n, h = Z.shape
    G = Z.T @ Z if gram is None else gram
    A = G + (reg_lambda * n / h) * np.eye(h)
    from scipy.linalg import cho_factor, cho_solve

    return cho_solve(cho_factor(A, lower=True, check_finite=False), Z.T @ y, check_finite=False)


def kta(Z: np.ndarray, y: np.ndarray, gram: np.ndarray | None = None) -> float:
    """Kernel-target alignment of the kernel Z Z^T with y y^T (h x h formula)."""
    G = Z.T @ Z if gram is None else gram
    zy = Z.T @ y
    return float(zy @ zy / (np.linalg.norm(G) * (y @ y)))


def kta_naive(Z: np.ndarray, y: np.ndarray) -> float:
    """KTA from its n x n definition (reference for tests)."""
    K = Z @ Z.T
    Y = np.outer(y, y)
    return float(np.sum(K * Y) / (np.linalg.norm(K) * np.linalg.norm(Y)))


def top_right_singular_vector(W: np.ndarray) -> np.ndarray:
    """v1 of W (unit norm), from the top eigenvector of W^T W in float64."""
    from scipy.linalg import eigh

    W64 = W.astype(np.float64)
    d = W64.shape[1]
    _, V = eigh(W64.T @ W64, subset_by_index=[d - 1, d - 1], check_finite=False)
    return V[:, -1]


def teacher_alignment(W: np.ndarray, beta: np.ndarray) -> float:
    """sim(W, beta*) = |<v1, beta*>| / ||v1|| (beta* has unit norm)."""
    v1 = top_right_singular_vector(W)
    return float(abs(v1 @ beta) / np.linalg.norm(v1) / np.linalg.norm(beta))


def top_right_singular_subspace(W: np.ndarray, k: int) -> np.ndarray:
    """V_k (d, k), orthonormal: the top-k right singular vectors of W, from the top-k
    eigenvectors of W^T W in float64 (columns in ascending order of eigenvalue)."""
    from scipy.linalg import eigh

    W64 = W.astype(np.float64)
    d = W64.shape[1]
    _, V = eigh(W64.T @ W64, subset_by_index=[d - k, d - 1], check_finite=False)
    return V


def subspace_alignment(W: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between W's top-k right singular subspace and
    span(B) (B (d, k), orthonormal columns), largest first, each in [0, 1]: the
    singular values of V_k^T B."""
    B = np.asarray(B, dtype=np.float64)
    V = top_right_singular_subspace(W, B.shape[1])
    return np.clip(np.linalg.svd(V.T @ B, compute_uv=False), 0.0, 1.0)


def teacher_matrix(data: dict) -> np.ndarray:
    """The teacher's directions (d, k) of a data set: ``B``, or ``beta`` as one column."""
    return data["B"] if "B" in data else np.asarray(data["beta"])[:, None]


def evaluate_snapshot(W: np.ndarray, data: dict, reg_lambda: float, scaling: str = "spec",
                      activation: str = "tanh") -> dict[str, float]:
    """All metrics of one snapshot (keys :func:`metric_names` of the teacher's k); NaN
    everywhere if W is not finite. ``data`` holds X_probe, y_probe, X_test, y_test and
    the teacher (``beta`` or ``B``)."""
    B = teacher_matrix(data)
    k = B.shape[1]
    if not np.all(np.isfinite(W)):
        return {m: math.nan for m in metric_names(k)}
    Z = features(data["X_probe"], W, scaling, activation)
    y = data["y_probe"].astype(np.float64)
    G = Z.T @ Z
    a_hat = ridge(Z, y, reg_lambda, gram=G)
    Zt = features(data["X_test"], W, scaling, activation)
    yt = data["y_test"].astype(np.float64)
    out = {
        "train_loss": float(np.mean((Z @ a_hat - y) ** 2)),
        "test_loss": float(np.mean((Zt @ a_hat - yt) ** 2)),
        "kta": kta(Z, y, gram=G),
    }
    if k == 1:
        out["sim"] = teacher_alignment(W, data["beta"] if "beta" in data else B[:, 0])
        return out
    cos = subspace_alignment(W, B)
    out["sim"] = float(cos.mean())
    out.update({f"sim_cos_{i + 1}": float(c) for i, c in enumerate(cos)})
    return out


def feature_esd(X: np.ndarray, W: np.ndarray, scaling: str = "spec", activation: str = "tanh") -> np.ndarray:
    """Ascending eigenvalues of Z^T Z (the ESD of the feature matrix Z); NaN if W is
    not finite. Z^T Z has the same non-zero eigenvalues as the kernel Z Z^T."""
    h = W.shape[0]
    if not np.all(np.isfinite(W)):
        return np.full(h, np.nan)
    Z = features(X, W, scaling, activation)
    return np.clip(np.linalg.eigvalsh(Z.T @ Z), 0.0, None)
