"""The documentation against the code.

README.md stays short and gives the commands CI runs; every link in the docs points to
a file (and heading) that exists; every command in the docs names rules, targets and
htcore sub-commands that exist; every repository path and ``htcore.x.y`` name the docs
mention exists; the docs index lists every doc file; and the tables that restate code
stay in step with it: the figures table (htcore.figures), the experiments
(config.yaml, htcore.claims) and the columns of table.parquet. (The parameters table
is checked in tests/test_params.py, the claims table in tests/test_claims.py.)
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The doc files this test reads for commands and names (docs/claims.md and
#: docs/slurm.md are checked by their owners' tests; their links are checked here).
OWN = [README, ROOT / "CONTRIBUTING.md"] + [DOCS / f for f in ("README.md", "usage.md", "results.md",
                                                                "experiments.md", "science.md", "speed.md")]
#: Files the docs link to that other work adds; a link to one of them xfails (names
#: them) while it is missing, and passes once it is there.
PENDING = {
    "docs/slurm.md": "the SLURM guide, being written",
    "docs/figures/phase_diagram.png": "the figure of the paper-scale run",
}
MAX_README_LINES = 200


def all_docs() -> list[Path]:
    return sorted({README, *(p for p in [ROOT / "CONTRIBUTING.md"] if p.exists()), *DOCS.glob("*.md")})


def without_code(text: str) -> str:
    """The text without fenced code blocks (links and headings there are not links)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in without_code(path.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            out.add(s if s not in seen else f"{s}-{seen[s]}")
            seen[s] = seen.get(s, 0) + 1
    return out


def links(path: Path) -> list[str]:
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", without_code(path.read_text()))


# ------------------------------------------------------------------- README itself

def test_readme_has_at_most_200_lines():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail to docs/ (at most {MAX_README_LINES})"


def test_readme_gives_the_install_the_demo_and_the_test_command_ci_runs():
    lines = [ln.strip() for block in code_blocks(README.read_text()) for ln in block.splitlines()]
    install = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt -e ."
    demo = ".venv/bin/snakemake -d demo -j 2 all --configfile tests/configs/tiny.yaml"
    study = install + " && .venv/bin/snakemake -j 8 all"
    tests = ".venv/bin/python -m pytest -n auto --dist loadfile"
    for line in (install, demo, study, tests):
        assert line in lines, f"README.md's code blocks lack: {line}"
    assert lines.index(install) < lines.index(demo) < lines.index(study), "the demo comes first, after the install"
    assert tests in (ROOT / ".ci/run").read_text(), "CI runs the README's test command"


# ------------------------------------------------------------------------- links

@pytest.mark.parametrize("doc", [p.relative_to(ROOT).as_posix() for p in all_docs()])
def test_links_point_to_files_and_headings_that_exist(doc):
    path = ROOT / doc
    broken, pending = [], []
    for target in links(path):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        file = (path.parent / name).resolve() if name else path
        rel = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if not file.exists():
            (pending if rel in PENDING else broken).append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{doc} links to what does not exist: {broken}"
    if pending:
        pytest.xfail(f"{doc} links to files not there yet: {pending}")


def test_docs_index_lists_every_doc_file():
    index = DOCS / "README.md"
    linked = {(index.parent / t.partition("#")[0]).resolve() for t in links(index)}
    wanted = {p.resolve() for p in DOCS.glob("*.md") if p.name != "README.md"} | {(ROOT / "CONTRIBUTING.md").resolve()}
    assert not wanted - linked, f"docs/README.md does not list: {sorted(p.name for p in wanted - linked)}"


# ---------------------------------------------------------------------- commands

def rule_names() -> set[str]:
    texts = [ROOT.joinpath("Snakefile").read_text()] + [p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")]
    return {m for t in texts for m in re.findall(r"^rule (\w+):", t, flags=re.M)}


def output_patterns() -> list[str]:
    """Every output path of the rules, as declared (``results/{experiment}/...``)."""
    text = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    return sorted(set(re.findall(r"\"(results/[^\"]+)\"", text)))


def htcore_subcommands() -> set[str]:
    from htcore.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def commands(text: str) -> list[list[str]]:
    """Shell commands in code blocks and inline code: one token list per command."""
    lines = [ln for block in code_blocks(text) for ln in block.splitlines()]
    lines += re.findall(r"`([^`\n]+)`", without_code(text))
    out = []
    for line in lines:
        line = re.sub(r"\s+#.*$", "", line.strip())
        for part in re.split(r"&&|;|\|", line):
            try:
                tokens = shlex.split(part)
            except ValueError:
                continue
            if tokens:
                out.append(tokens)
    return out


#: Snakemake options that take one value, and those that take a list (argparse nargs).
VALUE_OPTS = {"-j", "--jobs", "--cores", "-c", "-d", "--directory", "-s", "--snakefile", "--report",
              "--workflow-profile", "--profile", "--scheduler", "--executor", "-e", "--group-components",
              "--groups"}
RULE_LIST_OPTS = {"--forcerun", "-R", "--until", "-U", "--omit-from", "-O", "--allowed-rules"}
FILE_LIST_OPTS = {"--configfile", "--configfiles"}


def check_snakemake(tokens: list[str], rules: set[str], config: dict) -> list[str]:
    """What in one snakemake command names nothing that exists."""
    from htcore.figures import figure_names

    problems, i, mode = [], 1, None
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok.startswith("-"):
            name = tok.split("=", 1)[0]
            mode = "rules" if name in RULE_LIST_OPTS else "files" if name in FILE_LIST_OPTS else None
            if name in VALUE_OPTS and "=" not in tok:
                i += 1
            continue
        if mode == "rules":
            if tok not in rules:
                problems.append(f"no rule {tok!r}")
            continue
        if mode == "files":
            if not (ROOT / tok).exists():
                problems.append(f"no file {tok!r}")
            continue
        if tok in rules:
            continue
        exps = "|".join(config["experiments"])
        for pattern in output_patterns():
            rx = re.escape(pattern).replace(r"\{experiment\}", f"(?P<e>{exps})").replace(
                r"\{run\}", ".+").replace(r"\{figure\}", "(?P<f>[a-z_0-9]+)")
            m = re.fullmatch(rx, tok)
            if m and (not m.groupdict().get("f") or m["f"] in figure_names(config["experiments"][m["e"]]["plot"])):
                break
        else:
            problems.append(f"no rule or output {tok!r}")
    return problems


@pytest.mark.parametrize("doc", [p.relative_to(ROOT).as_posix() for p in OWN])
def test_commands_name_rules_targets_and_subcommands_that_exist(doc):
    rules, subs = rule_names(), htcore_subcommands()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    problems = []
    for tokens in commands((ROOT / doc).read_text()):
        if Path(tokens[0]).name == "snakemake":
            problems += [f"{' '.join(tokens)}: {p}" for p in check_snakemake(tokens, rules, config)]
        for j in range(len(tokens) - 1):
            if tokens[j] == "-m" and tokens[j + 1] == "htcore":
                rest = [t for t in tokens[j + 2:] if not t.startswith("-")]
                if tokens[j + 2:j + 3] == ["--threads"]:
                    rest = rest[1:]
                if rest and rest[0].startswith("<"):  # a placeholder: python -m htcore <stage>
                    continue
                if not rest or rest[0] not in subs:
                    problems.append(f"{' '.join(tokens)}: no htcore sub-command {rest[:1]}")
    assert not problems, "\n".join(problems)


def test_readme_names_rules_to_force_and_stop_at():
    # the two ways of re-running part of the study that the README shows
    tokens = commands(README.read_text())
    assert any("--forcerun" in t for t in tokens) and any("--until" in t for t in tokens)


# ----------------------------------------------------------- names and paths in docs

PATH_RX = re.compile(r"(?<![\w/.~-])((?:htcore|tests|workflow|benchmarks|profiles|docs|\.ci)/[\w./-]*\w)")


@pytest.mark.parametrize("doc", [p.relative_to(ROOT).as_posix() for p in OWN])
def test_repository_paths_the_docs_name_exist(doc):
    text = (ROOT / doc).read_text()
    missing = sorted({p for p in PATH_RX.findall(text)
                      if not (ROOT / p).exists() and p not in PENDING and not p.startswith("docs/figures/")})
    assert not missing, f"{doc} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", [p.relative_to(ROOT).as_posix() for p in OWN])
def test_htcore_names_the_docs_mention_exist(doc):
    missing = []
    for name in sorted(set(re.findall(r"`(htcore(?:\.\w+)+)`", (ROOT / doc).read_text()))):
        parts = name.split(".")
        obj, k = None, len(parts)
        while k > 1:
            try:
                obj = importlib.import_module(".".join(parts[:k]))
                break
            except ModuleNotFoundError:
                k -= 1
        for attr in parts[k:]:
            obj = getattr(obj, attr, None)
        if obj is None:
            missing.append(name)
    assert not missing, f"{doc} names what htcore does not have: {missing}"


def test_benchmark_scripts_the_docs_name_exist():
    text = "\n".join(p.read_text() for p in OWN)
    names = set(re.findall(r"\b(bench_\w+\.py|malformed_configs\.py)", text))
    assert names and not [n for n in names if not (ROOT / "benchmarks" / n).exists()]


# ------------------------------------------------------------- the figures table

def section(text: str, start: str, end: str) -> str:
    lines = text.splitlines()
    i = [k for k, ln in enumerate(lines) if ln.strip() == start]
    j = [k for k, ln in enumerate(lines) if ln.strip() == end]
    assert len(i) == 1 and len(j) == 1 and i[0] < j[0], f"one {start} and one {end}, in order"
    return "\n".join(lines[i[0] + 1:j[0]])


def figure_rows() -> list[tuple[str, str, str]]:
    """(figure, plot kinds, tables read) for every figure htcore.figures can draw."""
    from htcore.figures import FIGURE_SETS, figure_tables

    rows = []
    for name in dict.fromkeys(n for names in FIGURE_SETS.values() for n in names):
        kinds = [k for k, names in FIGURE_SETS.items() if name in names]
        tables = dict.fromkeys(t for k in kinds for t in figure_tables(k, name))
        rows.append((f"`{name}`", ", ".join(kinds), ", ".join(tables)))
    return rows


def test_figures_table_of_experiments_md_matches_htcore_figures():
    body = section((DOCS / "experiments.md").read_text(), "<!-- figures-table:start -->",
                   "<!-- figures-table:end -->")
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in body.splitlines()[2:] if ln.strip()]
    assert [tuple(r[:3]) for r in rows] == figure_rows(), \
        "docs/experiments.md's figures table is out of step with htcore.figures (FIGURE_SETS, FIGURE_TABLES)"
    assert all(len(r) == 4 and r[3] for r in rows), "every figure says what it shows"


# -------------------------------------------------------------- the experiments

def experiment_sections() -> dict[str, str]:
    text = (DOCS / "experiments.md").read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[k].strip(): parts[k + 1] for k in range(1, len(parts), 2)}


def test_experiments_md_has_a_section_for_each_experiment_and_no_other():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    names = set(experiment_sections()) - {"Figures", "The authors' read-out scaling"}
    assert names == set(config["experiments"])


@pytest.mark.parametrize("name", list(yaml.safe_load((ROOT / "config.yaml").read_text())["experiments"]))
def test_each_experiment_section_names_its_plot_kind_figures_and_claims(name):
    from htcore.claims import CLAIMS
    from htcore.figures import figure_names

    plot = yaml.safe_load((ROOT / "config.yaml").read_text())["experiments"][name]["plot"]
    text = " ".join(experiment_sections()[name].split())
    kind = plot["kind"]
    assert f"`{kind}`" in text, f"{name}: its plot kind {kind}"
    if f"the `{kind}` set" not in text:
        missing = [f for f in figure_names(plot) if f"`{f}`" not in text]
        assert not missing, f"{name}: figures not named: {missing}"
    ids = {c.id for c in CLAIMS} | {"readout_scaling_robust"}
    wanted = {c.id for c in CLAIMS if name in c.experiments}
    assert all(f"`{c}`" in text for c in wanted), f"{name}: claims not named: {wanted}"
    named = set(re.findall(r"`([a-z_]+)`", text.split("Claim", 1)[1])) if "Claim" in text else set()
    assert named <= ids, f"{name}: not claims: {named - ids}"


# ------------------------------------------------------------------ the columns

def test_results_md_names_every_column_of_the_experiment_table():
    from htcore import baselines, evaluate, spectra, theory
    from htcore.shape import tail_summary

    g = np.random.default_rng(0).standard_normal((30, 20))
    fit = tail_summary(np.linalg.eigvalsh(g.T @ g), 30, 20)
    # the tails stage writes the fit's row without lambda_max, its bootstrap seed as
    # boot_seed (htcore.stages.tails); the rest is what collect joins (htcore.collect)
    columns = ({"boot_seed" if k == "seed" else k for k in fit if k != "lambda_max"}
               | set(evaluate.metric_names(2)) | set(baselines.COLUMNS) | set(spectra.SUMMARY_COLUMNS)
               | set(theory.COLUMNS)
               | {"experiment", "eval_id", "train_id", "seed", "step", "diverged", "first_bad_step",
                  "student_loss", "device", "update_norm", "loss_ratio", "loss_falling", "train_state"})
    text = (DOCS / "results.md").read_text()
    text = text[text.index("## Columns of `table.parquet`"):]
    text = text[:text.index("\n## ", 1)]
    named = set(re.findall(r"`([^`]+)`", text))
    missing = []
    for col in sorted(columns):
        if col in named:
            continue
        prefix = next((p for p in ("hill_", "ks_", "mp_", "llr_", "sim_cos_") if col.startswith(p)), None)
        rest = col[len(prefix):] if prefix else None
        if prefix and f"{prefix}*" in named and (prefix in ("llr_", "sim_cos_") or rest in named):
            continue
        missing.append(col)
    assert not missing, f"docs/results.md does not name these columns of table.parquet: {missing}"
