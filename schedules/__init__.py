"""Beat's schedule, in one place. Each entry says why it runs and how often.

Crontab, not intervals: an interval schedule restarts its countdown whenever beat restarts, so a
beat that restarts often would never fire a long interval. Every entry expires before the next
run is due, so a backlog never runs the same sweep twice in a row.

Entries made by ``_slotted`` also pass their period to the task as ``slot_s``: the run claims its
slot and holds a lock (``workers.maintenance.periodic``), so a second beat started by mistake, or
a run still going when the next one is due, never makes a periodic task run twice.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from celery.schedules import crontab

MINUTE, HOUR, DAY = 60, 3600, 86400
#: Test only: every slotted entry runs every this many seconds instead of on its crontab, so the
#: beat tests see many slots in seconds. Unset in every deployment.
TEST_INTERVAL_S = int(os.environ.get("BEAT_TEST_INTERVAL_S") or 0)


def _every(minutes: int) -> dict[str, Any]:
    return {"schedule": crontab(minute=f"*/{minutes}"), "options": {"expires": minutes * 60 * 0.9}}


def _slotted(task: str, period_s: int, cron: crontab, **kwargs: Any) -> dict[str, Any]:
    """``task`` on ``cron``, which must fire once per ``period_s`` slot (counted from the Unix epoch,
    UTC), with ``slot_s=period_s`` among its keyword arguments."""
    schedule: crontab | timedelta = cron
    if TEST_INTERVAL_S:
        period_s, schedule = TEST_INTERVAL_S, timedelta(seconds=TEST_INTERVAL_S)
    return {
        "task": task,
        "schedule": schedule,
        "options": {"expires": period_s * 0.9},
        "kwargs": {**kwargs, "slot_s": period_s},
    }


BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Re-publish jobs whose message a broker lost or whose worker died: no job is lost.
    "reconcile-jobs": {"task": "maintenance.reconcile_jobs", **_every(1)},
    # One digest e-mail a day of the low-priority news (08:00 in Cambodia); a unique key per
    # person and day makes a second run send nothing.
    "send-notification-digests": {
        "task": "notifications.send_digests",
        "schedule": crontab(hour="1", minute="0"),
        "options": {"expires": 23 * HOUR},
    },
    # Temporary uploads live a day; removing them within 15 minutes of expiry keeps storage honest.
    "cleanup-expired-files": _slotted(
        "maintenance.cleanup_expired_files", 15 * MINUTE, crontab(minute="*/15")
    ),
    # Orphans are judged after 7 days, so once a day is plenty; at night, off the shop's peak.
    "cleanup-orphaned-files": _slotted(
        "maintenance.cleanup_orphaned_files", DAY, crontab(hour="4", minute="0")
    ),
    # Failed and quarantined uploads are kept for days; a nightly purge is enough.
    "purge-failed-uploads": _slotted("maintenance.purge_failed_uploads", DAY, crontab(hour="4", minute="30")),
    # The tightest moderation SLA is an hour; checking hourly escalates within two.
    "escalate-moderation": _slotted("maintenance.escalate_moderation", HOUR, crontab(minute="10")),
    # Analytics within 15 minutes of a review or order: incremental runs read only changed rows.
    "etl-feedback-analytics": _slotted("etl.feedback_analytics", 15 * MINUTE, crontab(minute="5-59/15")),
    "etl-user-feedback-journey": _slotted(
        "etl.user_feedback_journey", 15 * MINUTE, crontab(minute="8-59/15")
    ),
    # Nightly full rebuilds: the only runs that see deleted reviews, orders and users.
    "etl-feedback-analytics-full": _slotted(
        "etl.feedback_analytics", DAY, crontab(hour="3", minute="0"), full=True
    ),
    "etl-user-feedback-journey-full": _slotted(
        "etl.user_feedback_journey", DAY, crontab(hour="3", minute="30"), full=True
    ),
}
