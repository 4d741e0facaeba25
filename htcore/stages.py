"""One function per workflow stage: read inputs, call the pure code, write outputs.

These are the I/O edges the Snakemake rules call (through :mod:`htcore.cli`). A
``spec`` is what :meth:`htcore.config.Run.spec` produced: run ids, seed and the
stage's parameters.

Tables written here (long format, one row per snapshot unless said otherwise):

``trace.parquet`` (train, one row per step t = 0..steps)
    experiment, train_id, seed, step, student_loss (training MSE of the network at
    W_t), lr (of update t), diverged, first_bad_step, device
``eval.parquet``
    experiment, eval_id, train_id, seed, step, every run parameter, diverged,
    first_bad_step, train_loss, test_loss, kta, sim (see htcore.evaluate),
    baseline_zero, baseline_const, baseline_best_odd (htcore.baselines)
``esd.parquet`` (one row per eigenvalue)
    experiment, train_id, seed, step, index, eigenvalue
``summary.parquet``
    experiment, train_id, seed, step, lambda_max, frob_norm2, stable_rank
``tails.parquet``
    experiment, train_id, seed, step, and the columns of htcore.shape.tail_summary
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from htcore import data as data_mod
from htcore import evaluate as evaluate_mod
from htcore import spectra as spectra_mod
from htcore import train as train_mod
from htcore.baselines import loss_baselines
from htcore.config import to_json
from htcore.io import load_npz, read_table, save_npz, write_table


def _keys(spec: Mapping[str, Any], n: int, with_eval: bool = False) -> dict[str, list]:
    keys = {"experiment": [spec["experiment"]] * n}
    if with_eval:
        keys["eval_id"] = [spec["eval_id"]] * n
    keys["train_id"] = [spec["train_id"]] * n
    keys["seed"] = np.full(n, spec["seed"], dtype=np.int64)
    return keys


def generate_data(spec: Mapping[str, Any], out: str) -> None:
    """Draw the seed's teacher, data sets and initial weights into ``out`` (.npz)."""
    p = spec["params"]
    arrays = data_mod.generate(spec["seed"], p["d"], p["h"], p["n"], p["n_test"], p["label_noise_std"])
    save_npz(out, arrays)


def train(spec: Mapping[str, Any], data_path: str, weights_out: str, trace_out: str, device: str = "auto") -> dict:
    """Train one run; write snapshots (.npz) and the per-step trace (.parquet)."""
    dev = train_mod.resolve_device(device)
    res = train_mod.train(spec["params"], spec["seed"], load_npz(data_path), dev)
    save_npz(weights_out, {
        "probe_steps": res.probe_steps, "W": res.W, "a": res.a,
        "diverged": np.array(res.diverged), "first_bad_step": np.array(res.first_bad_step),
    })
    steps = len(res.loss)
    write_table(trace_out, {
        **_keys(spec, steps),
        "step": np.arange(steps, dtype=np.int64),
        "student_loss": res.loss,
        "lr": res.lr,
        "diverged": np.full(steps, res.diverged),
        "first_bad_step": np.full(steps, res.first_bad_step, dtype=np.int64),
        "device": [res.device] * steps,
    }, meta={"spec": to_json(spec)})
    return {"diverged": res.diverged, "first_bad_step": res.first_bad_step, "device": res.device}


def evaluate(spec: Mapping[str, Any], data_path: str, weights_path: str, out: str) -> None:
    """Read-out losses, KTA and sim(W, beta*) at every probe step of a run."""
    p = spec["params"]
    data = load_npz(data_path)
    w = load_npz(weights_path)
    steps = w["probe_steps"]
    rows: dict[str, list] = {m: [] for m in evaluate_mod.METRICS}
    for W in w["W"]:
        m = evaluate_mod.evaluate_snapshot(W, data, p["reg_lambda"], p["readout_scaling"])
        for k in rows:
            rows[k].append(m[k])
    n = len(steps)
    first_bad = int(w["first_bad_step"])
    param_cols = {k: [json.dumps(v) if isinstance(v, list) else v] * n for k, v in p.items()}
    write_table(out, {
        **_keys(spec, n, with_eval=True),
        **param_cols,
        "step": steps.astype(np.int64),
        "diverged": (first_bad >= 0) & (steps >= first_bad),
        "first_bad_step": np.full(n, first_bad, dtype=np.int64),
        **{k: np.array(v, dtype=np.float64) for k, v in rows.items()},
        **{k: np.full(n, v) for k, v in loss_baselines(p["label_noise_std"]).items()},
    }, meta={"spec": to_json(spec)})


def _write_esd(path: str, spec: Mapping[str, Any], steps: np.ndarray, esds: list[np.ndarray],
               with_eval: bool = False) -> None:
    """One row per eigenvalue: run keys, step, index, eigenvalue."""
    k = len(esds[0])
    write_table(path, {
        **_keys(spec, k * len(steps), with_eval=with_eval),
        "step": np.repeat(steps.astype(np.int64), k),
        "index": np.tile(np.arange(k, dtype=np.int64), len(steps)),
        "eigenvalue": np.concatenate(esds),
    }, meta={"spec": to_json(spec)})


def spectra(spec: Mapping[str, Any], weights_path: str, esd_out: str, summary_out: str) -> None:
    """The whole ESD of W at every probe step, plus its summaries."""
    w = load_npz(weights_path)
    steps = w["probe_steps"]
    esds = [spectra_mod.esd(W) for W in w["W"]]
    _write_esd(esd_out, spec, steps, esds)
    summ = [spectra_mod.summarize(e) for e in esds]
    write_table(summary_out, {
        **_keys(spec, len(steps)),
        "step": steps.astype(np.int64),
        **{c: np.array([s[c] for s in summ]) for c in spectra_mod.SUMMARY_COLUMNS},
    }, meta={"spec": to_json(spec)})


def tails(spec: Mapping[str, Any], esd_path: str, trace_path: str, out: str) -> None:
    """Power-law fits, MP bulk fit and shape label of every snapshot's ESD (the
    trace says which snapshots belong to a run that stopped training)."""
    from htcore.shape import stuck_steps, tail_summary

    p, t = spec["params"], spec["tails"]
    esd = read_table(esd_path)
    steps = np.unique(esd["step"])
    stuck = stuck_steps(read_table(trace_path)["student_loss"], steps)
    h, d = p["h"], p["d"]
    rows = []
    for s, st in zip(steps, stuck):
        eigs = esd["eigenvalue"][esd["step"] == s]
        rows.append(tail_summary(eigs, h, d, min_tail=t["min_tail"], bootstrap=t["bootstrap"],
                                 n_boot=t["n_boot"], seed=spec["seed"], stuck=bool(st)))
    # lambda_max is in the spectra summary already; the bootstrap seed gets its own name
    cols = {("boot_seed" if k == "seed" else k): [r[k] for r in rows] for k in rows[0] if k != "lambda_max"}
    write_table(out, {**_keys(spec, len(steps)), "step": steps.astype(np.int64), **cols},
                meta={"spec": to_json(spec)})


def _long(parts: list[dict[str, np.ndarray]], dtypes: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Concatenate per-part columns; with no parts, empty columns of the given dtypes."""
    return {c: (np.concatenate([p[c] for p in parts]) if parts else np.array([])).astype(dt)
            for c, dt in dtypes.items()}


SV_COLUMNS = {"step": np.int64, "next_step": np.int64, "index": np.int64, "singular_value": np.float64}
OVERLAP_COLUMNS = {"step": np.int64, "next_step": np.int64, "which": str, "i": np.int64, "j": np.int64,
                   "overlap": np.float64}


def updates(spec: Mapping[str, Any], weights_path: str, sv_out: str, overlaps_out: str) -> None:
    """Singular values of each update M_t and top-k overlaps with W_t and W_t'.

    ``updates.parquet``: experiment, train_id, seed, step, next_step, index,
    singular_value. ``overlaps.parquet``: experiment, train_id, seed, step,
    next_step, which (U_Wt, V_Wt, U_Wnext, V_Wnext), i, j, overlap (see
    htcore.updates)."""
    from htcore import updates as upd

    w = load_npz(weights_path)
    sv_parts, ov_parts = [], []
    for pair in upd.update_pairs(w["probe_steps"], w["W"], int(spec["updates"]["top_k"])):
        m = len(pair["sv"])
        sv_parts.append({"step": np.full(m, pair["step"]), "next_step": np.full(m, pair["next_step"]),
                         "index": np.arange(m), "singular_value": pair["sv"]})
        for which in upd.WHICH:
            k = pair[which].shape[0]
            i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
            ov_parts.append({"step": np.full(k * k, pair["step"]), "next_step": np.full(k * k, pair["next_step"]),
                             "which": np.full(k * k, which), "i": i.ravel(), "j": j.ravel(),
                             "overlap": pair[which].ravel()})
    for parts, dtypes, out in ((sv_parts, SV_COLUMNS, sv_out), (ov_parts, OVERLAP_COLUMNS, overlaps_out)):
        cols = _long(parts, dtypes)
        write_table(out, {**_keys(spec, len(cols["step"])), **cols}, meta={"spec": to_json(spec)})


def feature_spectra(spec: Mapping[str, Any], data_path: str, weights_path: str, out: str) -> None:
    """ESD of the feature matrix Z (probe set) at every probe step:
    experiment, eval_id, train_id, seed, step, index, eigenvalue."""
    p = spec["params"]
    X = load_npz(data_path)["X_probe"]
    w = load_npz(weights_path)
    steps = w["probe_steps"]
    esds = [evaluate_mod.feature_esd(X, W, p["readout_scaling"]) for W in w["W"]]
    _write_esd(out, spec, steps, esds, with_eval=True)
