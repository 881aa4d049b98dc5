"""Bulk statements and the hand-off of deliveries to ``notifications.deliver``.

A delivery's job row is written in the same transaction as the delivery, and its message is
published after the commit (the ledger's rule). If the publish is lost, the jobs reconciler
re-publishes the queued job; if it is repeated, the job id (derived from the delivery id) makes
the second message find the job held or done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from celery import group
from sqlalchemy.orm import Session

from workers import jobs

log = logging.getLogger(__name__)

DELIVER_TASK = "notifications.deliver"

#: Opens a unit of work (``storage.db.session_scope``, or a test's own database).
Scope = Callable[[], AbstractContextManager[Session]]
#: Hands committed delivery ids to ``notifications.deliver`` (:func:`dispatch`; tests collect them).
Dispatch = Callable[[Sequence[int]], None]
#: uuid5 namespace of delivery job ids: one delivery, one job, whoever publishes it.
_JOB_NAMESPACE = uuid.UUID("6b0c7a52-8f3e-4c55-9a51-2f8d3f0c9e11")


def deliver_job_id(delivery_id: int) -> uuid.UUID:
    return uuid.uuid5(_JOB_NAMESPACE, f"{DELIVER_TASK}:{delivery_id}")


def record_deliver_jobs(session: Session, delivery_ids: Sequence[int], now: datetime) -> None:
    """Queue a ``notifications.deliver`` job per delivery in the ledger (existing ones are kept)."""
    payloads = {deliver_job_id(delivery_id): {"delivery_id": delivery_id} for delivery_id in delivery_ids}
    jobs.submit_many(session, DELIVER_TASK, payloads, now)


def dispatch(delivery_ids: Sequence[int]) -> None:
    """Publish the deliveries' jobs as one Celery group (after their rows are committed)."""
    if not delivery_ids:
        return
    from workers.app import app

    try:
        group(
            app.signature(DELIVER_TASK, kwargs={"delivery_id": i}, task_id=str(deliver_job_id(i)))
            for i in delivery_ids
        ).apply_async()
    except Exception:
        log.exception("publishing %d deliveries failed; the jobs reconciler will", len(delivery_ids))
