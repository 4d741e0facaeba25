"""The malformed-config suite through Snakemake, counted by outcome.

Each case is tests/configs/tiny.yaml with one edit (tests/test_config_errors.py's
MALFORMED and SYNTAX, tests/test_config_silent.py's SILENT, plus the cases below),
written to a temp directory and given to ``snakemake -n``; the config-file cases
(``FILE_CASES``) add a ``--configfile`` or leave config.yaml out. A case that passes
validation is then run for real (its ``results/lr_sweep/table.parquet`` only, on a
shrunk grid) and its table inspected, unless ``--no-real-runs``.
Outcomes:

  clear one-line error   exit != 0, one ``Invalid configuration: <key>: ...`` line naming the key
  traceback              a Python traceback reached the console
  unclear error          exit != 0 without such a line (or naming another key)
  crash inside a job     accepted, then a job failed
  harmless acceptance    accepted, and the table is what the config means
  silently wrong         accepted, the workflow succeeded, and the table is not what
                         the config means (NaN/inf losses or diverged rows not asked
                         for, or numbers differing from an equivalent config)

    python benchmarks/malformed_configs.py [-j 2] [--no-real-runs] [--verbose] [--only TEXT] [--keep]

The cases' working directories are removed at the end unless ``--keep`` (it prints
where they are).

Target: 0 silently wrong, 0 tracebacks, 0 unclear errors, 0 crashes inside a job.

``LIMITS`` are counted apart, under "outside the workflow's reach": Snakemake reads
every ``--configfile`` on its command line (snakemake.settings.types.ConfigSettings,
and Workflow() reads its ``pathvars``) before the Snakefile runs, so what it says about
a broken one is its own message, whatever the Snakefile does. They are listed with
the outcome they get, so that a Snakemake that improves shows here.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_config_errors import MALFORMED, SYNTAX, TINY_TEXT, _d, _exp, _grid, _set, _text, config_text  # noqa: E402
from test_config_silent import SILENT, _drop_exp, _edits  # noqa: E402
from helpers import smk  # noqa: E402
from htcore import device as hd  # noqa: E402

OUTCOMES = ["clear one-line error", "traceback", "unclear error", "crash inside a job",
            "harmless acceptance", "silently wrong"]


def _drop(*path):
    *parents, last = path

    def edit(c):
        node = c
        for p in parents:
            node = node[p]
        del node[last]

    return edit


def _replace_config(value):
    def edit(text):
        return yaml.safe_dump(value)

    edit.on_text = True
    return edit


#: more cases that must be rejected: name -> (edit, key)
MORE_ERRORS = {
    "unknown key": (_d("lrr", 1.0), "defaults.lrr"),
    "unknown grid key": (_grid("foo", [1]), "experiments.lr_sweep.grid.foo"),
    "unknown optimizer": (_grid("optimizer", ["sgd"]), "experiments.lr_sweep.grid.optimizer[0]"),
    "negative lr": (_grid("lr", [0.1, -1.0]), "experiments.lr_sweep.grid.lr[1]"),
    "zero lr": (_d("lr", 0.0), "defaults.lr"),
    "word for lr": (_d("lr", "fast"), "defaults.lr"),
    "empty grid list": (_grid("lr", []), "experiments.lr_sweep.grid.lr"),
    "huge integer lr": (_grid("lr", [10**20]), "experiments.lr_sweep.grid.lr[0]"),
    "empty seeds": (_exp("seeds", []), "experiments.lr_sweep.seeds"),
    "repeated seed": (_exp("seeds", [0, 0]), "experiments.lr_sweep.seeds"),
    "repeated lr 1 and 1.0": (_grid("lr", [1, 1.0]), "experiments.lr_sweep.grid.lr"),
    "empty run": (_set("run", []), "run"),
    "no experiments": (_set("experiments", {}), "experiments"),
    "bad experiment name": (_set("experiments", "Lr-Sweep", {"seeds": [0]}), "experiments"),
    "batch_size zero": (_d("batch_size", 0), "defaults.batch_size"),
    "n one": (_d("n", 1), "defaults.n"),
    "momentum one": (_d("momentum", 1.0), "defaults.momentum"),
    "log_spaced one": (_d("probe_steps", {"log_spaced": 1}), "defaults.probe_steps"),
    "probe_steps word": (_d("probe_steps", "every"), "defaults.probe_steps"),
    "device gpu": (_set("device", "gpu"), "device"),
    "min_tail one": (_set("tails", "min_tail", 1), "tails.min_tail"),
    "top_k zero": (_set("updates", {"top_k": 0}), "updates.top_k"),
    "compare_with unknown": (_set("experiments", "lr_sweep", "plot", "compare_with", "nope"),
                             "experiments.lr_sweep.plot.compare_with"),
    "case overlaps grid": (_exp("cases", [{"lr": 1.0}]), "experiments.lr_sweep.cases[0]"),
    "plot kind unknown": (_set("experiments", "lr_sweep", "plot", "kind", "bars"),
                          "experiments.lr_sweep.plot.kind"),
    "config is a list": (_replace_config([1, 2]), "config.yaml"),
    "duplicate seed key": (_text("    seeds: [0, 1]\n", "    seeds: [0, 1]\n    seeds: [2]\n"),
                           "experiments.lr_sweep.seeds"),
    "seed 2**63 in a grid experiment": (_exp("seeds", [2**63]), "experiments.lr_sweep.seeds[0]"),
    "steps exponent text": (_d("steps", "1e1"), "defaults.steps"),
}
# issue 21: parameters no run uses, experiment names, weak messages (tests/test_config_silent.py)
MORE_ERRORS.update({name: (edit, key) for name, (edit, key, _) in SILENT.items()})
if hd._cuda_problem() is not None:  # with a usable GPU here, device: cuda is a valid config
    MORE_ERRORS["device cuda without a GPU"] = (_set("device", "cuda"), "device")

#: config-file cases: name -> (config.yaml text or None, {extra file: text}, snakemake
#: args, key the line must start with or None for "file:line:column")
FILE_CASES = {
    "no config file at all": (None, {}, (), "config.yaml"),
    "config.yaml with a malformed pathvars": (TINY_TEXT + "pathvars: [1, 2]\n", {}, (), "pathvars"),
    "--configfile with a key written twice": (TINY_TEXT, {"extra.yaml": "run: [lr_sweep]\nrun: [lr_sweep]\n"},
                                              ("--configfile", "extra.yaml"), "run"),
    "--configfile with a python tag (safe YAML refuses it)": (
        TINY_TEXT, {"extra.yaml": "run: [lr_sweep]\ndevice: !!python/tuple [cpu]\n"},
        ("--configfile", "extra.yaml"), None),
    "--configfile with an unknown top-level key": (TINY_TEXT, {"extra.yaml": "runs: [lr_sweep]\n"},
                                                   ("--configfile", "extra.yaml"), "runs"),
}

#: config-file cases that Snakemake decides before the Snakefile runs (same shape)
LIMITS = {
    "--configfile with a YAML syntax error": (TINY_TEXT, {"extra.yaml": "run: [lr_sweep\n"},
                                              ("--configfile", "extra.yaml"), None),
    "--configfile that does not exist": (TINY_TEXT, {}, ("--configfile", "nope.yaml"), "nope.yaml"),
    "--configfile with a malformed pathvars": (TINY_TEXT, {"extra.yaml": "pathvars: 3\n"},
                                               ("--configfile", "extra.yaml"), "pathvars"),
}

# A shrunk grid for the real runs (one optimizer, one lr, one seed: seconds).
SMALL = {"optimizer": ["adam"], "lr": [1.0]}


def _small(edit=None):
    def full(c):
        c["experiments"]["lr_sweep"]["grid"] = copy.deepcopy(SMALL)
        c["experiments"]["lr_sweep"]["seeds"] = [0]
        if edit:
            edit(c)

    return full


def _small_text(old: str, new: str):
    """The shrunk config with a text edit (for spellings a dict cannot keep)."""

    def edit(text):
        small = config_text(_small())
        assert old in small, old
        return small.replace(old, new, 1)

    edit.on_text = True
    return edit


#: cases that must be accepted: name -> (edit, expectation, a --configfile over
#: config.yaml or None). expectation: "same" (table equal to the shrunk unedited
#: config's), "finite" (no NaN, no diverged row), "diverges" (runs asked to diverge
#: are flagged diverged)
ACCEPTED = {
    "integer lr": (_small(_grid("lr", [1])), "same", None),
    "yes for true": (_small_text("fix_last_layer: true", "fix_last_layer: yes"), "same", None),
    "lr written 1.0e+0": (_small_text("lr: 1.0\n", "lr: 1.0e+0\n"), "same", None),
    "small --configfile, own working directory (README)": (None, "same", _small()),
    "label noise 0 (integer)": (_small(_d("label_noise_std", 0)), "finite", None),
    "reg_lambda at its bound 1e6": (_small(_d("reg_lambda", 1.0e6)), "finite", None),
    "steps 0": (_small(lambda c: c["defaults"].update(steps=0, probe_steps=[0])), "finite", None),
    "lr 1.0e+20 (asked to diverge)": (_small(_grid("lr", [1.0e20])), "diverges", None),
    # parameters have declared defaults (htcore.params): `defaults` may leave any out
    "a default left out": (_small(_drop("defaults", "steps")), "finite", None),
    # issue 21: used by some of the runs, or one run per seed
    "momentum over gd and adam": (_small(_edits(_grid("optimizer", ["gd", "adam"]), _grid("lr", [0.1]),
                                                _grid("momentum", [0.0, 0.9]))), "finite", None),
    "case momentum with a gd case": (_small(_edits(_drop_exp("grid", "plot"), _exp("cases", [
        {"optimizer": "gd", "lr": 0.1, "momentum": 0.9}, {"optimizer": "adam"}]))), "finite", None),
    "only seeds (one run per seed)": (_small(_drop_exp("grid", "plot")), "finite", None),
}


def run_case(work: Path, text: str, key: str | None, args=(), syntax=False, files=None) -> tuple[str, str]:
    """(outcome of the dry run or None when accepted, the console line). ``files``:
    more files to write beside config.yaml (the ``--configfile`` ones)."""
    work.mkdir(parents=True, exist_ok=True)
    if text is not None:  # None: no config.yaml, only --configfile (README's quick look)
        (work / "config.yaml").write_text(text)
    if "small.yaml" in args:
        (work / "small.yaml").write_text(config_text(_small()))
    for name, content in (files or {}).items():
        (work / name).write_text(content)
    args = _in(work, args)
    proc = smk(work, "-n", *args, check=False)
    out = proc.stdout + proc.stderr
    if "Traceback" in out or re.search(r'^\s*File "', out, re.M):
        return "traceback", _last(out)
    if proc.returncode == 0:
        return None, ""
    lines = [ln for ln in out.splitlines() if ln.startswith("Invalid configuration: ")]
    if len(lines) != 1:
        return "unclear error", _last(out)
    line = lines[0][len("Invalid configuration: "):]
    if syntax:
        ok = re.search(r"\.yaml:\d+:\d+: ", line) is not None
    else:
        key = str(work / key) if key and key.endswith(".yaml") and key != "config.yaml" else key
        ok = key is None or re.match(rf"{re.escape(key)}[:.\[ ]", line) is not None
    return ("clear one-line error" if ok else "unclear error"), lines[0]


def _in(work: Path, args) -> list[str]:
    return [str(work / a) if a.endswith(".yaml") else a for a in args]


def _last(out: str) -> str:
    """The last line that says something (not Snakemake's notice of the profile it reads)."""
    lines = [ln for ln in out.strip().splitlines() if ln.strip() and not re.match(r"Using .*profile", ln)]
    return lines[-1] if lines else ""


def real_run(work: Path, args=()) -> tuple[str, object]:
    """Run the table of lr_sweep for real: ('ok', table) or ('crash', last line)."""
    # the target goes first: --configfile takes every path that follows it
    proc = smk(work, "-j", "2", "results/lr_sweep/table.parquet", *_in(work, args), check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return "crash", _last(out)
    import pandas as pd

    return "ok", pd.read_parquet(work / "results/lr_sweep/table.parquet")


NUMBERS = ["train_loss", "test_loss", "kta", "sim", "lambda_max"]


def judge(table, expect: str, baseline) -> tuple[str, str]:
    import numpy as np

    values = table[NUMBERS].astype(float).to_numpy()
    if expect == "diverges":
        return (("harmless acceptance", "diverged and flagged") if table["diverged"].any()
                else ("silently wrong", "asked to diverge, not flagged"))
    if table["diverged"].any() or not np.isfinite(values).all():
        return "silently wrong", "NaN/inf or diverged rows nobody asked for"
    if expect == "same":
        keep = ["step", *NUMBERS]
        a = table[keep].sort_values("step").reset_index(drop=True)
        b = baseline[keep].sort_values("step").reset_index(drop=True)
        if a.shape != b.shape or not np.array_equal(a.to_numpy(float), b.to_numpy(float)):
            return "silently wrong", "differs from the equivalent config"
        if list(table["eval_id"].unique()) != list(baseline["eval_id"].unique()):
            return "silently wrong", "same numbers under other run ids"
    return "harmless acceptance", "as meant"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=2, help="dry runs in parallel")
    ap.add_argument("--no-real-runs", action="store_true", help="dry runs only")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--only", default="", help="run only the cases whose name contains this text")
    ap.add_argument("--keep", action="store_true", help="keep the cases' working directories (printed)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="htstudy-malformed-"))
    try:
        return run_all(args, tmp)
    finally:
        if args.keep:
            print(f"cases kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run_all(args, tmp: Path) -> int:

    errors = {**MALFORMED, **MORE_ERRORS}
    cases = [(name, config_text(edit), key, (), False, None) for name, (edit, key) in errors.items()]
    cases += [(f"syntax: {name}", config_text(edit), None, (), True, None) for name, (edit, _) in SYNTAX.items()]
    for name, (edit, _, over_paper) in ACCEPTED.items():
        if over_paper is not None:
            cases.append((name, None, None, ("--configfile", "small.yaml"), False, None))
        else:
            cases.append((name, config_text(edit), None, (), False, None))
    for name, (text, files, extra, key) in {**FILE_CASES, **LIMITS}.items():
        cases.append((name, text, key, extra, key is None, files))

    cases = [c for c in cases if args.only in c[0]]

    def dry(i_case):
        i, (name, text, key, extra, syntax, files) = i_case
        return run_case(tmp / f"case{i:03d}", text, key, extra, syntax, files)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        dry_results = list(pool.map(dry, enumerate(cases)))

    results = []
    baseline = None
    for i, ((name, text, key, extra, syntax, _), (outcome, line)) in enumerate(zip(cases, dry_results)):
        if outcome is None:
            if args.no_real_runs:
                outcome, line = "harmless acceptance", "accepted (not run)"
            else:
                if baseline is None:
                    base_dir = tmp / "baseline"
                    base_dir.mkdir()
                    (base_dir / "config.yaml").write_text(config_text(_small()))
                    status, baseline = real_run(base_dir)
                    if status != "ok":
                        print(f"baseline failed: {baseline}")
                        return 1
                expect = ACCEPTED[name][1] if name in ACCEPTED else "finite"
                status, got = real_run(tmp / f"case{i:03d}", extra)
                if status == "crash":
                    outcome, line = "crash inside a job", got
                else:
                    outcome, line = judge(got, expect, baseline)
        results.append((name, outcome, line))
        if args.verbose:
            print(f"{outcome:<22} {name:<40} {line[:150]}", flush=True)

    limits = [r for r in results if r[0] in LIMITS]
    results = [r for r in results if r[0] not in LIMITS]
    counts = {o: sum(r[1] == o for r in results) for o in OUTCOMES}
    print(f"\n{len(results)} configs ({sum(r[0] not in ACCEPTED for r in results)} malformed, "
          f"{sum(r[0] in ACCEPTED for r in results)} meant to be accepted)")
    print(f"{'outcome':<24}{'count':>6}")
    for o in OUTCOMES:
        print(f"{o:<24}{counts[o]:>6}")
    for o in ("traceback", "unclear error", "crash inside a job", "silently wrong"):
        for name, outcome, line in results:
            if outcome == o:
                print(f"  {o}: {name}: {line[:200]}")
    if limits:
        print(f"\noutside the workflow's reach ({len(limits)}: Snakemake reads --configfile before the Snakefile runs)")
        for name, outcome, line in limits:
            print(f"  {outcome}: {name}: {line[:200]}")
    bad = counts["silently wrong"] + counts["traceback"] + counts["crash inside a job"] + counts["unclear error"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
