"""Check a study's artifacts on disk: ``python -m htcore check [results/]``.

Snakemake trusts any output file that exists and is newer than its inputs, so a file
damaged after it was written (a full disk, a copy cut short, a stray edit) is used
as it is, or fails a later job far from its cause. This check opens every artifact
under ``results/`` (every ``.npz`` and ``.parquet``, the figures' ``.png``/``.pdf``;
logs and benchmarks are skipped) and verifies what it can from the files themselves:

* it loads, and holds the arrays / columns its stage writes (htcore.stages);
* shapes agree: a run's W snapshots are (k, h, d) with k = len(probe_steps), its
  ``a`` (k, h), W matches the seed's W0 (its data file, named in the trace's spec);
* row counts agree: per-run tables have one row per probe step of the run's
  weights (the ESD: min(h, d) per step), experiment tables as many rows per run as
  that run's per-run table (when the latter is not newer: then Snakemake rebuilds
  the experiment table anyway);
* values are finite where they must be: data everywhere; weights, losses and
  eigenvalues before the run's ``first_bad_step`` (a diverged run holds NaN from
  there on, which is a result, not damage).

It lists the damaged files with the reason and prints the commands that rebuild them
(delete them, run ``snakemake -j 8 all``: Snakemake recomputes what is missing and
everything downstream). A file of a run's step (``train/``, ``spectrum/``, ``eval/``)
is not a Snakemake output but a file its run job keeps (htcore.memo): the commands
delete that run's manifest (``runs/<train_id>.json``) too, so that the job runs
again. Exit status 1 if any file is damaged, 0 otherwise.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from htcore.io import REBUILD, ArtifactError, load_npz, read_table

KEYS = ("experiment", "train_id", "seed", "step")
DATA_ARRAYS = ("beta", "X", "y", "X_probe", "y_probe", "W0", "a0")
WEIGHT_ARRAYS = ("probe_steps", "W", "a", "diverged", "first_bad_step")
COLUMNS = {
    "trace": KEYS + ("student_loss", "lr", "diverged", "first_bad_step", "device"),
    "eval": KEYS + ("eval_id", "diverged", "first_bad_step", "train_loss", "test_loss", "kta", "sim"),
    "esd": KEYS + ("index", "eigenvalue"),
    "spectrum": KEYS + ("lambda_max", "frob_norm2", "stable_rank", "shape_label"),
    "sv": KEYS + ("next_step", "index", "singular_value"),
    "overlaps": KEYS + ("next_step", "which", "i", "j", "overlap"),
    "feature_esd": KEYS + ("eval_id", "index", "eigenvalue"),
    "table": KEYS + ("eval_id", "diverged", "first_bad_step", "train_loss", "test_loss", "lambda_max"),
}


class Damaged(Exception):
    """What is wrong with one artifact."""


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise Damaged(why)


class _Checker:
    """Opens the artifacts of one results/ directory, caching what it has read."""

    def __init__(self, results: Path):
        self.results = results
        self._npz: dict[Path, dict] = {}
        self._tables: dict[Path, dict] = {}

    # ------------------------------------------------------------------ reading
    def npz(self, path: Path, names=()) -> dict:
        if path not in self._npz:
            self._npz[path] = load_npz(path)
        z = self._npz[path]
        missing = [n for n in names if n not in z]
        _require(not missing, f"no array {', '.join(missing)}")
        return z

    def table(self, path: Path, kind: str | None = None) -> dict:
        if path not in self._tables:
            self._tables[path] = read_table(path)
        t = self._tables[path]
        missing = [c for c in COLUMNS.get(kind, ()) if c not in t]
        _require(not missing, f"no column {', '.join(missing)}")
        lengths = {len(v) for v in t.values()}
        _require(len(lengths) <= 1, "columns of different lengths")
        return t

    def sound(self, path: Path, check: Callable) -> bool:
        """Whether ``path`` passes ``check`` (used for upstream files: a damaged one is
        reported under its own name, not under each file that depends on it)."""
        try:
            check(path)
            return True
        except (Damaged, ArtifactError, OSError):
            return False

    def weights_of(self, exp: Path, train_id: str, newer_than: Path) -> dict | None:
        """The sound weights of a run, or None (missing, damaged, or newer than the
        file being checked, which is then stale and rebuilt by Snakemake anyway)."""
        w = exp / "train" / train_id / "weights.npz"
        if not w.exists() or _newer(w, newer_than) or not self.sound(w, self.check_weights):
            return None
        return self.npz(w)

    # ------------------------------------------------------------ per kind
    def check_data(self, path: Path) -> None:
        z = self.npz(path, DATA_ARRAYS)
        (d,) = z["beta"].shape
        h = z["W0"].shape[0]
        n = len(z["y"])
        expected = {"X": (n, d), "y": (n,), "X_probe": (n, d), "y_probe": (n,), "W0": (h, d), "a0": (h,)}
        for k, shape in expected.items():
            _require(z[k].shape == shape, f"{k} has shape {z[k].shape}, expected {shape}")
        bad = [k for k in DATA_ARRAYS if not np.all(np.isfinite(z[k]))]
        _require(not bad, f"non-finite values in {', '.join(bad)}")

    def check_weights(self, path: Path) -> None:
        z = self.npz(path, WEIGHT_ARRAYS)
        steps, W, a = z["probe_steps"], z["W"], z["a"]
        _require(steps.ndim == 1 and np.issubdtype(steps.dtype, np.integer), "probe_steps is not a list of steps")
        _require(bool(np.all(np.diff(steps) > 0)) and (len(steps) == 0 or steps[0] >= 0),
                 "probe_steps not increasing")
        k = len(steps)
        _require(W.ndim == 3 and W.shape[0] == k, f"W has shape {W.shape}, expected ({k}, h, d) for {k} probe steps")
        _require(a.shape == W.shape[:2], f"a has shape {a.shape}, expected {W.shape[:2]}")
        first_bad = int(z["first_bad_step"])
        _require(bool(z["diverged"]) == (first_bad >= 0), "diverged disagrees with first_bad_step")
        good = steps < first_bad if first_bad >= 0 else np.ones(k, bool)
        _require(bool(np.all(np.isfinite(W[good])) and np.all(np.isfinite(a[good]))),
                 "non-finite weights before the run diverged")
        self._data_agrees(path, W)

    def _data_agrees(self, path: Path, W: np.ndarray) -> None:
        trace = path.with_name("trace.parquet")
        if not trace.exists():
            return
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(trace).schema_arrow.metadata or {}
            data_id = json.loads(meta[b"htcore.spec"])["data_id"]
        except Exception:  # noqa: BLE001 - the trace's own check reports it
            return
        data = self.results / _experiment(self.results, path) / "data" / f"{data_id}.npz"
        if data.exists() and not _newer(data, path) and self.sound(data, self.check_data):
            w0 = self.npz(data)["W0"]
            _require(W.shape[1:] == w0.shape, f"W snapshots are {W.shape[1:]}, the seed's W0 {w0.shape}")

    def check_trace(self, path: Path) -> None:
        t = self.table(path, "trace")
        n = len(t["step"])
        _require(n > 0 and np.array_equal(t["step"], np.arange(n)), "steps are not 0, 1, ..., steps")
        fb = t["first_bad_step"]
        _require(bool(np.all(fb == fb[0])), "first_bad_step varies")
        good = t["step"] < fb[0] if fb[0] >= 0 else np.ones(n, bool)
        _require(bool(np.all(np.isfinite(t["student_loss"][good].astype(float)))),
                 "non-finite student_loss before the run diverged")

    def _per_step(self, path: Path, kind: str, rows_per_step: Callable[[np.ndarray], int] | None = None,
                  finite: tuple[str, ...] = ()) -> None:
        """A per-run table with one row (or ``rows_per_step``) per probe step of its run
        (less the steps its spec leaves to the seed's initial run)."""
        t = self.table(path, kind)
        exp = self.results / _experiment(self.results, path)
        train_ids = set(t["train_id"])
        _require(len(train_ids) <= 1, "rows of more than one run")
        w = self.weights_of(exp, train_ids.pop(), path) if train_ids else None
        if w is None:
            return
        steps, W = w["probe_steps"], w["W"]
        steps = steps[~np.isin(steps, _skipped(path))]
        per = rows_per_step(W) if rows_per_step else 1
        want = np.repeat(steps, per)
        _require(len(t["step"]) == len(want),
                 f"{len(t['step'])} rows, expected {len(want)} ({len(steps)} probe steps x {per})")
        _require(np.array_equal(np.sort(t["step"], kind="stable"), want), "steps differ from the run's probe steps")
        fb = int(w["first_bad_step"])
        good = t["step"] < fb if fb >= 0 else np.ones(len(want), bool)
        bad = [c for c in finite if not np.all(np.isfinite(t[c][good].astype(float)))]
        _require(not bad, f"non-finite {', '.join(bad)} before the run diverged")

    def check_eval(self, path: Path) -> None:
        self._per_step(path, "eval", finite=("train_loss", "test_loss"))

    def check_esd(self, path: Path) -> None:
        self._per_step(path, "esd", lambda W: min(W.shape[1:]), finite=("eigenvalue",))

    def check_spectrum(self, path: Path) -> None:
        self._per_step(path, "spectrum", finite=("lambda_max", "frob_norm2"))

    def check_feature_esd(self, path: Path) -> None:
        self.table(path, "feature_esd")

    def check_sv(self, path: Path) -> None:
        self.table(path, "sv")

    def check_overlaps(self, path: Path) -> None:
        self.table(path, "overlaps")

    def _experiment_table(self, path: Path, kind: str, id_col: str, per_run: Callable[[Path, str], Path],
                          shared_rows: Callable[[str], int] = lambda run_id: 1) -> None:
        """Rows per run agree with each run's own table (when that is sound and older),
        plus the rows of the steps it shares with its initial run (``shared_rows`` per
        shared step)."""
        t = self.table(path, kind)
        exp = self.results / _experiment(self.results, path)
        ids, counts = np.unique(t[id_col].astype(str), return_counts=True) if len(t[id_col]) else ([], [])
        for run_id, count in zip(ids, counts):
            src = per_run(exp, run_id)
            if not src.exists() or _newer(src, path) or not self.sound(src, self.check_file):
                continue
            own = len(self.table(src)["step"])
            n = own + len(_skipped(src)) * shared_rows(run_id)
            _require(count == n, f"{count} rows of {run_id}, its table {_rel(src)} has {own}"
                     + (f" plus {n - own} shared from step 0" if n > own else ""))

    def check_table(self, path: Path) -> None:
        self._experiment_table(path, "table", "eval_id", lambda e, r: e / "eval" / r / "eval.parquet")

    def check_experiment_esd(self, path: Path) -> None:
        t = self.table(path, "esd")
        per_step = {r: int(np.sum((t["train_id"] == r) & (t["step"] == t["step"][t["train_id"] == r].min())))
                    for r in set(t["train_id"])}
        self._experiment_table(path, "esd", "train_id", lambda e, r: e / "spectrum" / r / "esd.parquet",
                               lambda r: per_step[r])

    def check_extra(self, path: Path) -> None:
        kind = path.stem if path.stem in COLUMNS else None
        sources = {"update_sv": ("sv", lambda e, r: e / "spectrum" / r / "update_sv.parquet"),
                   "overlaps": ("overlaps", lambda e, r: e / "spectrum" / r / "overlaps.parquet")}
        if path.stem in sources:
            kind, src = sources[path.stem]
            self._experiment_table(path, kind, "train_id", src, lambda r: 0)
        else:
            self.table(path, kind)

    def check_figure(self, path: Path) -> None:
        data = path.read_bytes()
        if path.suffix == ".png":
            _require(data.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in data[-16:], "not a whole PNG image")
        else:
            _require(data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:], "not a whole PDF document")

    # ------------------------------------------------------------ dispatch
    def kind(self, path: Path) -> Callable[[Path], None] | None:
        parts = path.relative_to(self.results).parts
        if parts[0] in ("logs", "benchmarks") or len(parts) < 2:
            return None
        stage, name = (parts[1] if len(parts) > 2 else None), path.name
        if path.suffix in (".png", ".pdf") and stage == "figures":
            return self.check_figure
        if path.suffix == ".npz":
            return {"data": self.check_data}.get(stage, self.check_weights if name == "weights.npz" else
                                                  lambda p: self.npz(p))
        if path.suffix != ".parquet":
            return None
        if stage is None:
            return {"table.parquet": self.check_table, "esd.parquet": self.check_experiment_esd}.get(
                name, self.check_extra)
        by_name = {("train", "trace.parquet"): self.check_trace, ("spectrum", "esd.parquet"): self.check_esd,
                   ("spectrum", "spectrum.parquet"): self.check_spectrum,
                   ("spectrum", "update_sv.parquet"): self.check_sv,
                   ("spectrum", "overlaps.parquet"): self.check_overlaps,
                   ("eval", "eval.parquet"): self.check_eval,
                   ("eval", "feature_esd.parquet"): self.check_feature_esd}
        return by_name.get((stage, name)) or (lambda p: self.table(p))

    def check_file(self, path: Path) -> None:
        check = self.kind(path)
        if check is not None:
            check(path)


def _skipped(path: Path) -> list[int]:
    """The steps a per-run table leaves to the seed's initial run (its spec's
    ``skip_steps``, in the Parquet metadata)."""
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).schema_arrow.metadata or {}
        return list(json.loads(meta[b"htcore.spec"]).get("skip_steps", []))
    except Exception:  # noqa: BLE001 - the file's own check reports it
        return []


def _experiment(results: Path, path: Path) -> str:
    return path.relative_to(results).parts[0]


def _newer(a: Path, b: Path) -> bool:
    return a.stat().st_mtime > b.stat().st_mtime


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check(results: str | os.PathLike) -> tuple[list[Path], dict[Path, str], list[Path]]:
    """Check every artifact under ``results``: (checked files, damaged file -> reason,
    leftover temporary files of interrupted writes)."""
    results = Path(results)
    checker = _Checker(results)
    checked, damaged, leftovers = [], {}, []
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            leftovers.append(path)
            continue
        check_one = checker.kind(path)
        if check_one is None:
            continue
        checked.append(path)
        try:
            check_one(path)
        except ArtifactError as e:
            damaged[path] = e.reason
        except Damaged as e:
            damaged[path] = str(e)
        except OSError as e:
            damaged[path] = f"{type(e).__name__}: {e.strerror or e}"
        except Exception as e:  # noqa: BLE001 - anything a malformed file can raise
            damaged[path] = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    return checked, damaged, leftovers


def manifests_of(results: Path, path: Path) -> list[Path]:
    """The manifests of the run jobs that write ``path`` (none: a Snakemake output)."""
    parts = path.relative_to(results).parts
    if len(parts) < 4 or parts[1] not in ("train", "spectrum", "eval"):
        return []
    exp, run_id = results / parts[0], "/".join(parts[2:-1])
    if parts[1] != "eval":
        return [exp / "runs" / f"{run_id}.json"]
    out = []
    for m in sorted((exp / "runs").rglob("*.json")):
        try:
            if run_id in json.loads(m.read_text()).get("evaluate", {}):
                out.append(m)
        except (OSError, ValueError):
            out.append(m)  # a damaged manifest: rebuilding it does no harm
    return out


def main(results: str = "results") -> int:
    """Print the damaged artifacts under ``results`` and how to rebuild them."""
    root = Path(results)
    if not root.is_dir():
        print(f"htcore check: {results} is not a directory (run from the study's directory, "
              f"or name its results/)", file=sys.stderr)
        return 2
    checked, damaged, leftovers = check(root)
    print(f"htcore check: {len(checked)} artifacts under {results} opened, "
          f"{len(damaged) or 'none'} damaged")
    for path, why in damaged.items():
        print(f"  {_rel(path)}: {why}")
    if leftovers:
        print(f"{len(leftovers)} temporary files of interrupted writes (safe to delete): "
              + " ".join(shlex.quote(_rel(p)) for p in leftovers))
    if damaged:
        where = root.resolve().parent
        cd = "" if where == Path.cwd().resolve() else f"cd {shlex.quote(str(where))} && "
        print("Rebuild them (Snakemake then recomputes them and everything that depends on them):")
        manifests = [m for p in damaged for m in manifests_of(root, p) if m.exists()]
        print("  rm " + " ".join(shlex.quote(_rel(p)) for p in dict.fromkeys([*damaged, *manifests])))
        print(f"  {cd}{REBUILD}")
    return 1 if damaged else 0
