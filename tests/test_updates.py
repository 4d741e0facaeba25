"""Overlaps of singular vectors of W and of the update M on constructed matrices."""

from __future__ import annotations

import numpy as np

from htcore.updates import overlaps, update_pairs


def orthonormal(n, k, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))
    return q


def test_overlaps_of_known_singular_vectors():
    h, d, k = 40, 30, 4
    U, V = orthonormal(h, k, 0), orthonormal(d, k, 1)
    W0 = U @ np.diag([10.0, 8.0, 6.0, 4.0]) @ V.T
    # the update reuses W0's singular vectors with the first two swapped in order
    # of size, and a third direction orthogonal to everything in W0
    Ux, Vx = orthonormal(h, k + 1, 2), orthonormal(d, k + 1, 3)
    Ux[:, :k], Vx[:, :k] = U, V
    Ux, _ = np.linalg.qr(Ux)
    Vx, _ = np.linalg.qr(Vx)
    M = 3.0 * np.outer(U[:, 1], V[:, 1]) + 2.0 * np.outer(U[:, 0], V[:, 0]) + 1.0 * np.outer(Ux[:, k], Vx[:, k])
    pairs = list(update_pairs(np.array([0, 1]), np.stack([W0, W0 + M]), k=3))
    assert len(pairs) == 1
    p = pairs[0]
    np.testing.assert_allclose(p["sv"][:3], [3.0, 2.0, 1.0], atol=1e-10)
    # W_t's 1st direction is M's 2nd, W_t's 2nd is M's 1st, M's 3rd is new
    expected = np.zeros((3, 3))
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(p["U_Wt"], expected, atol=1e-10)
    np.testing.assert_allclose(p["V_Wt"], expected, atol=1e-10)
    # rows and columns of a squared-overlap matrix sum to at most 1
    assert (p["U_Wnext"].sum(axis=0) <= 1 + 1e-12).all() and (p["U_Wnext"].sum(axis=1) <= 1 + 1e-12).all()


def test_overlaps_identity_and_pairs_skip_non_finite():
    Q = orthonormal(10, 10, 4)
    np.testing.assert_allclose(overlaps(Q, Q, 3), np.eye(3), atol=1e-12)
    W = np.random.default_rng(5).standard_normal((3, 6, 5))
    W[1, 0, 0] = np.nan
    assert [p["step"] for p in update_pairs(np.array([0, 1, 2]), W, 2)] == []
    W[1, 0, 0] = 0.0
    assert [(p["step"], p["next_step"]) for p in update_pairs(np.array([0, 1, 2]), W, 2)] == [(0, 1), (1, 2)]
