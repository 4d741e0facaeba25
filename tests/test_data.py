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
