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
    m = E.evaluate_snapshot(W, data, 0.01)
    assert all(math.isnan(v) for k, v in m.items() if k != "zero_loss")
    # the zero predictor needs no network: still its loss on this test set
    assert m["zero_loss"] == pytest.approx(np.mean(data["y_test"].astype(np.float64) ** 2))


def test_zero_loss_is_the_test_sets_own_second_moment(data):
    m = E.evaluate_snapshot(data["W0"], data, 0.01)
    assert m["zero_loss"] == pytest.approx(float(np.mean(data["y_test"].astype(np.float64) ** 2)), rel=1e-12)
    assert m["reg_lambda_used"] == 0.01


def _loo_direct(Z, y, lam):
    """Leave-one-out MSE by n refits (the definition)."""
    n, h = Z.shape
    errs = []
    for i in range(n):
        keep = np.arange(n) != i
        A = Z[keep].T @ Z[keep] + lam * n / h * np.eye(h)
        a = np.linalg.solve(A, Z[keep].T @ y[keep])
        errs.append((Z[i] @ a - y[i]) ** 2)
    return float(np.mean(errs))


def test_loo_errors_match_refitting_without_each_point(data):
    Z = E.features(data["X_probe"], data["W0"])
    y = data["y_probe"].astype(np.float64)
    grid = (1e-4, 1e-2, 1.0)
    np.testing.assert_allclose(E.loo_errors(Z, y, grid), [_loo_direct(Z, y, lam) for lam in grid], rtol=1e-8)


def test_cv_read_out_picks_the_best_lambda_and_uses_it(data):
    Z = E.features(data["X_probe"], data["W0"])
    y = data["y_probe"].astype(np.float64)
    err = E.loo_errors(Z, y)
    lam = E.cv_lambda(Z, y)
    assert lam in E.CV_GRID and err[E.CV_GRID.index(lam)] == err.min()
    m = E.evaluate_snapshot(data["W0"], data, "cv")
    fixed = E.evaluate_snapshot(data["W0"], data, lam)
    assert m["reg_lambda_used"] == lam and m["test_loss"] == fixed["test_loss"]


def test_cv_read_out_is_not_the_interpolation_peak():
    # n/h near 1 with a tiny lambda: the ridge interpolates noise and its test loss
    # exceeds the zero predictor's; the calibrated read-out does not
    d = generate(5, d=40, h=60, n=70, n_test=2000, label_noise_std=0.3)
    fixed = E.evaluate_snapshot(d["W0"], d, 1e-5)
    cv = E.evaluate_snapshot(d["W0"], d, "cv")
    assert fixed["test_loss"] > fixed["zero_loss"] > cv["test_loss"]
    assert cv["reg_lambda_used"] > 1e-5


def test_saturated_fraction_counts_units_in_the_flat_part(data):
    W = data["W0"].copy()
    assert E.saturated_fraction(data["X_probe"], W) == 0.0
    W[:10] *= 1000.0  # ten units driven far into tanh's flat part
    assert E.saturated_fraction(data["X_probe"], W) == pytest.approx(10 / W.shape[0])
    # relu: a unit that is off on every sample passes no gradient either
    W2 = data["W0"].copy()
    W2[:5] = 0.0  # zero rows: relu'(0) = 0 on every sample
    assert E.saturated_fraction(data["X_probe"], W2, "relu") == pytest.approx(5 / W.shape[0])


# --- activations and k-direction teachers beyond the paper ----------------------------

from scipy.linalg import subspace_angles  # noqa: E402


def _sigma(name, u):
    return {"tanh": math.tanh, "relu": lambda v: max(v, 0.0), "erf": math.erf,
            "gelu": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))}[name](u)


@pytest.mark.parametrize("activation", ["tanh", "relu", "erf", "gelu"])
def test_features_of_each_activation_match_hand_computation(data, activation):
    X, W = data["X_probe"][:4], data["W0"]
    d, h = 15, 25
    Z = E.features(X, W, "spec", activation)
    assert Z.dtype == np.float64
    for i in range(4):
        for j in (0, 7, 24):
            pre = sum(float(W[j, k]) * float(X[i, k]) for k in range(d)) / math.sqrt(d)
            assert Z[i, j] == pytest.approx(_sigma(activation, pre) / math.sqrt(h), rel=1e-5, abs=1e-7)
    esd = E.feature_esd(X, W, "spec", activation)
    assert esd.sum() == pytest.approx(float((Z**2).sum()), rel=1e-9)  # trace of Z^T Z


def test_tanh_features_are_bit_identical_to_the_paper_code(data):
    X, W = data["X_test"], data["W0"]
    ref = np.tanh((X @ W.T) / np.float32(math.sqrt(15))).astype(np.float64) / math.sqrt(25)
    assert E.features(X, W).tobytes() == ref.tobytes() == E.features(X, W, activation="tanh").tobytes()


def _orthonormal(g, d, k):
    return np.linalg.qr(g.standard_normal((d, k)))[0]


def test_subspace_alignment_of_a_planted_subspace_and_its_invariances():
    g = np.random.default_rng(1)
    d, h, k = 30, 45, 3
    B = _orthonormal(g, d, k)
    U = _orthonormal(g, h, k)
    W = U @ np.diag([9.0, 7.0, 5.0]) @ B.T  # span(B) is exactly W's top-3 right subspace
    np.testing.assert_allclose(E.subspace_alignment(W, B), 1.0, atol=1e-10)
    W = W + 0.05 * g.standard_normal((h, d))
    cos = E.subspace_alignment(W, B)
    ref = np.sort(np.cos(subspace_angles(E.top_right_singular_subspace(W, k), B)))[::-1]
    np.testing.assert_allclose(cos, ref, atol=1e-10)
    assert np.all(np.diff(cos) <= 0) and 0.95 < cos[-1] < 1.0
    R = _orthonormal(g, d, d)  # rotate the input space: W -> W R^T, B -> R B
    Qk = _orthonormal(g, k, k)  # another basis of span(B)
    Qh = _orthonormal(g, h, h)  # rotate the hidden space
    np.testing.assert_allclose(E.subspace_alignment(W @ R.T, R @ B), cos, atol=1e-10)
    np.testing.assert_allclose(E.subspace_alignment(Qh @ W, B @ Qk), cos, atol=1e-10)
    # one direction: the k = 1 cosine is teacher_alignment's number
    assert E.subspace_alignment(W, B[:, :1])[0] == pytest.approx(E.teacher_alignment(W, B[:, 0]), abs=1e-12)


def test_subspace_alignment_of_random_weights_is_small():
    # a Gaussian W's top-k right subspace is uniformly random: E[sum cos^2] = k^2 / d
    g = np.random.default_rng(2)
    d, h, k, reps = 120, 80, 3, 40
    B = _orthonormal(g, d, k)
    s2 = np.array([np.sum(E.subspace_alignment(g.standard_normal((h, d)), B) ** 2) for _ in range(reps)])
    assert abs(s2.mean() - k * k / d) < 4 * s2.std() / math.sqrt(reps)
    assert s2.mean() < 0.15


def test_evaluate_snapshot_with_a_k_direction_teacher():
    d, k = 15, 3
    data = generate(3, d=d, h=25, n=80, n_test=30, label_noise_std=0.2,
                    teacher={"kind": "multi_index", "k": k, "link": "tanh"})
    W = data["W0"] + 6 * np.outer(np.ones(25), data["B"][:, 0]).astype(np.float32)
    m = E.evaluate_snapshot(W, data, 0.01, activation="erf")
    assert tuple(m) == E.metric_names(k) == E.METRICS + ("sim_mean", "sim_cos_1", "sim_cos_2", "sim_cos_3")
    cos = E.subspace_alignment(W, data["B"])
    assert m["sim"] == pytest.approx(cos.mean(), rel=1e-12) and m["sim_cos_1"] == pytest.approx(cos[0])
    assert m["sim_cos_1"] > 0.99 and m["sim_cos_3"] < 0.9  # one direction planted, not three
    mean_dir = data["B"].sum(axis=1) / np.linalg.norm(data["B"].sum(axis=1))
    assert m["sim_mean"] == pytest.approx(abs(data["B"][:, 0] @ mean_dir), abs=0.05)  # b_1 . sum_j b_j / sqrt(3)
    Z = E.features(data["X_probe"], W, activation="erf")
    a_hat = E.ridge(Z, data["y_probe"].astype(np.float64), 0.01)
    assert m["train_loss"] == pytest.approx(np.mean((Z @ a_hat - data["y_probe"]) ** 2), rel=1e-6)
    W[0, 0] = np.inf
    bad = E.evaluate_snapshot(W, data, 0.01)
    assert set(bad) == set(E.metric_names(k)) and all(math.isnan(v) for k, v in bad.items() if k != "zero_loss")


def test_k1_sim_is_teacher_alignment_bit_for_bit(data):
    W = data["W0"] + 3 * np.outer(np.ones(25), data["beta"]).astype(np.float32)
    m = E.evaluate_snapshot(W, data, 0.01)
    assert m["sim"] == E.teacher_alignment(W, data["beta"]) and tuple(m) == E.METRICS
    as_matrix = {k: v for k, v in data.items() if k != "beta"} | {"B": data["beta"][:, None]}
    assert E.evaluate_snapshot(W, as_matrix, 0.01)["sim"] == m["sim"]
