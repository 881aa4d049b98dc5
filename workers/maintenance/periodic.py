"""Every periodic task runs through :func:`run_periodic`: never two at once, once per slot.

Two guards, for two ways a periodic task could run twice:

* **A lock with a TTL** keeps runs apart: a slow run still at work when its next slot comes, or
  the messages of two beats processed side by side. With Redis configured it is a Redis key
  (``SET NX EX``, released by a compare-and-delete script, so a run never frees a lock another
  run took after its own expired). Without Redis (the embedded SQLite default, or PostgreSQL with
  RabbitMQ) it is a lease row in ``periodic_locks`` taken by a conditional UPDATE, which holds
  across processes and machines alike. The TTL is the task's hard time limit plus a margin: no
  run outlives its hard limit, so the lock never lapses under a live run, and a worker killed
  mid-run frees it when the TTL ends.
* **A slot claim** makes a run fired by beat happen once per schedule slot. Beat passes the
  entry's period as ``slot_s``; the run claims slot ``floor(now / slot_s)`` in ``periodic_slots``
  with a conditional UPDATE. A second beat fires the same entry; its message finds the slot taken
  and does nothing, even when it comes after the first run finished and let the lock go. A retry
  of the same job re-enters its own slot. A run asked for by hand (no ``slot_s``) takes only the lock.

The slot is read from the clock when the message is processed, not when beat sent it (a Celery
message carries no send time); every beat entry expires within 0.9 of its period, so a message
is processed in its own slot or, when a busy worker reaches it late, claims the next one, whose
own messages then find it taken.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Protocol, cast

import redis
from sqlalchemy import CursorResult, and_, or_, update
from sqlalchemy.exc import IntegrityError

from celeryconfig import time_limits
from storage.db import session_scope, utcnow
from storage.maintenance_models import PeriodicLock, PeriodicSlot
from storage.redis import redis_client
from workers.jobs import lease_holder
from workers.taskbase import PermanentError

log = logging.getLogger(__name__)

#: Seconds a lock outlives its task's hard time limit: the worker's kill and ack take a moment.
LOCK_MARGIN_S = 30
REDIS_PREFIX = "skincare:lock:"
#: Delete KEYS[1] only while it still holds this run's token.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LockBackend(Protocol):
    def acquire(self, name: str, token: str, ttl_s: int) -> bool: ...
    def release(self, name: str, token: str) -> None: ...


class RedisLocks:
    """One key per lock name, expiring on its own."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def acquire(self, name: str, token: str, ttl_s: int) -> bool:
        return bool(self._client.set(REDIS_PREFIX + name, token, nx=True, ex=ttl_s))

    def release(self, name: str, token: str) -> None:
        self._client.eval(_RELEASE, 1, REDIS_PREFIX + name, token)


class DatabaseLocks:
    """One ``periodic_locks`` row per lock name; held while ``expires_at`` is in the future."""

    def acquire(self, name: str, token: str, ttl_s: int) -> bool:
        now = utcnow()
        with session_scope() as session:
            if session.get(PeriodicLock, name) is None:
                try:
                    with session.begin_nested():
                        session.add(PeriodicLock(name=name))
                except IntegrityError:
                    pass  # created by a concurrent first run; the UPDATE below decides
            taken = cast(
                CursorResult[Any],
                session.execute(
                    update(PeriodicLock)
                    .where(
                        PeriodicLock.name == name,
                        or_(PeriodicLock.expires_at.is_(None), PeriodicLock.expires_at < now),
                    )
                    .values(holder=token, expires_at=now + timedelta(seconds=ttl_s))
                ),
            ).rowcount
        return bool(taken)

    def release(self, name: str, token: str) -> None:
        with session_scope() as session:
            session.execute(
                update(PeriodicLock)
                .where(PeriodicLock.name == name, PeriodicLock.holder == token)
                .values(holder=None, expires_at=None)
            )


def lock_backend() -> LockBackend:
    """Redis when it is configured, else the database lease."""
    client = redis_client()
    return RedisLocks(client) if client is not None else DatabaseLocks()


@contextmanager
def hold(name: str, ttl_s: int) -> Iterator[bool]:
    """Try the lock ``name`` for at most ``ttl_s`` seconds; yields whether this run holds it."""
    backend = lock_backend()
    token = f"{lease_holder()}/{uuid.uuid4().hex[:12]}"
    held = backend.acquire(name, token, ttl_s)
    try:
        yield held
    finally:
        if held:
            backend.release(name, token)


def lock_ttl_s(task: str) -> int:
    """How long a run of ``task`` may hold its lock: its hard time limit plus a margin."""
    return time_limits(task)[1] + LOCK_MARGIN_S


def claim_slot(name: str, slot_s: int, job_id: str | None, now_s: float | None = None) -> tuple[int, bool]:
    """Claim the slot of length ``slot_s`` that ``now_s`` (Unix seconds) falls in for ``name``.

    Returns ``(slot_start, claimed)``. The claim is one conditional UPDATE (or the first INSERT),
    so of two runs in one slot exactly one gets it; the job that holds it may claim it again.
    """
    start = int((time.time() if now_s is None else now_s) // slot_s * slot_s)
    with session_scope() as session:
        claimed = cast(
            CursorResult[Any],
            session.execute(
                update(PeriodicSlot)
                .where(
                    PeriodicSlot.name == name,
                    or_(
                        PeriodicSlot.slot_start < start,
                        and_(PeriodicSlot.slot_start == start, PeriodicSlot.job_id == job_id),
                    ),
                )
                .values(slot_start=start, job_id=job_id, claimed_at=utcnow())
            ),
        ).rowcount
        if claimed:
            return start, True
        if session.get(PeriodicSlot, name) is not None:
            return start, False
        try:
            with session.begin_nested():
                session.add(PeriodicSlot(name=name, slot_start=start, job_id=job_id))
        except IntegrityError:
            return start, False  # a concurrent first run of this slot got it
    return start, True


def run_periodic(
    task: str,
    work: Callable[[], dict[str, Any]],
    *,
    job_id: str | None = None,
    slot_s: int | None = None,
    slot_name: str | None = None,
) -> dict[str, Any]:
    """Run ``work`` under the lock named ``task`` and, for a beat run (``slot_s`` given), only if
    the slot ``slot_name`` (default: the task name) is still free.

    Returns ``work``'s result plus the ``slot`` it ran in, or ``{"skipped": "locked" | "slot_taken"}``.
    """
    if slot_s is not None and (not isinstance(slot_s, int) or isinstance(slot_s, bool) or slot_s < 1):
        raise PermanentError(f"slot_s must be a positive number of seconds, not {slot_s!r}")
    with hold(task, lock_ttl_s(task)) as held:
        if not held:
            log.info("%s skipped: another run holds its lock", task)
            return {"skipped": "locked"}
        if not slot_s:
            return work()
        slot, claimed = claim_slot(slot_name or task, slot_s, job_id)
        if not claimed:
            log.info("%s skipped: slot %d already ran", task, slot)
            return {"skipped": "slot_taken", "slot": slot}
        return {**work(), "slot": slot}
