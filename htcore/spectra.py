"""Empirical spectral density (ESD) of weight snapshots and its summaries.

The ESD of W (h x d) is the set of eigenvalues of W^T W, i.e. the squared singular
values of W, not divided by any dimension, computed in float64 with
``numpy.linalg.eigvalsh`` on the d x d Gram matrix (3x faster than a full SVD of W
at paper scale). Eigenvalues are returned ascending; tiny negative values from
rounding are clipped to 0.

Summaries per snapshot: ``lambda_max`` (= ||W||_2^2), ``frob_norm2`` (= ||W||_F^2 =
trace W^T W) and ``stable_rank`` = ||W||_F^2 / ||W||_2^2. A non-finite snapshot (a
diverged run) has an all-NaN ESD and NaN summaries. ``update_norm`` =
||W_t - W_0||_F / ||W_0||_F says how far training moved W (NaN without W_0): a run
that barely moves W cannot answer a question about what training does to it.
"""

from __future__ import annotations

import math

import numpy as np

SUMMARY_COLUMNS = ("lambda_max", "frob_norm2", "stable_rank")


def esd(W: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of W^T W (float64); all NaN if W is not finite."""
    if W.shape[0] < W.shape[1]:
        W = W.T  # eigenvalues of the smaller Gram matrix; the rest are zeros
    if not np.all(np.isfinite(W)):
        return np.full(W.shape[1], np.nan)
    W64 = np.asarray(W, dtype=np.float64)
    ev = np.linalg.eigvalsh(W64.T @ W64)
    return np.clip(ev, 0.0, None)


def summarize(eigs: np.ndarray) -> dict[str, float]:
    """lambda_max, Frobenius norm squared and stable rank of one ESD."""
    if not np.all(np.isfinite(eigs)):
        return {k: math.nan for k in SUMMARY_COLUMNS}
    lam_max = float(eigs.max())
    frob2 = float(eigs.sum())
    return {"lambda_max": lam_max, "frob_norm2": frob2, "stable_rank": frob2 / lam_max}


def update_norm(W: np.ndarray, W0: np.ndarray | None) -> float:
    """||W - W0||_F / ||W0||_F in float64 (NaN if W0 is None or either is not finite)."""
    if W0 is None or not (np.all(np.isfinite(W)) and np.all(np.isfinite(W0))):
        return math.nan
    W64, W064 = np.asarray(W, dtype=np.float64), np.asarray(W0, dtype=np.float64)
    return float(np.linalg.norm(W64 - W064) / np.linalg.norm(W064))
