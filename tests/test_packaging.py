"""pyproject.toml declares every third-party package htcore imports."""

from __future__ import annotations

import ast
import sys
import tomllib

from helpers import ROOT

#: import name -> distribution name, where they differ
DIST = {"yaml": "pyyaml", "torch": "torch"}


def imported_packages() -> set[str]:
    names = set()
    for path in (ROOT / "htcore").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("htcore", "__future__")}


def test_pyproject_declares_every_package_htcore_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in project["dependencies"]}
    declared |= {d.split(">")[0].split("=")[0].strip().lower()
                 for extra in project.get("optional-dependencies", {}).values() for d in extra}
    missing = {DIST.get(n, n) for n in imported_packages()} - declared
    assert not missing, f"imported by htcore but not in pyproject.toml: {sorted(missing)}"
    assert {"snakemake", "jsonschema", "pyyaml"} <= declared
