"""Command line of the workflow's jobs: ``python -m htcore <stage> --spec JSON --<path> ...``.

A per-run rule runs ``python -m htcore <stage> ...`` (:func:`command`); an
experiment-level rule with thousands of input files (collect) runs the `script:`
workflow/scripts/stage.py, which calls :func:`run_rule` with Snakemake's job object.
Both call :func:`run_stage`.

Every sub-command is one :class:`htcore.stages.Stage`: its ``--<name>`` options are
the stage's declared inputs and outputs, and the job calls the stage's function with
the spec and those paths. Nothing here is specific to a stage.

Every job ends its log with one line
``htcore-timing stage=<stage> import_s=<s> work_s=<s> max_rss_mb=<MB> cpu_s=<s>``:
``import_s`` is the time to import the stage's declared libraries, ``work_s`` the
stage's own work, ``max_rss_mb`` the process's peak resident memory, ``cpu_s`` the
CPU time (user + system) the job's process used. The benchmark scripts
(benchmarks/) read it.

``python -m htcore check [results]`` opens every artifact under results/ and lists
the damaged ones (htcore.check); ``python -m htcore params`` prints the study's
parameters (htcore.params) as docs/usage.md's table, ``python -m htcore claims-table``
the claims (htcore.claims) as docs/claims.md's table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from htcore.stages import STAGES


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="htcore", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for this job")
    sub = ap.add_subparsers(dest="stage", required=True)
    for st in STAGES.values():
        sp = sub.add_parser(st.name, help=(st.run.__doc__ or "").split("\n")[0])
        sp.add_argument("--spec", default="{}", help="JSON spec of the job (htcore.config.Run.spec)")
        for name in st.inputs + st.outputs:
            sp.add_argument(f"--{name.replace('_', '-')}", dest=name, required=True,
                            nargs="+" if name in st.lists else None)
    chk = sub.add_parser("check", help="verify every artifact of the study (damaged or missing) and print the commands that rebuild them")
    chk.add_argument("results", nargs="?", default="results")
    sub.add_parser("params", help="print the study's parameters (htcore.params) as a Markdown table")
    sub.add_parser("claims-table", help="print the study's claims (htcore.claims) as docs/claims.md's table")
    return ap


class _NoPandas:
    """Import hook that makes ``import pandas`` fail fast in jobs that do not use it.

    pyarrow imports pandas (~0.3 s, more than NumPy and pyarrow together) on its
    first array conversion, only to check whether the input is a pandas object. The
    per-run stages never hand it one, so they declare pandas unavailable (a stage
    whose ``imports`` do not list pandas); pyarrow then skips its pandas
    integration. Measured here: ``pa.array(np.zeros(3))`` costs 0.34 s with pandas
    importable, 0.003 s without."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is kept out of this job (htcore.cli)", name=name)
        return None


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.stage == "check":
        from htcore.check import main as check

        return check(args.results)
    if args.stage == "claims-table":
        from htcore.claims import markdown_table as claims_table

        print(claims_table(), end="")
        return 0
    if args.stage == "params":
        from htcore.params import markdown_table

        print(markdown_table(), end="")
        return 0
    paths = {name: getattr(args, name) for name in STAGES[args.stage].inputs + STAGES[args.stage].outputs}
    return run_stage(args.stage, json.loads(args.spec), paths, args.threads)


def run_stage(name: str, spec: dict, paths: dict, threads: int = 1) -> int:
    """Run one stage's function with its spec and paths, BLAS pinned to ``threads``
    (numbers are bit-identical only at the same thread count), and end the log with
    the timing line; a damaged input or an OS error becomes one line (SystemExit)."""
    _set_threads(threads)
    stage = STAGES[name]
    if "pandas" not in stage.imports and "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas)
    t0 = time.perf_counter()
    import importlib

    for mod in stage.imports:
        importlib.import_module(mod)
    t1 = time.perf_counter()
    from htcore.io import ArtifactError, describe_os_error

    try:
        stage.run(spec, **paths)
    except ArtifactError as e:  # one line that names the file and the remedy
        raise SystemExit(f"htcore {name}: {e}") from e
    except OSError as e:  # disk full, read-only, ...: the cause, in one line
        raise SystemExit(f"htcore {name}: {describe_os_error(e)}") from e
    t2 = time.perf_counter()
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    print(f"htcore-timing stage={name} import_s={t1 - t0:.4f} work_s={t2 - t1:.4f} "
          f"max_rss_mb={use.ru_maxrss / 1024:.0f} cpu_s={use.ru_utime + use.ru_stime:.3f}",  # Linux: KB
          file=sys.stderr)
    return 0


def run_rule(smk) -> int:
    """Run the stage named like the Snakemake rule of ``smk`` (a `script:` job's
    ``snakemake`` object): its spec from ``params.spec``, its paths from the job's
    named inputs and outputs (lists stay lists), stdout and stderr to its log."""
    stage = STAGES[smk.rule]
    paths = {}
    for name in stage.inputs:
        value = getattr(smk.input, name)
        paths[name] = list(value) if name in stage.lists else str(value)
    for name in stage.outputs:
        paths[name] = str(getattr(smk.output, name))
    with open(str(smk.log[0]), "w") as log:
        sys.stdout = sys.stderr = log
        return run_stage(smk.rule, json.loads(smk.params.spec), paths, int(smk.threads))


def command(stage: str) -> str:
    """The shell command of a Snakemake rule running ``stage``: ``python -m htcore``
    (the interpreter running Snakemake, which has htcore installed) with the spec from
    ``params.spec``, each declared input and output from the rule's ``input``/``output``
    of the same name (``params`` for the stage's ``from_params``), stdout and stderr
    to the rule's log."""
    st = STAGES[stage]
    parts = [f"{sys.executable} -m htcore --threads {{threads}} {stage} --spec {{params.spec:q}}"]
    parts += [f"--{n.replace('_', '-')} {{{'params' if n in st.from_params else 'input'}.{n}}}" for n in st.inputs]
    parts += [f"--{n.replace('_', '-')} {{output.{n}}}" for n in st.outputs]
    return " ".join(parts) + " > {log} 2>&1"


if __name__ == "__main__":
    sys.exit(main())
