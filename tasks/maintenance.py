"""maintenance.*: periodic housekeeping run by beat (see ``schedules``)."""

from __future__ import annotations

from typing import Any

from workers import jobs
from workers.settings import get_settings
from workers.taskbase import job_task


@job_task("maintenance.reconcile_jobs")
def reconcile_jobs(self: Any) -> dict[str, int]:
    """Re-publish jobs whose message was lost (queued too long, retry due, lease expired)."""
    return jobs.reconcile(queued_grace_s=get_settings().queued_grace_s)
