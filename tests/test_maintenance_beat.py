"""Two real beats side by side with a real worker: every periodic task runs once per slot, and
storage is cleaned on schedule (expired and orphaned files go from disk and database, referenced
ones never do).

Both beats run with ``BEAT_TEST_INTERVAL_S`` (every slotted entry every few seconds), each with its
own schedule file, as two beats started by mistake on two machines would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from schedules import BEAT_SCHEDULE
from storage.db import session_scope, utcnow
from storage.maintenance_models import FileRemoval
from storage.models import FileStatus, Job, ProductMedia
from tests.conftest import REPO, SCRATCH, WorkerProcess
from tests.test_maintenance import _exists, _product, _row, _upload
from workers import jobs

INTERVAL_S = 3
SLOTTED = {
    (entry["task"], bool(entry["kwargs"].get("full")))
    for entry in BEAT_SCHEDULE.values()
    if "slot_s" in entry.get("kwargs", {})
}


class BeatProcess:
    """A real ``skincare-workers beat`` with its own schedule file and log."""

    def __init__(self, name: str) -> None:
        data = SCRATCH / f"beat-{name}-{uuid.uuid4().hex[:6]}"
        data.mkdir(parents=True)
        self.log_path = data / "beat.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "beat"],
            cwd=REPO,
            env={**os.environ, "DATA_DIR": str(data), "BEAT_TEST_INTERVAL_S": str(INTERVAL_S)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")


@pytest.fixture
def two_beats(worker: WorkerProcess) -> Iterator[list[BeatProcess]]:
    beats = [BeatProcess("a"), BeatProcess("b")]
    try:
        yield beats
    finally:
        for beat in beats:
            beat.stop()


def _until(check: Callable[[], bool], what: str, beats: list[BeatProcess], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not seen within {timeout}s; beat log:\n{beats[0].log()[-3000:]}")


def _periodic_jobs(since: Any) -> list[Job]:
    kinds = {kind for kind, _ in SLOTTED}
    with session_scope() as session:
        return list(session.scalars(select(Job).where(Job.kind.in_(kinds), Job.created_at >= since)).all())


def test_two_beats_run_each_periodic_task_once_per_slot_and_keep_storage_clean(
    two_beats: list[BeatProcess],
) -> None:
    started = utcnow()
    now = utcnow()
    old = now - timedelta(days=8)
    expired = _upload(
        now - timedelta(days=2), size=100, is_temporary=True, expires_at=now - timedelta(hours=1)
    )
    orphan = _upload(old, size=100)
    referenced = _upload(old, size=100)
    young = _upload(now, size=100)
    with session_scope() as session:
        session.add(ProductMedia(product_id=_product(), file_id=referenced["id"]))

    def status(row: dict[str, Any]) -> FileStatus | None:
        found = _row(row["id"])
        return found.status if found else None

    _until(
        lambda: status(expired) == FileStatus.deleted and not any(_exists(k) for k in expired["keys"]),
        "the expired upload removed",
        two_beats,
    )
    _until(lambda: status(orphan) == FileStatus.deleted, "the orphan soft-deleted", two_beats)
    assert all(_exists(key) for key in orphan["keys"])  # its grace has not passed
    with session_scope() as session:  # ... until now: the grace is over
        session.execute(
            update(FileRemoval)
            .where(FileRemoval.file_id == orphan["id"])
            .values(due_at=now - timedelta(days=1))
        )
    _until(lambda: not any(_exists(k) for k in orphan["keys"]), "the orphan's bytes removed", two_beats)
    for kept in (referenced, young):
        assert status(kept) == FileStatus.active and all(_exists(key) for key in kept["keys"])

    time.sleep(2 * INTERVAL_S)  # a few more slots for every entry
    for beat in two_beats:
        beat.stop()
    # Let the worker finish what the beats sent: no job of theirs still queued or running.
    _until(
        lambda: all(job.state in jobs.FINISHED for job in _periodic_jobs(started)),
        "the beats' jobs finished",
        two_beats,
    )
    time.sleep(INTERVAL_S)
    assert all(job.state in jobs.FINISHED for job in _periodic_jobs(started))

    by_entry: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
    for job in _periodic_jobs(started):
        assert job.state == "succeeded", (job.kind, job.error)
        assert job.payload["slot_s"] == INTERVAL_S
        by_entry[(job.kind, bool(job.payload.get("full")))].append(job.result)
    assert set(by_entry) == SLOTTED
    skipped_for_slot = 0
    for entry, results in by_entry.items():
        ran = [result["slot"] for result in results if "skipped" not in result]
        assert ran, f"{entry} never ran"
        assert len(ran) == len(set(ran)), f"{entry} ran twice in a slot: {sorted(ran)}"
        skipped_for_slot += sum(result.get("skipped") == "slot_taken" for result in results)
    # Both beats sent every entry: the second message of a slot found it taken and did nothing.
    assert skipped_for_slot >= len(SLOTTED)
