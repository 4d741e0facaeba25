"""Run time of each experiment at paper scale, run alone, one after the other.

For each experiment of config.yaml (lr_sweep first: minibatch_contrast draws beside
it) runs ``snakemake -j J <its tables and figures>`` in one working directory and
prints the wall time, the number of its jobs that ran htcore (from their
``htcore-timing`` log lines, results/logs/<experiment>/) and their summed CPU time.

    python benchmarks/bench_experiments.py [--jobs 2] [--workdir DIR] [--only a,b]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_workflow import job_records  # noqa: E402


def targets(experiment: str, plot: dict) -> list[str]:
    from htcore.figures import figure_names

    kind = {"kind": "sweep", **plot}
    return [f"results/{experiment}/table.parquet", f"results/{experiment}/esd.parquet"] + [
        f"results/{experiment}/figures/{f}.{ext}" for f in figure_names(kind) for ext in ("png", "pdf")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--only", default="", help="comma-separated experiment names")
    args = ap.parse_args()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    work = args.workdir or Path(tempfile.mkdtemp(prefix="htstudy-exp-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config.yaml", work / "config.yaml")
    names = [n for n in config["experiments"] if not args.only or n in args.only.split(",")]
    print(f"{'experiment':<20}{'wall s':>9}{'jobs':>7}{'job CPU s':>12}", flush=True)
    total = 0.0
    for name in names:
        exp_results = work / "results"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
                               "-j", str(args.jobs), *targets(name, config["experiments"][name].get("plot", {})),
                               "--quiet", "all"],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-3000:])
            return proc.returncode
        recs = [r for r in job_records(exp_results) if r.get("experiment") == name]
        total += wall
        print(f"{name:<20}{wall:>9.1f}{len(recs):>7}{sum(r['cpu'] for r in recs):>12.1f}", flush=True)
    print(f"{'total':<20}{total:>9.1f}")
    print(f"results kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
