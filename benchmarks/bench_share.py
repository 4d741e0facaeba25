"""Benchmark: Snakemake's own share of the CPU a whole study uses.

Runs ``snakemake -j J all`` (default J = 8, as the README's command) on a config
(default: config.yaml, every experiment at paper scale) from an empty working
directory and prints

* Snakemake's own CPU: its process (every thread) and the ILP solver's
  subprocesses, exact from rusage (the wrapper of benchmarks/bench_scale.py);
* the jobs' CPU: the sum of ``cpu_s`` over every job's ``htcore-timing`` log line
  (the job's own process; exact too);
* the share Snakemake / (Snakemake + jobs). Target (issue 18): <= 2 %.

    python benchmarks/bench_share.py [--configfile config.yaml] [--jobs 8] [--keep]
        [--snakefile SNAKEFILE]

``--snakefile`` runs another checkout's workflow (an older commit in a git worktree):
the script puts that checkout first on ``PYTHONPATH``, so Snakemake and the jobs import
its htcore. The same measurement before and after a change, on the same machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ROOT, run_snakemake  # noqa: E402

CPU = re.compile(r"htcore-timing stage=(\S+) .* cpu_s=(\S+)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=ROOT / "config.yaml")
    ap.add_argument("--jobs", "-j", type=int, default=8)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="htshare-"))
    (work / "config.yaml").write_text(yaml.safe_dump(yaml.safe_load(args.configfile.read_text()), sort_keys=False))
    print(f"config {args.configfile}, {args.snakefile}, snakemake -j {args.jobs} all, in {work}", flush=True)
    checkout = args.snakefile.resolve().parent
    if checkout != ROOT:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
    r = run_snakemake(args.snakefile, work, args.jobs, [], dry=False, profile=False)
    per_stage: dict[str, list[float]] = {}
    for log in (work / "results" / "logs").rglob("*.log"):
        m = CPU.search(log.read_text())
        if m:
            per_stage.setdefault(m.group(1), []).append(float(m.group(2)))
    jobs_cpu = sum(map(sum, per_stage.values()))
    smk = r["smk_cpu"] + r["solver_cpu"]
    print(f"\n{'rc':>4}{'wall s':>9}{'jobs':>7}  snakemake CPU s (solver s)  jobs' CPU s  share")
    print(f"{r['rc']:>4}{r['wall']:>9.1f}{r['jobs']:>7}  {smk:>15.1f} ({r['solver_cpu']:.1f}){jobs_cpu:>13.1f}"
          f"  {100 * smk / (smk + jobs_cpu):.2f} %")
    for stage, cpus in sorted(per_stage.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {stage:<16}{len(cpus):>6} jobs {sum(cpus):>10.1f} s CPU")
    share = smk / (smk + jobs_cpu)
    print(f"\ntarget: Snakemake's own CPU <= 2 % of all ..... {100 * share:.2f} %   {'OK' if share <= 0.02 else 'MISSED'}")
    if r["rc"]:
        print(r["tail"])
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return r["rc"]


if __name__ == "__main__":
    sys.exit(main())
