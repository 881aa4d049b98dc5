"""Fan-out: one event becomes one delivery per recipient and chosen channel, in bounded batches.

The audience is walked by user id in batches of ``NOTIFY_FANOUT_BATCH_SIZE``. Each batch is one
transaction of set-based statements (no row goes through Python one by one):

1. ``INSERT INTO notification_deliveries ... SELECT <audience batch> ON CONFLICT DO NOTHING
   RETURNING``: the UNIQUE (user_id, event_key, channel) key hands back only the deliveries that
   did not exist, so a redelivered or repeated event adds nothing;
2. for the new in-app ones, ``INSERT INTO notifications ... SELECT`` (texts rendered once per
   language) and the link back from their delivery rows;
3. a queued ``notifications.deliver`` job per new e-mail (unless it waits for the digest) or push.

After the commit: the live publish of the new in-app rows and the delivery tasks (one Celery
group per batch). ``NOTIFY_FANOUT_PARALLELISM`` batches are written at once, each on its own
connection; as batches complete in order, the job's progress and the event's cursor move on, so
a fan-out that is killed resumes after the last batch that it and all before it committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from storage.db import insert_or_merge, session_scope, utcnow
from storage.models import Notification, UploadedFile, User, UserLanguage
from storage.notification_models import Channel, DeliveryStatus, NotificationDelivery, NotificationEvent
from workers import jobs
from workers.notifications import live
from workers.notifications.audience import Audience, audience
from workers.notifications.bulk import Dispatch, Scope, dispatch, record_deliver_jobs
from workers.notifications.events import Event, FileProcessed, expires_at, load_context, parse_event, priority
from workers.notifications.settings import get_notification_settings
from workers.notifications.templates import DEFAULT_LANGUAGE, Rendered, TypeSpec, catalog
from workers.taskbase import PermanentError

D = cast(sa.Table, NotificationDelivery.__table__)
N = cast(sa.Table, Notification.__table__)


@dataclass(frozen=True)
class Plan:
    """What every batch of one event shares."""

    key: str
    spec: TypeSpec
    audience: Audience
    rendered: Mapping[str, Rendered]  # by language
    related_id: int | None
    file_id: int | None
    expires_at: datetime | None
    email_status: DeliveryStatus  # pending, or digest for low-priority types


@dataclass
class BatchResult:
    created: Counter[str] = field(default_factory=Counter)  # new deliveries by channel
    notifications: list[tuple[int, str]] = field(default_factory=list)  # (user id, live message) per new row
    to_send: list[int] = field(default_factory=list)  # new deliveries for notifications.deliver


def event_key(event: Event, job_id: str | None) -> str:
    key = event.event_id or job_id
    if not key:
        raise PermanentError("the event has no event_id and the task no job id to stand for it")
    return key


def effective_expiry(event: Event, spec: TypeSpec, now: datetime) -> datetime | None:
    """The producer's expiry or the type's lifetime, whichever ends first."""
    limits = [
        t for t in (expires_at(event), now + timedelta(days=spec.ttl_days) if spec.ttl_days else None) if t
    ]
    return min(limits) if limits else None


def record_event(
    session: Session, key: str, event: Event, job_id: str | None, now: datetime
) -> NotificationEvent:
    """The event's row, created on first sight; the same key with another event is refused."""
    payload = event.model_dump(mode="json", exclude_none=True)
    spec = catalog().spec(event.type)
    session.execute(
        insert_or_merge(NotificationEvent, session.get_bind())
        .values(
            event_key=key,
            type=event.type,
            payload=payload,
            job_id=job_id,
            expires_at=effective_expiry(event, spec, now),
            recipients=0,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    row = session.get(NotificationEvent, key, populate_existing=True)
    assert row is not None
    if row.type != event.type or row.payload != payload:
        raise PermanentError(f"event key {key!r} was already used for another event ({row.type})")
    return row


def make_plan(session: Session, key: str, event: Event, row: NotificationEvent) -> Plan:
    """Reload what the event names, render its texts in every language, resolve its audience."""
    spec = catalog().spec(event.type)
    context = load_context(session, event)
    # Every language a user can have (a missing text falls back to English in ``render``).
    rendered = {
        lang.value: spec.render(lang.value, context.for_language(lang.value), priority(event))
        for lang in UserLanguage
    }
    values = context.values
    digest = get_notification_settings().digest_low_priority and rendered[DEFAULT_LANGUAGE].priority == "low"
    related = values.get(spec.related_id) if spec.related_id else None
    file_id = None
    # notifications.file_id references uploaded_files: an infected upload may be gone already.
    if isinstance(event, FileProcessed) and session.get(UploadedFile, event.file_id) is not None:
        file_id = event.file_id
    return Plan(
        key=key,
        spec=spec,
        audience=audience(session, event, spec),
        rendered=rendered,
        related_id=related if isinstance(related, int) else None,
        file_id=file_id,
        expires_at=row.expires_at,
        email_status=DeliveryStatus.digest if digest else DeliveryStatus.pending,
    )


def batch_bounds(session: Session, plan: Plan, after: int, size: int) -> tuple[list[int], int]:
    """The last user id of each batch of ``size`` recipients after ``after``, and their number."""
    people = plan.audience.select(after).subquery()
    numbered = sa.select(
        people.c.user_id,
        sa.func.row_number().over(order_by=people.c.user_id).label("n"),
        sa.func.count().over().label("total"),
    ).subquery()
    rows = session.execute(
        sa.select(numbered.c.user_id, numbered.c.total)
        .where((numbered.c.n % size == 0) | (numbered.c.n == numbered.c.total))
        .order_by(numbered.c.user_id)
    ).all()
    return [r.user_id for r in rows], (rows[-1].total if rows else 0)


def _by_language(plan: Plan, attribute: str, language: Any) -> Any:
    """``CASE language`` over the texts rendered for each language."""
    default = sa.literal(getattr(plan.rendered[DEFAULT_LANGUAGE], attribute), sa.String)
    others = [
        (language == lang, sa.literal(getattr(text, attribute), sa.String))
        for lang, text in plan.rendered.items()
        if lang != DEFAULT_LANGUAGE
    ]
    return sa.case(*others, else_=default) if others else default


NOTE_COLUMNS = [
    "user_id",
    "type",
    "title",
    "message",
    "action_url",
    "thumbnail_url",
    "related_type",
    "related_id",
    "file_id",
    "priority",
    "created_at",
    "expires_at",
]
DELIVERY_COLUMNS = [
    "event_key",
    "user_id",
    "channel",
    "type",
    "status",
    "attempts",
    "created_at",
    "updated_at",
    "sent_at",
    "notification_id",
]


def _note_values(plan: Plan, user_id: Any, language: Any, now: datetime) -> list[Any]:
    """The NOTE_COLUMNS of one recipient's notifications row."""
    return [
        user_id,
        sa.literal(plan.spec.name, sa.String),
        _by_language(plan, "title", language),
        _by_language(plan, "message", language),
        _by_language(plan, "action_url", language),
        _by_language(plan, "thumbnail_url", language),
        sa.literal(plan.spec.related_type, sa.String),
        sa.literal(plan.related_id, sa.Integer),
        sa.literal(plan.file_id, sa.Integer),
        sa.literal(plan.rendered[DEFAULT_LANGUAGE].priority, sa.String),
        sa.literal(now, sa.DateTime),
        sa.literal(plan.expires_at, sa.DateTime),
    ]


def _deliveries(plan: Plan, batch: Any, now: datetime, notification_id: Any) -> Any:
    """The DELIVERY_COLUMNS of every chosen channel of every recipient in ``batch``."""
    status = {
        Channel.in_app: DeliveryStatus.sent,  # its notifications row, written with it, is the delivery
        Channel.email: plan.email_status,
        Channel.push: DeliveryStatus.pending,
    }
    return sa.union_all(
        *(
            sa.select(
                sa.literal(plan.key, sa.String),
                batch.c.user_id,
                sa.literal(channel.value, sa.String),
                sa.literal(plan.spec.name, sa.String),
                sa.literal(status[channel].value, sa.String),
                sa.literal(1 if channel is Channel.in_app else 0, sa.Integer),
                sa.literal(now, sa.DateTime),
                sa.literal(now, sa.DateTime),
                sa.literal(now if channel is Channel.in_app else None, sa.DateTime),
                notification_id if channel is Channel.in_app else sa.literal(None, sa.Integer),
            ).where(batch.c[channel.value].is_(True))
            for channel in Channel
        )
    )


def _insert_at_once(session: Session, plan: Plan, batch: Any, now: datetime) -> list[Any]:
    """PostgreSQL: deliveries and in-app rows in one statement.

    The in-app delivery takes its notification's id from the notifications sequence, and a
    second data-modifying CTE inserts the notifications of exactly the deliveries that were new
    (``RETURNING`` of the first), so nothing is written twice and nothing needs linking after.
    """
    next_id = sa.func.nextval(sa.func.pg_get_serial_sequence(N.name, "id"))
    new = (
        postgresql.insert(D)
        .from_select(DELIVERY_COLUMNS, _deliveries(plan, batch, now, next_id))
        .on_conflict_do_nothing()
        .returning(D.c.id, D.c.user_id, D.c.channel, D.c.notification_id)
        .cte("new")
    )
    recipient = new.join(batch, batch.c.user_id == new.c.user_id)
    notes = (
        sa.insert(N)
        .from_select(
            ["id", *NOTE_COLUMNS],
            sa.select(new.c.notification_id, *_note_values(plan, new.c.user_id, batch.c.language, now))
            .select_from(recipient)
            .where(new.c.channel == Channel.in_app.value),
        )
        .cte("notes")
    )
    return list(
        session.execute(
            sa.select(new.c.id, new.c.user_id, new.c.channel, new.c.notification_id, batch.c.language)
            .select_from(recipient)
            .add_cte(notes)
        )
    )


def _insert_in_steps(session: Session, plan: Plan, batch: Any, now: datetime) -> list[Any]:
    """Other databases (the embedded SQLite): deliveries, then in-app rows, then the links."""
    new = session.execute(
        insert_or_merge(D, session.get_bind())
        .from_select(DELIVERY_COLUMNS, _deliveries(plan, batch, now, sa.literal(None, sa.Integer)))
        .on_conflict_do_nothing()
        .returning(D.c.id, D.c.user_id, D.c.channel)
    ).all()
    in_app = [row.user_id for row in new if row.channel == Channel.in_app]
    if not in_app:
        return [(*row, None, None) for row in new]
    notes: dict[int, int] = dict(
        session.execute(
            sa.insert(N)
            .from_select(
                NOTE_COLUMNS,
                sa.select(*_note_values(plan, User.id, User.language, now)).where(User.id.in_(in_app)),
            )
            .returning(N.c.user_id, N.c.id)
        ).all()
    )
    session.execute(
        sa.update(D)
        .where(
            D.c.event_key == plan.key,
            D.c.channel == Channel.in_app.value,
            D.c.user_id == N.c.user_id,
            N.c.id.in_(notes.values()),
        )
        .values(notification_id=N.c.id)
    )
    languages = dict(session.execute(sa.select(User.id, User.language).where(User.id.in_(in_app))).all())
    return [
        (row.id, row.user_id, row.channel, notes.get(row.user_id), languages.get(row.user_id))
        if row.channel == Channel.in_app
        else (*row, None, None)
        for row in new
    ]


def insert_batch(session: Session, plan: Plan, after: int, upto: int, now: datetime) -> BatchResult:
    """Deliveries (and in-app rows) for the recipients with ``after < users.id <= upto``."""
    batch = plan.audience.select(after, upto).cte("batch")
    if session.get_bind().dialect.name == "postgresql":
        new = _insert_at_once(session, plan, batch, now)
    else:
        new = _insert_in_steps(session, plan, batch, now)
    result = BatchResult()
    if not new:
        return result
    sendable = {Channel.push.value} | (
        {Channel.email.value} if plan.email_status is DeliveryStatus.pending else set()
    )
    tails = _live_tails(plan, now)
    for delivery_id, user_id, channel, notification_id, language in new:
        result.created[channel] += 1
        if channel in sendable:
            result.to_send.append(delivery_id)
        elif channel == Channel.in_app:
            tail = tails.get(
                language.value if language is not None else DEFAULT_LANGUAGE, tails[DEFAULT_LANGUAGE]
            )
            result.notifications.append((user_id, live.message(notification_id, user_id, tail)))
    record_deliver_jobs(session, result.to_send, now)
    E = NotificationEvent
    session.execute(
        sa.update(E)
        .where(E.event_key == plan.key)
        .values(recipients=E.recipients + len({row[1] for row in new}))
    )
    return result


def _live_tails(plan: Plan, now: datetime) -> dict[str, str]:
    """Per language, the members shared by every live message of a batch (see ``live``)."""
    return {
        lang: live.message_tail(
            {
                "type": plan.spec.name,
                "title": text.title,
                "message": text.message,
                "action_url": text.action_url,
                "thumbnail_url": text.thumbnail_url,
                "priority": text.priority,
                "created_at": now,
                "expires_at": plan.expires_at,
            }
        )
        for lang, text in plan.rendered.items()
    }


def _run_batch(plan: Plan, after: int, upto: int, scope: Scope, send: Dispatch) -> BatchResult | None:
    """One batch, committed, then published and dispatched; None if the event expired meanwhile."""
    now = utcnow()
    if plan.expires_at is not None and plan.expires_at <= now:
        return None
    with scope() as session:
        batch = insert_batch(session, plan, after, upto, now)
    live.publish(batch.notifications)
    send(batch.to_send)
    return batch


def _batches(
    plan: Plan, ranges: list[tuple[int, int]], scope: Scope, send: Dispatch, parallel: int
) -> Generator[BatchResult | None, None, None]:
    """Each range's batch, in order; several at a time when there are several (most events have one
    recipient, and a thread pool would cost them more than their batch)."""
    if len(ranges) == 1 or parallel == 1:
        for after, upto in ranges:
            yield _run_batch(plan, after, upto, scope, send)
        return
    with ThreadPoolExecutor(parallel, thread_name_prefix="fanout") as pool:
        futures = [pool.submit(_run_batch, plan, after, upto, scope, send) for after, upto in ranges]
        try:
            for future in futures:
                yield future.result()
        except BaseException:  # GeneratorExit too: the caller stopped on an error of its own
            for future in futures:
                future.cancel()
            raise


def _advance(scope: Scope, key: str, upto: int) -> None:
    """Move the event's cursor to ``upto``: every recipient up to there is done."""
    E = NotificationEvent
    with scope() as session:
        session.execute(
            sa.update(E)
            .where(E.event_key == key, sa.or_(E.cursor.is_(None), E.cursor < upto))
            .values(cursor=upto)
        )


def fan_out(
    event: Mapping[str, Any],
    *,
    job_id: str | None = None,
    scope: Scope = session_scope,
    send: Dispatch = dispatch,
) -> dict[str, Any]:
    """Create every delivery of ``event`` (see the module docstring); safe to run again at any point.

    ``job_id`` is the fan-out job's: it stands for a missing ``event_id`` and gets the progress.
    ``send`` hands new e-mail and push deliveries to ``notifications.deliver`` (after commit).
    """
    parsed = parse_event(event)
    key = event_key(parsed, job_id)
    settings = get_notification_settings()
    now = utcnow()
    try:
        with scope() as session:
            row = record_event(session, key, parsed, job_id, now)
            summary: dict[str, Any] = {"event_key": key, "type": parsed.type, "resumed_after": row.cursor}
            if row.finished_at is not None:
                return {**summary, "already_done": True, "recipients": row.recipients}
            if row.expires_at is not None and row.expires_at <= now:
                row.finished_at = now
                return {**summary, "expired": True, "recipients": 0}
            plan = make_plan(session, key, parsed, row)
            after = row.cursor or 0
            bounds, audience_size = batch_bounds(session, plan, after, settings.fanout_batch_size)
            # SQLite has one writer at a time: parallel batches would only wait for each other.
            parallel = settings.fanout_parallelism if session.get_bind().dialect.name == "postgresql" else 1
    except LookupError as exc:
        raise PermanentError(str(exc)) from exc
    created: Counter[str] = Counter()
    ranges = list(pairwise([after, *bounds]))
    # In order: the cursor only moves past batches that are all committed. Closing the batches on
    # an error here cancels those not started.
    with closing(_batches(plan, ranges, scope, send, parallel)) as batches:
        for done, (batch, (_, upto)) in enumerate(zip(batches, ranges, strict=True), start=1):
            if batch is None:
                summary["expired"] = True  # mid-way: the rest would be stale news
                continue
            created.update(batch.created)
            _advance(scope, key, upto)
            if job_id is not None and len(ranges) > 1:
                jobs.set_progress(job_id, min(99, done * 100 // len(ranges)))
    with scope() as session:
        finished = session.get(NotificationEvent, key)
        assert finished is not None
        finished.finished_at = utcnow()
        recipients = finished.recipients
    return {
        **summary,
        "audience": audience_size,
        "batches": len(bounds),
        "created": {channel.value: created[channel.value] for channel in Channel},
        "recipients": recipients,
    }
