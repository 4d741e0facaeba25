"""Client of htcore.jobserver: what a per-run job runs. Standard library only.

Run as ``python -S -I jobclient.py <htcore cli arguments>`` (no site-packages: it
starts in ~10 ms). If ``HTCORE_JOBSERVER`` names a live server and the job is a
single-threaded per-run stage, the server forks a worker that runs the job with this
process's stdout/stderr (the job's log) and working directory, and this process
exits with the worker's exit code, forwarding SIGTERM/SIGINT to it. Otherwise it
replaces itself with ``python -m htcore <arguments>``: the same job, as a plain
process.
"""

import json
import os
import signal
import socket
import struct
import sys

# htcore.stages.PER_RUN, repeated because this client imports nothing outside the
# standard library (tests/test_jobserver.py checks they agree)
SERVED_STAGES = ("data", "run")


def _plain(argv):
    os.execv(sys.executable, [sys.executable, "-m", "htcore", *argv])


def _recv_int(conn):
    buf = b""
    while len(buf) < 4:
        chunk = conn.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    return struct.unpack("!i", buf)[0]


def _stage_and_threads(argv):
    threads, i = 1, 0
    while i < len(argv) and argv[i].startswith("--"):
        if argv[i] == "--threads":
            threads = int(argv[i + 1])
            i += 1
        i += 1
    return (argv[i] if i < len(argv) else None), threads


def main(argv):
    path = os.environ.get("HTCORE_JOBSERVER")
    stage, threads = _stage_and_threads(argv)
    if not path or stage not in SERVED_STAGES or threads != 1:
        _plain(argv)
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        umask = os.umask(0o022)
        os.umask(umask)
        msg = json.dumps({"argv": argv, "cwd": os.getcwd(), "umask": umask}).encode()
        conn.sendall(struct.pack("!i", len(msg)))
        socket.send_fds(conn, [msg], [1, 2])
        pid = _recv_int(conn)
    except OSError:
        pid = None
    if pid is None:  # no server (gone, refused): run the job here
        _plain(argv)

    def forward(sig, _frame):
        try:
            os.killpg(pid, sig)
        except OSError:
            pass
        sys.exit(128 + sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc = _recv_int(conn)
    sys.exit(1 if rc is None else rc)


if __name__ == "__main__":
    main(sys.argv[1:])
