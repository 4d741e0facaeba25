"""Helpers shared by the tests (imported as ``from helpers import ...``): the
repository root, the shipped config shrunk to seconds, Pareto samples, and running
Snakemake on a config in a temp dir. Fixtures live in conftest.py."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


#: Experiments the shrunk config runs with one seed: no test compares their seeds (the
#: claims read them over whatever seeds there are). The others keep two.
ONE_SEED = ("lr_schedule", "vary_n", "vary_reg_lambda", "vary_label_noise", "vary_gamma", "weight_norm",
            "teacher_rank", "optimizer_family", "minibatch_contrast", "spectral_surgery")


def shrink(config: dict) -> dict:
    """The paper config shrunk to seconds: d = 20, h = 30, n = 60, 2 seeds (1 for
    ONE_SEED), short horizons, 4 learning rates; every experiment and its figure
    kinds kept."""
    c = copy.deepcopy(config)
    c["device"] = "cpu"
    c["tails"] = {"min_tail": 5, "bootstrap": False, "n_boot": 20}
    c["updates"] = {"top_k": 5}
    c["defaults"].update(d=20, h=30, n=60, n_test=20)
    scale_n = {500: 30, 2000: 60, 4000: 90, 8000: 120}
    for name, exp in c["experiments"].items():
        s = exp.setdefault("set", {})
        if "n" in s:
            s["n"] = scale_n[s["n"]]
        if s.get("batch_size"):
            s["batch_size"] = 20
        if s.get("steps", 0) > 100:
            s["steps"], s["probe_steps"] = 60, {"log_spaced": 8}
        grid = exp.get("grid", {})
        if "n" in grid:
            grid["n"] = [scale_n[v] for v in grid["n"]]
        if "lr" in grid and len(grid["lr"]) > 4:
            grid["lr"] = [0.01, 1.0, 100.0, 3000.0]
        if "teacher_k" in grid:
            grid["teacher_k"] = [1, 4]
        exp["seeds"] = exp["seeds"][:1 if name in ONE_SEED else 2]
    return c


def pareto(alpha: float, n: int, seed: int, xmin: float = 1.0) -> np.ndarray:
    """n iid draws of a continuous power law p(x) ~ x^-alpha on [xmin, inf)."""
    u = np.random.default_rng(seed).random(n)
    return xmin * (1.0 - u) ** (-1.0 / (alpha - 1.0))


# ------------------------------------------------------------- running snakemake

def smk(workdir: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run snakemake on the repository's Snakefile in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def planned(workdir: Path) -> dict[str, int]:
    """Jobs a dry run would execute, per rule ({} when nothing is to be done)."""
    out = smk(workdir, "-n").stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    counts.pop("total", None)
    return {k: int(v) for k, v in counts.items()}
