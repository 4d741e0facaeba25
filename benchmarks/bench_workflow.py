"""Benchmark: the lr_sweep at paper scale from an empty results directory.

Runs ``snakemake -j J all`` (default J = 2) on config.yaml in a fresh working
directory and prints wall time, time per rule (from each job's ``benchmark:`` TSV),
the share of time spent on process start-up, and peak memory per rule. Start-up of a
job = its wall time (TSV ``s``) minus the work it reports in its log
(``htcore-timing ... work_s``): interpreter start, imports and shell.

Targets (issue 2, on the 2-core machine): wall <= 210 s, start-up < 15 % of the
wall time (summed start-up / (J x wall)), a training job <= 2 GB RSS.

    python benchmarks/bench_workflow.py [--jobs 2] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"htcore-timing stage=(\S+) import_s=(\S+) work_s=(\S+)(?: max_rss_mb=(\S+))?")


def job_records(results: Path) -> list[dict]:
    """One record per job: rule, wall seconds, max RSS (MB), reported work seconds."""
    out = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        rel = tsv.relative_to(results / "benchmarks")
        exp, rule = rel.parts[0], rel.parts[1]
        if rule.endswith(".tsv"):  # results/benchmarks/<exp>/collect.tsv
            rule = rule[:-4]
        log = results / "logs" / rel.with_suffix(".log")
        row = next(csv.DictReader(tsv.open(), delimiter="\t"))
        m = TIMING.search(log.read_text()) if log.exists() else None
        out.append({
            # the job's own peak RSS: Snakemake's benchmark sees only the client process
            # of a forked job, so take the larger of it and what the job reports
            "experiment": exp, "rule": rule, "s": float(row["s"]),
            "rss": max(float(row["max_rss"] or 0), float(m.group(4)) if m and m.group(4) else 0.0),
            "work": float(m.group(3)) if m else float("nan"),
            "imports": float(m.group(2)) if m else float("nan"),
        })
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a fresh temp dir")
    ap.add_argument("--configfile", type=Path, default=ROOT / "config.yaml")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="htstudy-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.configfile, work / "config.yaml")
    shutil.rmtree(work / "results", ignore_errors=True)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["run"] = ["lr_sweep"]  # the benchmark is the lr_sweep alone
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
           "-j", str(args.jobs), "all", "--quiet", "all"]
    print("running:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return proc.returncode
    recs = job_records(work / "results")

    by_rule = defaultdict(list)
    for r in recs:
        by_rule[r["rule"]].append(r)
    print(f"\nwall time: {wall:.1f} s for {len(recs)} jobs at -j {args.jobs}\n")
    print(f"{'rule':<14}{'jobs':>6}{'total s':>10}{'mean s':>9}{'max s':>8}{'start-up s':>12}{'max RSS MB':>12}")
    tot_s = tot_start = 0.0
    for rule, rs in sorted(by_rule.items(), key=lambda kv: -sum(r["s"] for r in kv[1])):
        s = sum(r["s"] for r in rs)
        start = sum(r["s"] - r["work"] for r in rs if r["work"] == r["work"])
        tot_s += s
        tot_start += start
        print(f"{rule:<14}{len(rs):>6}{s:>10.1f}{s / len(rs):>9.2f}{max(r['s'] for r in rs):>8.2f}"
              f"{start:>12.1f}{max(r['rss'] for r in rs):>12.0f}")
    share_wall = tot_start / (args.jobs * wall)
    sched = wall - tot_s / args.jobs
    train_rss = max((r["rss"] for r in by_rule.get("train", [])), default=float("nan"))
    print(f"\nsum of job times: {tot_s:.1f} s; start-up (interpreter + imports): {tot_start:.1f} s"
          f" = {100 * tot_start / tot_s:.1f} % of job time, {100 * share_wall:.1f} % of {args.jobs} x wall")
    print(f"snakemake scheduling and bookkeeping (wall - job time / jobs): {sched:.1f} s")
    print("\ntargets:")
    print(f"  wall <= 210 s ............ {wall:7.1f} s   {'OK' if wall <= 210 else 'MISSED'}")
    print(f"  start-up < 15 % of wall .. {100 * share_wall:7.1f} %   {'OK' if share_wall < 0.15 else 'MISSED'}")
    print(f"  train job <= 2048 MB RSS . {train_rss:7.0f} MB  {'OK' if train_rss <= 2048 else 'MISSED'}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)
    else:
        print(f"\nresults kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
