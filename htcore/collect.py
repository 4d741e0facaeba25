"""Collect an experiment's per-run tables into tidy experiment tables.

``table.parquet``: one row per (run, probe step) with every parameter and metric:
    experiment, eval_id, train_id, seed, <every parameter of htcore.params> (a
    parameter whose values mix numbers and words, reg_lambda 0.01 and cv, is text:
    "0.01", "cv"), step,
    diverged, first_bad_step, train_loss, test_loss, kta, sim (read-out metrics,
    htcore.evaluate), baseline_* (htcore.baselines), lambda_max, frob_norm2,
    stable_rank (htcore.spectra), hill_* / ks_* / mp_* / n_spikes / shape_label
    (htcore.shape.tail_summary: the spectrum's shape), student_loss (the network's
    training MSE at the step) and device (htcore.train), and the run's training state
    apart from the shape: loss_ratio, loss_falling, train_state (htcore.state).
    Rows of diverged snapshots are kept, with NaN metrics and ``diverged`` true.
``esd.parquet``: every eigenvalue of every snapshot of the experiment's trained runs
    (experiment, train_id, seed, step, index, eigenvalue).
``feature_esd.parquet`` (evolution experiments): the same per evaluation, with eval_id.

Step 0 is shared: a run that snapshots step 0 among other steps does not compute it;
its rows at step 0 are its initial run's (``init_train_id``/``init_eval_id``,
htcore.config), re-keyed to the run. Its ``first_bad_step`` and ``diverged`` at step
0 are the run's own (from its trace).

``runs`` lists every evaluation: eval_id, train_id, seed, init_eval_id,
init_train_id and params (every parameter's value): htcore.config.Experiment.run_table,
re-expanded by the job from the experiment's configuration (its spec).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import pandas as pd

from htcore.state import add_state

KEYS = ["experiment", "train_id", "seed", "step"]


def concat(paths: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-run tables of one kind (same columns) into one."""
    from htcore.io import read_frame

    return pd.concat([read_frame(p) for p in paths], ignore_index=True)


def _step0(frame: pd.DataFrame, id_col: str, ids: Mapping[str, str], extra: Mapping[str, Mapping[str, str]] = {}):
    """Rows at step 0 of each initial run, one copy per run that shares it:
    ``ids`` maps the run's id to its initial run's id (in column ``id_col``);
    ``extra`` gives further columns to re-key (column -> run id -> value)."""
    init = frame[frame["step"] == 0].set_index(id_col, drop=False)
    parts = []
    for run, init_id in ids.items():
        rows = init.loc[[init_id]].copy()
        rows[id_col] = run
        for col, values in extra.items():
            rows[col] = values[run]
        parts.append(rows.reset_index(drop=True))
    return parts


def _shared(frame: pd.DataFrame, id_col: str, ids: Mapping[str, str], extra=None) -> pd.DataFrame:
    """``frame`` without the initial runs' rows, plus their step-0 rows re-keyed to
    every run that shares them."""
    is_init = frame[id_col].isin(set(ids.values()))
    own = frame[~is_init]
    if not ids:
        return own.reset_index(drop=True)
    return pd.concat([own] + _step0(frame, id_col, ids, extra or {}), ignore_index=True)


def _param_columns(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per evaluation: eval_id and every parameter in alphabetical order
    (lists as JSON text)."""
    rows = [{"eval_id": r["eval_id"],
             **{k: (json.dumps(v) if isinstance(v, list) else v) for k, v in sorted(r["params"].items())}}
            for r in runs]
    frame = pd.DataFrame(rows)
    for col in frame.columns:  # numbers and words in one column (reg_lambda 0.01 and cv): text
        kinds = {isinstance(v, str) for v in frame[col]}
        if len(kinds) > 1:
            frame[col] = [v if isinstance(v, str) else format(v, "g") for v in frame[col]]
    return frame


def table(runs: Sequence[Mapping[str, Any]], eval_paths: Sequence[str], summary_paths: Sequence[str],
          tails_paths: Sequence[str], trace_paths: Sequence[str]) -> pd.DataFrame:
    """Join evaluations (with every parameter), spectral summaries, tail fits and
    shape labels, and traces."""
    shared = [r for r in runs if r["init_eval_id"]]
    trace = concat(trace_paths)
    first_bad = trace.groupby("train_id")["first_bad_step"].first()
    ev = _shared(concat(eval_paths), "eval_id", {r["eval_id"]: r["init_eval_id"] for r in shared},
                 {"train_id": {r["eval_id"]: r["train_id"] for r in shared},
                  "first_bad_step": {r["eval_id"]: int(first_bad[r["train_id"]]) for r in shared}})
    ev["diverged"] = ev["diverged"] | ((ev["step"] == 0) & (ev["first_bad_step"] == 0))
    spectra = concat(summary_paths).merge(concat(tails_paths), on=KEYS, how="left", validate="one_to_one")
    spec = _shared(spectra, "train_id", {r["train_id"]: r["init_train_id"] for r in shared})
    params = _param_columns(runs)
    ev = ev.merge(params, on="eval_id", how="left", validate="many_to_one")
    front = ["experiment", "eval_id", "train_id", "seed"]
    ev = ev[front + [c for c in params.columns if c != "eval_id"]
            + [c for c in ev.columns if c not in front and c not in params.columns]]
    out = (ev.merge(spec, on=KEYS, how="left", validate="many_to_one")
             .merge(trace[KEYS + ["student_loss", "device"]], on=KEYS, how="left", validate="many_to_one"))
    if len(out) != len(ev):
        raise RuntimeError("collect: join changed the number of rows")
    out = add_state(out, trace)
    return out.sort_values(["eval_id", "step"], kind="stable").reset_index(drop=True)


def esd(runs: Sequence[Mapping[str, Any]], esd_paths: Sequence[str]) -> pd.DataFrame:
    """Every eigenvalue of every trained run's snapshots (step 0 from its initial run)."""
    ids = {r["train_id"]: r["init_train_id"] for r in runs if r["init_train_id"]}
    frame = _shared(concat(esd_paths), "train_id", ids)
    return frame.sort_values(KEYS + ["index"], kind="stable").reset_index(drop=True)


def feature_esd(runs: Sequence[Mapping[str, Any]], paths: Sequence[str]) -> pd.DataFrame:
    """Feature ESDs per evaluation, in the order of ``runs``, steps ascending."""
    shared = [r for r in runs if r["init_eval_id"]]
    frame = _shared(concat(paths), "eval_id", {r["eval_id"]: r["init_eval_id"] for r in shared},
                    {"train_id": {r["eval_id"]: r["train_id"] for r in shared}})
    order = {r["eval_id"]: i for i, r in enumerate(runs)}
    frame = frame.assign(_run=frame["eval_id"].map(order))
    frame = frame.sort_values(["_run", "step", "index"], kind="stable").drop(columns="_run")
    return frame.reset_index(drop=True)

