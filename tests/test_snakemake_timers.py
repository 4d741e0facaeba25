"""htcore/snakemake_timers.py: one pending re-evaluation timer in Snakemake's scheduler.

It must engage in the workflow, cut the scheduling passes of a real Snakemake run,
leave Snakemake's own method when asked to, and refuse loudly when Snakemake changes
under it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import snakemake
from snakemake.scheduling.job_scheduler import JobScheduler

from helpers import ROOT, write_config
from htcore import snakemake_timers as st

STOCK = JobScheduler.__dict__[st.METHOD]


class FakeScheduler:
    """What the method touches of a JobScheduler: the semaphore the loop waits on."""

    def __init__(self):
        self._open_jobs = threading.Semaphore(0)


def releases(sched: FakeScheduler) -> int:
    n = 0
    while sched._open_jobs.acquire(blocking=False):
        n += 1
    return n


def test_one_timer_while_one_is_pending():
    fixed, stock = FakeScheduler(), FakeScheduler()
    for _ in range(30):
        st._one_pending_timer(fixed, 0.2)
        STOCK(stock, 0.2)
    time.sleep(0.6)
    assert (releases(fixed), releases(stock)) == (1, 30)
    # the timer that fired cleared the flag: the next request starts a new one
    st._one_pending_timer(fixed, 0.05)
    time.sleep(0.3)
    assert releases(fixed) == 1


def test_install_replaces_the_method_and_the_env_keeps_snakemake_s(monkeypatch):
    monkeypatch.setattr(JobScheduler, st.METHOD, STOCK)
    assert st.install({st.STOCK_ENV: "1"}) is False
    assert JobScheduler.__dict__[st.METHOD] is STOCK
    assert st.install({}) is True
    assert JobScheduler.__dict__[st.METHOD] is st._one_pending_timer
    assert st.install({}) is True  # twice is harmless
    assert JobScheduler.__dict__[st.METHOD] is st._one_pending_timer


def test_install_raises_when_the_method_is_gone(monkeypatch):
    monkeypatch.delattr(JobScheduler, st.METHOD)
    with pytest.raises(st.TimerFixError, match=rf"no JobScheduler\.{st.METHOD}.*{st.STOCK_ENV}=1"):
        st.install({})


def test_install_raises_on_another_snakemake_major_version(monkeypatch):
    monkeypatch.setattr(JobScheduler, st.METHOD, STOCK)
    monkeypatch.setattr(snakemake, "__version__", "10.0.0")
    with pytest.raises(st.TimerFixError, match=rf"Snakemake 9\.x; this is Snakemake 10\.0\.0.*{st.STOCK_ENV}=1"):
        st.install({})
    assert JobScheduler.__dict__[st.METHOD] is STOCK


def environment(stock: bool) -> dict:
    """This process's environment, with HTSTUDY_STOCK_SCHEDULER=1 only when ``stock``."""
    env = {k: v for k, v in os.environ.items() if k != st.STOCK_ENV}
    if stock:
        env[st.STOCK_ENV] = "1"
    return env


PRINT_METHOD = (
    "import atexit, sys\n"
    "from snakemake.scheduling.job_scheduler import JobScheduler as J\n"
    f"atexit.register(lambda: print('METHOD', J.{st.METHOD}.__module__, J.{st.METHOD}.__name__))\n"
    "from snakemake.cli import main\n"
    "sys.argv = ['snakemake'] + sys.argv[1:]\n"
    "main()\n"
)


@pytest.mark.parametrize("stock", [False, True])
def test_the_workflow_installs_it(tmp_path, tiny_config, stock):
    write_config(tmp_path, tiny_config)
    env = environment(stock)
    out = subprocess.run([sys.executable, "-c", PRINT_METHOD, "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                          "-n", "-q", "all"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    want = "snakemake.scheduling.job_scheduler _schedule_reevalutation" if stock else \
        "htcore.snakemake_timers _one_pending_timer"
    assert f"METHOD {want}" in out.stdout


TOY = """\
from htcore import snakemake_timers
snakemake_timers.install()

rule all:
    input: expand("out/{{i}}.txt", i=range({n}))

rule one:
    output: "out/{{i}}.txt"
    shell: "sleep {sleep}; touch {{output}}"
"""


def passes(tmp_path, stock: bool, n: int = 40, sleep: float = 0.5) -> tuple[int, float]:
    work = tmp_path / ("stock" if stock else "fixed")
    work.mkdir()
    (work / "Snakefile").write_text(TOY.format(n=n, sleep=sleep))
    env = environment(stock)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(work / "Snakefile"), "-d", str(work),
                          "-j", "2", "--scheduler", "greedy", "--verbose", "all"],
                         capture_output=True, text=True, env=env, timeout=300)
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list((work / "out").iterdir())) == n
    return (out.stdout + out.stderr).count("Ready jobs"), wall


def test_it_cuts_the_passes_of_a_real_run(tmp_path):
    """40 jobs of 0.5 s at -j 2 (about 10 s): with the fix a pass follows each finished
    job plus at most one a second; Snakemake's own timers add a chain per finished job."""
    fixed, wall = passes(tmp_path, stock=False)
    stock, _ = passes(tmp_path, stock=True)
    assert fixed <= 40 + wall + 5, (fixed, wall)
    assert stock >= 2 * fixed, (stock, fixed)
