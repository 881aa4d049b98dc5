"""maintenance.*: periodic housekeeping run by beat (see ``schedules``).

``slot_s`` is set by beat only (the entry's period): a second beat's run of the same slot does
nothing, and a run still going makes the next one step aside.
"""

from __future__ import annotations

from typing import Any

from workers import jobs
from workers.maintenance import files, moderation
from workers.maintenance.periodic import run_periodic
from workers.settings import get_settings
from workers.taskbase import job_task


@job_task("maintenance.reconcile_jobs")
def reconcile_jobs(self: Any) -> dict[str, int]:
    """Re-publish jobs whose message was lost (queued too long, retry due, lease expired)."""
    return jobs.reconcile(queued_grace_s=get_settings().queued_grace_s)


@job_task("maintenance.cleanup_expired_files")
def cleanup_expired_files(self: Any, slot_s: int | None = None) -> dict[str, Any]:
    """Temporary uploads past their expiry: marked deleted, bytes and thumbnails removed."""
    return run_periodic(self.name, files.cleanup_expired_uploads, job_id=self.request.id, slot_s=slot_s)


@job_task("maintenance.cleanup_orphaned_files")
def cleanup_orphaned_files(self: Any, slot_s: int | None = None) -> dict[str, Any]:
    """Unreferenced active files older than 7 days: soft-deleted, bytes removed after a grace."""
    return run_periodic(self.name, files.cleanup_orphaned_files, job_id=self.request.id, slot_s=slot_s)


@job_task("maintenance.purge_failed_uploads")
def purge_failed_uploads(self: Any, slot_s: int | None = None) -> dict[str, Any]:
    """Failed uploads past 7 days and quarantined ones past 30 (review closed): bytes, then rows."""
    return run_periodic(self.name, files.purge_failed_uploads, job_id=self.request.id, slot_s=slot_s)


@job_task("maintenance.escalate_moderation")
def escalate_moderation(self: Any, slot_s: int | None = None) -> dict[str, Any]:
    """Moderation items pending past their priority's SLA: escalated, moderators alerted once."""
    return run_periodic(self.name, moderation.escalate_overdue, job_id=self.request.id, slot_s=slot_s)
