"""Check a study's artifacts: ``python -m htcore check [results/]``.

Snakemake trusts any output file that exists and is newer than its inputs, so a file
damaged after it was written (a full disk, a copy cut short, a stray edit) is used
as it is, or fails a later job far from its cause; and it does not rebuild an
intermediate file that was deleted while the files made from it exist and are newer.
This check finds both.

What the study should hold comes from Snakemake itself: ``snakemake
--detailed-summary`` in the study's directory (the one holding ``results/`` and its
``config.yaml``; the workflow's Snakefile there, or else the one beside this
package) lists every output file of every job ``snakemake all`` needs, with the
rule that writes it, whether it exists, whether ``all`` would re-run its job now,
and the inputs the job read when it wrote the file (Snakemake's records). The output
names of a job follow its rule's declared outputs (:data:`htcore.stages.STAGES`,
whose ``outputs`` are the rule's named outputs, in order). No path is spelled here.

Each file is then checked from itself and, where Snakemake recorded them, from the
files its job read (an input that is damaged itself, or newer, is skipped: it is
reported under its own name, or the file is rebuilt by ``snakemake all`` anyway):

* it loads, and holds the arrays / columns its writer puts there: the declaration the
  writer passes them through (:data:`SCHEMAS`: htcore.stages, htcore.data.DATA_FILE,
  htcore.collect.table_schema, htcore.claims.COLUMNS); a data file holds the teacher
  as ``beta`` (k = 1) or ``B`` (d, k > 1);
* shapes agree: a data file's arrays with each other, a run's W snapshots are
  (k, h, d) with k = len(probe_steps), its ``a`` (k, h), W matches its data's W0;
* row counts agree: per-run tables have one row per probe step of the run's
  weights (the ESD: min(h, d) per step), less the steps left to the seed's initial
  run; experiment tables as many rows per run as that run's own table;
* values are finite where they must be: data everywhere; weights, losses and
  eigenvalues before the run's ``first_bad_step`` (a diverged run holds NaN from
  there on, which is a result, not damage); labels and verdicts are ones their
  writer can give.

It lists each damaged or missing file with the reason, and prints the commands that
restore the study, to run in its directory: ``rm -f`` the damaged files (only
those), ``snakemake -j 8 <files>`` naming every damaged file and every missing one
(a file named as a target is rebuilt even when the files made from it exist; files
never built that ``snakemake all`` builds anyway, as in a study not run yet, are
left to it), then ``snakemake -j 8 all``, which re-runs what depends on a rebuilt
file unless the file came back identical (Snakemake compares the checksums of
inputs under 1 MB with its records; larger ones by time: newer, so re-run). Exit
status 1 if any file is damaged or missing, 0 otherwise, 2 if the study cannot be
read.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from htcore import claims, collect, shape, stages
from htcore.data import DATA_FILE
from htcore.io import ArtifactError, Schema, load_npz, read_table

#: how many jobs the printed ``snakemake`` commands run at once
JOBS = 8

#: What each table or .npz holds, by (rule, output name): the declaration its writer
#: passes it through (htcore.io.Schema, beside the writer), not spelled here.
SCHEMAS: dict[tuple[str, str], Schema] = {
    ("data", "out"): DATA_FILE,
    ("train", "weights"): stages.WEIGHTS,
    ("train", "trace"): stages.TRACE,
    ("spectrum", "esd"): stages.ESD,
    ("spectrum", "summary"): stages.SUMMARY,
    ("spectrum", "update_sv"): stages.UPDATE_SV,
    ("spectrum", "overlaps"): stages.OVERLAPS,
    ("tails", "table"): stages.TAILS,
    ("evaluate", "out"): stages.eval_schema(),  # the columns of every k
    ("evaluate", "feature_esd"): stages.FEATURE_ESD,
    ("surgery", "out"): stages.SURGERY,
    ("collect", "table"): collect.table_schema(),  # the columns of every experiment (no parameters)
    ("collect", "esd_table"): stages.ESD,
    ("collect_updates", "sv_table"): stages.UPDATE_SV,
    ("collect_updates", "overlaps_table"): stages.OVERLAPS,
    ("collect_updates", "feature_table"): stages.FEATURE_ESD,
    ("collect_surgery", "surgery_table"): stages.SURGERY,
    ("claims", "out"): Schema(claims.COLUMNS),
}


def _declared(a: "Artifact") -> tuple[str, ...]:
    """The columns or arrays the writer of ``a`` declares."""
    return SCHEMAS[a.rule, a.output].names


class Damaged(Exception):
    """What is wrong with one artifact."""


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise Damaged(why)


class StudyError(RuntimeError):
    """The study's expected files cannot be learned (Snakemake failed, no Snakefile)."""


# ------------------------------------------------------------ what the study holds

@dataclass(frozen=True)
class Artifact:
    """One output file of the study, as ``snakemake --detailed-summary`` lists it."""

    path: str  # as Snakemake names it: relative to the study's directory
    rule: str
    output: str | None  # the rule's output name (htcore.stages.Stage.outputs); None: unknown
    status: str  # Snakemake's: ok, missing, updated input files, params changed, ...
    pending: bool  # ``snakemake all`` re-runs its job as things stand
    inputs: tuple[str, ...] | None = field(default=None)  # what its job read (recorded), None: unknown
    recorded: bool = True  # Snakemake holds a record of the job that wrote it (it was built once)


def snakefile_of(study: Path) -> tuple[Path, bool]:
    """The study's Snakefile and whether Snakemake finds it by itself there (where
    Snakemake looks by default), else the workflow's own beside this package."""
    for name in ("Snakefile", "snakefile", "workflow/Snakefile", "workflow/snakefile"):
        if (study / name).is_file():
            return study / name, True
    own = Path(__file__).resolve().parents[1] / "Snakefile"
    if own.is_file():
        return own, False
    raise StudyError(f"no Snakefile in {study}, nor beside htcore ({own})")


def summary(study: Path, snakefile: Path) -> str:
    """``snakemake --detailed-summary`` of the study (its stdout)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(study), "--detailed-summary",
           "--nolock"]
    proc = subprocess.run(cmd, cwd=study, capture_output=True, text=True)
    if proc.returncode != 0 or "output_file\t" not in proc.stdout:
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-8:])
        raise StudyError(f"'snakemake --detailed-summary' failed in {study}:\n{tail}")
    return proc.stdout


def parse_summary(text: str) -> list[Artifact]:
    """The artifacts of a ``--detailed-summary``: output_file, date, rule, log,
    input-file(s), shellcmd, status, plan, tab-separated; a job's outputs come one
    after the other in its rule's declared order (htcore.stages.STAGES names them)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("output_file\t")), None)
    if start is None:
        raise StudyError("not a Snakemake summary (no header line)")
    rows = []
    for line in lines[start + 1:]:
        f = line.split("\t")
        if len(f) < 8:
            continue
        inputs = None if f[4] == "-" else tuple(p for p in f[4].split(",") if p)
        rows.append(dict(path=f[0], rule=f[2], log=f[3], inputs=inputs, status=f[-2],
                         pending=f[-1] == "update pending", recorded=f[3] != "-" or f[4] != "-"))
    out, i = [], 0
    while i < len(rows):
        rule = rows[i]["rule"]
        names = stages.STAGES[rule].outputs if rule in stages.STAGES else ("",)
        block = rows[i:i + len(names)]
        aligned = len(block) == len(names) and all(r["rule"] == rule for r in block)
        if not aligned:
            block, names = block[:1], ("",)
        logs = {r["log"] for r in block} - {"-"}
        fits = rule in stages.STAGES and aligned and len(logs) <= 1 and all(
            _suffix_fits(rule, n, r["path"]) for n, r in zip(names, block))
        for name, r in zip(names, block):
            out.append(Artifact(r["path"], rule, name if fits else None, r["status"], r["pending"], r["inputs"],
                                r["recorded"]))
        i += len(block)
    return out


# ------------------------------------------------------------------- checking

class _Recent(OrderedDict):
    """The last ``size`` files read (a study's weights add up to far more than memory)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or_read(self, key: str, read: Callable[[], dict]) -> dict:
        if key in self:
            self.move_to_end(key)
        else:
            self[key] = read()
            if len(self) > self.size:
                self.popitem(last=False)
        return self[key]


class _Checker:
    """Checks the artifacts of one study, keeping its verdicts and the files it read last."""

    def __init__(self, study: Path, artifacts: list[Artifact]):
        self.study = study
        self.by_path = {a.path: a for a in artifacts}
        self._npz = _Recent(8)
        self._tables = _Recent(256)
        self._verdicts: dict[str, str | None] = {}

    def file(self, a: Artifact | str) -> Path:
        return self.study / (a.path if isinstance(a, Artifact) else a)

    # ------------------------------------------------------------------ reading
    def npz(self, a: Artifact, names=()) -> dict:
        z = self._npz.get_or_read(a.path, lambda: load_npz(self.file(a)))
        missing = [n for n in names if n not in z]
        _require(not missing, f"no array {', '.join(missing)}")
        return z

    def table(self, a: Artifact, columns: tuple[str, ...] = ()) -> dict:
        t = self._tables.get_or_read(a.path, lambda: read_table(self.file(a)))
        missing = [c for c in dict.fromkeys(columns) if c not in t]
        _require(not missing, f"no column {', '.join(missing)}")
        _require(len({len(v) for v in t.values()}) <= 1, "columns of different lengths")
        return t

    def verdict(self, a: Artifact) -> str | None:
        """Why ``a`` is damaged, or None (cached)."""
        if a.path not in self._verdicts:
            self._verdicts[a.path] = None
            try:
                self.check(a)
            except ArtifactError as e:
                self._verdicts[a.path] = e.reason
            except Damaged as e:
                self._verdicts[a.path] = str(e)
            except OSError as e:
                self._verdicts[a.path] = f"{type(e).__name__}: {e.strerror or e}"
            except Exception as e:  # noqa: BLE001 - anything a malformed file can raise
                self._verdicts[a.path] = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        return self._verdicts[a.path]

    def upstream(self, a: Artifact, rule: str, output: str) -> list[Artifact]:
        """The inputs of ``a``'s job written by ``rule``'s ``output`` that are sound
        and not newer than ``a`` (a newer one: Snakemake rebuilds ``a`` anyway)."""
        found = []
        for p in a.inputs or ():
            u = self.by_path.get(p)
            if u is None or (u.rule, u.output) != (rule, output) or not self.file(u).exists():
                continue
            if _newer(self.file(u), self.file(a)) or self.verdict(u) is not None:
                continue
            found.append(u)
        return found

    def check(self, a: Artifact) -> None:
        path = self.file(a)
        check = CHECKS.get((a.rule, a.output))
        if check is None:  # an output this module does not know: it must open
            check = {".npz": lambda c, x: c.npz(x), ".parquet": lambda c, x: c.table(x),
                     ".png": _Checker.check_png, ".pdf": _Checker.check_pdf}.get(path.suffix, _readable)
        check(self, a)

    # ------------------------------------------------------------ per kind
    def check_data(self, a: Artifact) -> None:
        declared = SCHEMAS[a.rule, a.output]
        z = self.npz(a, declared.names)
        teacher = [k for k in declared.one_of if k in z]
        _require(len(teacher) == 1, f"no array {' or '.join(declared.one_of)} (the teacher)" if not teacher
                 else f"both {' and '.join(teacher)}")
        X, W0 = z["X"], z["W0"]
        _require(X.ndim == 2 and W0.ndim == 2, f"X has shape {X.shape}, W0 {W0.shape}: expected matrices")
        (n, d), h = X.shape, W0.shape[0]
        if teacher == ["beta"]:
            _require(z["beta"].shape == (d,), f"beta has shape {z['beta'].shape}, expected ({d},)")
            B = z["beta"][:, None].astype(np.float64)
        else:
            B = z["B"].astype(np.float64)
            _require(B.ndim == 2 and B.shape[0] == d and 1 < B.shape[1] <= d,
                     f"B has shape {B.shape}, expected ({d}, k) with 1 < k <= {d}")
        expected = {"y": (n,), "X_probe": (n, d), "y_probe": (n,), "W0": (h, d), "a0": (h,)}
        for k, want in expected.items():
            _require(z[k].shape == want, f"{k} has shape {z[k].shape}, expected {want}")
        bad = [k for k in (*teacher, *declared.names) if not np.all(np.isfinite(z[k]))]
        _require(not bad, f"non-finite values in {', '.join(bad)}")
        _require(np.allclose(B.T @ B, np.eye(B.shape[1]), atol=1e-6),
                 f"the teacher's direction{'s are not orthonormal' if B.shape[1] > 1 else ' is not a unit vector'}")

    def check_weights(self, a: Artifact) -> None:
        z = self.npz(a, _declared(a))
        steps, W, A = z["probe_steps"], z["W"], z["a"]
        _require(steps.ndim == 1 and np.issubdtype(steps.dtype, np.integer), "probe_steps is not a list of steps")
        _require(bool(np.all(np.diff(steps) > 0)) and (len(steps) == 0 or steps[0] >= 0),
                 "probe_steps not increasing")
        k = len(steps)
        _require(W.ndim == 3 and W.shape[0] == k, f"W has shape {W.shape}, expected ({k}, h, d) for {k} probe steps")
        _require(A.shape == W.shape[:2], f"a has shape {A.shape}, expected {W.shape[:2]}")
        first_bad = int(z["first_bad_step"])
        _require(bool(z["diverged"]) == (first_bad >= 0), "diverged disagrees with first_bad_step")
        good = steps < first_bad if first_bad >= 0 else np.ones(k, bool)
        _require(bool(np.all(np.isfinite(W[good])) and np.all(np.isfinite(A[good]))),
                 "non-finite weights before the run diverged")
        for data in self.upstream(a, "data", "out"):
            w0 = self.npz(data)["W0"]
            _require(W.shape[1:] == w0.shape, f"W snapshots are {W.shape[1:]}, its data's W0 {w0.shape}")

    def check_trace(self, a: Artifact) -> None:
        t = self.table(a, _declared(a))
        n = len(t["step"])
        _require(n > 0 and np.array_equal(t["step"], np.arange(n)), "steps are not 0, 1, ..., steps")
        fb = t["first_bad_step"]
        _require(bool(np.all(fb == fb[0])), "first_bad_step varies")
        good = t["step"] < fb[0] if fb[0] >= 0 else np.ones(n, bool)
        _require(bool(np.all(np.isfinite(t["student_loss"][good].astype(float)))),
                 "non-finite student_loss before the run diverged")

    def _per_step(self, a: Artifact, rows_per_step: Callable[[np.ndarray], int] | None = None,
                  finite: tuple[str, ...] = ()) -> None:
        """A per-run table with one row (or ``rows_per_step``) per probe step of the
        run's weights (its job's input), less the steps its spec leaves to the seed's
        initial run."""
        t = self.table(a, _declared(a))
        _require(len(set(t["train_id"])) <= 1, "rows of more than one run")
        for weights in self.upstream(a, "train", "weights"):
            w = self.npz(weights)
            steps, W = w["probe_steps"], w["W"]
            steps = steps[~np.isin(steps, _skipped(self.file(a)))]
            per = rows_per_step(W) if rows_per_step else 1
            want = np.repeat(steps, per)
            _require(len(t["step"]) == len(want),
                     f"{len(t['step'])} rows, expected {len(want)} ({len(steps)} probe steps x {per})")
            _require(np.array_equal(np.sort(t["step"], kind="stable"), want), "steps differ from the run's probe steps")
            fb = int(w["first_bad_step"])
            good = t["step"] < fb if fb >= 0 else np.ones(len(want), bool)
            bad = [c for c in finite if not np.all(np.isfinite(t[c][good].astype(float)))]
            _require(not bad, f"non-finite {', '.join(bad)} before the run diverged")

    def check_esd(self, a: Artifact) -> None:
        self._per_step(a, lambda W: min(W.shape[1:]), finite=("eigenvalue",))

    def check_summary(self, a: Artifact) -> None:
        self._per_step(a, finite=("lambda_max", "frob_norm2"))

    def check_eval(self, a: Artifact) -> None:
        self._per_step(a, finite=("train_loss", "test_loss"))

    def check_tails(self, a: Artifact) -> None:
        t = self.table(a, _declared(a))
        labels = set(t["shape_label"].astype(str)) - set(shape.LABELS)
        _require(not labels, f"shape_label {', '.join(sorted(labels))} is none of htcore.shape.LABELS")
        for esd in self.upstream(a, "spectrum", "esd"):
            want = np.unique(self.table(esd)["step"])
            _require(np.array_equal(np.sort(t["step"]), want),
                     f"steps {t['step'].tolist()} differ from its ESD's {want.tolist()}")

    def check_table(self, a: Artifact) -> None:
        self.table(a, _declared(a))

    def _experiment_table(self, a: Artifact, id_col: str, rule: str, output: str,
                          shared_rows: Callable[[str], int]) -> dict:
        """Rows per run agree with each run's own table (its job's input, when sound
        and older), plus the rows of the steps it shares with its initial run
        (``shared_rows`` per shared step). Runs whose own table Snakemake did not
        record, or that is damaged or newer, are not compared."""
        t = self.table(a, _declared(a))
        sources = {}
        for src in self.upstream(a, rule, output):
            run_id = _spec(self.file(src)).get(id_col)
            if run_id is not None:
                sources[str(run_id)] = src
        ids, counts = np.unique(t[id_col].astype(str), return_counts=True) if len(t[id_col]) else ([], [])
        for run_id, count in zip(ids, counts):
            src = sources.get(run_id)
            if src is None:
                continue
            own = len(self.table(src)["step"])
            n = own + len(_skipped(self.file(src))) * shared_rows(run_id)
            _require(count == n, f"{count} rows of {run_id}, its table {src.path} has {own}"
                     + (f" plus {n - own} shared from step 0" if n > own else ""))
        return t

    def check_experiment_table(self, a: Artifact) -> None:
        self._experiment_table(a, "eval_id", "evaluate", "out", lambda run_id: 1)

    def check_experiment_esd(self, a: Artifact) -> None:
        t = self.table(a, _declared(a))
        ids, steps = t["train_id"].astype(str), t["step"]

        def per_step(run_id: str) -> int:
            mine = ids == run_id
            return int(np.sum(mine & (steps == steps[mine].min()))) if mine.any() else 0

        self._experiment_table(a, "train_id", "spectrum", "esd", per_step)

    def check_experiment_sv(self, a: Artifact) -> None:
        self._experiment_table(a, "train_id", "spectrum", "update_sv", lambda run_id: 0)

    def check_experiment_overlaps(self, a: Artifact) -> None:
        self._experiment_table(a, "train_id", "spectrum", "overlaps", lambda run_id: 0)

    def check_claims(self, a: Artifact) -> None:
        t = self.table(a, _declared(a))
        odd = set(t["verdict"].astype(str)) - set(claims.VERDICTS)
        _require(not odd, f"verdict {', '.join(sorted(odd))} is none of htcore.claims.VERDICTS")

    def check_png(self, a: Artifact) -> None:
        data = self.file(a).read_bytes()
        _require(data.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" in data[-16:], "not a whole PNG image")

    def check_pdf(self, a: Artifact) -> None:
        data = self.file(a).read_bytes()
        _require(data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:], "not a whole PDF document")

    def check_html(self, a: Artifact) -> None:
        data = self.file(a).read_bytes()
        _require(data.lstrip().startswith(b"<") and b"</html>" in data[-64:].lower(), "not a whole HTML page")


def check_file(path: str | os.PathLike, rule: str, output: str) -> str | None:
    """Why the file ``path``, written as ``rule``'s ``output``, is damaged, or None:
    its own checks alone (no inputs to compare it with)."""
    path = Path(path).resolve()
    a = Artifact(path.name, rule, output, "ok", False)
    return _Checker(path.parent, [a]).verdict(a)


def _readable(checker: _Checker, a: Artifact) -> None:
    with open(checker.file(a), "rb") as f:
        f.read(1)


#: The check of each (rule, output name); the suffix each output has.
CHECKS: dict[tuple[str, str], Callable[[_Checker, Artifact], None]] = {
    ("data", "out"): _Checker.check_data,
    ("train", "weights"): _Checker.check_weights,
    ("train", "trace"): _Checker.check_trace,
    ("spectrum", "esd"): _Checker.check_esd,
    ("spectrum", "summary"): _Checker.check_summary,
    ("spectrum", "update_sv"): _Checker.check_table,
    ("spectrum", "overlaps"): _Checker.check_table,
    ("tails", "table"): _Checker.check_tails,
    ("evaluate", "out"): _Checker.check_eval,
    ("evaluate", "feature_esd"): _Checker.check_table,
    ("surgery", "out"): _Checker.check_table,
    ("collect", "table"): _Checker.check_experiment_table,
    ("collect", "esd_table"): _Checker.check_experiment_esd,
    ("collect_updates", "sv_table"): _Checker.check_experiment_sv,
    ("collect_updates", "overlaps_table"): _Checker.check_experiment_overlaps,
    ("collect_updates", "feature_table"): _Checker.check_table,
    ("collect_surgery", "surgery_table"): _Checker.check_table,
    ("figure", "png"): _Checker.check_png,
    ("figure", "pdf"): _Checker.check_pdf,
    ("claims", "out"): _Checker.check_claims,
    ("claims", "html"): _Checker.check_html,
}
_SUFFIX = {_Checker.check_data: ".npz", _Checker.check_weights: ".npz", _Checker.check_png: ".png",
           _Checker.check_pdf: ".pdf", _Checker.check_html: ".html"}


def _suffix_fits(rule: str, output: str, path: str) -> bool:
    """Whether ``path`` has the suffix the check of (rule, output) expects (a guard:
    a rule whose outputs no longer follow its stage's order is checked generically)."""
    check = CHECKS.get((rule, output))
    return check is None or Path(path).suffix == _SUFFIX.get(check, ".parquet")


def _spec(path: Path) -> dict:
    """The writing job's spec, from a table's Parquet metadata (``htcore.spec``)."""
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).schema_arrow.metadata or {}
        return json.loads(meta[b"htcore.spec"])
    except Exception:  # noqa: BLE001 - the file's own check reports it
        return {}


def _skipped(path: Path) -> list[int]:
    """The steps a per-run table leaves to the seed's initial run (``skip_steps``)."""
    return list(_spec(path).get("skip_steps") or [])


def _newer(a: Path, b: Path) -> bool:
    return a.stat().st_mtime > b.stat().st_mtime


# --------------------------------------------------------------------- report

@dataclass
class Report:
    """What :func:`check` found in a study."""

    study: Path
    snakefile: Path
    snakefile_found: bool  # Snakemake finds it by itself in the study's directory
    artifacts: list[Artifact]
    damaged: dict[str, str]  # path -> reason
    missing: list[str]
    leftovers: list[str]  # temporary files of interrupted writes (results/**/.*.tmp)

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.missing

    def commands(self) -> list[str]:
        """The commands (to run in the study's directory) that restore the study:
        delete the damaged files, rebuild by name each of them and each missing file
        that was built once (Snakemake holds its record) or that ``snakemake all``
        would not build as things stand, then ``snakemake all``. Files never built
        that ``all`` builds (a study not run yet, or cut short) are left to it: whether
        ``all`` re-runs a job can change with the remedy itself (a rebuilt file
        identical to the old one re-runs nothing, Snakemake compares checksums), so
        a file that was lost is always named."""
        if self.ok:
            return []
        smk = "snakemake" + ("" if self.snakefile_found else f" -s {shlex.quote(str(self.snakefile))}")
        left_to_all = {a.path for a in self.artifacts if a.pending and not a.recorded}
        targets = sorted({*self.damaged, *(p for p in self.missing if p not in left_to_all)})
        out = []
        if self.damaged:
            out.append("rm -f " + " ".join(shlex.quote(p) for p in sorted(self.damaged)))
        if targets:
            out.append(f"{smk} -j {JOBS} " + " ".join(shlex.quote(p) for p in targets))
        out.append(f"{smk} -j {JOBS} all")
        return out


def check(results: str | os.PathLike = "results", artifacts: list[Artifact] | None = None) -> Report:
    """Check every artifact of the study whose ``results/`` is ``results`` (the study's
    artifacts as :func:`parse_summary` gives them; None: ask Snakemake)."""
    results = Path(results).resolve()
    study = results.parent
    snakefile, found = snakefile_of(study)
    if artifacts is None:
        artifacts = parse_summary(summary(study, snakefile))
    checker = _Checker(study, artifacts)
    damaged, missing = {}, []
    for a in sorted(artifacts, key=lambda a: a.path):
        if a.status == "missing" or not checker.file(a).exists():
            missing.append(a.path)
            continue
        why = checker.verdict(a)
        if why is not None:
            damaged[a.path] = why
    leftovers = sorted(str(p.relative_to(study)) for p in results.rglob(".*.tmp") if p.is_file())
    return Report(study, snakefile, found, artifacts, damaged, missing, leftovers)


def main(results: str = "results") -> int:
    """Print the damaged and missing artifacts of the study whose results are under
    ``results`` and the commands that restore them; 1 if there are any, else 0."""
    if not Path(results).is_dir():
        print(f"htcore check: {results} is not a directory (run from the study's directory, "
              f"or name its results/)", file=sys.stderr)
        return 2
    try:
        report = check(results)
    except StudyError as e:
        print(f"htcore check: {e}", file=sys.stderr)
        return 2
    return print_report(report)


def print_report(report: Report) -> int:
    """Print what :func:`check` found: a line per damaged or missing file with the
    reason, then the commands that restore the study; 1 if any, else 0."""
    where = report.study
    here = where == Path.cwd().resolve()
    n, nd, nm = len(report.artifacts), len(report.damaged), len(report.missing)
    state = "all present and sound" if report.ok else f"{nd} damaged, {nm} missing"
    print(f"htcore check: {n} files of the study{'' if here else ' in ' + str(where)} checked: {state}")
    for path in sorted({*report.damaged, *report.missing}):
        print(f"  {path}: " + (f"damaged ({report.damaged[path]})" if path in report.damaged else "missing"))
    if report.leftovers:
        print(f"{len(report.leftovers)} temporary files of interrupted writes (safe to delete): "
              + " ".join(shlex.quote(p) for p in report.leftovers))
    stale = [a for a in report.artifacts if a.pending and a.path not in report.damaged and a.path not in report.missing]
    if stale:
        print(f"{len(stale)} files are out of date ({', '.join(sorted({a.status for a in stale}))}): "
              f"snakemake -j {JOBS} all rebuilds them")
    if not report.ok:
        print("Restore them (Snakemake rebuilds each file named, then everything made from it):")
        if not here:
            print(f"  cd {shlex.quote(str(where))}")
        for cmd in report.commands():
            print(f"  {cmd}")
    return 0 if report.ok else 1
