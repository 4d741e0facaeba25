"""Spectral surgery: does the heavy tail itself help generalisation?

The paper's title claim is that heavy tails "can facilitate generalization". A
trained W carries a detached spike (along the teacher) and, at large steps, a tail
grown out of the bulk edge; comparing runs cannot tell which of the two the read-out
uses. Surgery on one snapshot can: keep W's singular vectors, edit its singular
values, and evaluate each edited W with the same calibrated read-out on the same
test set (paired within seed). For a snapshot W (h x d) with SVD U S V^T and its MP
fit (:func:`htcore.mp.fit_mp`: ``n_detached`` spikes detached from the bulk, then
the ``n_edge`` outliers of the edge group, the tail, then the bulk):

``unedited``
    W itself.
``tail_shrunk``
    the edge group's singular values set back to the MP edge sqrt(lambda_plus) (the
    fitted bulk's edge), the detached spikes kept: W without its tail.
``spike_only``
    W_0 + U_k U_k^T (W - W_0) V_k V_k^T, k = max(n_detached, 1): the initial weights
    plus the update restricted to the spike's singular directions: W without tail
    and without any other learned structure.
``random_shrunk``
    the control: the same surgery on random directions. As many of W's own bulk
    singular directions as the tail has outliers, drawn at random (a fixed seed per
    run and step), each lose the squared singular value its tail counterpart loses
    (s_i^2 - lambda_plus; floored at 0, so the control removes at most the tail's
    mass: ``control_mass`` says how much). If removing the tail matters only because
    it removes spectral mass, the control moves the test loss as much as
    ``tail_shrunk``.

A snapshot without an edge group (no tail) gets ``tail_shrunk`` and
``random_shrunk`` equal to ``unedited``; ``has_tail`` (htcore.shape.has_tail) says
which snapshots the question is about.
"""

from __future__ import annotations

import numpy as np

VARIANTS = ("unedited", "tail_shrunk", "spike_only", "random_shrunk")


def variants(W: np.ndarray, W0: np.ndarray, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The four edited snapshots of ``W`` (float32, W's shape) and the numbers of the
    MP fit they rest on (n_detached, n_edge, has_tail, lambda_plus, spike_threshold,
    tail_mass: the sum of squared singular values the shrinkage removes; control_mass:
    what the control removes)."""
    from htcore.mp import fit_mp
    from htcore.shape import has_tail

    h, d = W.shape
    W64 = np.asarray(W, dtype=np.float64)
    U, S, Vt = np.linalg.svd(W64, full_matrices=False)  # S descending
    mp = fit_mp(S**2, h, d)
    n_det = int(mp.n_detached or 0)
    n_edge = int(mp.n_edge or 0)
    edge = np.arange(n_det, n_det + n_edge)
    target = float(np.sqrt(mp.lambda_plus)) if np.isfinite(mp.lambda_plus) else 0.0

    S2 = S.copy()
    S2[edge] = np.minimum(S[edge], target)
    shrunk = (U * S2) @ Vt

    k = max(n_det, 1)
    Uk, Vk = U[:, :k], Vt[:k].T
    W0_64 = np.asarray(W0, dtype=np.float64)
    spike = W0_64 + Uk @ (Uk.T @ (W64 - W0_64) @ Vk) @ Vk.T

    rng = np.random.default_rng(seed)
    bulk = np.arange(n_det + n_edge, S.size)
    pick = rng.choice(bulk, size=min(len(edge), bulk.size), replace=False) if len(edge) else np.array([], int)
    S3 = S.copy()
    S3[pick] = np.sqrt(np.clip(S[pick] ** 2 - (S[edge[:pick.size]] ** 2 - S2[edge[:pick.size]] ** 2), 0.0, None))
    control = (U * S3) @ Vt
    out = {"unedited": W64, "tail_shrunk": shrunk, "spike_only": spike, "random_shrunk": control}
    info = {"n_detached": n_det, "n_edge": n_edge, "has_tail": bool(has_tail(mp)),
            "lambda_plus": float(mp.lambda_plus), "spike_threshold": float(mp.spike_threshold),
            "tail_mass": float(np.sum(S[edge] ** 2 - S2[edge] ** 2)),
            "control_mass": float(np.sum(S[pick] ** 2 - S3[pick] ** 2))}
    return {k: v.astype(np.float32) for k, v in out.items()}, info
