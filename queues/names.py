"""The queues, declared once. Kept free of heavy imports: the API, the CLI and celeryconfig read it.

Queues split work by its kind, so each can get its own worker pool and scale without code changes
(imaging is CPU-bound and memory-hungry; the others mostly wait on I/O).
"""

from __future__ import annotations

from enum import StrEnum

from kombu import Exchange, Queue


class CeleryQueue(StrEnum):
    UPLOADS = "uploads"  # validation and virus scanning: I/O-bound, waits on clamd
    IMAGING = "imaging"  # decoding and thumbnailing: CPU and memory, one task per process at a time
    FEEDBACK = "feedback"  # sentiment, moderation and counters for reviews, questions, answers, progress
    NOTIFICATIONS = "notifications"  # fan-out and per-channel delivery
    MAINTENANCE = "maintenance"  # beat: cleanup, job reconciliation, escalation
    ETL = "etl"  # beat: PostgreSQL -> analytics documents; long-running


#: Queues where one task holds a process for long: prefetch nothing beyond it.
HEAVY_QUEUES = frozenset({CeleryQueue.IMAGING, CeleryQueue.ETL})

_exchange = Exchange("skincare", type="direct", durable=True)

TASK_QUEUES = tuple(Queue(q.value, _exchange, routing_key=q.value, durable=True) for q in CeleryQueue)


def parse_queues(value: str) -> list[CeleryQueue]:
    """``"uploads,imaging"`` -> queues; an unknown name fails loudly instead of creating a queue."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    try:
        return [CeleryQueue(n) for n in names]
    except ValueError as exc:
        known = ", ".join(q.value for q in CeleryQueue)
        raise ValueError(f"unknown queue in {value!r}; known queues: {known}") from exc
