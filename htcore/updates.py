"""Singular vectors of the weights and of the optimizer's updates.

For consecutive snapshots W_t and W_t' (t' the next probe step; t' = t + 1 when
every step is probed) the update is M_t = W_t' - W_t. With the SVDs W = U S V^T
and M = U_M S_M V_M^T (float64, singular values descending), the squared overlaps
of the top-k singular vectors are

    O[i, j] = <u_W,i, u_M,j>^2   (left,  ``which = "U_Wt"`` / ``"U_Wnext"``)
    O[i, j] = <v_W,i, v_M,j>^2   (right, ``which = "V_Wt"`` / ``"V_Wnext"``)

for W = W_t and W = W_t'. Each row and column sums to at most 1; a bright diagonal
means the update's top directions are the weight's top directions.
Pairs involving a non-finite snapshot (a diverged run) are skipped.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

WHICH = ("U_Wt", "V_Wt", "U_Wnext", "V_Wnext")


def _svd(W: np.ndarray):
    return np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)


def overlaps(UA: np.ndarray, UB: np.ndarray, k: int) -> np.ndarray:
    """k x k matrix of squared inner products between the first k columns."""
    k = min(k, UA.shape[1], UB.shape[1])
    return (UA[:, :k].T @ UB[:, :k]) ** 2


def update_pairs(steps: np.ndarray, Ws: np.ndarray, k: int) -> Iterator[dict]:
    """For each pair of consecutive finite snapshots: singular values of M_t and the
    four top-k overlap matrices. Yields dicts with keys step, next_step, sv, and
    one k x k array per name in :data:`WHICH`."""
    prev = None  # (step, SVD) of the previous finite snapshot
    for i in range(len(steps) - 1):
        A, B = Ws[i], Ws[i + 1]
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
            prev = None
            continue
        sa = prev[1] if prev is not None and prev[0] == steps[i] else _svd(A)
        sb = _svd(B)
        M = np.asarray(B, dtype=np.float64) - np.asarray(A, dtype=np.float64)
        um, sm, vmt = _svd(M)
        yield {
            "step": int(steps[i]), "next_step": int(steps[i + 1]), "sv": sm,
            "U_Wt": overlaps(sa[0], um, k), "V_Wt": overlaps(sa[2].T, vmt.T, k),
            "U_Wnext": overlaps(sb[0], um, k), "V_Wnext": overlaps(sb[2].T, vmt.T, k),
        }
        prev = (steps[i + 1], sb)
