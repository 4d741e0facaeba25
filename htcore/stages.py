"""The workflow's stages, declared once, and the function each job runs.

A :class:`Stage` says everything the workflow needs about one kind of job: its
name (the Snakemake rule, the ``python -m htcore <name>`` sub-command and the log
directory), the function that does the work, the files it reads and writes, the
libraries it imports (timed apart from the work), and its memory model. The command
line (:mod:`htcore.cli`), the code fingerprint that makes Snakemake re-run a stage
when its code changes (:mod:`htcore.fingerprint`) and the jobs' ``mem_mb`` all
follow from :data:`STAGES`.

Each function reads its inputs, calls the science code and writes its outputs. A
``spec`` is the JSON the workflow passes (:class:`htcore.config.Run` for per-run
stages): ids, seed and the parameters the step uses. Each stage is one Snakemake
rule of the same name (workflow/rules/), so ``snakemake -n`` names the steps that
will compute:

``data`` (one per data parameters and seed)
    teacher, training and probe sets, initial weights (.npz). The test set is drawn
    by the evaluation (its own random stream), so ``n_test`` never retrains.
``train`` (one per run)
    ``weights.npz`` (W at the probe steps) and ``trace.parquet`` (one row per step:
    student_loss, lr, diverged, first_bad_step, device).
``spectrum`` (one per run)
    the ESD of W per snapshot (``esd.parquet``, one row per eigenvalue), one row per
    snapshot of its summaries (``summary.parquet``: htcore.spectra), and for
    evolution experiments the update analysis (``update_sv.parquet``,
    ``overlaps.parquet``: htcore.updates; empty tables otherwise).
``tails`` (one per run)
    from the ESD: tail fits, MP fit, outliers and shape label per snapshot
    (``tails.parquet``: htcore.shape.tail_summary). A ``tails:`` setting re-runs
    only this step.
``evaluate`` (per evaluation setting of the run)
    read-out losses, KTA, sim and loss baselines per snapshot (``eval.parquet``), and
    for evolution experiments the feature ESD (``feature_esd.parquet``).
``surgery`` (per evaluation setting, surgery experiments only)
    spectral surgery (htcore.surgery): each snapshot's variants (tail shrunk to the MP
    edge, spike only, a random control) evaluated with the run's read-out
    (``surgery.parquet``).
``collect`` / ``collect_updates`` / ``collect_surgery`` (one per experiment)
    the experiment's tables (htcore.collect) from every run's files, its declared
    inputs; its spec is the experiment's configuration (``Experiment.source``), which
    gives every run's parameters.
``figure`` / ``claims``
    one figure of an experiment; the claim verdicts of the study.

Shared work: the step-0 snapshot is the same for every run of a seed (same W0), so
each seed has one *initial run* (``init~0/...``, a run of 0 steps) whose spectrum
and evaluation give step 0; the other runs skip step 0 (``skip_steps``) and
:mod:`htcore.collect` fills their step-0 rows from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from htcore.io import Schema, load_npz, read_table, save_npz, to_json, write_table
from htcore.params import RunParams
from htcore.spectra import SUMMARY_COLUMNS

MB = 2**20


# ------------------------------------------------------ what each file holds

# Each file a stage writes is declared here, beside its writer, as an htcore.io.Schema
# (its columns or arrays in the order written, and the dtypes the writer fixes); the
# writer passes what it writes through it (Schema.ordered / Schema.frame), so it can
# write nothing else, and ``htcore check`` checks the files against it. (The data
# file's: htcore.data.DATA_FILE; the experiment table's: htcore.collect.table_schema;
# the claims': htcore.claims.COLUMNS.)

#: The keys of a run's tables (``_keys``), and of an evaluation's.
RUN_KEYS = Schema(("experiment", "train_id", "seed"), {"seed": np.int64})
EVAL_KEYS = Schema(("experiment", "eval_id", "train_id", "seed"), {"seed": np.int64})

#: ``weights.npz`` (train): W and a at the probe steps, and where the run diverged.
WEIGHTS = Schema(("probe_steps", "W", "a", "diverged", "first_bad_step"),
                 {"probe_steps": np.int64, "W": np.float32, "a": np.float32, "diverged": np.bool_,
                  "first_bad_step": np.int64})
#: ``trace.parquet`` (train): one row per step.
TRACE = RUN_KEYS + Schema(("step", "student_loss", "lr", "diverged", "first_bad_step", "device"),
                          {"step": np.int64, "student_loss": np.float64, "lr": np.float64, "diverged": np.bool_,
                           "first_bad_step": np.int64})
#: An ESD's rows after the keys: one per eigenvalue.
_ESD_ROWS = Schema(("step", "index", "eigenvalue"), {"step": np.int64, "index": np.int64, "eigenvalue": np.float64})
#: ``esd.parquet`` (spectrum; the experiment's esd.parquet, htcore.collect.esd, too).
ESD = RUN_KEYS + _ESD_ROWS
#: ``feature_esd.parquet`` (evaluate; the experiment's too, htcore.collect.feature_esd).
FEATURE_ESD = EVAL_KEYS + _ESD_ROWS
#: ``summary.parquet`` (spectrum) after the keys and step: htcore.spectra's summaries and update_norm.
SUMMARY_FIELDS = SUMMARY_COLUMNS + ("update_norm",)
SUMMARY = RUN_KEYS + Schema(("step",) + SUMMARY_FIELDS, {"step": np.int64})
#: ``update_sv.parquet`` / ``overlaps.parquet`` (spectrum) after the keys (htcore.updates;
#: the experiment's tables of the same names too).
_SV_ROWS = Schema(("step", "next_step", "index", "singular_value"),
                  {"step": np.int64, "next_step": np.int64, "index": np.int64, "singular_value": np.float64})
_OVERLAP_ROWS = Schema(("step", "next_step", "which", "i", "j", "overlap"),
                       {"step": np.int64, "next_step": np.int64, "which": str, "i": np.int64, "j": np.int64,
                        "overlap": np.float64})
UPDATE_SV = RUN_KEYS + _SV_ROWS
OVERLAPS = RUN_KEYS + _OVERLAP_ROWS
#: ``tails.parquet`` (tails) after the keys and step: htcore.shape.tail_summary's row
#: without lambda_max (in the summary already), its bootstrap seed as boot_seed.
_FIT = ("alpha", "xmin", "xmin_index", "n_tail", "D", "se", "alphahat", "status")
TAIL_FIELDS = (("n_eigs",) + tuple(f"hill_{f}" for f in _FIT) + tuple(f"ks_{f}" for f in _FIT)
               + ("mp_sigma2", "mp_lambda_minus", "mp_lambda_plus", "mp_edge_margin", "mp_spike_threshold", "mp_ks",
                  "mp_bulk_fraction_inside", "mp_mass_fraction_outside", "mp_edge_span", "mp_strip_rounds",
                  "mp_status", "n_spikes", "n_detached", "n_edge", "shape_label", "bootstrap", "n_boot",
                  "boot_seed", "ks_gof_p", "ks_alpha_ci_low", "ks_alpha_ci_high")
               + tuple(f"llr_{alt}_{x}" for alt in ("exponential", "lognormal", "truncated_power_law")
                       for x in ("R", "p")))
TAILS = RUN_KEYS + Schema(("step",) + TAIL_FIELDS, {"step": np.int64})
#: ``surgery.parquet`` (surgery; the experiment's too): one row per snapshot and variant.
SURGERY = EVAL_KEYS + Schema(
    ("step", "variant", "test_loss", "zero_loss", "reg_lambda_used", "tail_mass", "control_mass", "n_detached",
     "n_edge", "has_tail"),
    {"step": np.int64, "variant": str, "test_loss": np.float64, "zero_loss": np.float64,
     "reg_lambda_used": np.float64, "tail_mass": np.float64, "control_mass": np.float64, "n_detached": np.int64,
     "n_edge": np.int64, "has_tail": np.bool_})


def eval_schema(k: int = 1) -> Schema:
    """``eval.parquet`` (evaluate) of a run whose teacher has ``k`` directions: the
    read-out metrics (htcore.evaluate.metric_names(k)) and the loss baselines
    (htcore.baselines.COLUMNS) per snapshot. k = 1: the columns every run's has."""
    from htcore.baselines import COLUMNS as BASELINES
    from htcore.evaluate import metric_names

    metrics = metric_names(k)
    return EVAL_KEYS + Schema(("step", "diverged", "first_bad_step") + metrics + BASELINES,
                              {"step": np.int64, "diverged": np.bool_, "first_bad_step": np.int64,
                               **{m: np.float64 for m in metrics}})


# ------------------------------------------------------------------ helpers

def _keys(spec: Mapping[str, Any], n: int, with_eval: bool = False) -> dict[str, Any]:
    keys: dict[str, Any] = {"experiment": [spec["experiment"]] * n}
    if with_eval:
        keys["eval_id"] = [spec["eval_id"]] * n
    keys["train_id"] = [spec["train_id"]] * n
    keys["seed"] = np.full(n, spec["seed"], dtype=np.int64)
    return keys


def _snapshots(spec: Mapping[str, Any], weights_path: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """The weights file, and the probe steps and W to analyse (``skip_steps`` left
    out: step 0 comes from the seed's initial run)."""
    w = load_npz(weights_path)
    steps = w["probe_steps"]
    keep = ~np.isin(steps, spec.get("skip_steps", []))
    return w, steps[keep], w["W"][keep]


def _write_esd(path: str, spec: Mapping[str, Any], steps: np.ndarray, esds: list[np.ndarray],
               k: int, schema: Schema = ESD) -> None:
    """One row per eigenvalue: run keys, step, index, eigenvalue (k per snapshot);
    ``schema``: ESD, or FEATURE_ESD (with the evaluation's id)."""
    write_table(path, schema.ordered({
        **_keys(spec, k * len(steps), with_eval="eval_id" in schema.names),
        "step": np.repeat(steps.astype(np.int64), k),
        "index": np.tile(np.arange(k, dtype=np.int64), len(steps)),
        "eigenvalue": np.concatenate(esds) if esds else np.array([], dtype=np.float64),
    }), meta={"spec": to_json(spec)})


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list]:
    """Rows (dicts) as columns, in the rows' order of keys; no rows: ``names``, empty."""
    return {k: [r[k] for r in rows] for k in (rows[0] if rows else names)}


def teacher(p: Mapping[str, Any]) -> dict[str, Any]:
    """The run's teacher (htcore.models.Teacher fields) from its parameters."""
    return {"kind": p["teacher_kind"], "k": p.get("teacher_k", 1), "link": p["teacher_link"],
            "center": p["teacher_center"]}


# ------------------------------------------------------------------- stages

def data(spec: Mapping[str, Any], out: str) -> None:
    """Draw the seed's teacher, training and probe sets and initial weights (.npz)."""
    from htcore import data as data_mod

    p = spec["params"]
    arrays = data_mod.generate(spec["seed"], p["d"], p["h"], p["n"], None, p["label_noise_std"], teacher(p))
    save_npz(out, data_mod.DATA_FILE.ordered(arrays))


def train(spec: Mapping[str, Any], data: str, weights: str, trace: str) -> None:
    """Train one run; write snapshots (.npz) and the per-step trace (.parquet)."""
    import sys

    from htcore import train as train_mod

    dev = train_mod.resolve_device(spec.get("device", "cpu"))
    res = train_mod.train(spec["params"], spec["seed"], load_npz(data), dev)
    save_npz(weights, WEIGHTS.ordered({
        "probe_steps": res.probe_steps, "W": res.W, "a": res.a,
        "diverged": np.array(res.diverged), "first_bad_step": np.array(res.first_bad_step),
    }))
    steps = len(res.loss)
    write_table(trace, TRACE.ordered({
        **_keys(spec, steps),
        "step": np.arange(steps, dtype=np.int64),
        "student_loss": res.loss,
        "lr": res.lr,
        "diverged": np.full(steps, res.diverged),
        "first_bad_step": np.full(steps, res.first_bad_step, dtype=np.int64),
        "device": [res.device] * steps,
    }), meta={"spec": to_json(spec)})
    print(f"train {spec['train_id']}: diverged={res.diverged} first_bad_step={res.first_bad_step} "
          f"device={res.device}", file=sys.stderr)


def _long(parts: list[dict[str, np.ndarray]], part: Schema) -> dict[str, np.ndarray]:
    """Concatenate per-part columns (``part``'s names, as its dtypes); with no parts,
    empty columns."""
    return {c: (np.concatenate([p[c] for p in parts]) if parts else np.array([])).astype(part.dtypes[c])
            for c in part.names}


def spectrum(spec: Mapping[str, Any], weights: str, esd: str, summary: str, update_sv: str,
             overlaps: str) -> None:
    """Per snapshot: the whole ESD of W (``esd``) and its summaries (``summary``:
    lambda_max, frob_norm2, stable_rank, and ``update_norm``, how far W moved from
    W_0); with ``updates_top_k`` set, the singular values of each update M_t and the
    top-k overlaps with W_t and W_t' (htcore.updates; empty tables otherwise)."""
    from htcore import spectra as spectra_mod
    from htcore import updates as upd

    w, steps, Ws = _snapshots(spec, weights)
    esds = [spectra_mod.esd(W) for W in Ws]
    h, d = w["W"].shape[1:]
    _write_esd(esd, spec, steps, esds, min(h, d))
    at0 = np.flatnonzero(w["probe_steps"] == 0)
    W0 = w["W"][at0[0]] if at0.size else None
    rows = [{**spectra_mod.summarize(e), "update_norm": spectra_mod.update_norm(W, W0)} for W, e in zip(Ws, esds)]
    cols = _columns(rows, SUMMARY_FIELDS)
    write_table(summary, SUMMARY.ordered({**_keys(spec, len(steps)), "step": steps.astype(np.int64), **cols}),
                meta={"spec": to_json(spec)})

    sv_parts, ov_parts = [], []
    if spec.get("updates_top_k"):
        for pair in upd.update_pairs(w["probe_steps"], w["W"], int(spec["updates_top_k"])):
            m = len(pair["sv"])
            sv_parts.append({"step": np.full(m, pair["step"]), "next_step": np.full(m, pair["next_step"]),
                             "index": np.arange(m), "singular_value": pair["sv"]})
            for which in upd.WHICH:
                k = pair[which].shape[0]
                i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
                ov_parts.append({"step": np.full(k * k, pair["step"]),
                                 "next_step": np.full(k * k, pair["next_step"]),
                                 "which": np.full(k * k, which), "i": i.ravel(), "j": j.ravel(),
                                 "overlap": pair[which].ravel()})
    for parts, part, schema, out in ((sv_parts, _SV_ROWS, UPDATE_SV, update_sv),
                                     (ov_parts, _OVERLAP_ROWS, OVERLAPS, overlaps)):
        c = _long(parts, part)
        write_table(out, schema.ordered({**_keys(spec, len(c["step"])), **c}), meta={"spec": to_json(spec)})


def tails(spec: Mapping[str, Any], esd: str, table: str) -> None:
    """Per snapshot, from its ESD: the power-law fits (Hill, KS), the MP fit and its
    outliers, and the spectrum's shape label (htcore.shape.tail_summary); ``spec``:
    the run's keys, ``h`` and ``d`` (W's shape) and the ``tails`` settings."""
    from htcore.shape import tail_summary

    e = read_table(esd)
    steps = np.unique(e["step"])
    t, h, d = spec["tails"], int(spec["h"]), int(spec["d"])
    rows = []
    for st in steps:
        fit = tail_summary(e["eigenvalue"][e["step"] == st], h, d, min_tail=t["min_tail"],
                           bootstrap=t["bootstrap"], n_boot=t["n_boot"], seed=spec["seed"])
        # lambda_max is in the summary already; the bootstrap seed gets its own name
        rows.append({("boot_seed" if k == "seed" else k): v for k, v in fit.items() if k != "lambda_max"})
    cols = _columns(rows, TAIL_FIELDS)
    write_table(table, TAILS.ordered({**_keys(spec, len(steps)), "step": steps.astype(np.int64), **cols}),
                meta={"spec": to_json(spec)})


def evaluate(spec: Mapping[str, Any], data: str, weights: str, out: str, feature_esd: str) -> None:
    """Read-out losses, KTA, sim(W, beta*) and the loss baselines at every snapshot;
    with ``features`` set, the ESD of the feature matrix Z (probe set) too."""
    from htcore import data as data_mod
    from htcore import evaluate as evaluate_mod
    from htcore.baselines import loss_baselines

    p = spec["params"]
    arrays = dict(load_npz(data))
    arrays.update(data_mod.test_set(spec["seed"], p["d"], p["n_test"], p["label_noise_std"], teacher(p)))
    w, steps, Ws = _snapshots(spec, weights)
    rows: dict[str, list] = {m: [] for m in evaluate_mod.metric_names(teacher(p)["k"])}
    for W in Ws:
        m = evaluate_mod.evaluate_snapshot(W, arrays, p["reg_lambda"], p["readout_scaling"], p["activation"])
        for k in rows:
            rows[k].append(m[k])
    n = len(steps)
    first_bad = int(w["first_bad_step"])
    write_table(out, eval_schema(teacher(p)["k"]).ordered({
        **_keys(spec, n, with_eval=True),
        "step": steps.astype(np.int64),
        "diverged": (first_bad >= 0) & (steps >= first_bad),
        "first_bad_step": np.full(n, first_bad, dtype=np.int64),
        **{k: np.array(v, dtype=np.float64) for k, v in rows.items()},
        **{k: np.full(n, v) for k, v in loss_baselines(p["label_noise_std"], p["teacher_link"], teacher(p)["k"],
                                                         p["activation"], p["teacher_center"]).items()},
    }), meta={"spec": to_json(spec)})
    esds = ([evaluate_mod.feature_esd(arrays["X_probe"], W, p["readout_scaling"], p["activation"]) for W in Ws]
            if spec.get("features") else [])
    _write_esd(feature_esd, spec, steps[:len(esds)], esds, p["h"], FEATURE_ESD)


def surgery(spec: Mapping[str, Any], data: str, weights: str, out: str) -> None:
    """Spectral surgery (htcore.surgery) on every snapshot after step 0: each variant
    of W evaluated with the run's read-out on its test set (``surgery.parquet``: run
    keys, step, variant, test_loss, zero_loss, reg_lambda_used, n_detached, n_edge,
    has_tail, tail_mass, control_mass)."""
    from htcore import data as data_mod
    from htcore import evaluate as evaluate_mod
    from htcore.surgery import variants

    p = spec["params"]
    arrays = dict(load_npz(data))
    arrays.update(data_mod.test_set(spec["seed"], p["d"], p["n_test"], p["label_noise_std"], teacher(p)))
    w = load_npz(weights)
    W0 = arrays["W0"]
    columns = SURGERY.names[len(EVAL_KEYS.names):]
    rows: dict[str, list] = {c: [] for c in columns}
    for step, W in zip(w["probe_steps"], w["W"]):
        if step == 0 or not np.all(np.isfinite(W)):
            continue
        edited, info = variants(W, W0, seed=spec["seed"] * 100003 + int(step))
        for name, Wv in edited.items():
            m = evaluate_mod.evaluate_snapshot(Wv, arrays, p["reg_lambda"], p["readout_scaling"], p["activation"])
            for c, v in (("step", int(step)), ("variant", name), *((k, m[k]) for k in
                         ("test_loss", "zero_loss", "reg_lambda_used")), *info.items()):
                if c in rows:
                    rows[c].append(v)
    n = len(rows["step"])
    write_table(out, SURGERY.ordered({**_keys(spec, n, with_eval=True),
                                      **{c: np.array(rows[c], dtype=SURGERY.dtypes[c]) for c in columns}}),
                meta={"spec": to_json(spec)})


# ------------------------------------------------------- experiment tables

def collect(spec: Mapping[str, Any], evals: list[str], summaries: list[str], tails: list[str], traces: list[str],
            esds: list[str], table: str, esd_table: str) -> None:
    """The experiment's ``table.parquet`` and ``esd.parquet`` (htcore.collect) from
    every run's files (initial runs included). ``spec``: ``source``, the experiment's
    configuration, which gives every run's parameters (Experiment.run_table)."""
    from htcore import collect as c
    from htcore.config import expand_experiment
    from htcore.io import write_frame

    runs = expand_experiment(spec["source"]).run_table()
    write_frame(table, c.table(runs, evals, summaries, tails, traces))
    write_frame(esd_table, ESD.frame(c.esd(runs, esds)))


def collect_updates(spec: Mapping[str, Any], update_svs: list[str], overlaps: list[str], feature_esds: list[str],
                    sv_table: str, overlaps_table: str, feature_table: str) -> None:
    """An evolution experiment's ``update_sv``, ``overlaps`` and ``feature_esd`` tables."""
    from htcore import collect as c
    from htcore.config import expand_experiment
    from htcore.io import write_frame

    runs = expand_experiment(spec["source"]).run_table()
    write_frame(sv_table, UPDATE_SV.frame(c.concat(update_svs)))
    write_frame(overlaps_table, OVERLAPS.frame(c.concat(overlaps)))
    write_frame(feature_table, FEATURE_ESD.frame(c.feature_esd(runs, feature_esds)))


def collect_surgery(spec: Mapping[str, Any], surgeries: list[str], surgery_table: str) -> None:
    """A surgery experiment's ``surgery.parquet``: every run's surgery rows."""
    from htcore import collect as c
    from htcore.io import write_frame

    frame = c.concat(surgeries)
    write_frame(surgery_table, SURGERY.frame(frame.sort_values(["eval_id", "step", "variant"], kind="stable")
                                             .reset_index(drop=True)))


def figure(spec: Mapping[str, Any], tables: list[str], png: str, pdf: str) -> None:
    """One figure of an experiment (``spec``: name and the experiment's plot setting)."""
    from htcore.figures import draw
    from htcore.io import read_frame

    frames = {name: read_frame(path) for name, path in (t.split("=", 1) for t in tables)}
    draw(spec["name"], frames, spec["plot"], png, pdf)


def claims(spec: Mapping[str, Any], tables: list[str], out: str, html: str) -> None:
    """The study's claims judged on its tables (``tables``: ``<experiment>/<table>=path``)."""
    from htcore.claims import judge_all, to_html
    from htcore.io import read_frame, write_frame

    verdicts = judge_all({name: read_frame(path) for name, path in (t.split("=", 1) for t in tables)})
    write_frame(out, verdicts)
    with open(html, "w") as f:
        f.write(to_html(verdicts))


# ------------------------------------------------------------ memory models

def _mem_data(p: RunParams) -> float:
    return 4 * (2 * p.n * p.d + p.h * p.d) * 2


def _mem_train(p: RunParams) -> float:
    n, d, h = p.n, p.d, p.h
    return 4 * (2 * n * d + h * d) + 4 * len(p.probe_steps) * h * d + 4 * (4 * n * h + 6 * h * d)


def _mem_spectrum(p: RunParams) -> float:
    n, d, h, k = p.n, p.d, p.h, len(p.probe_steps)
    return 4 * k * h * d + 8 * (h * d + 3 * min(h, d) ** 2) + 8 * k * min(h, d) * 11 + 8 * 8 * h * d


def _mem_evaluate(p: RunParams) -> float:
    n, d, h, k = p.n, p.d, p.h, len(p.probe_steps)
    return (4 * (2 * n * d + p.n_test * d + h * d) + 4 * k * h * d
            + 8 * (3 * n * h + 3 * h * h + 2 * d * d))


def _mem_tails(p: RunParams) -> float:
    return 8 * len(p.probe_steps) * min(p.h, p.d) * 12


# ------------------------------------------------------------- declaration

@dataclass(frozen=True)
class Stage:
    """One kind of job.

    ``inputs``/``outputs`` name the function's path arguments (``--name`` on the
    command line, ``{input.name}``/``{output.name}`` in the rule); ``lists`` are the
    inputs that take several paths. ``memory`` gives the peak bytes of a job's arrays
    from the run's parameters (None: a fixed 2 GB); ``mem_mb`` adds the interpreter.
    """

    name: str
    run: Callable[..., None]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    imports: tuple[str, ...] = ("numpy", "pyarrow.parquet")
    memory: Callable[[RunParams], float] | None = None
    lists: tuple[str, ...] = ()
    #: inputs passed as ``name=path`` text from the rule's ``params`` (the files
    #: themselves are the rule's inputs)
    from_params: tuple[str, ...] = ()

    def mem_mb(self, p: RunParams | None = None) -> int:
        """Memory request (MB) of a job: its largest arrays x1.5, plus ~300 MB for the
        interpreter and libraries."""
        if self.memory is None or p is None:
            return 2000
        return int(300 + 1.5 * self.memory(p) / MB)


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("data", data, (), ("out",), memory=_mem_data),
    Stage("train", train, ("data",), ("weights", "trace"), memory=_mem_train),
    Stage("spectrum", spectrum, ("weights",), ("esd", "summary", "update_sv", "overlaps"), memory=_mem_spectrum),
    Stage("tails", tails, ("esd",), ("table",), memory=_mem_tails),
    Stage("evaluate", evaluate, ("data", "weights"), ("out", "feature_esd"),
          imports=("numpy", "pyarrow.parquet", "scipy.linalg"), memory=_mem_evaluate),
    Stage("surgery", surgery, ("data", "weights"), ("out",), imports=("numpy", "pyarrow.parquet", "scipy.linalg"),
          memory=_mem_evaluate),
    Stage("collect_surgery", collect_surgery, ("surgeries",), ("surgery_table",),
          imports=("pandas", "pyarrow.parquet"), lists=("surgeries",)),
    Stage("collect", collect, ("evals", "summaries", "tails", "traces", "esds"), ("table", "esd_table"),
          imports=("pandas", "pyarrow.parquet"), lists=("evals", "summaries", "tails", "traces", "esds")),
    Stage("collect_updates", collect_updates, ("update_svs", "overlaps", "feature_esds"),
          ("sv_table", "overlaps_table", "feature_table"), imports=("pandas", "pyarrow.parquet"),
          lists=("update_svs", "overlaps", "feature_esds")),
    Stage("figure", figure, ("tables",), ("png", "pdf"), imports=("pandas", "matplotlib.pyplot"),
          lists=("tables",), from_params=("tables",)),
    Stage("claims", claims, ("tables",), ("out", "html"), imports=("pandas", "scipy.stats"), lists=("tables",),
          from_params=("tables",)),
)}

#: stages with a job per run, evaluation or seed (thousands of jobs)
PER_RUN = ("data", "train", "spectrum", "tails", "evaluate")
