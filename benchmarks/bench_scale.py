"""Benchmark: Snakemake's own CPU cost as the number of runs grows (tiny-scale runs).

For each size N (runs) the script writes a config derived from
``tests/configs/tiny.yaml`` (d 20, h 30, n 60) whose only experiment is
``lr_sweep`` with the grid optimizer [gd, adam] x K learning rates x S seeds
(2 K S = N; ``readout_scaling`` left at its default, so one evaluation per run),
and runs ``snakemake -s SNAKEFILE -d WORK --configfile WORK/config.yaml -j 2 all``
in a fresh working directory. A dry run (``-n``) of a larger grid (default 10,000
runs) is timed the same way.

How the CPU time is measured (exact, not sampled)
-------------------------------------------------
Snakemake runs in-process in a small wrapper interpreter (``python -c RUNNER``)
that calls ``snakemake.cli.main`` with the same arguments as the ``snakemake``
command line. At exit the wrapper writes:

* ``getrusage(RUSAGE_SELF)``: user + system CPU of the Snakemake process, all
  threads, from interpreter start to exit: imports, parsing the Snakefile, building
  the DAG, the scheduler (building the ILP with pulp included), job submission,
  benchmark/psutil threads, logging. This is "Snakemake's own CPU".
* the CPU of every child process Snakemake reaped, from ``os.wait4`` (the wrapper
  replaces ``os.waitpid`` by a call of ``os.wait4`` that records the child's
  rusage; ``subprocess.Popen.wait`` calls ``os.waitpid``). Each child is classified
  by the argv it was started with (recorded by wrapping ``subprocess.Popen``):
  - solver: argv names cbc / highs / glpk / scip / gurobi / cplex (pulp's
    ``PULP_CBC_CMD`` runs the bundled ``cbc`` binary once per scheduling round);
  - snakemake: a ``python -m snakemake`` / ``snakemake`` child (none today; counted
    with Snakemake should a redesign spawn one);
  - everything else is a job (``bash -c ...``). Jobs are *not* part of the figures.

Wall-clock sampling with psutil was rejected: a cbc call lasts tens of ms and is
missed by a 0.1 s sampler, and the last samples of the Snakemake process miss its
shutdown. rusage is exact and costs nothing while the run goes. ``ru_maxrss`` of
the process gives Snakemake's peak memory.

The number of jobs is the ``M`` of Snakemake's last ``N of M steps`` line (the
job-stats ``total`` for a dry run); it includes the target rule ``all``.

Targets (issue): (Snakemake + solver) CPU per run <= 30 ms at 320 runs, growing at
most 1.5x from 40 to 320 runs; a 2,000-run grid runs to the end; a 10,000-run grid
dry-runs in under 30 s (wall).

    python benchmarks/bench_scale.py [--snakefile SNAKEFILE] [--sizes 40,320,2000]
        [--dry 10000] [--extra "--scheduler ilp"] [--jobs 2] [--keep] [--profile]

``--profile`` runs Snakemake under cProfile, timed by the main thread's CPU clock
(other threads are not profiled; the profiler inflates the CPU figures), and prints
the 30 functions with the most cumulative and the 25 with the most own CPU time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The wrapper: Snakemake in-process, exact rusage of itself and of its reaped children.
RUNNER = r'''
import atexit, json, os, resource, subprocess, sys
_out = os.environ.pop("HTBENCH_RUSAGE_OUT")
_prof_out = os.environ.pop("HTBENCH_PROFILE_OUT", "")
_args = {}
_reaped = []
_init = subprocess.Popen.__init__
def _popen_init(self, *a, **k):
    _init(self, *a, **k)
    args = k.get("args", a[0] if a else "")
    _args[self.pid] = args if isinstance(args, str) else " ".join(map(str, args))
subprocess.Popen.__init__ = _popen_init
_wait4 = os.wait4
def _waitpid(pid, options):
    p, status, ru = _wait4(pid, options)
    if p > 0:
        _reaped.append((_args.pop(p, "?"), ru.ru_utime + ru.ru_stime))
    return p, status
os.waitpid = _waitpid
def _dump():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(_out, "w") as f:
        json.dump({"self_cpu": s.ru_utime + s.ru_stime, "self_user": s.ru_utime, "self_sys": s.ru_stime,
                   "self_maxrss_kb": s.ru_maxrss, "children_cpu": c.ru_utime + c.ru_stime,
                   "reaped": _reaped}, f)
atexit.register(_dump)
from snakemake.cli import main
if _prof_out:
    import cProfile, time
    _p = cProfile.Profile(time.thread_time)  # CPU time of the main thread
    atexit.register(lambda: _p.dump_stats(_prof_out))
    _p.enable()
main(sys.argv[1:])
'''

SOLVER = re.compile(r"(^|[/\s])(cbc|highs|glpsol|glpk|scip|gurobi_cl|cplex)(\s|$)", re.I)
SUB_SNAKEMAKE = re.compile(r"(^|/)snakemake(\s|$)|\s-m\s+snakemake(\s|$)")
STEPS = re.compile(r"(\d+) of (\d+) steps")
TOTAL = re.compile(r"^\s*total\s+(\d+)", re.M)


def grid_shape(n: int) -> tuple[int, int]:
    """K learning rates x S seeds with 2 K S = n and K ~ 2.5 S (both grow with n)."""
    if n % 2:
        raise SystemExit(f"--sizes: {n} is odd (the grid is 2 optimizers x K lr x S seeds)")
    half = n // 2
    s_max = max(1, int(math.sqrt(half / 2.5)))
    s = max(d for d in range(1, s_max + 1) if half % d == 0)
    return half // s, s


def learning_rates(k: int) -> list[float]:
    """k distinct learning rates, log-spaced from 1e-3 to 3e3 (floats, as the schema wants)."""
    if k == 1:
        return [1.0]
    out = []
    for i in range(k):
        x = float(f"{10 ** (-3 + i * (math.log10(3e3) + 3) / (k - 1)):.6g}")
        if out and x <= out[-1]:
            x = float(f"{out[-1] * 1.000001:.9g}")
        out.append(x)
    return out


def write_config(work: Path, n: int) -> tuple[int, int]:
    cfg = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    k, s = grid_shape(n)
    exp = cfg["experiments"]["lr_sweep"]
    exp["grid"] = {"optimizer": ["gd", "adam"], "lr": learning_rates(k)}
    exp["seeds"] = list(range(s))
    cfg["run"] = ["lr_sweep"]
    cfg["experiments"] = {"lr_sweep": exp}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return k, s


def run_snakemake(snakefile: Path, work: Path, jobs: int, extra: list[str], dry: bool,
                  profile: bool) -> dict:
    rus = work / ".bench_rusage.json"
    prof = work / ".bench_profile.pstats"
    env = dict(os.environ, HTBENCH_RUSAGE_OUT=str(rus))
    if profile:
        env["HTBENCH_PROFILE_OUT"] = str(prof)
    cmd = [sys.executable, "-c", RUNNER, "-s", str(snakefile), "-d", str(work),
           "--configfile", str(work / "config.yaml"), "-j", str(jobs), *extra, *(["-n"] if dry else []), "all"]
    log = work / "snakemake.log"
    print("  $ snakemake " + " ".join(shlex.quote(c) for c in cmd[3:]), flush=True)
    t0 = time.perf_counter()
    with log.open("w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=work)
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    r = json.loads(rus.read_text()) if rus.exists() else {}
    solver = [cpu for args, cpu in r.get("reaped", []) if SOLVER.search(args)]
    sub_smk = [cpu for args, cpu in r.get("reaped", []) if not SOLVER.search(args) and SUB_SNAKEMAKE.search(args)]
    steps = STEPS.findall(text)
    total = TOTAL.findall(text)
    n_jobs = int(steps[-1][1]) if steps else (int(total[0]) if total else -1)
    done = int(steps[-1][0]) if steps else 0
    out = {"rc": rc, "wall": wall, "jobs": n_jobs, "done": done,
           "smk_cpu": r.get("self_cpu", float("nan")) + sum(sub_smk),
           "smk_user": r.get("self_user", float("nan")), "smk_sys": r.get("self_sys", float("nan")),
           "solver_cpu": sum(solver), "solver_calls": len(solver),
           "maxrss_mb": r.get("self_maxrss_kb", 0) / 1024, "log": log, "tail": text[-3000:]}
    if profile and prof.exists():
        import io
        import pstats
        buf = io.StringIO()
        st = pstats.Stats(str(prof), stream=buf)
        st.sort_stats("cumulative").print_stats(30)
        st.sort_stats("tottime").print_stats(25)
        out["profile"] = buf.getvalue()
    return out


def _report_and_clean(r: dict, work: Path, keep: bool) -> None:
    """Print a failed run's log tail and the profile (if any); remove its directory."""
    if r["rc"]:
        print("  --- end of the snakemake log ---\n" + r["tail"])
    if "profile" in r:
        print(r["profile"])
    if not keep:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    ap.add_argument("--sizes", default="40,320,2000", help="runs per grid, comma-separated")
    ap.add_argument("--dry", type=int, default=10000, help="runs of the dry-run-only grid (0: skip)")
    ap.add_argument("--extra", default="", help='extra snakemake arguments, e.g. "--scheduler ilp" (greedy is the default, from profiles/default)')
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the working directories")
    ap.add_argument("--profile", action="store_true", help="cProfile Snakemake's main thread (slower)")
    args = ap.parse_args()
    snakefile = args.snakefile.resolve()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    extra = shlex.split(args.extra)
    print(f"snakefile: {snakefile}\nsnakemake -j {args.jobs} {args.extra}".rstrip())

    rows = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"htscale-{n}-"))
        k, s = write_config(work, n)
        print(f"\n{n} runs: optimizer [gd, adam] x {k} lr x {s} seeds, in {work}", flush=True)
        r = run_snakemake(snakefile, work, args.jobs, extra, dry=False, profile=args.profile)
        r.update(n=n, k=k, s=s)
        rows.append(r)
        status = "ok" if r["rc"] == 0 else f"FAILED rc {r['rc']} after {r['done']} of {r['jobs']} jobs"
        print(f"  {status}: wall {r['wall']:.1f} s, snakemake CPU {r['smk_cpu']:.2f} s"
              f" (user {r['smk_user']:.2f}, sys {r['smk_sys']:.2f}), solver CPU {r['solver_cpu']:.2f} s"
              f" in {r['solver_calls']} calls, snakemake max RSS {r['maxrss_mb']:.0f} MB", flush=True)
        _report_and_clean(r, work, args.keep)

    dry = None
    if args.dry:
        work = Path(tempfile.mkdtemp(prefix=f"htscale-dry-{args.dry}-"))
        k, s = write_config(work, args.dry)
        print(f"\ndry run, {args.dry} runs: optimizer [gd, adam] x {k} lr x {s} seeds, in {work}", flush=True)
        dry = run_snakemake(snakefile, work, args.jobs, extra, dry=True, profile=args.profile)
        dry.update(n=args.dry)
        _report_and_clean(dry, work, args.keep)

    print(f"\n{'runs':>6}{'jobs':>7}{'wall s':>9}{'smk CPU s':>11}{'solver s':>10}{'calls':>7}"
          f"{'ms/run':>9}{'ms/job':>9}{'RSS MB':>8}  status")
    for r in rows:
        cpu = r["smk_cpu"] + r["solver_cpu"]
        r["per_run"] = 1000 * cpu / r["n"]
        per_job = 1000 * cpu / r["jobs"] if r["jobs"] > 0 else float("nan")
        print(f"{r['n']:>6}{r['jobs']:>7}{r['wall']:>9.1f}{r['smk_cpu']:>11.2f}{r['solver_cpu']:>10.2f}"
              f"{r['solver_calls']:>7}{r['per_run']:>9.1f}{per_job:>9.2f}{r['maxrss_mb']:>8.0f}"
              f"  {'ok' if r['rc'] == 0 else 'FAILED'}")
    if dry:
        print(f"{dry['n']:>6}{dry['jobs']:>7}{dry['wall']:>9.1f}{dry['smk_cpu']:>11.2f}{dry['solver_cpu']:>10.2f}"
              f"{dry['solver_calls']:>7}{'':>9}{'':>9}{dry['maxrss_mb']:>8.0f}"
              f"  {'dry run ok' if dry['rc'] == 0 else 'dry run FAILED'}")
    print("(ms/run, ms/job: (snakemake + solver) CPU per run / per job; jobs include the target `all`)")

    by_n = {r["n"]: r for r in rows if r["rc"] == 0}
    print("\ntargets:")
    if 320 in by_n:
        v = by_n[320]["per_run"]
        print(f"  CPU per run at 320 runs <= 30 ms ........ {v:7.1f} ms  {'OK' if v <= 30 else 'MISSED'}")
    ok_rows = sorted(by_n.values(), key=lambda r: r["n"])
    for a, b in zip(ok_rows, ok_rows[1:]):
        m = 1000 * ((b["smk_cpu"] + b["solver_cpu"]) - (a["smk_cpu"] + a["solver_cpu"])) / (b["n"] - a["n"])
        print(f"  (info) marginal CPU per added run, {a['n']} -> {b['n']} runs: {m:.1f} ms")
    if 40 in by_n and 320 in by_n:
        g = by_n[320]["per_run"] / by_n[40]["per_run"]
        print(f"  growth 40 -> 320 runs (per run) <= 1.5x .. {g:7.2f} x   {'OK' if g <= 1.5 else 'MISSED'}")
    for r in rows:
        if r["n"] >= 2000:
            print(f"  {r['n']}-run grid runs to the end ......... {'yes' if r['rc'] == 0 else 'no':>7}     "
                  f"{'OK' if r['rc'] == 0 else 'MISSED'}")
    if dry:
        ok = dry["rc"] == 0 and dry["wall"] < 30
        print(f"  {dry['n']}-run dry run < 30 s wall ........ {dry['wall']:7.1f} s   {'OK' if ok else 'MISSED'}"
              f"{'' if dry['rc'] == 0 else ' (failed)'}")
    return 0 if all(r["rc"] == 0 for r in rows) and (not dry or dry["rc"] == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
