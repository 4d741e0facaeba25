"""CONTRIBUTING.md's recipe for a step, followed in a copy of the code: a dummy per-run
analysis (``wnorm``: the Frobenius norm of W at each snapshot of a run, joined into
the experiment table ``wnorm.parquet`` by a collect rule of its own) added by the
edits the recipe lists and no other, counted, then run by ``snakemake all``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from htcore.io import load_npz

from helpers import ROOT, write_config

STEP = "wnorm"
NUMBERS = {"four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def copy_code(dst: Path) -> None:
    """The code a study runs (htcore, the workflow, its profile, the Snakefile), and
    the stage-declaration tests with their helpers; no results, .venv or .git."""
    for name in ("htcore", "workflow", "profiles"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "Snakefile", dst / "Snakefile")
    (dst / "tests").mkdir()
    for name in ("conftest.py", "helpers.py", "test_stages.py"):
        shutil.copy2(ROOT / "tests" / name, dst / "tests" / name)


def edit(path: Path, anchor: str, new: str) -> None:
    """Replace ``anchor`` (present exactly once) with ``new``."""
    src = path.read_text()
    assert src.count(anchor) == 1, f"{path.name}: anchor not found once: {anchor!r}"
    path.write_text(src.replace(anchor, new))


def add_step(code: Path) -> None:
    """The dummy step, as CONTRIBUTING.md's "Add a step or an analysis" says."""
    # 1. the function (NumPy's norm is all its science) and 2. its declaration, with
    #    the collect stage of its table (5.)
    stages = code / "htcore/stages.py"
    anchor = "# ------------------------------------------------------- experiment tables\n"
    edit(stages, anchor, '''#: ``wnorm.parquet`` (wnorm, collect_wnorm): the Frobenius norm of W per probe step.
WNORM = RUN_KEYS + Schema(("step", "wnorm"), {"step": np.int64, "wnorm": np.float64})


def wnorm(spec: Mapping[str, Any], weights: str, out: str) -> None:
    """The Frobenius norm of W at every probe step of the run (``wnorm.parquet``)."""
    w = load_npz(weights)
    steps = w["probe_steps"]
    write_table(out, WNORM.ordered({**_keys(spec, len(steps)), "step": steps.astype(np.int64),
                                    "wnorm": np.linalg.norm(w["W"].astype(np.float64), axis=(1, 2))}),
                meta={"spec": to_json(spec)})


def collect_wnorm(spec: Mapping[str, Any], wnorms: list[str], wnorm_table: str) -> None:
    """The experiment's ``wnorm.parquet``: every run's rows."""
    from htcore import collect as c
    from htcore.io import write_frame

    frame = c.concat(wnorms)
    write_frame(wnorm_table, WNORM.frame(frame.sort_values(["train_id", "step"], kind="stable").reset_index(drop=True)))


def _mem_wnorm(p: RunParams) -> float:
    return 8 * len(p.probe_steps) * p.h * p.d


''' + anchor)
    anchor = '    Stage("collect_surgery", collect_surgery,'
    edit(stages, anchor, '''    Stage("wnorm", wnorm, ("weights",), ("out",), memory=_mem_wnorm),
    Stage("collect_wnorm", collect_wnorm, ("wnorms",), ("wnorm_table",), imports=("pandas", "pyarrow.parquet"),
          lists=("wnorms",)),
''' + anchor)

    #    and its tables' declarations mapped for `htcore check`
    anchor = '    ("claims", "out"): Schema(claims.COLUMNS),\n'
    edit(code / "htcore/check.py", anchor, '    ("wnorm", "out"): stages.WNORM,\n'
         '    ("collect_wnorm", "wnorm_table"): stages.WNORM,\n' + anchor)

    # 3. what the job gets: {run} is a training id; its spec, the run's keys
    plan = code / "htcore/plan.py"
    edit(plan, '"surgery": "eval"}', '"surgery": "eval", "wnorm": "train"}')
    anchor = '        elif rule == "surgery":\n            spec = r.spec("eval")\n'
    edit(plan, anchor, anchor + '        elif rule == "wnorm":\n            spec = keys\n')

    # 4. the rules, included in the Snakefile (before `rule all`, which names the table)
    (code / f"workflow/rules/{STEP}.smk").write_text('''# Stage wnorm (sweep experiments): the Frobenius norm of W at each snapshot of a run;
# collect_wnorm joins them per experiment. htcore.stages.wnorm


rule wnorm:
    input:
        weights=rules.train.output.weights,
    output:
        out="results/{experiment}/wnorm/{run}/wnorm.parquet",
    params:
        spec=spec_of("wnorm"),
        code=code_of("wnorm"),
    log:
        "results/logs/{experiment}/wnorm/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("wnorm"),
    shell:
        command("wnorm")


rule collect_wnorm:
    input:
        wnorms=wnorm_inputs,
    output:
        wnorm_table="results/{experiment}/wnorm.parquet",
    params:
        spec=collect_spec,
        code=code_hash("collect_wnorm"),
    log:
        "results/logs/{experiment}/collect_wnorm.log",
    threads: 1
    resources:
        mem_mb=STAGES["collect_wnorm"].mem_mb(),
    script:
        "../scripts/stage.py"
''')
    anchor = 'include: "workflow/rules/surgery.smk"\n'
    edit(code / "Snakefile", anchor, anchor + f'include: "workflow/rules/{STEP}.smk"\n')

    # 5. its collect input (every trained run's file), its table in Experiment.tables
    #    for the experiments that ask for it (here: plot kind sweep) and experiment_table
    common = code / "workflow/rules/common.smk"
    anchor = "@_signed\ndef collect_spec(wildcards):\n"
    edit(common, anchor, '''@_signed
def wnorm_inputs(wildcards):
    """Every wnorm file of the experiment (its trained runs)."""
    e = wildcards.experiment
    return _per_run(rules.wnorm.output.out, e, [r.train_id for r in STUDY.experiments[e].unique("train")])


''' + anchor)
    anchor = '    elif name == "surgery":\n        out = rules.collect_surgery.output.surgery_table\n'
    edit(common, anchor, anchor + '    elif name == "wnorm":\n        out = rules.collect_wnorm.output.wnorm_table\n')
    anchor = '("surgery",) if kind == "surgery" else ())'
    edit(code / "htcore/config.py", anchor, anchor + ' + (("wnorm",) if kind == "sweep" else ())')


def touched(code: Path) -> list[str]:
    """The copy's files that are new or differ from the repository's."""
    out = []
    for p in sorted(code.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            rel = p.relative_to(code).as_posix()
            if not (ROOT / rel).is_file() or (ROOT / rel).read_bytes() != p.read_bytes():
                out.append(rel)
    return out


def contributing_files() -> tuple[int, list[str]]:
    """The files CONTRIBUTING.md says a step touches: its number and its list."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## Add a step or an analysis\n")[1].split("\n## ")[0]
    m = re.search(r"In all, [^:]*? touches (\w+) files: ([^;]*);", section)
    assert m, "CONTRIBUTING.md does not say which files a step touches"
    files = sorted(f.replace("<name>", STEP) for f in re.findall(r"`([^`]+)`", m[2]))
    return NUMBERS[m[1]], files


def run(cmd: list[str], code: Path) -> str:
    """Run ``cmd`` in the copy with its htcore first on the path (`python -m` puts the
    working directory before PYTHONPATH, so it runs there)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code)})
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def smk(code: Path, work: Path, *args: str) -> str:
    return run([sys.executable, "-m", "snakemake", "-s", str(code / "Snakefile"), "-d", str(work), *args], code)


@pytest.mark.slow
def test_adding_a_step_touches_the_files_contributing_lists_and_runs(tmp_path, tiny_config):
    code, work = tmp_path / "code", tmp_path / "work"
    copy_code(code)
    add_step(code)

    # the files touched are the ones CONTRIBUTING.md lists, as many as it says
    count, listed = contributing_files()
    assert touched(code) == listed and len(listed) == count

    # tests/test_stages.py's declaration checks, run over the copy's STAGES, accept it
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_stages.py",
               "-k", STEP], code)
    assert "4 passed" in out, out

    # the tiny lr_sweep, cut to 2 runs of one seed (and its initial run)
    exp = tiny_config["experiments"]["lr_sweep"]
    exp["grid"] = {"optimizer": ["gd", "adam"], "lr": [10.0]}
    exp["seeds"] = [0]
    write_config(work, tiny_config)
    log = smk(code, work, "-j", "2", "all")
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", log.split("Job stats:")[1], flags=re.M))
    assert stats[STEP] == "2" and stats[f"collect_{STEP}"] == "1"

    res = work / "results/lr_sweep"
    table = pd.read_parquet(res / "table.parquet")  # the existing tables are still made
    runs = sorted(table["train_id"].unique())
    assert len(runs) == 2 and len(table) == 2 * 2
    assert (res / "esd.parquet").exists() and (work / "results/claims.parquet").exists()
    assert (res / "figures/phase_diagram.png").exists()

    joined = pd.read_parquet(res / f"{STEP}.parquet")
    assert sorted(zip(joined["train_id"], joined["step"])) == sorted(zip(table["train_id"], table["step"]))
    for r in runs:
        w = load_npz(res / "train" / r / "weights.npz")
        own = pd.read_parquet(res / STEP / r / f"{STEP}.parquet")
        assert list(own["step"]) == list(w["probe_steps"]) == [0, 3]
        want = [np.linalg.norm(np.asarray(W, dtype=np.float64)) for W in w["W"]]
        assert np.isfinite(want).all() and want[0] != want[1]  # W moved: two different numbers
        np.testing.assert_allclose(own["wnorm"], want, rtol=1e-12)
        np.testing.assert_allclose(joined[joined["train_id"] == r].sort_values("step")["wnorm"], want, rtol=1e-12)

    # and a second look plans nothing
    assert "Nothing to be done" in smk(code, work, "-n", "all")
