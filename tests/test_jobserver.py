"""The fork server for per-run jobs: same results as plain processes, failures and
exit codes propagate (an OSError as one line in the log and on the console), the
client falls back when there is no server, and the server leaves no socket behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from htcore import jobserver
from htcore.io import load_npz

CLIENT = Path(jobserver.__file__).with_name("jobclient.py")
SPEC = {"experiment": "x", "seed": 3, "data_id": "seed~3", "train_id": "seed~3", "eval_id": None,
        "params": {"d": 6, "h": 7, "n": 11, "label_noise_std": 0.3, "teacher_kind": "single_index",
                   "teacher_link": "softplus"}}


def run_client(args, env, cwd, log, umask=-1):
    with open(log, "w") as f:
        return subprocess.run([sys.executable, "-S", "-I", str(CLIENT), *args], env=env, cwd=cwd,
                              stdout=f, stderr=subprocess.STDOUT, umask=umask).returncode


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

    from htcore.stages import PER_RUN

    tree = ast.parse(CLIENT.read_text())
    served = next(ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and n.targets[0].id == "SERVED_STAGES")
    assert tuple(served) == PER_RUN


def test_served_job_writes_with_the_clients_umask(server, tmp_path):
    env = {**os.environ, jobserver.ENV_SOCKET: server}
    args = ["data", "--spec", json.dumps(SPEC), "--out", "m.npz"]
    assert run_client(args, env, tmp_path, tmp_path / "m.log", umask=0o027) == 0
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640


def test_disk_full_is_one_line_naming_the_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    from htcore import cli

    def full(f, **arrays):
        f.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # cli.main adds its pandas blocker
    monkeypatch.setattr(np, "savez", full)
    out = tmp_path / "data" / "seed~3.npz"
    with pytest.raises(SystemExit) as e:
        cli.main(["data", "--spec", json.dumps(SPEC), "--out", str(out)])
    assert e.value.code == f"htcore data: [Errno 28] cannot write {out}: No space left on device (ENOSPC)"
    assert list(out.parent.iterdir()) == []  # the partial temp file is gone: its space is free again


def test_served_job_os_error_reaches_log_and_console(tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    with open(tmp_path / "console", "w") as console:
        server = jobserver.start(str(tmp_path), idle_timeout=30, stderr=console)
    try:
        env = {**os.environ, jobserver.ENV_SOCKET: server}
        args = ["data", "--spec", json.dumps(SPEC), "--out", "afile/x.npz"]
        assert run_client(args, env, tmp_path, tmp_path / "os.log") == 1
    finally:
        jobserver.stop(server)
    line = "htcore data: [Errno 17] File exists: 'afile' (EEXIST)\n"
    assert (tmp_path / "os.log").read_text() == line  # no traceback
    assert (tmp_path / "console").read_text() == line


def wait_gone(path, seconds=5.0):
    import time

    deadline = time.time() + seconds
    while os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    return not os.path.exists(path)


def wait_for(path, seconds=20.0):
    import time

    deadline = time.time() + seconds
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    return os.path.exists(path)


def test_sigterm_stops_the_server_and_removes_its_socket(tmp_path):
    path = str(tmp_path / "s.sock")
    proc = subprocess.Popen([sys.executable, "-m", "htcore.jobserver", path, "30"])
    assert wait_for(path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(path)


def test_server_stops_when_snakemake_fails_outside_a_job(tmp_path):
    """onstart started the server, then Snakemake failed before any onerror hook."""
    code = ("import os; from htcore import jobserver; jobserver.start_for_jobs(True); "
            "print(os.environ[jobserver.ENV_SOCKET], flush=True); raise RuntimeError('outside a job')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "outside a job" in proc.stderr
    assert wait_gone(proc.stdout.strip(), 3.0)


def test_server_stops_soon_after_its_parent_is_killed(tmp_path):
    code = ("import os, signal; from htcore import jobserver; print(jobserver.start('.', idle_timeout=60), "
            "flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert wait_gone(proc.stdout.strip(), 5.0)


def test_server_module_loads_no_numpy_before_pinning_blas_threads():
    # NumPy imported before serve() sets OMP_NUM_THREADS=1 starts multi-threaded BLAS
    # in the server; its forked workers then ran 1.3-3.5x slower (bench_workflow.py)
    code = "import sys, htcore.jobserver; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
