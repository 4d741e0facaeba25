"""Data generation: determinism, shared initialisation, nested sets, teacher."""

from __future__ import annotations

import numpy as np

from htcore.data import generate, softplus


def test_same_seed_same_arrays_other_seed_differs():
    a = generate(1, 10, 12, 30, 5, 0.3)
    b = generate(1, 10, 12, 30, 5, 0.3)
    c = generate(2, 10, 12, 30, 5, 0.3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["W0"], c["W0"])


def test_init_independent_of_n_and_noise_and_sets_nested():
    small = generate(0, 10, 12, 30, 5, 0.1)
    big = generate(0, 10, 12, 90, 5, 0.7)
    np.testing.assert_array_equal(small["W0"], big["W0"])
    np.testing.assert_array_equal(small["a0"], big["a0"])
    np.testing.assert_array_equal(small["beta"], big["beta"])
    np.testing.assert_array_equal(small["X"], big["X"][:30])


def test_teacher_labels_and_shapes():
    g = generate(0, 8, 9, 2000, 7, 0.0)
    assert g["X"].shape == (2000, 8) and g["X_test"].shape == (7, 8) and g["W0"].shape == (9, 8)
    assert abs(np.linalg.norm(g["beta"]) - 1) < 1e-12
    np.testing.assert_allclose(g["y"], softplus(g["X"].astype(np.float64) @ g["beta"]), rtol=1e-6)
    noisy = generate(0, 8, 9, 2000, 7, 0.3)
    assert abs(np.std(noisy["y"] - g["y"]) - 0.3) < 0.02


# --- teachers beyond the paper: multi-index, other links; one set drawn alone ---------

import math  # noqa: E402

import pytest  # noqa: E402

from htcore import data as D  # noqa: E402
from htcore.baselines import loss_baselines  # noqa: E402
from htcore.models import LINKS, Teacher  # noqa: E402


def paper_generate(seed, d, h, n, n_test, label_noise_std):
    """data.generate as it was before teachers were configurable (frozen reference)."""
    beta = D.rng(seed, "beta").standard_normal(d)
    beta /= np.linalg.norm(beta)
    out = {"beta": beta}
    for name, size in (("", n), ("_probe", n), ("_test", n_test)):
        X = D.rng(seed, "X" + name).standard_normal((size, d), dtype=np.float32)
        eps = label_noise_std * D.rng(seed, "noise" + name).standard_normal(size)
        out["X" + name] = X
        out["y" + name] = (np.logaddexp(0.0, X.astype(np.float64) @ beta) + eps).astype(np.float32)
    out["W0"] = D.rng(seed, "W0").standard_normal((h, d), dtype=np.float32)
    out["a0"] = D.rng(seed, "a0").standard_normal(h, dtype=np.float32)
    return out


@pytest.mark.parametrize("teacher", [None, {"kind": "single_index", "k": 1, "link": "softplus"},
                                     {"kind": "multi_index", "k": 1}, Teacher()])
def test_paper_teacher_arrays_are_bit_identical_to_the_reference(teacher):
    for seed, (d, h, n, nt, rho) in ((0, (40, 50, 90, 20, 0.3)), (5, (7, 3, 11, 4, 0.0)), (11, (25, 9, 60, 30, 0.7))):
        ref = paper_generate(seed, d, h, n, nt, rho)
        got = D.generate(seed, d, h, n, nt, rho, teacher=teacher)
        assert list(got) == list(ref)
        for k in ref:
            assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape
            assert got[k].tobytes() == ref[k].tobytes(), k


@pytest.mark.parametrize("teacher", [None, {"kind": "multi_index", "k": 3, "link": "he2"}])
def test_each_labelled_set_drawn_alone_equals_the_generated_one(teacher):
    t = Teacher.of(teacher)
    g = D.generate(4, 12, 5, 40, 17, 0.3, teacher=teacher)
    B = D.teacher_directions(4, 12, t.k)
    for which, size in (("", 40), ("_probe", 40), ("_test", 17)):
        X, y = D.labelled_set(4, which, size, 12, B, 0.3, t.link)
        assert X.tobytes() == g["X" + which].tobytes() and y.tobytes() == g["y" + which].tobytes()
    # the beta vector itself (k = 1) gives the same labels as the (d, 1) matrix
    if t.k == 1:
        assert D.labelled_set(4, "_test", 17, 12, g["beta"], 0.3)[1].tobytes() == g["y_test"].tobytes()
    with pytest.raises(ValueError):
        D.labelled_set(4, "_train", 3, 12, B, 0.3)


def test_multi_index_directions_are_the_gram_schmidt_of_the_beta_stream():
    d, k = 30, 4
    B = D.teacher_directions(9, d, k)
    M = D.rng(9, "beta").standard_normal((d, k))
    assert B.shape == (d, k) and B.dtype == np.float64
    np.testing.assert_allclose(B.T @ B, np.eye(k), atol=1e-12)
    R = B.T @ M  # M = B R with R upper triangular, positive diagonal
    assert np.all(np.diag(R) > 0)
    np.testing.assert_allclose(np.tril(R, -1), 0, atol=1e-12)
    np.testing.assert_allclose(B[:, 0], M[:, 0] / np.linalg.norm(M[:, 0]), rtol=1e-12)
    g = D.generate(9, d, 5, 50, 6, 0.0, teacher={"kind": "multi_index", "k": k, "link": "softplus"})
    assert "beta" not in g and g["B"].tobytes() == B.tobytes()
    with pytest.raises(ValueError):
        D.teacher_directions(0, 3, 4)  # k > d


@pytest.mark.parametrize("link", sorted(LINKS))
def test_labels_of_each_link_and_k(link):
    d, k = 10, 3
    g = D.generate(2, d, 4, 300, 5, 0.0, teacher={"kind": "multi_index", "k": k, "link": link})
    Z = g["X"].astype(np.float64) @ g["B"]
    ref = {"softplus": np.log1p(np.exp(Z)), "relu": np.where(Z > 0, Z, 0.0), "tanh": np.tanh(Z), "he2": Z**2 - 1}[link]
    np.testing.assert_allclose(g["y"], ref.sum(axis=1) / math.sqrt(k), rtol=1e-6, atol=1e-6)
    one = D.generate(2, d, 4, 300, 5, 0.0, teacher={"link": link})
    z = one["X"].astype(np.float64) @ one["beta"]
    np.testing.assert_allclose(one["y"], LINKS[link](z), rtol=1e-6, atol=1e-6)


def test_committee_labels_have_the_baseline_second_moment():
    # orthonormal B* makes the z_j i.i.d. N(0, 1): E[y^2] = E[g^2] + (k-1) E[g]^2 + rho^2
    n, k, rho = 200_000, 3, 0.3
    g = D.generate(1, 6, 2, n, 1, rho, teacher={"kind": "multi_index", "k": k, "link": "softplus"})
    y2 = g["y"].astype(np.float64) ** 2
    se = y2.std() / math.sqrt(n)
    assert abs(y2.mean() - loss_baselines(rho, "softplus", k)["baseline_zero"]) < 5 * se


def test_teacher_validation():
    for bad in ({"kind": "single_index", "k": 2}, {"kind": "tree"}, {"link": "cube"}, {"k": 0},
                {"kind": "multi_index", "k": 2.5}, {"kind": "multi_index", "k": True}, {"width": 3}):
        with pytest.raises(ValueError):
            Teacher.of(bad)
    assert Teacher.of({"kind": "multi_index", "k": 4, "link": "relu"}) == Teacher("multi_index", 4, "relu")


@pytest.mark.parametrize("link,k", [("softplus", 1), ("softplus", 4), ("relu", 3), ("he2", 2)])
def test_centred_teacher_subtracts_the_links_population_mean(link, k):
    """teacher_center: each term is g - E g, so y drops by sqrt(k) E g exactly (same
    draws), its mean is 0 within sampling error, and the population E y^2 is the
    centred baseline_zero, which equals baseline_const (zero is the best constant)."""
    from htcore.baselines import link_mean

    n, rho = 200_000, 0.3
    t = {"kind": "multi_index", "k": k, "link": link}
    plain = D.generate(2, 6, 2, n, 1, rho, teacher=t)
    centred = D.generate(2, 6, 2, n, 1, rho, teacher={**t, "center": True})
    for name in ("X", "X_probe", "W0", "a0"):
        assert centred[name].tobytes() == plain[name].tobytes()  # only the labels change
    shift = math.sqrt(k) * link_mean(link)
    assert np.abs(plain["y"].astype(np.float64) - shift - centred["y"]).max() < 1e-5 * max(1.0, abs(shift))
    y = centred["y"].astype(np.float64)
    assert abs(y.mean()) < 5 * y.std() / math.sqrt(n)
    b = loss_baselines(rho, link, k, center=True)
    assert b["baseline_zero"] == pytest.approx(b["baseline_const"], rel=1e-12)
    assert abs((y**2).mean() - b["baseline_zero"]) < 5 * (y**2).std() / math.sqrt(n)
    if link != "he2":  # E he2 = 0: centring changes nothing there
        assert abs(shift) > 0.3


def test_centred_teacher_validation():
    assert Teacher.of({"kind": "multi_index", "k": 2, "center": True}).center is True
    with pytest.raises(ValueError, match="center"):
        Teacher.of({"center": "yes"})
