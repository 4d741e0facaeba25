"""One pending re-evaluation timer in Snakemake's scheduler (a fix of an upstream bug).

Snakemake 9's ``JobScheduler.schedule`` ends every pass that found ready jobs with
``self._schedule_reevalutation(timespan)``: a new ``threading.Timer`` that, one second
later, releases the semaphore the scheduling loop waits on, so the loop makes another
pass, which starts another timer. Every job that finishes releases the semaphore too,
which starts one more such chain. No timer is ever cancelled or shared, so while jobs
stay ready the chains add up: after f finished jobs the loop makes about f passes a
second, and every pass re-evaluates every ready job. The passes grow with the square
of the jobs (docs/speed.md has the minimal reproduction written for upstream).

``install()`` replaces that one method by a version that starts a timer only when
none is pending; a timer that fires clears the flag, then wakes the loop, exactly as
the stock one does. Nothing else changes: a pass still follows every finished job,
and the loop is still woken at least once a timespan while jobs are ready.

What it saves (benchmarks/bench_share.py, 2 cores; docs/speed.md has the details):
the shrunk study of the tests (641 jobs, -j 2), run one after the other: Snakemake's
own CPU 13.4 s with it against 105.1 s without (-87 %), wall time 332 s against 403 s
(-18 %). The whole paper-scale study of 66550d2's config (1,946 jobs, -j 8) with it:
Snakemake's own CPU 148.6 s, 1.25 % of all the CPU; the same study without it is still
to be measured (issue 18 keeps the module only if it saves >= 5 % there).

It is installed from ``workflow/rules/common.smk``. It checks that Snakemake is the
major version it was written for and raises when the method it replaces is gone, so
an upgrade of Snakemake can never turn it off silently. ``HTSTUDY_STOCK_SCHEDULER=1``
runs Snakemake's own method instead (for measuring the two side by side, or as the
way out if a new Snakemake release breaks this module).
"""

from __future__ import annotations

import os
import threading

METHOD = "_schedule_reevalutation"  # sic: Snakemake's spelling
MAJOR = 9
STOCK_ENV = "HTSTUDY_STOCK_SCHEDULER"


class TimerFixError(RuntimeError):
    pass


def _one_pending_timer(self, delay) -> None:
    guard = self.__dict__.setdefault("_htstudy_timer_guard", threading.Lock())
    with guard:
        if self.__dict__.get("_htstudy_timer_pending"):
            return
        self._htstudy_timer_pending = True

    def fire() -> None:
        with guard:
            self._htstudy_timer_pending = False
        self._open_jobs.release()

    timer = threading.Timer(delay, fire)
    timer.daemon = True
    timer.start()


def install(environ=os.environ) -> bool:
    """Replace ``JobScheduler._schedule_reevalutation``; return whether it did.

    Returns False (and changes nothing) when ``HTSTUDY_STOCK_SCHEDULER=1``. Raises
    TimerFixError when Snakemake is not major version 9 or the method is gone."""
    if environ.get(STOCK_ENV, "") not in ("", "0"):
        return False
    import snakemake
    from snakemake.scheduling import job_scheduler

    version = getattr(snakemake, "__version__", "?")
    way_out = (f"Set {STOCK_ENV}=1 to run with Snakemake's own scheduler, or install the "
               f"Snakemake of requirements.txt.")
    if not version.startswith(f"{MAJOR}."):
        raise TimerFixError(f"htcore/snakemake_timers.py was written for Snakemake {MAJOR}.x; "
                            f"this is Snakemake {version}. {way_out}")
    cls = job_scheduler.JobScheduler
    current = getattr(cls, METHOD, None)
    if current is None:
        raise TimerFixError(f"Snakemake {version} has no JobScheduler.{METHOD}, the method "
                            f"htcore/snakemake_timers.py replaces. {way_out}")
    setattr(cls, METHOD, _one_pending_timer)
    return True
