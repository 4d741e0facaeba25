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
    apart from the shape: loss_ratio, loss_falling, train_state (htcore.state); and
    the one-step theory beside the measurement: theory_lr_bbp, theory_lr_detect (every
    row), theory_lambda1, theory_sim, theory_sim_mean, theory_spike (step-1 rows;
    htcore.theory, :func:`add_theory`).
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

from htcore.io import Schema
from htcore.state import add_state

KEYS = ["experiment", "train_id", "seed", "step"]
#: The trace's columns a table takes (htcore.stages.TRACE).
TRACE_COLUMNS = ("student_loss", "device")


def table_schema(params: Sequence[str] = (), k: int = 1) -> Schema:
    """The columns of ``table.parquet`` (:func:`table`): the evaluation's keys, the
    runs' parameters ``params`` (alphabetical), the rest of its evaluation table
    (htcore.stages.eval_schema(k), ``k`` the most teacher directions of its runs),
    of its spectral summary and tail fits (htcore.stages.SUMMARY, TAILS), of its
    trace (:data:`TRACE_COLUMNS`), the training state (htcore.state.COLUMNS) and the
    theory (htcore.theory.COLUMNS). Without arguments: the columns every experiment
    table has. Their order is the join's: with teachers of several k, the columns of
    k > 1 (sim_mean, sim_cos_*) come where the first evaluation that has them puts them."""
    from htcore import stages, state, theory

    front = stages.EVAL_KEYS.names
    rest = tuple(c for part in (stages.eval_schema(k), stages.SUMMARY, stages.TAILS) for c in part.names
                 if c not in front and c != "step")
    return Schema(front + tuple(params) + ("step",) + rest + TRACE_COLUMNS + state.COLUMNS + theory.COLUMNS)


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
    shape labels, and traces (the columns of :func:`table_schema`)."""
    from htcore.stages import teacher

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
             .merge(trace[KEYS + list(TRACE_COLUMNS)], on=KEYS, how="left", validate="many_to_one"))
    if len(out) != len(ev):
        raise RuntimeError("collect: join changed the number of rows")
    out = add_state(out, trace)
    out = add_theory(out, runs)
    schema = table_schema([c for c in params.columns if c != "eval_id"],
                          max((teacher(r["params"])["k"] for r in runs), default=1))
    return schema.frame(out.sort_values(["eval_id", "step"], kind="stable").reset_index(drop=True), keep_order=True)


def add_theory(table: pd.DataFrame, runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The one-step theory beside the measurement (htcore.theory.theory_columns):
    ``theory_lr_bbp`` and ``theory_lr_detect`` (the learning rates at which the spike
    leaves the MP bulk, and at which the project's rule detects it) on every row of a
    run, ``theory_lambda1``, ``theory_sim``, ``theory_sim_mean`` and ``theory_spike``
    on its step-1 rows only (NaN / null elsewhere, and where the theory does not apply)."""
    from htcore.theory import COLUMNS, theory_columns

    cache: dict[str, dict[str, Any]] = {}
    per_eval = {}
    for r in runs:
        key = json.dumps(r["params"], sort_keys=True, default=str)
        if key not in cache:
            cache[key] = theory_columns(r["params"], step=1)
        per_eval[r["eval_id"]] = cache[key]
    at_step1 = (table["step"] == 1).to_numpy()
    cols = {}
    for c in COLUMNS:
        values = [per_eval.get(e, {}).get(c) for e in table["eval_id"]]
        if c == "theory_spike":
            cols[c] = pd.array([v if (s and v is not None) else None for v, s in zip(values, at_step1)],
                               dtype="boolean")
        else:
            v = pd.array(values, dtype="float64").to_numpy(dtype=float, na_value=float("nan"))
            cols[c] = v if c.startswith("theory_lr_") else [x if s else float("nan") for x, s in zip(v, at_step1)]
    return table.assign(**cols)


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

