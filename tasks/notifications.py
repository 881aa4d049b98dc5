"""notifications.*: fan-out of events and delivery of e-mail and push (see README, task contract).

* ``notifications.fanout(event: dict)`` -- ``event = {"type": T, "event_id": <stable key>, ...ids}``
  (types and fields in ``workers/notifications/events.py``). Creates one delivery per recipient and
  chosen channel, writes the in-app rows, queues ``notifications.deliver`` for e-mail and push.
  Progress on its job. Without ``event_id`` the job id is the event key.
* ``notifications.deliver(delivery_id: int)`` -- sends one e-mail or push delivery; queued by the
  fan-out and the digest, safe to call again for any delivery (a finished one is left alone).
* ``notifications.send_digests(day: str | None = None)`` -- beat, daily: one e-mail per person
  carrying their waiting low-priority e-mails (``day`` = ISO date, default today, UTC).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from workers.notifications.delivery import deliver as deliver_one
from workers.notifications.digest import build_digests
from workers.notifications.fanout import fan_out
from workers.notifications.settings import get_notification_settings
from workers.taskbase import job_task

_settings = get_notification_settings()


@job_task("notifications.fanout")
def fanout(self: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Fan ``event`` out to its recipients (see the module docstring)."""
    return fan_out(event, job_id=self.request.id)


@job_task(
    "notifications.deliver",
    # The delivery row counts sends and gives up at NOTIFY_MAX_ATTEMPTS; the ledger's own limit
    # stays above it so that the row, not the ledger, decides.
    max_job_retries=_settings.max_attempts + 3,
    retry_backoff_s=_settings.retry_backoff_s,
    retry_backoff_max_s=_settings.retry_backoff_max_s,
)
def deliver(self: Any, delivery_id: int) -> dict[str, Any]:
    """Send one e-mail or push delivery."""
    return deliver_one(delivery_id)


@job_task("notifications.send_digests")
def send_digests(self: Any, day: str | None = None) -> dict[str, Any]:
    """Send today's (or ``day``'s) digest e-mails."""
    return build_digests(date.fromisoformat(day) if day else None)
