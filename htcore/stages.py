"""The workflow's stages, declared once, and the function each job runs.

A :class:`Stage` says everything the workflow needs about one kind of job: its
name (the Snakemake rule, the ``python -m htcore <name>`` sub-command and the log
directory), the function that does the work, the files it reads and writes, the
libraries it imports (timed apart from the work), and its memory model. The command
line (:mod:`htcore.cli`), the code fingerprint that makes Snakemake re-run a stage
when its code changes (:mod:`htcore.provenance`) and the jobs' ``mem_mb`` all
follow from :data:`STAGES`.

Each function reads its inputs, calls the science code and writes its outputs. A
``spec`` is the JSON the workflow passes (:class:`htcore.config.Run` for per-run
stages): ids, seed and the parameters the run uses.

Jobs and what they share:

``data`` (one per data parameters and seed)
    teacher, training and probe sets, initial weights (.npz). The test set is drawn
    by the evaluation (its own random stream), so ``n_test`` never retrains.
``run`` (one per run)
    the run's steps, one after the other in one job, each skipped when its files are
    already there for the same key (:mod:`htcore.memo`); its output is a manifest
    listing the steps' keys. The steps (each also a stage, and a sub-command of
    ``python -m htcore``), with their files (:data:`LAYOUT`):
``train``
    ``weights.npz`` (W at the probe steps) and ``trace.parquet`` (one row per step:
    student_loss, lr, diverged, first_bad_step, device).
``spectrum``
    the ESD of W per snapshot (``esd.parquet``, one row per eigenvalue), one row per
    snapshot of spectral summaries, tail fits and shape label (``spectrum.parquet``:
    htcore.spectra.summarize + htcore.shape.tail_summary), and for evolution
    experiments the update analysis (``update_sv.parquet``, ``overlaps.parquet``:
    htcore.updates; empty tables otherwise).
``evaluate`` (per evaluation setting of the run)
    read-out losses, KTA, sim and loss baselines per snapshot (``eval.parquet``), and
    for evolution experiments the feature ESD (``feature_esd.parquet``).
``collect`` / ``collect_updates`` (one per experiment)
    the experiment's tables (htcore.collect), read from the runs' step files
    (:data:`COLLECTED`). Their spec is the experiment's configuration
    (``Experiment.source``), which they expand again into its runs: a list of
    thousands of runs or files would not fit on a command line.
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

from htcore.io import load_npz, read_table, save_npz, to_json, write_table, write_text
from htcore.params import RunParams

MB = 2**20


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
               k: int, with_eval: bool = False) -> None:
    """One row per eigenvalue: run keys, step, index, eigenvalue (k per snapshot)."""
    write_table(path, {
        **_keys(spec, k * len(steps), with_eval=with_eval),
        "step": np.repeat(steps.astype(np.int64), k),
        "index": np.tile(np.arange(k, dtype=np.int64), len(steps)),
        "eigenvalue": np.concatenate(esds) if esds else np.array([], dtype=np.float64),
    }, meta={"spec": to_json(spec)})


def teacher(p: Mapping[str, Any]) -> dict[str, Any]:
    """The run's teacher (htcore.models.Teacher fields) from its parameters."""
    return {"kind": p["teacher_kind"], "k": p.get("teacher_k", 1), "link": p["teacher_link"]}


# ------------------------------------------------------------------- stages

def data(spec: Mapping[str, Any], out: str) -> None:
    """Draw the seed's teacher, training and probe sets and initial weights (.npz)."""
    from htcore import data as data_mod

    p = spec["params"]
    save_npz(out, data_mod.generate(spec["seed"], p["d"], p["h"], p["n"], None, p["label_noise_std"], teacher(p)))


def train(spec: Mapping[str, Any], data: str, weights: str, trace: str) -> None:
    """Train one run; write snapshots (.npz) and the per-step trace (.parquet)."""
    import sys

    from htcore import train as train_mod

    dev = train_mod.resolve_device(spec.get("device", "cpu"))
    res = train_mod.train(spec["params"], spec["seed"], load_npz(data), dev)
    save_npz(weights, {
        "probe_steps": res.probe_steps, "W": res.W, "a": res.a,
        "diverged": np.array(res.diverged), "first_bad_step": np.array(res.first_bad_step),
    })
    steps = len(res.loss)
    write_table(trace, {
        **_keys(spec, steps),
        "step": np.arange(steps, dtype=np.int64),
        "student_loss": res.loss,
        "lr": res.lr,
        "diverged": np.full(steps, res.diverged),
        "first_bad_step": np.full(steps, res.first_bad_step, dtype=np.int64),
        "device": [res.device] * steps,
    }, meta={"spec": to_json(spec)})
    print(f"train {spec['train_id']}: diverged={res.diverged} first_bad_step={res.first_bad_step} "
          f"device={res.device}", file=sys.stderr)


def _long(parts: list[dict[str, np.ndarray]], dtypes: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Concatenate per-part columns; with no parts, empty columns of the given dtypes."""
    return {c: (np.concatenate([p[c] for p in parts]) if parts else np.array([])).astype(dt)
            for c, dt in dtypes.items()}


SV_COLUMNS = {"step": np.int64, "next_step": np.int64, "index": np.int64, "singular_value": np.float64}
OVERLAP_COLUMNS = {"step": np.int64, "next_step": np.int64, "which": str, "i": np.int64, "j": np.int64,
                   "overlap": np.float64}


def spectrum(spec: Mapping[str, Any], weights: str, trace: str, esd: str, table: str,
             update_sv: str, overlaps: str) -> None:
    """Per snapshot: the whole ESD of W, its summaries (and ``update_norm``, how far W
    moved from W_0), the tail fits and the shape label (the shape only: the run's
    training state is collect's ``train_state``, from the trace);
    with ``updates_top_k`` set, the singular values of each update M_t and the
    top-k overlaps with W_t and W_t' (htcore.updates)."""
    from htcore import spectra as spectra_mod
    from htcore import updates as upd
    from htcore.shape import tail_summary

    w, steps, Ws = _snapshots(spec, weights)
    esds = [spectra_mod.esd(W) for W in Ws]
    h, d = w["W"].shape[1:]
    _write_esd(esd, spec, steps, esds, min(h, d))

    t = spec["tails"]
    at0 = np.flatnonzero(w["probe_steps"] == 0)
    W0 = w["W"][at0[0]] if at0.size else None
    rows = []
    for W, e in zip(Ws, esds):
        fit = tail_summary(e, h, d, min_tail=t["min_tail"], bootstrap=t["bootstrap"], n_boot=t["n_boot"],
                           seed=spec["seed"])
        rows.append({**spectra_mod.summarize(e), "update_norm": spectra_mod.update_norm(W, W0),
                     # lambda_max is in the summary already; the bootstrap seed gets its own name
                     **{("boot_seed" if k == "seed" else k): v for k, v in fit.items() if k != "lambda_max"}})
    cols = {k: [r[k] for r in rows] for k in rows[0]} if rows else {}
    write_table(table, {**_keys(spec, len(steps)), "step": steps.astype(np.int64), **cols},
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
    for parts, dtypes, out in ((sv_parts, SV_COLUMNS, update_sv), (ov_parts, OVERLAP_COLUMNS, overlaps)):
        c = _long(parts, dtypes)
        write_table(out, {**_keys(spec, len(c["step"])), **c}, meta={"spec": to_json(spec)})


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
    write_table(out, {
        **_keys(spec, n, with_eval=True),
        "step": steps.astype(np.int64),
        "diverged": (first_bad >= 0) & (steps >= first_bad),
        "first_bad_step": np.full(n, first_bad, dtype=np.int64),
        **{k: np.array(v, dtype=np.float64) for k, v in rows.items()},
        **{k: np.full(n, v) for k, v in loss_baselines(p["label_noise_std"], p["teacher_link"], teacher(p)["k"],
                                                         p["activation"]).items()},
    }, meta={"spec": to_json(spec)})
    esds = ([evaluate_mod.feature_esd(arrays["X_probe"], W, p["readout_scaling"], p["activation"]) for W in Ws]
            if spec.get("features") else [])
    _write_esd(feature_esd, spec, steps[:len(esds)], esds, p["h"], with_eval=True)


# ---------------------------------------------------------------- one run

#: Where each step of a run keeps its files: <root>/<experiment>/<dir>/<id>/<file>,
#: id the run's train_id (train, spectrum) or eval_id (evaluate); output name -> file.
LAYOUT: dict[str, tuple[str, dict[str, str]]] = {
    "train": ("train", {"weights": "weights.npz", "trace": "trace.parquet"}),
    "spectrum": ("spectrum", {"esd": "esd.parquet", "table": "spectrum.parquet",
                              "update_sv": "update_sv.parquet", "overlaps": "overlaps.parquet"}),
    "evaluate": ("eval", {"out": "eval.parquet", "feature_esd": "feature_esd.parquet"}),
}

#: What collect / collect_updates read of every run: name -> (step, its output).
COLLECTED = {"eval": ("evaluate", "out"), "spectrum": ("spectrum", "table"), "trace": ("train", "trace"),
             "esd": ("spectrum", "esd"), "update_sv": ("spectrum", "update_sv"),
             "overlaps": ("spectrum", "overlaps"), "feature_esd": ("evaluate", "feature_esd")}


def manifest(root: str, experiment: str, train_id: str) -> str:
    """A run job's output (the rule's ``manifest``): the key of each of its steps."""
    return f"{root}/{experiment}/runs/{train_id}.json"


def artifacts(root: str, experiment: str, step: str, run_id: str) -> dict[str, str]:
    """The files of one step of a run (:data:`LAYOUT`): output name -> path."""
    sub, files = LAYOUT[step]
    return {name: f"{root}/{experiment}/{sub}/{run_id}/{f}" for name, f in files.items()}


def run(spec: Mapping[str, Any], data: str, manifest: str) -> None:
    """One run, whole: train, then the spectrum of its snapshots, then each of its
    evaluation settings. A step whose files are already there for the same spec,
    code and training is skipped (htcore.memo); the manifest lists each step's key.
    ``spec``: ``root``, ``experiment``, ``code`` (fingerprint per stage), ``train``,
    ``spectrum`` (their job specs) and ``evaluate`` (one spec per evaluation setting)."""
    from htcore import memo

    root, exp, code = spec["root"], spec["experiment"], spec["code"]
    tr, sp = spec["train"], spec["spectrum"]
    t_out = artifacts(root, exp, "train", tr["train_id"])
    k_train = memo.key("train", tr, code["data"], code["train"])
    memo.step("train", k_train, t_out, lambda: train(tr, data, **t_out))
    s_out = artifacts(root, exp, "spectrum", tr["train_id"])
    k_spectrum = memo.key("spectrum", sp, code["spectrum"], k_train)
    memo.step("spectrum", k_spectrum, s_out, lambda: spectrum(sp, t_out["weights"], t_out["trace"], **s_out))
    k_evals = {}
    for ev in spec["evaluate"]:
        e_out = artifacts(root, exp, "evaluate", ev["eval_id"])
        k_evals[ev["eval_id"]] = k = memo.key("evaluate", ev, code["evaluate"], k_train)
        memo.step("evaluate", k, e_out, lambda: evaluate(ev, data, t_out["weights"], **e_out))
    write_text(manifest, to_json({"train_id": tr["train_id"], "train": k_train, "spectrum": k_spectrum,
                                  "evaluate": k_evals}) + "\n")


def _collected(spec: Mapping[str, Any], names: tuple[str, ...]):
    """The experiment's runs, per name of :data:`COLLECTED` the files to read of every
    run (initial runs included), and for each file its run's manifest. ``spec``:
    ``root`` (results/) and ``source`` (the experiment's configuration, expanded again
    here: a grid of thousands of runs would not fit on a command line)."""
    from htcore.config import expand_experiment

    exp = expand_experiment(spec["source"])
    runs = {"train": exp.unique("train", with_inits=True), "eval": exp.unique("eval", with_inits=True)}
    paths, manifest_of = {}, {}
    for name in names:
        step, output = COLLECTED[name]
        kind = "eval" if step == "evaluate" else "train"
        paths[name] = []
        for r in runs[kind]:
            path = artifacts(spec["root"], exp.name, step, getattr(r, f"{kind}_id"))[output]
            paths[name].append(path)
            manifest_of[path] = manifest(spec["root"], exp.name, r.train_id)
    return exp.run_table(), paths, manifest_of


def _rebuild_hint(manifest_of: Mapping[str, str]):
    """Re-raise a damaged step file's ArtifactError with the command that rebuilds it:
    the run job must run again (``--forcerun`` its manifest), which recomputes the
    file (htcore.memo finds it changed)."""
    from contextlib import contextmanager

    from htcore.io import REBUILD, ArtifactError

    @contextmanager
    def hint():
        try:
            yield
        except ArtifactError as e:
            if e.path not in manifest_of:
                raise
            raise ArtifactError(e.path, e.reason, f"{REBUILD} --forcerun {manifest_of[e.path]}") from e

    return hint()


def collect(spec: Mapping[str, Any], table: str, esd_table: str) -> None:
    """The experiment's ``table.parquet`` and ``esd.parquet`` (htcore.collect)."""
    from htcore import collect as c
    from htcore.io import write_frame

    runs, paths, manifest_of = _collected(spec, ("eval", "spectrum", "trace", "esd"))
    with _rebuild_hint(manifest_of):
        t, e = c.table(runs, paths["eval"], paths["spectrum"], paths["trace"]), c.esd(runs, paths["esd"])
    write_frame(table, t)
    write_frame(esd_table, e)


def collect_updates(spec: Mapping[str, Any], sv_table: str, overlaps_table: str, feature_table: str) -> None:
    """An evolution experiment's ``update_sv``, ``overlaps`` and ``feature_esd`` tables."""
    from htcore import collect as c
    from htcore.io import write_frame

    runs, paths, manifest_of = _collected(spec, ("update_sv", "overlaps", "feature_esd"))
    with _rebuild_hint(manifest_of):
        sv, ov = c.concat(paths["update_sv"]), c.concat(paths["overlaps"])
        fe = c.feature_esd(runs, paths["feature_esd"])
    write_frame(sv_table, sv)
    write_frame(overlaps_table, ov)
    write_frame(feature_table, fe)


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


def _mem_run(p: RunParams) -> float:
    # the steps run one after the other, each freeing its arrays
    return max(_mem_train(p), _mem_spectrum(p), _mem_evaluate(p))


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
    Stage("spectrum", spectrum, ("weights", "trace"), ("esd", "table", "update_sv", "overlaps"),
          memory=_mem_spectrum),
    Stage("evaluate", evaluate, ("data", "weights"), ("out", "feature_esd"),
          imports=("numpy", "pyarrow.parquet", "scipy.linalg"), memory=_mem_evaluate),
    Stage("run", run, ("data",), ("manifest",), imports=("numpy", "pyarrow.parquet", "scipy.linalg"),
          memory=_mem_run),
    Stage("collect", collect, (), ("table", "esd_table"), imports=("pandas", "pyarrow.parquet")),
    Stage("collect_updates", collect_updates, (), ("sv_table", "overlaps_table", "feature_table"),
          imports=("pandas", "pyarrow.parquet")),
    Stage("figure", figure, ("tables",), ("png", "pdf"), imports=("pandas", "matplotlib.pyplot"),
          lists=("tables",), from_params=("tables",)),
    Stage("claims", claims, ("tables",), ("out", "html"), imports=("pandas", "scipy.stats"), lists=("tables",),
          from_params=("tables",)),
)}

#: stages with a job per run or seed (thousands of jobs); train, spectrum and
#: evaluate are the steps of ``run`` (each also a sub-command of its own)
PER_RUN = ("data", "run")
