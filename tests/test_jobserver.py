"""The fork server for per-run jobs: same results as plain processes, failures and
exit codes propagate, and the client falls back when there is no server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from htcore import jobserver
from htcore.io import load_npz

CLIENT = Path(jobserver.__file__).with_name("jobclient.py")
SPEC = {"experiment": "x", "seed": 3, "data_id": "seed~3", "train_id": "seed~3", "eval_id": None,
        "params": {"d": 6, "h": 7, "n": 11, "n_test": 4, "label_noise_std": 0.3}}


def run_client(args, env, cwd, log):
    with open(log, "w") as f:
        return subprocess.run([sys.executable, "-S", "-I", str(CLIENT), *args], env=env, cwd=cwd,
                              stdout=f, stderr=subprocess.STDOUT).returncode


@pytest.fixture()
def server(tmp_path):
    path = jobserver.start(str(tmp_path), idle_timeout=30)
    assert path and os.path.exists(path)
    yield path
    jobserver.stop(path)


def test_served_job_equals_plain_job_and_logs_go_to_the_job(server, tmp_path):
    args = ["--threads", "1", "data", "--spec", json.dumps(SPEC), "--out", "served.npz"]
    env = {**os.environ, jobserver.ENV_SOCKET: server}
    assert run_client(args, env, tmp_path, tmp_path / "served.log") == 0
    plain_env = {k: v for k, v in os.environ.items() if k != jobserver.ENV_SOCKET}
    args[-1] = "plain.npz"
    assert run_client(args, plain_env, tmp_path, tmp_path / "plain.log") == 0
    a, b = load_npz(tmp_path / "served.npz"), load_npz(tmp_path / "plain.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    served_log = (tmp_path / "served.log").read_text()
    assert "htcore-timing stage=data import_s=0.0" in served_log  # libraries were already loaded


def test_failing_served_job_reports_its_exit_code_and_traceback(server, tmp_path):
    args = ["data", "--spec", "{not json", "--out", "x.npz"]
    env = {**os.environ, jobserver.ENV_SOCKET: server}
    assert run_client(args, env, tmp_path, tmp_path / "bad.log") != 0
    assert "JSONDecodeError" in (tmp_path / "bad.log").read_text()
    # the server survives a failing job
    ok = ["data", "--spec", json.dumps(SPEC), "--out", "y.npz"]
    assert run_client(ok, env, tmp_path, tmp_path / "ok.log") == 0


def test_client_falls_back_without_a_server(tmp_path):
    env = {**os.environ, jobserver.ENV_SOCKET: str(tmp_path / "no-such.sock")}
    args = ["data", "--spec", json.dumps(SPEC), "--out", "z.npz"]
    assert run_client(args, env, tmp_path, tmp_path / "z.log") == 0
    assert (tmp_path / "z.npz").exists()


def test_client_serves_exactly_the_per_run_stages():
    import ast

    from htcore.cli import PER_RUN_STAGES

    tree = ast.parse(CLIENT.read_text())
    served = next(ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and n.targets[0].id == "SERVED_STAGES")
    assert tuple(served) == PER_RUN_STAGES
