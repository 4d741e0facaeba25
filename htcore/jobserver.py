"""A fork server for the per-run jobs: pay Python's start-up once per workflow run.

A per-run job does 0.05-2 s of work, but a fresh interpreter importing NumPy,
pyarrow and SciPy costs 0.2-0.4 s: with three such jobs per run (data, spectrum,
evaluate), start-up is a fifth of the lr_sweep's wall time (README, "Speed"). For local execution the Snakefile's ``onstart``
starts this server, which imports those libraries once and then, for each job,
forks a worker that runs :func:`htcore.cli.main` with the job's arguments, working
directory and open log file (passed over a Unix socket with ``SCM_RIGHTS``). The job
itself runs :mod:`htcore.jobclient`, a stdlib-only client that starts in ~10 ms and
exits with the worker's exit code.

Nothing changes in what a job computes: the worker runs the same ``cli.main`` on the
same inputs in a fresh fork (single-threaded BLAS, as the jobs). When there is no
server (SLURM jobs, dry runs, ``HTCORE_JOBSERVER`` unset, the server gone, a job
asking for more than one thread), the client runs ``python -m htcore`` instead.

The server exits on ``shutdown`` (sent by the Snakefile's onsuccess/onerror, and
when the Snakemake process exits for any other reason, e.g. an error outside a job),
within a second of its parent (Snakemake) going away (``kill -9``), on SIGTERM or
SIGINT, or after ``idle_timeout`` seconds without a request; each way it removes its
socket file. Its stderr is Snakemake's: a failing served job writes its one-line
cause there as well as to its log (the log may be on a full disk).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path

# the per-run stages (htcore.stages.PER_RUN), from the stdlib-only client: importing
# htcore.stages here would load NumPy, and so start OpenBLAS threads, before serve()
# pins BLAS to one thread (forked workers then ran 1.3-3.5x slower)
from htcore.jobclient import SERVED_STAGES  # others run as plain processes


def socket_path(workdir: str) -> str:
    """A short socket path (Unix sockets allow ~100 characters) unique per run."""
    tag = abs(hash((os.path.realpath(workdir), os.getpid(), time.time()))) % 10**10
    return str(Path(tempfile.gettempdir()) / f"htcore-{os.getuid()}-{tag}.sock")


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("client closed the connection")
        buf += chunk
    return buf


def _say(fd: int, line: str) -> None:
    """Write one line to ``fd``, ignoring failures (a full disk, a closed terminal)."""
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode(errors="replace"))
    except OSError:
        pass


def _worker(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the job, run it, report the exit code."""
    os.setpgid(0, 0)  # own process group: the client forwards signals to it
    console = os.dup(2)  # the server's stderr: Snakemake's console
    if "umask" in request:
        os.umask(request["umask"])  # the job's, not the server's
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in fds:
        os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(request["cwd"])
    conn.sendall(struct.pack("!i", os.getpid()))
    from htcore import cli

    why = None
    try:
        rc = cli.main(request["argv"])
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            rc = e.code
        else:  # a message, as a plain process would print it
            why, rc = str(e.code), 1
            print(why, file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - report any failure as the job's failure
        traceback.print_exc()
        why, rc = f"{type(e).__name__}: {' '.join(str(e).split())[:300]} (traceback in the job's log)", 1
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except OSError:
            pass
    if why is not None:
        stage = next((a for a in request["argv"] if not a.startswith("-") and a in SERVED_STAGES), "job")
        _say(console, why if why.startswith("htcore ") else f"htcore {stage}: {why}")
    conn.sendall(struct.pack("!i", int(rc or 0)))
    os._exit(int(rc or 0))


class _Stop(Exception):
    """Raised in the server by SIGTERM/SIGINT: leave the loop, remove the socket."""


def serve(path: str, idle_timeout: float = 60.0) -> None:
    """Import the per-run stages' libraries, then fork a worker per request."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from htcore import cli

    sys.meta_path.insert(0, cli._NoPandas)
    import importlib

    from htcore.stages import STAGES

    for stage in SERVED_STAGES:
        for mod in STAGES[stage].imports:
            importlib.import_module(mod)
    # the science modules the served stages import inside their functions
    for mod in ("data", "train", "evaluate", "baselines", "spectra", "shape", "tails", "updates", "memo"):
        importlib.import_module(f"htcore.{mod}")

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    server_pid, parent = os.getpid(), os.getppid()

    def on_signal(sig, _frame):
        if os.getpid() != server_pid:  # a worker not yet past its own signal setup
            os._exit(128 + sig)
        raise _Stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(path)
        srv.listen(64)
        srv.settimeout(min(1.0, idle_timeout))
        last = time.monotonic()
        while True:
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                if os.getppid() != parent or time.monotonic() - last >= idle_timeout:
                    return  # Snakemake is gone (kill -9), or idle
                continue
            last = time.monotonic()
            with conn:
                conn.settimeout(None)
                try:
                    size = struct.unpack("!i", _recv_exact(conn, 4))[0]
                    msg, fds, _, _ = socket.recv_fds(conn, size, 2)
                    msg += _recv_exact(conn, size - len(msg)) if len(msg) < size else b""
                    request = json.loads(msg)
                except (ConnectionError, ValueError, OSError):
                    continue
                if request.get("shutdown"):
                    return
                if os.fork() == 0:
                    srv.close()
                    _worker(conn, request, fds)
                for fd in fds:
                    os.close(fd)
    except _Stop:
        pass
    finally:
        if os.getpid() == server_pid:
            srv.close()
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def start(workdir: str, python: str = sys.executable, idle_timeout: float = 60.0, wait: float = 10.0,
          stderr=None) -> str | None:
    """Start a server in the background; return its socket path (None if it failed
    to come up, in which case jobs simply run as plain processes). Its stderr (the
    console for failing jobs' one-line causes) is this process's unless given."""
    import subprocess

    path = socket_path(workdir)
    subprocess.Popen([python, "-m", "htcore.jobserver", path, str(idle_timeout)], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.time() + wait
    while time.time() < deadline:
        if os.path.exists(path):
            return path
        time.sleep(0.02)
    return None


def stop(path: str | None) -> None:
    """Ask the server at ``path`` to exit (no-op if it is gone)."""
    if not path:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            msg = json.dumps({"shutdown": True}).encode()
            s.sendall(struct.pack("!i", len(msg)))
            socket.send_fds(s, [msg], [])
    except OSError:
        pass


ENV_SOCKET = "HTCORE_JOBSERVER"
ENV_DISABLE = "HTCORE_NO_JOBSERVER"


def start_for_jobs(local: bool) -> None:
    """Snakemake onstart hook: for local execution start a server and advertise it
    to the jobs (which inherit this process's environment) via HTCORE_JOBSERVER."""
    if local and not os.environ.get(ENV_DISABLE):
        path = start(os.getcwd())
        if path:
            os.environ[ENV_SOCKET] = path
            import atexit

            atexit.register(stop_for_jobs)  # also when Snakemake fails outside a job


def stop_for_jobs() -> None:
    """Snakemake onsuccess/onerror hook: stop the server started by start_for_jobs."""
    stop(os.environ.pop(ENV_SOCKET, None))


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 60.0)
