"""htcore.state: the training state of a snapshot, apart from its spectrum's shape."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from htcore import state as S


@pytest.mark.parametrize("step, ratio, sat, diverged, expected", [
    (0, 1.0, 0.0, False, "initial"),
    (3, 0.4, 0.0, False, "trained"),
    (3, 5.0, 0.9, False, "trained"),  # at the bound: still trained
    (3, 5.01, 0.9, False, "saturated"),
    (3, 120.0, 0.1, False, "blown-up"),  # GD lr 3000 in flight at step 3
    (3, 120.0, math.nan, False, "blown-up"),  # saturation unknown
    (3, 0.4, 0.0, True, "diverged"),
    (3, math.nan, 0.0, False, "diverged"),
])
def test_state_rules(step, ratio, sat, diverged, expected):
    assert S.train_state(step, ratio, sat, diverged) == expected


def test_loss_columns_ratio_and_falling():
    loss = [2.0, 400.0, 300.0, 350.0, 1.0]
    ratio, falling = S.loss_columns(loss, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(ratio, [1.0, 200.0, 150.0, 175.0, 0.5])
    assert falling.tolist() == [False, False, True, False, True]


def test_add_state_per_run_and_step():
    trace = pd.DataFrame({"train_id": ["a"] * 4 + ["b"] * 4, "step": [0, 1, 2, 3] * 2,
                          "student_loss": [1.0, 50.0, 40.0, 30.0, 1.0, 0.8, 0.6, 0.5]})
    table = pd.DataFrame({"train_id": ["a", "a", "b", "b", "b"], "step": [0, 3, 0, 3, 3],
                          "diverged": [False, False, False, False, True],
                          "sat_frac": [0.0, 0.95, 0.0, 0.0, math.nan]})
    out = S.add_state(table, trace)
    assert out["train_state"].tolist() == ["initial", "saturated", "initial", "trained", "diverged"]
    np.testing.assert_allclose(out["loss_ratio"], [1.0, 30.0, 1.0, 0.5, 0.5])
    assert out["loss_falling"].tolist() == [False, True, False, True, True]
