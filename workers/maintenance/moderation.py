"""Moderation escalation: items waiting for a moderator past their SLA are escalated, once.

An item is escalated by a conditional UPDATE (``WHERE escalated IS NOT TRUE``), and its
``moderation_alert`` job is recorded in the same transaction (published after the commit; the
reconciler publishes it if that publish is lost), keyed by the item id: a rerun finds nothing left
to escalate and no moderator hears of an item twice.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, true

from storage.db import session_scope, utcnow
from storage.models import ModerationQueue
from workers import jobs
from workers.maintenance.files import BATCH_SIZE, OPEN_REVIEW, TIME_BUDGET_S, in_batches, update_batch

#: How long an item may wait per ``priority_level`` (1 is the most urgent; the upload pipeline
#: files malware at 1). An item without a level waits as long as the seed's default level, 3.
SLA_BY_PRIORITY: dict[int, timedelta] = {
    1: timedelta(hours=1),
    2: timedelta(hours=4),
    3: timedelta(hours=24),
    4: timedelta(hours=48),
    5: timedelta(hours=72),
}
DEFAULT_PRIORITY = 3

log = logging.getLogger(__name__)


def escalate_overdue(
    *,
    now: datetime | None = None,
    sla: dict[int, timedelta] | None = None,
    batch_size: int = BATCH_SIZE,
    time_budget_s: float = TIME_BUDGET_S,
) -> dict[str, Any]:
    """Escalate pending items older than their priority's SLA and alert the moderators."""
    now = now or utcnow()
    sla = sla or SLA_BY_PRIORITY
    level = ModerationQueue.priority_level
    overdue = and_(
        ModerationQueue.status.in_(OPEN_REVIEW),
        ModerationQueue.escalated.is_not(True),
        or_(
            *(
                (level == priority) & (ModerationQueue.created_at < now - wait)
                for priority, wait in sla.items()
            ),
            level.is_(None) & (ModerationQueue.created_at < now - sla[DEFAULT_PRIORITY]),
        ),
    )
    escalated = 0

    def batch() -> int:
        nonlocal escalated
        with session_scope() as session:
            chosen, rows = update_batch(
                session,
                ModerationQueue,
                overdue,
                batch_size,
                {"escalated": true(), "escalated_at": now, "updated_at": now},
                [
                    ModerationQueue.id,
                    ModerationQueue.content_type,
                    ModerationQueue.content_id,
                    ModerationQueue.priority_level,
                    ModerationQueue.created_at,
                ],
            )
            alerts = []
            for row in rows:
                payload = _alert(row, sla)
                key = f"notify:{payload['event']['event_id']}"
                alerts.append(jobs.submit(session, "notifications.fanout", payload, idempotency_key=key))
        for job, created in alerts:
            if created:
                try:
                    jobs.publish(job.id, job.kind, job.payload)
                except Exception:
                    log.exception("publish failed; the reconciler will re-publish job %s", job.id)
        escalated += len(rows)
        return chosen

    batches, more = in_batches(batch, time.monotonic() + time_budget_s)
    return {"escalated": escalated, "batches": batches, "more": more}


def _alert(row: Any, sla: dict[int, timedelta]) -> dict[str, Any]:
    """The ``notifications.fanout`` payload alerting the moderators to one escalated item."""
    priority = row.priority_level or DEFAULT_PRIORITY
    hours = sla.get(priority, sla[DEFAULT_PRIORITY]) / timedelta(hours=1)
    event = {
        "type": "moderation_alert",
        "event_id": f"moderation_escalated:{row.id}",
        "content_type": row.content_type,
        "content_id": row.content_id,
        "reason": f"waiting for review since {row.created_at:%Y-%m-%d %H:%M} UTC, past its {hours:g} h SLA",
        "priority": priority,
    }
    return {"event": event}
