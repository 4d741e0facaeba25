"""Evaluation of a weight snapshot W_t: ridge read-out, KTA and teacher alignment.

For a snapshot W (h x d), with features Z = tanh(X W^T / sqrt(d)) / sqrt(h):

* ridge read-out on the probe set: a_hat = (Z^T Z + lambda (n/h) I_h)^{-1} Z^T y,
  solved by Cholesky (no explicit inverse), in float64;
* ``train_loss`` = MSE(Z a_hat, y) on the probe set, ``test_loss`` the same on the
  test set;
* ``kta`` = <Z Z^T, y y^T>_F / (||Z Z^T||_F ||y y^T||_F), computed as
  ||Z^T y||^2 / (||Z^T Z||_F ||y||^2) from the h x h Gram matrix (no n x n kernel);
* ``sim`` = |<v1, beta*>| / ||v1||, v1 the top right singular vector of W (the top
  eigenvector of W^T W).

``readout_scaling = "authors"`` reproduces the published code, which divides the
pre-activation by d instead of sqrt(d) (an in-place division applied twice).
A snapshot with non-finite entries (a diverged run) gives NaN metrics.
"""

from __future__ import annotations

import math

import numpy as np

METRICS = ("train_loss", "test_loss", "kta", "sim")


def features(X: np.ndarray, W: np.ndarray, scaling: str = "spec") -> np.ndarray:
    """Z = tanh(X W^T / s) / sqrt(h), s = sqrt(d) (spec) or d (authors); float64."""
    d = X.shape[1]
    h = W.shape[0]
    s = math.sqrt(d) if scaling == "spec" else float(d)
    Z = np.tanh((X @ W.T) / np.float32(s))
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


def evaluate_snapshot(W: np.ndarray, data: dict, reg_lambda: float, scaling: str = "spec") -> dict[str, float]:
    """All metrics of one snapshot; NaN everywhere if W is not finite."""
    if not np.all(np.isfinite(W)):
        return {m: math.nan for m in METRICS}
    Z = features(data["X_probe"], W, scaling)
    y = data["y_probe"].astype(np.float64)
    G = Z.T @ Z
    a_hat = ridge(Z, y, reg_lambda, gram=G)
    Zt = features(data["X_test"], W, scaling)
    yt = data["y_test"].astype(np.float64)
    return {
        "train_loss": float(np.mean((Z @ a_hat - y) ** 2)),
        "test_loss": float(np.mean((Zt @ a_hat - yt) ** 2)),
        "kta": kta(Z, y, gram=G),
        "sim": teacher_alignment(W, data["beta"]),
    }


def feature_esd(X: np.ndarray, W: np.ndarray, scaling: str = "spec") -> np.ndarray:
    """Ascending eigenvalues of Z^T Z (the ESD of the feature matrix Z); NaN if W is
    not finite. Z^T Z has the same non-zero eigenvalues as the kernel Z Z^T."""
    h = W.shape[0]
    if not np.all(np.isfinite(W)):
        return np.full(h, np.nan)
    Z = features(X, W, scaling)
    return np.clip(np.linalg.eigvalsh(Z.T @ Z), 0.0, None)
