"""Benchmark: the paper-scale lr_sweep, this workflow against the authors' published code.

Both sides do the same 36 runs: 2 seeds x 2 optimizers (GD, Adam) x the 9 learning
rates of config.yaml's lr_sweep (0.001 ... 3000), 10 full-batch steps, d 1000,
h 1500, n 2000 (config.yaml's defaults, the paper's setting).

* Ours: a config derived from config.yaml (``--configfile``) with ``run: [lr_sweep]``,
  seeds [0, 1], ``readout_scaling`` fixed to ``authors`` and ``reg_lambda`` to
  config.yaml's default (the paper's 0.01), as their read-out (``--readout both``
  keeps the grid's two scalings and two lambdas: four times the evaluation work), then
  ``snakemake -s SNAKEFILE -d WORK -j 2 all`` from an empty working directory (so
  data, training, evaluation, spectra, tail fits, the table, figures and claims).
  ``authors`` alone is the fair match: their code evaluates every probe once, with
  their read-out scaling. Our probe steps stay config.yaml's (default [0, 1, 10]: one
  snapshot more per run than theirs, which probes at 0 and 10 only and asserts two
  probes); ``--probe-steps 0,10`` makes the work equal.
* Theirs: ``bulk_lr.py`` of https://github.com/kvignesh1420/single-index-ht, run
  from a checkout given by ``--authors DIR`` (nothing of it is copied here), with a
  config written from its own ``configs/bulk_lr.yml`` with the same n, d, h, n_test,
  label noise, reg_lambda, learning rates, optimizers [sgd, adam] (their ``sgd`` with
  momentum 0 is GD), ``num_epochs`` = steps (batch = n: one step an epoch).
  Their script has no parallelism option and draws fresh random seeds; with
  ``--their-mode split`` (default) two processes run at once, one per seed
  (``repeat: 1`` each, ``OMP_NUM_THREADS=1``: like our 2 single-threaded jobs at a
  time); ``--their-mode one`` runs their command as published: one process,
  ``repeat: 2``, torch's default threads (all cores). Each process runs in its own
  temporary directory (they write data/, teacher_models/, student_models/, out/
  with plots into the working directory).

Get their code (this repository does not ship it)::

    git clone https://github.com/kvignesh1420/single-index-ht /tmp/single-index-ht

Their requirements.txt pins torch 2.8.0 (ours: 2.13.0, used here), matplotlib,
pyyaml, tqdm, seaborn, seaborn-image and weightwatcher; only torch, numpy,
matplotlib, pyyaml, tqdm and weightwatcher are imported. ``weightwatcher`` is
imported by src/tracker.py but used only with ``enable_ww: true`` (false in
bulk_lr.yml); when ``--authors-python`` cannot import it, the script puts an empty
stand-in module on their PYTHONPATH and says so (their run then skips importing
weightwatcher's dependencies, so their time is, if anything, slightly flattered).

Measurement: the contenders alternate (ours, theirs, ours, theirs, ... ``--repeats``
pairs) so that load from other users of the machine hits both; each is timed by the
wall clock from start to exit. A sampler (psutil, every 0.2 s) walks each process
tree and keeps the largest RSS of any single process and the largest sum over the
tree (processes may share pages, so the sum over-counts).
Reported: wall seconds of each, the ratio theirs / ours (the speed-up), peak memory.
Target (issue 18): ours >= 2x faster.

    python benchmarks/bench_vs_authors.py --authors /tmp/single-index-ht [--repeats 1]
        [--snakefile SNAKEFILE] [--configfile config.yaml] [--jobs 2]
        [--their-mode split|one] [--readout authors|both] [--probe-steps 0,10] [--keep]
        [--authors-python PYTHON]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]


class TreeSampler:
    """Peak RSS of the largest single process, and of the whole tree, under given roots."""

    def __init__(self, pids: list[int], every: float = 0.2):
        self.roots = [psutil.Process(p) for p in pids]
        self.every = every
        self.max_one = 0
        self.max_sum = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            procs = []
            for r in self.roots:
                try:
                    procs += [r, *r.children(recursive=True)]
                except psutil.Error:
                    pass
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.max_one = max(self.max_one, rss)
            self.max_sum = max(self.max_sum, total)
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._t.join()


def run_procs(cmds: list[tuple[list[str], Path, dict, Path]]) -> dict:
    """Start every (cmd, cwd, env, log) at once; wait for all; wall time, return codes, peak RSS."""
    t0 = time.perf_counter()
    procs, logs = [], []
    for cmd, cwd, env, log in cmds:
        f = log.open("w")
        logs.append(f)
        procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
    sampler = TreeSampler([p.pid for p in procs])
    rcs = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    sampler.stop()
    for f in logs:
        f.close()
    return {"wall": wall, "rcs": rcs, "max_one_mb": sampler.max_one / 2**20, "max_sum_mb": sampler.max_sum / 2**20,
            "logs": [c[3] for c in cmds]}


def our_config(args) -> dict:
    cfg = yaml.safe_load(args.configfile.read_text())
    cfg["run"] = ["lr_sweep"]
    exp = cfg["experiments"]["lr_sweep"]
    exp["seeds"] = [0, 1]
    if args.readout == "authors":
        # their read-out: their scaling and the paper's fixed lambda (config.yaml's default)
        grid = exp.setdefault("grid", {})
        grid.pop("readout_scaling", None)
        grid.pop("reg_lambda", None)
        exp.setdefault("set", {})["readout_scaling"] = "authors"
        plot = exp.get("plot", {})
        style = plot.get("style")
        kept = [k for k in ([style] if isinstance(style, str) else style or []) if k in grid]
        if kept:
            plot["style"] = kept
        else:
            plot.pop("style", None)  # a plot axis must vary
    if args.probe_steps:
        exp.setdefault("set", {})["probe_steps"] = [int(x) for x in args.probe_steps.split(",")]
    return cfg


def run_ours(args, cfg: dict, tag: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"htvs-ours-{tag}-"))
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(args.snakefile), "-d", str(work),
           "--configfile", str(work / "config.yaml"), "-j", str(args.jobs), "all"]
    r = run_procs([(cmd, work, dict(os.environ), work / "snakemake.log")])
    r["work"] = work
    return r


def their_config(args, cfg: dict, repeat: int) -> dict:
    """Their bulk_lr.yml with our study's parameters."""
    theirs = yaml.safe_load((args.authors / "configs" / "bulk_lr.yml").read_text())
    d = cfg["defaults"]
    exp = cfg["experiments"]["lr_sweep"]
    grid, sets = exp.get("grid", {}), exp.get("set", {})
    par = {**d, **sets}
    opts = {"gd": "sgd", "adam": "adam"}
    theirs.update(
        n=par["n"], batch_size=par["n"], n_test=par["n_test"], batch_size_test=par["n_test"],
        h=par["h"], d=par["d"], label_noise_std=par["label_noise_std"], reg_lambda=par["reg_lambda"],
        momentum=par["momentum"], weight_decay=par["weight_decay"],
        optimizer=[opts[o] for o in grid.get("optimizer", [par["optimizer"]])],
        lr=list(grid.get("lr", [par["lr"]])), num_epochs=par["steps"], probe_freq_steps=par["steps"],
        fix_last_layer=par["fix_last_layer"], enable_ww=False, repeat=repeat,
    )
    return theirs


def needs_ww_stub(python: str) -> bool:
    return subprocess.run([python, "-c", "import weightwatcher"], capture_output=True).returncode != 0


def run_theirs(args, cfg: dict, tag: str, stub_dir: Path | None) -> dict:
    n_seeds = len(cfg["experiments"]["lr_sweep"]["seeds"])
    split = args.their_mode == "split"
    cmds = []
    dirs = []
    for i in range(n_seeds if split else 1):
        work = Path(tempfile.mkdtemp(prefix=f"htvs-theirs-{tag}-{i}-"))
        dirs.append(work)
        (work / "bulk_lr.yml").write_text(
            yaml.safe_dump(their_config(args, cfg, repeat=1 if split else n_seeds), sort_keys=False))
        env = dict(os.environ, MPLBACKEND="Agg")
        env.pop("PYTHONPATH", None)
        if stub_dir:
            env["PYTHONPATH"] = str(stub_dir)
        if split:
            env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        cmds.append(([args.authors_python, str(args.authors / "bulk_lr.py"), "bulk_lr.yml"], work, env,
                     work / "bulk_lr.log"))
    r = run_procs(cmds)
    r["work"] = dirs
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", type=Path, required=True, help="checkout of kvignesh1420/single-index-ht")
    ap.add_argument("--authors-python", default=sys.executable, help="interpreter for their code")
    ap.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    ap.add_argument("--configfile", type=Path, default=None, help="default: config.yaml beside the Snakefile")
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="pairs (ours, theirs)")
    ap.add_argument("--their-mode", choices=["split", "one"], default="split")
    ap.add_argument("--readout", choices=["authors", "both"], default="authors")
    ap.add_argument("--probe-steps", default="", help='e.g. "0,10" (theirs); default: the config\'s')
    ap.add_argument("--keep", action="store_true", help="keep the working directories")
    args = ap.parse_args()
    args.snakefile = args.snakefile.resolve()
    args.authors = args.authors.resolve()
    args.configfile = (args.configfile or args.snakefile.parent / "config.yaml").resolve()
    if not (args.authors / "bulk_lr.py").exists():
        print(f"no bulk_lr.py in {args.authors}: clone https://github.com/kvignesh1420/single-index-ht there")
        return 2

    cfg = our_config(args)
    exp = cfg["experiments"]["lr_sweep"]
    d = {**cfg["defaults"], **exp.get("set", {})}
    n_runs = len(exp["seeds"]) * len(exp["grid"].get("optimizer", [1])) * len(exp["grid"].get("lr", [1]))
    print(f"lr_sweep: {n_runs} runs = {len(exp['seeds'])} seeds x {exp['grid'].get('optimizer')} x "
          f"lr {exp['grid'].get('lr')}; steps {d['steps']}, d {d['d']}, h {d['h']}, n {d['n']}; "
          f"ours: probe steps {d['probe_steps']}, readout {args.readout}, -j {args.jobs}; "
          f"theirs: probes at 0 and {d['steps']}, mode {args.their_mode}")
    stub = None
    if needs_ww_stub(args.authors_python):
        stub = Path(tempfile.mkdtemp(prefix="htvs-wwstub-"))
        (stub / "weightwatcher.py").write_text(
            '"""Stand-in: weightwatcher is not installed; bulk_lr.yml has enable_ww: false."""\n')
        print("note: weightwatcher is not importable by", args.authors_python,
              "- their src/tracker.py imports it (unused with enable_ww: false): using an empty stand-in")
    print(f"ours:   snakemake -s {args.snakefile} -d WORK --configfile WORK/config.yaml -j {args.jobs} all")
    print(f"theirs: {shlex.quote(args.authors_python)} {args.authors / 'bulk_lr.py'} bulk_lr.yml"
          + (" (x2 at once, one seed each, 1 thread each)" if args.their_mode == "split" else ""))

    results = {"ours": [], "theirs": []}
    failed = False
    for i in range(args.repeats):
        for side in ("ours", "theirs"):
            print(f"\n[{i + 1}/{args.repeats}] {side} ...", flush=True)
            r = run_ours(args, cfg, str(i)) if side == "ours" else run_theirs(args, cfg, str(i), stub)
            results[side].append(r)
            ok = all(rc == 0 for rc in r["rcs"])
            failed |= not ok
            print(f"  {side}: wall {r['wall']:.1f} s, max RSS of one process {r['max_one_mb']:.0f} MB, "
                  f"of the tree {r['max_sum_mb']:.0f} MB, {'ok' if ok else 'FAILED rc ' + str(r['rcs'])}",
                  flush=True)
            if not ok:
                for log in r["logs"]:
                    print(f"  --- end of {log} ---\n" + log.read_text(errors="replace")[-3000:])
            if not args.keep:
                for w in r["work"] if isinstance(r["work"], list) else [r["work"]]:
                    shutil.rmtree(w, ignore_errors=True)
            else:
                print("  kept:", r["work"])
    if stub:
        shutil.rmtree(stub, ignore_errors=True)

    print(f"\n{'pair':>4}{'ours s':>9}{'theirs s':>10}{'speed-up':>10}")
    ratios = []
    for i, (o, t) in enumerate(zip(results["ours"], results["theirs"]), 1):
        ratios.append(t["wall"] / o["wall"])
        print(f"{i:>4}{o['wall']:>9.1f}{t['wall']:>10.1f}{ratios[-1]:>9.2f}x")
    for side in ("ours", "theirs"):
        rs = results[side]
        print(f"peak memory, {side:<6}: largest process {max(r['max_one_mb'] for r in rs):.0f} MB, "
              f"whole tree {max(r['max_sum_mb'] for r in rs):.0f} MB")
    med = statistics.median(ratios)
    print(f"\ntarget: ours >= 2x faster ... {med:.2f}x (median of {len(ratios)} pair(s))  "
          f"{'OK' if med >= 2 and not failed else 'MISSED'}{' (a run failed)' if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
