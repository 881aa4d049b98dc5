"""PostgreSQL → analytics store ETL (MongoDB in production): the seed's ``feedback_analytics``
and ``user_feedback_journey`` collections, run by beat (``etl.*`` tasks) or by hand
(``skincare-workers etl [--full]``). Both take the same lock, so they never run side by side.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from workers import jobs
from workers.etl.feedback_analytics import FEEDBACK_ANALYTICS
from workers.etl.runner import Etl, Progress, run
from workers.etl.user_journey import USER_FEEDBACK_JOURNEY
from workers.maintenance.periodic import hold, lock_ttl_s, run_periodic
from workers.taskbase import PermanentError

ETLS = (FEEDBACK_ANALYTICS, USER_FEEDBACK_JOURNEY)


def task_name(etl: Etl) -> str:
    """The public task of an ETL, which is also the name of its lock."""
    return f"etl.{etl.collection}"


def run_task(etl: Etl, *, full: Any, job_id: str | None, slot_s: int | None) -> dict[str, Any]:
    """The body of an ``etl.*`` task: one run under the ETL's lock, reporting progress to the job."""
    if not isinstance(full, bool):
        raise PermanentError(f"full must be true or false, not {full!r}")
    task = task_name(etl)

    def progress(done: int, total: int) -> None:
        if job_id is not None:
            jobs.set_progress(job_id, 100 * done // max(total, 1))

    return run_periodic(
        task,
        lambda: run(etl, full=full, progress=progress),
        job_id=job_id,
        slot_s=slot_s,
        slot_name=f"{task}:full" if full else task,  # the nightly full run has a slot of its own
    )


def run_by_hand(*, full: bool, out: TextIO = sys.stderr) -> int:
    """``skincare-workers etl``: every ETL in this process, a progress bar on ``out``, a summary
    line each on stdout. Returns 1 if an ETL was skipped because a run of it holds the lock."""
    status = 0
    for etl in ETLS:
        task = task_name(etl)
        started = time.monotonic()
        with hold(task, lock_ttl_s(task)) as held:
            if not held:
                print(f"{etl.collection}: skipped, another run holds the lock {task}", file=out)
                status = 1
                continue
            result = run(etl, full=full, progress=ProgressBar(etl.collection, out))
        print(
            f"{etl.collection}: {result['mode']}, {result['documents']} documents "
            f"({result['written']} written, {result['unchanged']} unchanged) "
            f"in {time.monotonic() - started:.1f} s"
        )
    return status


class ProgressBar:
    """``name [#########.........]  45%  450/1000`` redrawn in place, at most 10 times a second."""

    WIDTH = 30

    def __init__(self, name: str, out: TextIO) -> None:
        self._name, self._out, self._drawn = name, out, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        self._out.write(f"\r{self._name} [{bar}] {100 * done // max(total, 1):3d}%  {done}/{total}{end}")
        self._out.flush()


__all__ = [
    "ETLS",
    "FEEDBACK_ANALYTICS",
    "USER_FEEDBACK_JOURNEY",
    "Progress",
    "run",
    "run_by_hand",
    "run_task",
]
