"""Every parameter is declared once (htcore/params.py): the schema, validation, run
specs, run ids and the README's parameter table follow from the declaration."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from htcore import params as P
from htcore.config import load_study
from htcore.configfile import ConfigError, full_schema

from helpers import ROOT


def test_docs_usage_lists_exactly_the_declared_parameters():
    assert P.markdown_table() in (ROOT / "docs" / "usage.md").read_text(), \
        "docs/usage.md's parameter table is stale: paste the output of `python -m htcore params`"


def test_shipped_defaults_are_the_declared_defaults(paper_config):
    assert paper_config["defaults"] == P.DEFAULTS


def test_schema_holds_every_parameter_once(schema):
    s = full_schema(schema)
    assert list(s["$defs"]["params"]["properties"]) == list(P.NAMES)
    assert set(s["$defs"]["grid"]["properties"]) == set(P.NAMES) - {"probe_steps"}
    assert s["$defs"]["param_name"]["enum"] == list(P.NAMES)


def test_defaults_may_be_left_out(tiny_config, schema):
    # a config that states only what differs from the declared defaults
    tiny_config["defaults"] = {"d": 20, "h": 30, "n": 60, "n_test": 20, "steps": 3, "probe_steps": [0, 3]}
    run = load_study(tiny_config, schema).experiments["lr_sweep"].runs[0]
    assert run.params.label_noise_std == 0.3 and run.params.reg_lambda == 0.01 and run.params.d == 20


def test_a_run_spec_holds_only_the_parameters_the_run_uses(tiny_config, schema):
    runs = load_study(tiny_config, schema).experiments["lr_sweep"].runs
    adam = next(r for r in runs if r.params.optimizer == "adam").spec("train")["params"]
    gd = next(r for r in runs if r.params.optimizer == "gd").spec("train")["params"]
    assert {"adam_beta1", "adam_beta2", "adam_eps"} <= set(adam) and "momentum" not in adam
    assert "momentum" in gd and "adam_beta1" not in gd
    assert "gamma" not in adam and "step_size" not in adam  # lr_schedule: none
    # evaluation settings never reach training; the test-set size is an evaluation setting
    assert not {"reg_lambda", "readout_scaling", "n_test"} & set(adam)
    assert {"reg_lambda", "readout_scaling", "n_test"} <= set(runs[0].spec("eval")["params"])


def test_adding_a_parameter_is_one_declaration(tmp_path, tiny_config):
    """A copy of htcore with one Param added (and nothing else) validates it, grids it,
    names runs by it, passes it to the stage it belongs to and documents it."""
    pkg = tmp_path / "htcore"
    shutil.copytree(ROOT / "htcore", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    src = (pkg / "params.py").read_text()
    anchor = "PARAMS: tuple[Param, ...] = (\n"
    assert anchor in src
    dummy = '    Param("dummy_width", "eval", 3, "a test parameter", _num(1, 10, integer=True), type=int),\n'
    (pkg / "params.py").write_text(src.replace(anchor, anchor + dummy))
    tiny_config["experiments"]["lr_sweep"]["grid"]["dummy_width"] = [2, 5]
    script = textwrap.dedent(f"""
        import json, sys, yaml
        from htcore.config import load_study
        from htcore.configfile import ConfigError
        from htcore.params import markdown_table
        cfg, schema = json.loads(sys.argv[1]), yaml.safe_load(open({str(ROOT / "workflow/schemas/config.schema.yaml")!r}))
        study = load_study(cfg, schema)
        runs = study.experiments["lr_sweep"].runs
        out = {{"ids": sorted({{r.eval_id for r in runs}})[:2], "eval": runs[0].spec("eval")["params"]["dummy_width"],
                "in_train": "dummy_width" in runs[0].spec("train")["params"],
                "table": "`dummy_width` | eval | `3`" in markdown_table()}}
        cfg["defaults"]["dummy_width"] = 11
        try:
            load_study(cfg, schema)
        except ConfigError as e:
            out["error"] = str(e)
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(tiny_config)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ids"][0] == "dummy_width~2/optimizer~adam/lr~0.1/seed~0"  # declared first: first in ids
    assert out["eval"] in (2, 5) and out["in_train"] is False and out["table"] is True
    assert out["error"].startswith("defaults.dummy_width: 11 is greater than the maximum of 10")


def test_an_unknown_parameter_is_refused_naming_it(tiny_config, schema):
    tiny_config["defaults"]["dummy_width"] = 3
    with pytest.raises(ConfigError, match="defaults.dummy_width: unknown key"):
        load_study(tiny_config, schema)
