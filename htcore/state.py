"""The training state of a snapshot: what the run did, apart from its spectrum's shape.

A spectrum's shape (:mod:`htcore.shape`) and the state of the run that produced it
are two facts, kept in two columns of every table. ``train_state`` is one of
:data:`STATES`, judged per snapshot from the network's own training loss (the
trace, :mod:`htcore.train`) and from how many of its hidden units are saturated
(``sat_frac``, :func:`htcore.evaluate.saturated_fraction`):

``initial``
    step 0: nothing has trained yet.
``diverged``
    W or the loss is non-finite at this snapshot.
``trained``
    the training loss is at most ``BLOWUP_RATIO`` (5x) its initial value.
``saturated``
    the loss is above 5x its initial value **and** at least ``SAT_MIN`` (half) of
    the hidden units are saturated: one large step drove them into the flat part of
    sigma against the frozen random head, so the network's output is large and
    passes little gradient (Adam at lr >= 10). Such a run may still be learning:
    its loss can fall at every step and its features still carry the teacher's
    direction; ``loss_falling`` says whether it is.
``blown-up``
    the loss is above 5x its initial value with fewer units saturated: a large
    step in flight (GD at lr 3000 at step 3, 120x, which recovers by step 10) or a
    run that never comes back.

Columns added to an experiment's table (:func:`add_state`): ``loss_ratio`` (the
training loss at the step over the loss at step 0), ``loss_falling`` (the loss at
the step is below the loss one update earlier; False at step 0) and
``train_state``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

STATES = ("initial", "trained", "saturated", "blown-up", "diverged")
#: The columns :func:`add_state` adds, in this order.
COLUMNS = ("loss_ratio", "loss_falling", "train_state")
#: The training loss above this multiple of its initial value is not "trained".
BLOWUP_RATIO = 5.0
#: Share of saturated hidden units above which a large loss is "saturated".
SAT_MIN = 0.5


def train_state(step: int, loss_ratio: float, sat_frac: float, diverged: bool) -> str:
    """The state of one snapshot (rules in the module docstring)."""
    if diverged or not math.isfinite(loss_ratio):
        return "diverged"
    if step == 0:
        return "initial"
    if loss_ratio <= BLOWUP_RATIO:
        return "trained"
    if math.isfinite(sat_frac) and sat_frac >= SAT_MIN:
        return "saturated"
    return "blown-up"


def loss_columns(loss, steps) -> tuple[np.ndarray, np.ndarray]:
    """``loss_ratio`` and ``loss_falling`` at the given steps of one run, from its
    per-update training loss ``loss[t]``, t = 0..T."""
    loss = np.asarray(loss, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = loss[steps] / loss[0]
        prev = loss[np.maximum(steps - 1, 0)]
        falling = (steps > 0) & (loss[steps] < prev)
    return ratio, falling


def add_state(table: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """``table`` (one row per evaluation and step, with ``diverged`` and ``sat_frac``)
    with ``loss_ratio``, ``loss_falling`` and ``train_state``; ``trace`` holds every
    update's ``student_loss`` per ``train_id``."""
    ratio = np.full(len(table), np.nan)
    falling = np.zeros(len(table), dtype=bool)
    pos = {tid: idx for tid, idx in table.groupby("train_id").indices.items()}
    for tid, run in trace.sort_values("step").groupby("train_id"):
        if tid not in pos:
            continue
        idx = pos[tid]
        r, f = loss_columns(run["student_loss"].to_numpy(), table["step"].to_numpy()[idx])
        ratio[idx], falling[idx] = r, f
    sat = table["sat_frac"].to_numpy(dtype=float) if "sat_frac" in table else np.full(len(table), np.nan)
    states = [train_state(int(s), float(r), float(q), bool(dv))
              for s, r, q, dv in zip(table["step"], ratio, sat, table["diverged"])]
    return table.assign(**dict(zip(COLUMNS, (ratio, falling, states), strict=True)))
