"""Beat's schedule, in one place. Each entry says why it runs and how often.

Crontab, not intervals: an interval schedule restarts its countdown whenever beat restarts, so a
beat that restarts often would never fire a long interval. Every entry expires before the next
run is due, so a backlog never runs the same sweep twice in a row.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab


def _every(minutes: int) -> dict[str, Any]:
    return {"schedule": crontab(minute=f"*/{minutes}"), "options": {"expires": minutes * 60 * 0.9}}


BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Re-publish jobs whose message a broker lost or whose worker died: no job is lost.
    "reconcile-jobs": {"task": "maintenance.reconcile_jobs", **_every(1)},
}
