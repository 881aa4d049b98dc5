"""The jobs ledger: the source of truth for what was asked and what became of it.

A job row is committed before its message is published, and every execution claims the row
first. So a lost message is found and re-published by :func:`reconcile`, a duplicate message
finds the job done or held and does nothing, and a job that keeps killing its worker ends ``dead``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import autocommit, get_engine, insert_or_merge, session_scope, utcnow
from storage.models import Job, JobState

log = logging.getLogger(__name__)

FINISHED = (JobState.succeeded, JobState.failed, JobState.dead)

# The statements every job runs, built once: building one costs more CPU than running it.
_jobs = cast(Table, Job.__table__)
_INSERT = insert(_jobs)
_START = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("job_id"), _jobs.c.state.in_((JobState.queued, JobState.retrying)))
    .values(
        state=JobState.running,
        attempts=_jobs.c.attempts + 1,
        deliveries=_jobs.c.deliveries + 1,
        lease_until=bindparam("lease_until"),
        lease_owner=bindparam("token"),
        next_attempt_at=None,
        started_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(_jobs.c.attempts, _jobs.c.deliveries)
)
_FINISH = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("job_id"))
    .values(
        state=bindparam("state"),
        result=bindparam("result"),
        error=bindparam("error"),
        progress=func.coalesce(bindparam("progress", type_=_jobs.c.progress.type), _jobs.c.progress),
        lease_until=None,
        next_attempt_at=None,
        finished_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
)


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request body."""

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(f"idempotency key already used for job {job_id} with a different body")
        self.job_id = job_id


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def submit(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> tuple[Job, bool]:
    """Record a job (not yet published). Returns ``(job, created)``.

    A known idempotency key returns its job when the body matches and raises
    :class:`IdempotencyConflict` when it does not.
    """
    job_id = uuid.uuid4()
    if idempotency_key is None:  # a fresh uuid4 cannot collide: a plain insert
        job = Job(id=job_id, kind=kind, payload=payload, state=JobState.queued)
        session.add(job)
        session.flush()
        return job, True
    inserted = session.scalar(
        _keyed_insert(job_id, kind, payload, idempotency_key, request_hash).returning(Job)
    )
    if inserted is not None:
        return inserted, True
    existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
    return _replayed(existing, kind, request_hash), False


def submit_many(
    session: Session, kind: str, payloads: Mapping[uuid.UUID, dict[str, Any]], now: datetime
) -> None:
    """Record jobs whose ids the caller derived from what they act on (one per delivery, say), in
    the caller's transaction; an id already recorded keeps its job. Publish after the commit."""
    if not payloads:
        return
    rows = [
        {
            "id": job_id,
            "kind": kind,
            "payload": payload,
            "state": JobState.queued,
            "attempts": 0,
            "deliveries": 0,
            "progress": 0,
            "created_at": now,
            "updated_at": now,
        }
        for job_id, payload in payloads.items()
    ]
    session.execute(insert_or_merge(Job, session.get_bind()).values(rows).on_conflict_do_nothing())


def _keyed_insert(
    job_id: uuid.UUID, kind: str, payload: dict[str, Any], idempotency_key: str, request_hash: str | None
) -> Any:
    """One statement: the job is created, or the key's job stands (ours or a concurrent request's)."""
    return (
        insert_or_merge(Job)
        .values(
            id=job_id,
            kind=kind,
            payload=payload,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            state=JobState.queued,
        )
        .on_conflict_do_nothing(index_elements=[Job.idempotency_key])
    )


def _replayed(existing: Any, kind: str, request_hash: str | None) -> Any:
    """The job an idempotency key already names, if this request is the same as its first."""
    assert existing is not None  # a job row is never deleted while its key can come back
    if existing.kind != kind or existing.request_hash != request_hash:
        raise IdempotencyConflict(existing.id)
    return existing


def publish(
    job_id: uuid.UUID | str, kind: str, payload: dict[str, Any], countdown: float | None = None
) -> None:
    """Send the job's message; the task id is the job id, so Flower and the ledger agree."""
    from workers.app import app

    app.send_task(kind, kwargs=payload, task_id=str(job_id), countdown=countdown)


def warm_up(connections: int = 10) -> None:
    """Open what :func:`enqueue` uses before a request needs it: database connections, the broker
    connection and its producer. The first job would otherwise wait a few hundred milliseconds,
    and every request queued behind it with it."""
    from sqlalchemy.orm import configure_mappers

    from workers.app import app

    configure_mappers()
    app.backend  # noqa: B018 - built on first use, even a disabled one
    engine = get_engine()
    with ExitStack() as held:  # at once, so that each pool keeps that many open
        for _ in range(connections):
            held.enter_context(engine.connect())
            producer = held.enter_context(app.producer_or_acquire())
            producer.connection.ensure_connection(max_retries=3)
            producer.channel  # noqa: B018 - the channel, and on Redis its client, opened on first use


def enqueue(
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> tuple[Job, bool]:
    """Commit a job, then publish it. A broker error leaves it queued for the reconciler."""
    job, created = _insert(kind, payload, idempotency_key, request_hash)
    if created:
        try:
            publish(job.id, kind, payload)
        except Exception:
            log.exception("publish failed; the reconciler will re-publish job %s", job.id)
    return job, created


def _insert(
    kind: str, payload: dict[str, Any], idempotency_key: str | None, request_hash: str | None
) -> tuple[Job, bool]:
    """:func:`submit` in one autocommitted statement, without a session (the job alone)."""
    job = Job(id=uuid.uuid4(), kind=kind, payload=payload, state=JobState.queued)
    with autocommit() as conn:
        if idempotency_key is None:
            conn.execute(_INSERT, {"id": job.id, "kind": kind, "payload": payload, "state": job.state})
            return job, True
        statement = _keyed_insert(job.id, kind, payload, idempotency_key, request_hash)
        if conn.execute(statement.returning(_jobs.c.id)).first() is not None:
            return job, True
        existing = conn.execute(
            select(Job.id, Job.kind, Job.payload, Job.state, Job.request_hash).where(
                Job.idempotency_key == idempotency_key
            )
        ).first()
    row = _replayed(existing, kind, request_hash)
    return Job(id=row.id, kind=row.kind, payload=row.payload, state=row.state), False


class Outcome(StrEnum):
    RUN = "run"  # this delivery holds the lease: do the work
    DONE = "done"  # finished before: answer with the stored result
    BUSY = "busy"  # another delivery holds a live lease
    DEAD = "dead"  # redelivered too often, or already dead


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    attempts: int
    result: Any = None
    lease_until: datetime | None = None


def claim(
    job_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    lease_s: int,
    max_redeliveries: int,
    is_abandoned: Callable[[str], bool] = lambda _owner: False,
) -> Claim:
    """Take the job for this delivery, atomically.

    A job in ``queued`` or ``retrying`` starts a new attempt. A ``running`` job whose lease ran
    out, or whose holder ``is_abandoned`` says is gone (its process died), was abandoned by a
    crashed worker: taking it over is a redelivery, and a job redelivered more than
    ``max_redeliveries`` times is declared dead rather than crash its workers forever.
    """
    jid = uuid.UUID(job_id)
    now = utcnow()
    lease_until = now + timedelta(seconds=lease_s)
    token = f"{lease_holder()}/{uuid.uuid4().hex[:12]}"  # names this delivery, not just the process
    # The usual case, a first delivery, is one autocommitted statement.
    with autocommit() as conn:
        started = conn.execute(
            _START, {"job_id": jid, "lease_until": lease_until, "token": token, "now": now}
        ).first()
    if started is not None and started.deliveries - started.attempts <= max_redeliveries:
        return Claim(Outcome.RUN, started.attempts, lease_until=lease_until)
    return _claim_contended(jid, kind, payload, token, now, lease_until, max_redeliveries, is_abandoned)


def _claim_contended(
    jid: uuid.UUID,
    kind: str,
    payload: dict[str, Any],
    token: str,
    now: datetime,
    lease_until: datetime,
    max_redeliveries: int,
    is_abandoned: Callable[[str], bool],
) -> Claim:
    """The rest of :func:`claim`: the job is held, finished, unknown, or redelivered too often."""
    with session_scope() as session:
        held = session.execute(
            select(Job.lease_owner).where(Job.id == jid, Job.state == JobState.running)
        ).scalar_one_or_none()
        if held != token:
            lost = Job.lease_until < now
            if held and is_abandoned(held):
                lost = lost | (Job.lease_owner == held)
            session.execute(
                update(Job)
                .where(Job.id == jid, Job.state == JobState.running, lost)
                .values(
                    deliveries=Job.deliveries + 1,
                    lease_until=lease_until,
                    lease_owner=token,
                    updated_at=now,
                )
            )
        job = session.get(Job, jid, populate_existing=True)
        if job is None:
            job = _record_direct_call(session, jid, kind, payload, lease_until, token, now)
            if job is None:  # created concurrently by another delivery: decide against its row
                return _claim_contended(
                    jid, kind, payload, token, now, lease_until, max_redeliveries, is_abandoned
                )
            return Claim(Outcome.RUN, job.attempts, lease_until=lease_until)
        if job.state in FINISHED:
            return Claim(
                Outcome.DEAD if job.state == JobState.dead else Outcome.DONE, job.attempts, job.result
            )
        if job.lease_owner != token:
            return Claim(Outcome.BUSY, job.attempts, lease_until=job.lease_until)
        redeliveries = job.deliveries - job.attempts
        if redeliveries > max_redeliveries:
            job.state = JobState.dead
            job.error = (
                f"delivered {job.deliveries} times for {job.attempts} attempt(s) without finishing: "
                "it keeps losing its worker (killed, out of memory or past its hard time limit)"
            )
            job.finished_at = now
            job.lease_until = None
            return Claim(Outcome.DEAD, job.attempts)
        return Claim(Outcome.RUN, job.attempts, lease_until=lease_until)


def lease_holder() -> str:
    """``host:pid`` of this process, the prefix of every lease token it takes."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(token: str) -> bool:
    """True when the lease was taken by a process of this host that no longer exists."""
    holder = token.split("/", 1)[0]
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: only its lease expiry tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _record_direct_call(
    session: Session,
    jid: uuid.UUID,
    kind: str,
    payload: dict[str, Any],
    lease_until: datetime,
    token: str,
    now: datetime,
) -> Job | None:
    """A producer called the task by name without the API: the ledger learns of it now."""
    job = Job(
        id=jid,
        kind=kind,
        payload=payload,
        state=JobState.running,
        attempts=1,
        deliveries=1,
        lease_until=lease_until,
        lease_owner=token,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        return None
    return job


def _finish(job_id: str, state: JobState, *, result: Any = None, error: str | None = None) -> None:
    now = utcnow()
    params = {
        "job_id": uuid.UUID(job_id),
        "state": state,
        "result": result,
        "error": error,
        "progress": 100 if state == JobState.succeeded else None,  # a failure keeps its progress
        "now": now,
    }
    with autocommit() as conn:
        conn.execute(_FINISH, params)


def succeed(job_id: str, result: Any) -> None:
    _finish(job_id, JobState.succeeded, result=result)


def fail(job_id: str, error: str, *, dead: bool = False, result: Any = None) -> None:
    """``failed``: the input can never succeed. ``dead``: gave up on something that might have."""
    _finish(job_id, JobState.dead if dead else JobState.failed, result=result, error=error)


def retry_later(job_id: str, error: str, delay_s: float) -> None:
    """Mark the job waiting for a retry due in ``delay_s``; the reconciler publishes it if no message does."""
    now = utcnow()
    with autocommit() as conn:
        conn.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(
                state=JobState.retrying,
                error=error,
                lease_until=None,
                next_attempt_at=now + timedelta(seconds=delay_s),
                updated_at=now,
            )
        )


def set_progress(job_id: str, percent: int) -> None:
    with autocommit() as conn:
        conn.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(progress=max(0, min(100, int(percent))), updated_at=utcnow())
        )


def get(job_id: str) -> Job | None:
    try:
        jid = uuid.UUID(job_id)
    except ValueError:
        return None
    with session_scope() as session:
        return session.get(Job, jid)


def reconcile(*, queued_grace_s: int, batch: int = 500) -> dict[str, int]:
    """Re-publish jobs whose message was lost: queued too long, a retry come due, a lease run out
    (or held by a process of this host that died: counted as ``lease_expired``).

    Re-publishing a job whose message still exists is harmless: the second delivery finds it
    held or done. Returns counts by reason.
    """
    now = utcnow()
    stale = now - timedelta(seconds=queued_grace_s)
    due: list[tuple[uuid.UUID, str, dict[str, Any], str]] = []
    with session_scope() as session:
        rows = session.scalars(
            select(Job)
            .where(
                or_(
                    (Job.state == JobState.queued) & (Job.updated_at < stale),
                    (Job.state == JobState.retrying) & (Job.next_attempt_at <= now),
                    (Job.state == JobState.running) & (Job.lease_until < now),
                )
            )
            .order_by(Job.updated_at)
            .limit(batch)
        ).all()
        # A worker killed whole (kill -9, the OOM killer) on Redis leaves its message
        # unacknowledged for the visibility timeout and its job leased for the hard time limit:
        # when the lease holder was a process of this host that is gone, the lease is lost now.
        held = session.execute(
            select(Job.id, Job.lease_owner).where(Job.state == JobState.running, Job.lease_until >= now)
        ).all()
        abandoned = [jid for jid, owner in held if owner and holder_is_dead(owner)]
        if abandoned:
            rows = [*rows, *session.scalars(select(Job).where(Job.id.in_(abandoned)))]
        for job in rows:
            reason = {
                JobState.queued: "queued_stale",
                JobState.retrying: "retry_due",
                JobState.running: "lease_expired",
            }[job.state]
            due.append((job.id, job.kind, dict(job.payload or {}), reason))
            job.updated_at = now
            if job.state == JobState.retrying:
                # Due now; if this message is lost too, the queued grace brings it back.
                job.next_attempt_at = None
                job.state = JobState.queued
    counts: dict[str, int] = {"queued_stale": 0, "retry_due": 0, "lease_expired": 0}
    for jid, kind, payload, reason in due:
        publish(jid, kind, payload)
        counts[reason] += 1
    return counts


def list_by_state(state: JobState, limit: int = 100) -> list[Job]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Job).where(Job.state == state).order_by(Job.finished_at.desc()).limit(limit)
            )
        )


def replay(job_ids: list[str] | None = None) -> list[uuid.UUID]:
    """Give dead jobs (the named ones, or all when None) a fresh start and publish them.

    The redelivery count starts again; attempts are kept, so the history stays readable.
    """
    with session_scope() as session:
        query = select(Job).where(Job.state == JobState.dead)
        if job_ids is not None:
            query = query.where(Job.id.in_([uuid.UUID(j) for j in job_ids]))
        revived = list(session.scalars(query.with_for_update()))
        now = utcnow()
        for job in revived:
            job.state = JobState.queued
            job.deliveries = job.attempts
            job.lease_until = job.lease_owner = job.finished_at = None
            job.updated_at = now
        todo = [(job.id, job.kind, dict(job.payload or {})) for job in revived]
    for jid, kind, payload in todo:
        publish(jid, kind, payload)
    return [jid for jid, _, _ in todo]
