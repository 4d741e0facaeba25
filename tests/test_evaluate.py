"""Read-out, KTA and teacher alignment against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from htcore import evaluate as E
from htcore.data import generate


@pytest.fixture(scope="module")
def data():
    return generate(3, d=15, h=25, n=80, n_test=30, label_noise_std=0.2)


def test_features_both_scalings_match_hand_computation(data):
    X, W = data["X_probe"][:4], data["W0"]
    d, h = 15, 25
    for scaling, s in (("spec", math.sqrt(d)), ("authors", d)):
        Z = E.features(X, W, scaling)
        for i in range(4):
            for j in (0, 7, 24):
                pre = sum(float(W[j, k]) * float(X[i, k]) for k in range(d)) / s
                assert Z[i, j] == pytest.approx(math.tanh(pre) / math.sqrt(h), rel=1e-5)


def test_ridge_matches_numpy_least_squares(data):
    Z = E.features(data["X_probe"], data["W0"])
    y = data["y_probe"].astype(np.float64)
    lam = 0.05
    n, h = Z.shape
    # ridge = least squares on Z stacked with sqrt(lambda n / h) I against y stacked with 0
    A = np.vstack([Z, math.sqrt(lam * n / h) * np.eye(h)])
    b = np.concatenate([y, np.zeros(h)])
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(E.ridge(Z, y, lam), ref, rtol=1e-8, atol=1e-10)


def test_kta_h_by_h_formula_equals_n_by_n_definition(data):
    Z = E.features(data["X_probe"], data["W0"])
    y = data["y_probe"].astype(np.float64)
    assert E.kta(Z, y) == pytest.approx(E.kta_naive(Z, y), rel=1e-10)
    assert 0 < E.kta(Z, y) <= 1


def test_teacher_alignment_of_a_planted_spike():
    g = np.random.default_rng(0)
    d, h = 40, 60
    beta = g.standard_normal(d)
    beta /= np.linalg.norm(beta)
    u = g.standard_normal(h)
    W = (0.01 * g.standard_normal((h, d)) + 5 * np.outer(u, beta)).astype(np.float32)
    assert E.teacher_alignment(W, beta) == pytest.approx(1.0, abs=1e-3)
    # a direction orthogonal to the spike has alignment ~ 0
    other = np.linalg.svd(W.astype(np.float64))[2][1]
    assert E.teacher_alignment(W, other) < 1e-3


def test_metrics_of_snapshot(data):
    m = E.evaluate_snapshot(data["W0"], data, 0.01)
    Z = E.features(data["X_probe"], data["W0"])
    y = data["y_probe"].astype(np.float64)
    a_hat = E.ridge(Z, y, 0.01)
    assert m["train_loss"] == pytest.approx(np.mean((Z @ a_hat - y) ** 2))
    Zt = E.features(data["X_test"], data["W0"])
    assert m["test_loss"] == pytest.approx(np.mean((Zt @ a_hat - data["y_test"]) ** 2), rel=1e-6)
    assert set(m) == set(E.METRICS)


def test_non_finite_snapshot_gives_nan_metrics(data):
    W = data["W0"].copy()
    W[0, 0] = np.nan
    assert all(math.isnan(v) for v in E.evaluate_snapshot(W, data, 0.01).values())
