"""Shared fixtures: the repository root, the schema, the tiny config and the shipped
config. Helpers (shrink, pareto, smk, write_config, planned) are in tests/helpers.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from helpers import ROOT


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def schema() -> dict:
    return yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


@pytest.fixture()
def tiny_config() -> dict:
    """A fresh copy of tests/configs/tiny.yaml (the study shrunk to d = 20)."""
    return copy.deepcopy(yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text()))


@pytest.fixture(scope="session")
def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())
