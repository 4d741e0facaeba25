"""Command-line entry of the workflow's jobs: ``python -m htcore <stage> ...``.

Each Snakemake rule runs one line ``htjob <stage> --spec '<json>' <paths>``;
``htjob`` (htcore/jobclient.py) hands the job to the fork server of local runs
(htcore/jobserver.py) or runs ``python -m htcore <stage> ...`` as a plain process.
Either way this module's :func:`main` runs the stage. A shell call rather than
``script:`` keeps a plain job's start-up to the interpreter plus NumPy/pyarrow
(~0.15 s): Snakemake's script preamble adds ~0.1 s, and torch (~1.5 s) is imported
only by a training job that runs on CUDA.

Every job ends its log with one line
``htcore-timing stage=<stage> import_s=<s> work_s=<s> max_rss_mb=<MB>``: ``import_s``
is the time to import the stage's libraries (0 in a forked worker), ``work_s`` the
stage's own work, ``max_rss_mb`` the process's peak resident memory (a forked
worker's includes the pages it shares with the server).
The benchmark script (benchmarks/bench_workflow.py) subtracts ``work_s`` from the
job's wall time to get the share spent on process start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

#: modules each stage needs; imported (and timed) before the work starts
STAGE_IMPORTS = {
    "data": ["numpy", "pyarrow.parquet"],
    "train": ["numpy", "pyarrow.parquet"],
    "evaluate": ["numpy", "pyarrow.parquet", "scipy.linalg"],
    "spectra": ["numpy", "pyarrow.parquet"],
    "tails": ["numpy", "pyarrow.parquet"],
    "updates": ["numpy", "pyarrow.parquet"],
    "feature_spectra": ["numpy", "pyarrow.parquet"],
    "collect": ["pandas", "pyarrow.parquet"],
    "concat": ["pandas", "pyarrow.parquet"],
    "figure": ["pandas", "matplotlib.pyplot"],
    "claims": ["pandas", "scipy.stats"],
}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="htcore", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for this job")
    sub = ap.add_subparsers(dest="stage", required=True)

    def stage(name, *paths, spec=True):
        sp = sub.add_parser(name)
        if spec:
            sp.add_argument("--spec", required=True, help="JSON spec of the run (htcore.config.Run.spec)")
        for p in paths:
            sp.add_argument(f"--{p}", required=True)
        return sp

    stage("data", "out")
    stage("train", "data", "weights", "trace").add_argument("--device", default="auto")
    stage("evaluate", "data", "weights", "out")
    stage("spectra", "weights", "esd", "summary")
    stage("tails", "esd", "trace", "out")
    stage("updates", "weights", "sv", "overlaps")
    stage("feature_spectra", "data", "weights", "out")
    stage("concat", "out", spec=False).add_argument("--inputs", nargs="+", required=True)
    c = stage("collect", "table", "esd-table", spec=False)
    for name in ("eval", "summary", "tails", "trace", "esd"):
        c.add_argument(f"--{name}", nargs="+", required=True)
    f = stage("figure", "png", "pdf", spec=False)
    f.add_argument("--tables", nargs="+", required=True, help="name=path of each table the figure reads")
    f.add_argument("--name", required=True)
    f.add_argument("--plot", required=True, help="JSON plot setting of the experiment")
    cl = stage("claims", "out", "html", spec=False)
    cl.add_argument("--tables", nargs="*", default=[], help="<experiment>/<table>=path of each table read")
    chk = sub.add_parser("check", help="open every artifact under results/ and list the damaged ones")
    chk.add_argument("results", nargs="?", default="results")
    return ap


class _NoPandas:
    """Import hook that makes ``import pandas`` fail fast in the per-run jobs.

    pyarrow imports pandas (~0.2 s, more than NumPy and pyarrow together) on its
    first array conversion, only to check whether the input is a pandas object. The
    per-run stages never hand it one, so they declare pandas unavailable; pyarrow
    then skips its pandas integration. Measured here: a Parquet write went from
    0.35 s to 0.13 s of process time."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is kept out of per-run jobs (htcore.cli)", name=name)
        return None


#: stages that run once per run (hundreds of jobs): no pandas
PER_RUN_STAGES = ("data", "train", "evaluate", "spectra", "tails", "updates", "feature_spectra")


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.stage == "check":
        from htcore.check import main as check

        return check(args.results)
    _set_threads(args.threads)
    if args.stage in PER_RUN_STAGES:
        sys.meta_path.insert(0, _NoPandas)
    t0 = time.perf_counter()
    import importlib

    for mod in STAGE_IMPORTS[args.stage]:
        importlib.import_module(mod)
    t1 = time.perf_counter()
    from htcore.io import ArtifactError, describe_os_error

    try:
        _run(args)
    except ArtifactError as e:  # one line that names the file and the remedy
        raise SystemExit(f"htcore {args.stage}: {e}") from e
    except OSError as e:  # disk full, read-only, ...: the cause, in one line
        raise SystemExit(f"htcore {args.stage}: {describe_os_error(e)}") from e
    t2 = time.perf_counter()
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB
    print(f"htcore-timing stage={args.stage} import_s={t1 - t0:.4f} work_s={t2 - t1:.4f} max_rss_mb={rss_mb:.0f}",
          file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> None:
    from htcore import stages

    spec = json.loads(args.spec) if getattr(args, "spec", None) else None
    if args.stage == "data":
        stages.generate_data(spec, args.out)
    elif args.stage == "train":
        info = stages.train(spec, args.data, args.weights, args.trace, args.device)
        print(f"train {spec['train_id']}: {info}", file=sys.stderr)
    elif args.stage == "evaluate":
        stages.evaluate(spec, args.data, args.weights, args.out)
    elif args.stage == "spectra":
        stages.spectra(spec, args.weights, args.esd, args.summary)
    elif args.stage == "tails":
        stages.tails(spec, args.esd, args.trace, args.out)
    elif args.stage == "collect":
        from htcore.collect import collect, collect_esd
        from htcore.io import write_frame

        write_frame(args.table, collect(args.eval, args.summary, args.tails, args.trace))
        write_frame(args.esd_table, collect_esd(args.esd))
    elif args.stage == "updates":
        stages.updates(spec, args.weights, args.sv, args.overlaps)
    elif args.stage == "feature_spectra":
        stages.feature_spectra(spec, args.data, args.weights, args.out)
    elif args.stage == "concat":
        from htcore.collect import concat
        from htcore.io import write_frame

        write_frame(args.out, concat(args.inputs))
    elif args.stage == "claims":
        from htcore.claims import judge_all, to_html
        from htcore.io import read_frame, write_frame

        tables = {name: read_frame(path) for name, path in (t.split("=", 1) for t in args.tables)}
        verdicts = judge_all(tables)
        write_frame(args.out, verdicts)
        with open(args.html, "w") as f:
            f.write(to_html(verdicts))
    elif args.stage == "figure":
        from htcore.figures import draw
        from htcore.io import read_frame

        tables = dict(t.split("=", 1) for t in args.tables)
        draw(args.name, {k: read_frame(v) for k, v in tables.items()}, json.loads(args.plot),
             args.png, args.pdf)


if __name__ == "__main__":
    sys.exit(main())
