"""Benchmark: the lr_sweep at paper scale from an empty results directory.

Runs ``snakemake -j J all`` (default J = 2) on config.yaml with ``run: [lr_sweep]``
in a fresh working directory and prints wall time, per rule the jobs' own time
(each job's log ends with ``htcore-timing ... import_s work_s max_rss_mb``: its
imports, its work, its peak memory), and the share of the wall time that process
start-up costs.

Start-up of a job = the interpreter and htcore's CLI (measured here: the median of
5 runs of ``python -c "import htcore.cli"``) + its ``import_s``. That is exactly what
a fork server (a warm process forking each job) could save, so the printed share,
``sum(start-up) / (J x wall)``, bounds such a server's gain (docs/speed.md).

    python benchmarks/bench_workflow.py [--jobs 2] [--configfile config.yaml] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"htcore-timing stage=(\S+) import_s=(\S+) work_s=(\S+) max_rss_mb=(\S+) cpu_s=(\S+)")


def job_records(results: Path) -> list[dict]:
    """One record per job log (results/logs/<experiment>/...): its experiment, stage,
    import seconds, work seconds, peak RSS in MB and CPU seconds."""
    out = []
    logs = results / "logs"
    for log in sorted(logs.rglob("*.log")):
        m = TIMING.search(log.read_text())
        if m:
            out.append({"experiment": log.relative_to(logs).parts[0], "rule": m.group(1),
                        "imports": float(m.group(2)), "work": float(m.group(3)), "rss": float(m.group(4)),
                        "cpu": float(m.group(5))})
    return out


def interpreter_start() -> float:
    """Median wall seconds of a bare job process: the interpreter plus htcore's CLI."""
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import htcore.cli"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a fresh temp dir")
    ap.add_argument("--configfile", type=Path, default=ROOT / "config.yaml")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="htstudy-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "results", ignore_errors=True)
    config = yaml.safe_load(args.configfile.read_text())
    config["run"] = ["lr_sweep"]  # the benchmark is the lr_sweep alone
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
           "-j", str(args.jobs), "--quiet", "all", "--", "all"]
    print("running:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return proc.returncode
    recs = job_records(work / "results")
    start = interpreter_start()

    by_rule = defaultdict(list)
    for r in recs:
        by_rule[r["rule"]].append(r)
    print(f"\nwall time: {wall:.1f} s for {len(recs)} jobs at -j {args.jobs}; "
          f"a bare job process (python + htcore.cli): {start:.3f} s\n")
    print(f"{'rule':<16}{'jobs':>6}{'work s':>9}{'mean s':>9}{'imports s':>11}{'start-up s':>12}{'max RSS MB':>12}")
    tot_work = tot_start = 0.0
    for rule, rs in sorted(by_rule.items(), key=lambda kv: -sum(r["work"] for r in kv[1])):
        w = sum(r["work"] for r in rs)
        s = sum(r["imports"] + start for r in rs)
        tot_work += w
        tot_start += s
        print(f"{rule:<16}{len(rs):>6}{w:>9.1f}{w / len(rs):>9.2f}{sum(r['imports'] for r in rs):>11.1f}"
              f"{s:>12.1f}{max(r['rss'] for r in rs):>12.0f}")
    share = tot_start / (args.jobs * wall)
    train_rss = max((r["rss"] for r in by_rule.get("train", [])), default=float("nan"))
    print(f"\nsum of work: {tot_work:.1f} s; start-up (interpreter + imports): {tot_start:.1f} s"
          f" = {100 * share:.1f} % of {args.jobs} x wall (what a fork server could save at most)")
    print(f"snakemake scheduling and bookkeeping (wall - (work + start-up) / jobs): "
          f"{wall - (tot_work + tot_start) / args.jobs:.1f} s")
    print("\ntargets:")
    print(f"  start-up < 10 % of wall (no fork server needed) {100 * share:7.1f} %   {'OK' if share < 0.10 else 'MISSED'}")
    print(f"  train job <= 2048 MB RSS ....................... {train_rss:7.0f} MB  "
          f"{'OK' if train_rss <= 2048 else 'MISSED'}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)
    else:
        print(f"\nresults kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
