"""Evaluation of a weight snapshot W_t: ridge read-out, KTA and teacher alignment.

For a snapshot W (h x d), with features Z = sigma(X W^T / sqrt(d)) / sqrt(h)
(sigma = ``activation``, tanh unless the run says otherwise; :mod:`htcore.models`):

* ridge read-out on the probe set: a_hat = (Z^T Z + lambda (n/h) I_h)^{-1} Z^T y,
  solved by Cholesky (no explicit inverse), in float64. ``reg_lambda`` is a number
  (the paper's 0.01) or ``"cv"``: the calibrated read-out, lambda chosen on the
  probe set alone by leave-one-out cross-validation (k-fold with k = n, exact in
  closed form: :func:`cv_lambda`) over :data:`CV_GRID`; ``reg_lambda_used`` reports
  the lambda each snapshot's read-out used. The paper's lambda 0.01 at n/h = 1.33
  sits near the ridge's interpolation peak (test loss ~1.7 at initialisation, worse
  than predicting zero), so it measures the ridge as much as the features;
* ``train_loss`` = MSE(Z a_hat, y) on the probe set, ``test_loss`` the same on the
  test set;
* ``zero_loss`` = mean(y_test^2): the zero predictor's MSE on this run's own test
  set (the same points as ``test_loss``: the paired baseline; the population value
  is ``baseline_zero``, htcore.baselines);
* ``sat_frac``: the fraction of hidden units that are saturated, judged on the probe
  set with the network's own pre-activation X W^T / sqrt(d) (whatever the read-out
  scaling): a unit is saturated when sigma'(pre-activation) is below
  ``SAT_DERIV`` (1 %) of sigma''s maximum on at least ``SAT_SHARE`` (90 %) of the
  samples (tanh: |w_j^T x| / sqrt(d) > 3 almost always); a saturated unit passes no
  gradient, so a run whose units saturate against the frozen head cannot bring its
  loss back (htcore.state);
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
  definitions agree; the k = 1 path is the one above, unchanged. For k > 1,
  ``sim_mean`` is sim(W, b_mean) with b_mean = sum_j b_j / ||sum_j b_j||, the
  committee's linear component: the one direction that one gradient step at n ~ d
  is predicted to spike along (docs/science.md, "teacher rank").

``readout_scaling = "authors"`` reproduces the published code, which divides the
pre-activation by d instead of sqrt(d) (an in-place division applied twice).
A snapshot with non-finite entries (a diverged run) gives NaN metrics.
"""

from __future__ import annotations

import math

import numpy as np

from htcore import models

METRICS = ("train_loss", "test_loss", "zero_loss", "reg_lambda_used", "kta", "sat_frac", "sim")

#: The calibrated read-out's lambda grid (the same relative penalty lambda (n/h) as
#: the fixed read-out): 10^-5 ... 10^3 in half decades. The paper's 0.01 is on it.
CV_GRID = tuple(float(10.0 ** (e / 2)) for e in range(-10, 7))
#: A unit is saturated when sigma' is below SAT_DERIV of its maximum on at least
#: SAT_SHARE of the probe samples.
SAT_DERIV, SAT_SHARE = 0.01, 0.9


def metric_names(k: int = 1) -> tuple[str, ...]:
    """The keys of :func:`evaluate_snapshot` for a k-direction teacher: METRICS, and
    for k > 1 the principal-angle cosines ``sim_cos_1`` ... ``sim_cos_k``."""
    return METRICS if k == 1 else METRICS + ("sim_mean",) + tuple(f"sim_cos_{i + 1}" for i in range(k))


def features(X: np.ndarray, W: np.ndarray, scaling: str = "spec", activation: str = "tanh",
             XWt: np.ndarray | None = None) -> np.ndarray:
    """Z = sigma(X W^T / s) / sqrt(h), s = sqrt(d) (spec) or d (authors); sigma
    applied in float32, Z returned in float64. ``XWt``: X @ W.T if already computed
    (the same numbers; evaluate_snapshot shares it with saturated_fraction)."""
    d = X.shape[1]
    h = W.shape[0]
    s = math.sqrt(d) if scaling == "spec" else float(d)
    sigma = np.tanh if activation == "tanh" else models.ACTIVATIONS[models.check_activation(activation)]
    Z = sigma((X @ W.T if XWt is None else XWt) / np.float32(s))
    return Z.astype(np.float64) / math.sqrt(h)


def ridge(Z: np.ndarray, y: np.ndarray, reg_lambda: float, gram: np.ndarray | None = None) -> np.ndarray:
    """a_hat = (Z^T Z + lambda (n/h) I)^{-1} Z^T y via a Cholesky solve."""
    n, h = Z.shape
    G = Z.T @ Z if gram is None else gram
    A = G + (reg_lambda * n / h) * np.eye(h)
    from scipy.linalg import cho_factor, cho_solve

    return cho_solve(cho_factor(A, lower=True, check_finite=False), Z.T @ y, check_finite=False)


def loo_errors(Z: np.ndarray, y: np.ndarray, grid=CV_GRID, gram: np.ndarray | None = None) -> np.ndarray:
    """Leave-one-out MSE of the ridge read-out for each lambda of ``grid``, exact in
    closed form from one eigendecomposition Z^T Z = Q diag(s) Q^T: with P = Z Q and
    c = lambda n / h, the fit's residual r_i and the hat matrix's diagonal
    H_ii = sum_j P_ij^2 / (s_j + c) give the held-out residual r_i / (1 - H_ii)."""
    from scipy.linalg import eigh

    n, h = Z.shape
    G = Z.T @ Z if gram is None else gram
    s, Q = eigh(G, check_finite=False)
    s = np.clip(s, 0.0, None)
    P = Z @ Q
    Py = Q.T @ (Z.T @ y)
    P2 = P * P
    out = []
    for lam in grid:
        inv = 1.0 / (s + lam * n / h)
        resid = y - P @ (inv * Py)
        lev = P2 @ inv
        out.append(float(np.mean((resid / (1.0 - lev)) ** 2)))
    return np.array(out)


def cv_lambda(Z: np.ndarray, y: np.ndarray, grid=CV_GRID, gram: np.ndarray | None = None) -> float:
    """The lambda of ``grid`` with the lowest leave-one-out error (the larger one on a
    tie): the calibrated read-out's choice, from the probe set alone."""
    err = loo_errors(Z, y, grid, gram)
    best = np.flatnonzero(err <= err.min() * (1 + 1e-12))
    return float(grid[int(best[-1])])


def saturated_fraction(X: np.ndarray, W: np.ndarray, activation: str = "tanh",
                       XWt: np.ndarray | None = None) -> float:
    """Share of the h units whose sigma'(w_j^T x / sqrt(d)) is below SAT_DERIV of its
    maximum on at least SAT_SHARE of the rows of X (``XWt``: X @ W.T if computed)."""
    act = models.check_activation(activation)
    prime = models.ACTIVATION_DERIVATIVES[act]
    top = float(np.max(prime(np.linspace(-10.0, 10.0, 20001))))
    U = (X @ W.T if XWt is None else XWt) / np.float32(math.sqrt(X.shape[1]))
    flat = prime(U) < SAT_DERIV * top
    return float(np.mean(flat.mean(axis=0) >= SAT_SHARE))


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


def evaluate_snapshot(W: np.ndarray, data: dict, reg_lambda: float | str, scaling: str = "spec",
                      activation: str = "tanh") -> dict[str, float]:
    """All metrics of one snapshot (keys :func:`metric_names` of the teacher's k); NaN
    everywhere if W is not finite. ``data`` holds X_probe, y_probe, X_test, y_test and
    the teacher (``beta`` or ``B``)."""
    B = teacher_matrix(data)
    k = B.shape[1]
    if not np.all(np.isfinite(W)):
        return {**{m: math.nan for m in metric_names(k)},
                "zero_loss": float(np.mean(data["y_test"].astype(np.float64) ** 2))}
    XWt = data["X_probe"] @ W.T  # shared by the features and the saturation test
    Z = features(data["X_probe"], W, scaling, activation, XWt)
    y = data["y_probe"].astype(np.float64)
    G = Z.T @ Z
    lam = cv_lambda(Z, y, gram=G) if reg_lambda == "cv" else float(reg_lambda)
    a_hat = ridge(Z, y, lam, gram=G)
    Zt = features(data["X_test"], W, scaling, activation)
    yt = data["y_test"].astype(np.float64)
    out = {
        "train_loss": float(np.mean((Z @ a_hat - y) ** 2)),
        "test_loss": float(np.mean((Zt @ a_hat - yt) ** 2)),
        "zero_loss": float(np.mean(yt ** 2)),
        "reg_lambda_used": lam,
        "kta": kta(Z, y, gram=G),
        "sat_frac": saturated_fraction(data["X_probe"], W, activation, XWt),
    }
    if k == 1:
        out["sim"] = teacher_alignment(W, data["beta"] if "beta" in data else B[:, 0])
        return out
    cos = subspace_alignment(W, B)
    out["sim"] = float(cos.mean())
    mean_dir = B.sum(axis=1)
    out["sim_mean"] = teacher_alignment(W, mean_dir / np.linalg.norm(mean_dir))
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
