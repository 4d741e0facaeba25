"""Collect an experiment's per-run tables into tidy experiment tables.

``table.parquet``: one row per (run, probe step) with every parameter and metric:
    experiment, eval_id, train_id, seed, <every parameter of htcore.config>, step,
    diverged, first_bad_step, student_loss (the network's training MSE at the step),
    train_loss, test_loss, kta, sim (read-out metrics, htcore.evaluate),
    lambda_max, frob_norm2, stable_rank (htcore.spectra),
    hill_* / ks_* / mp_* / n_spikes / shape_label (htcore.shape.tail_summary).
    Rows of diverged snapshots are kept, with NaN metrics and ``diverged`` true.
``esd.parquet``: every eigenvalue of every snapshot of the experiment's trained runs
    (experiment, train_id, seed, step, index, eigenvalue).
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

KEYS = ["experiment", "train_id", "seed", "step"]


def concat(paths: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-run tables of one kind (same columns) into one."""
    from htcore.io import read_frame

    return pd.concat([read_frame(p) for p in paths], ignore_index=True)


def collect(eval_paths: Sequence[str], summary_paths: Sequence[str], tails_paths: Sequence[str],
            trace_paths: Sequence[str]) -> pd.DataFrame:
    """Join per-run evaluation, spectra summaries, tail fits and traces."""
    ev = concat(eval_paths)
    summ = concat(summary_paths)
    tails = concat(tails_paths)
    trace = concat(trace_paths)[KEYS + ["student_loss", "device"]]
    table = (ev.merge(summ, on=KEYS, how="left", validate="many_to_one")
               .merge(tails, on=KEYS, how="left", validate="many_to_one")
               .merge(trace, on=KEYS, how="left", validate="many_to_one"))
    if len(table) != len(ev):
        raise RuntimeError("collect: join changed the number of rows")
    return table.sort_values(["eval_id", "step"], kind="stable").reset_index(drop=True)


def collect_esd(esd_paths: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-run ESD tables."""
    return concat(esd_paths).sort_values(KEYS + ["index"], kind="stable").reset_index(drop=True)
