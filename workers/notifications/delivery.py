"""Sending one e-mail or push delivery: claim it, wait for a rate-limit token, send, record.

The claim is a conditional UPDATE (``pending``/``retrying`` -> ``sending``), so of any number of
executions of one delivery only one sends. The outcome is recorded on the row: ``sent`` with the
provider's id; ``retrying`` with the error (the task is retried with backoff and jitter);
``failed`` on a permanent error or once ``NOTIFY_MAX_ATTEMPTS`` sends failed.

One case cannot be made exactly-once by any database: a send whose outcome is unknown (a time-out
after the relay took the message, or a worker killed mid-send). It is tried again, with the same
``Message-ID`` and push ``Idempotency-Key`` so the relay or gateway can recognise the repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from celeryconfig import time_limits
from storage.db import session_scope, utcnow
from storage.models import Notification, User
from storage.notification_models import (
    FINAL_STATUSES,
    Channel,
    DeliveryStatus,
    NotificationDelivery,
    NotificationEvent,
)
from workers.notifications import SendError, push, ratelimit, smtp
from workers.notifications.audience import still_wanted
from workers.notifications.bulk import DELIVER_TASK, Scope
from workers.notifications.events import load_context, parse_event, priority
from workers.notifications.settings import get_notification_settings
from workers.notifications.templates import DEFAULT_LANGUAGE, Email, Rendered, absolute, catalog
from workers.settings import get_settings
from workers.taskbase import TRANSIENT_ERRORS, PermanentError, TransientError

#: ``notification_deliveries.type`` of a daily digest e-mail.
DIGEST_TYPE = "digest"
#: An e-mail in one of these states goes out inside a digest, not on its own.
WAITING_FOR_DIGEST = frozenset({DeliveryStatus.digest, DeliveryStatus.digested})

D = NotificationDelivery


@dataclass(frozen=True)
class Outgoing:
    """What one delivery sends: an e-mail, or a push body."""

    email: EmailMessage | None = None
    push: dict[str, Any] | None = None
    covers: tuple[str, ...] = ()  # event keys whose in-app rows get email_sent/push_sent


def _language(user: User) -> str:
    return user.language.value if user.language is not None else DEFAULT_LANGUAGE


def _render(session: Session, event_row: NotificationEvent, language: str) -> Rendered:
    event = parse_event(event_row.payload)
    context = load_context(session, event)
    return catalog().spec(event.type).render(language, context.for_language(language), priority(event))


def message_id(delivery_id: int) -> str:
    domain = parseaddr(get_settings().smtp_from)[1].rpartition("@")[2] or "localhost"
    return f"<notification.{delivery_id}@{domain}>"


def _digest_items(
    session: Session, digest_id: int, language: str, now: datetime
) -> list[tuple[str, Rendered]]:
    """The digest's unexpired items, rendered, oldest first (event key, text)."""
    rows = session.scalars(
        sa.select(NotificationEvent)
        .join(D, D.event_key == NotificationEvent.event_key)
        .where(
            D.digest_id == digest_id,
            sa.or_(NotificationEvent.expires_at.is_(None), NotificationEvent.expires_at > now),
        )
        .order_by(D.created_at, D.id)
    )
    items = []
    for row in rows:
        try:
            items.append((row.event_key, _render(session, row, language)))
        except PermanentError:
            continue  # what it was about is gone (a deleted product): nothing left to tell
    return items


def _email(mail: Email, user: User, delivery_id: int) -> EmailMessage:
    sender = get_settings().smtp_from
    return smtp.build_message(mail, sender=sender, to=user.email, message_id=message_id(delivery_id))


def compose(session: Session, delivery: NotificationDelivery, user: User, now: datetime) -> Outgoing | None:
    """The message of ``delivery`` in the user's language; None when everything in it has expired."""
    language, site = _language(user), get_notification_settings().site_url
    if delivery.type == DIGEST_TYPE:
        items = _digest_items(session, delivery.id, language, now)
        if not items:
            return None
        mail = catalog().digest([rendered for _, rendered in items], language, site)
        return Outgoing(email=_email(mail, user, delivery.id), covers=tuple(key for key, _ in items))
    event_row = session.get(NotificationEvent, delivery.event_key)
    if event_row is None:
        raise PermanentError(f"notification event {delivery.event_key!r} does not exist")
    if event_row.expires_at is not None and event_row.expires_at <= now:
        return None
    rendered = _render(session, event_row, language)
    if delivery.channel == Channel.email:
        mail = catalog().email(rendered, language, site)
        return Outgoing(email=_email(mail, user, delivery.id), covers=(delivery.event_key,))
    body = {
        "delivery_id": delivery.id,
        "event_key": delivery.event_key,
        "user_id": user.id,
        "type": delivery.type,
        "language": language,
        "title": rendered.title,
        "message": rendered.message,
        "action_url": absolute(site, rendered.action_url) or None,
        "thumbnail_url": rendered.thumbnail_url,
        "priority": rendered.priority,
    }
    return Outgoing(push=body, covers=(delivery.event_key,))


def _turned_off(session: Session, delivery: NotificationDelivery) -> str | None:
    """Why the user no longer wants this delivery, if they turned its channel off since the fan-out
    (a digest e-mail carries what its items' own deliveries were still wanted for)."""
    if delivery.type == DIGEST_TYPE:
        return None
    spec = catalog().spec(delivery.type)
    if still_wanted(session, delivery.user_id, spec, Channel(delivery.channel)):
        return None
    return f"the user turned {delivery.channel} off for {delivery.type} since it was queued"


def _unavailable(channel: str) -> str | None:
    """Why ``channel`` cannot send on this deployment, if it cannot."""
    settings = get_settings()
    if channel == Channel.email and not settings.smtp_url:
        return "SMTP_URL is not configured"
    if channel == Channel.push and not settings.push_gateway_url:
        return "PUSH_GATEWAY_URL is not configured"
    if channel == Channel.push and not settings.push_secret:
        return "PUSH_SECRET is not configured (pushes are never sent unsigned)"
    return None


def _record(
    session: Session, delivery_id: int, status: DeliveryStatus, *, error: str | None = None, **values: Any
) -> None:
    session.execute(
        sa.update(D)
        .where(D.id == delivery_id)
        .values(status=status.value, last_error=error, updated_at=utcnow(), **values)
    )


def _result(delivery: NotificationDelivery, status: str | None = None) -> dict[str, Any]:
    return {
        "delivery_id": delivery.id,
        "channel": delivery.channel,
        "status": status or delivery.status,
        "attempts": delivery.attempts,
    }


def _stale_sending(now: datetime) -> datetime:
    """A ``sending`` row older than this was left by a worker that died: no live send lasts longer."""
    return now - timedelta(seconds=time_limits(DELIVER_TASK)[1] + 30)


def deliver(delivery_id: int, *, scope: Scope = session_scope) -> dict[str, Any]:
    """Send one e-mail or push delivery (see the module docstring); returns its outcome.

    Raises :class:`TransientError` to be retried later and :class:`PermanentError` when the
    delivery failed for good (the row says why).
    """
    try:
        prepared = _prepare(delivery_id, scope)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # it can never be composed (its product is gone, say): the row says so
        with scope() as session:
            _record(session, delivery_id, DeliveryStatus.failed, error=f"{type(exc).__name__}: {exc}")
        raise
    if isinstance(prepared, dict):
        return prepared
    channel, outgoing = prepared
    ratelimit.take(channel)
    attempt = _claim(delivery_id, scope)
    if attempt is None:
        with scope() as session:
            current = session.get(D, delivery_id)
            assert current is not None
            return _result(current)
    return _send(delivery_id, channel, outgoing, attempt, scope)


def _prepare(delivery_id: int, scope: Scope) -> dict[str, Any] | tuple[str, Outgoing]:
    """The delivery's channel and message; or its outcome, when there is nothing (more) to send."""
    now = utcnow()
    with scope() as session:
        delivery = session.get(D, delivery_id)
        if delivery is None:
            raise PermanentError(f"notification delivery {delivery_id} does not exist")
        if delivery.status in FINAL_STATUSES or delivery.status in WAITING_FOR_DIGEST:
            return _result(delivery)  # done, or the digest will carry it
        if delivery.status == DeliveryStatus.sending and delivery.updated_at > _stale_sending(now):
            raise TransientError(f"delivery {delivery_id} is being sent by another worker")
        user = session.get(User, delivery.user_id)
        if user is None or user.is_active is False:
            _record(session, delivery_id, DeliveryStatus.skipped, error="the user is inactive or gone")
            return _result(delivery, DeliveryStatus.skipped)
        reason = _unavailable(delivery.channel) or _turned_off(session, delivery)
        if reason is not None:
            _record(session, delivery_id, DeliveryStatus.skipped, error=reason)
            return _result(delivery, DeliveryStatus.skipped)
        outgoing = compose(session, delivery, user, now)
        if outgoing is None:
            _record(session, delivery_id, DeliveryStatus.expired, error="expired before it could be sent")
            return _result(delivery, DeliveryStatus.expired)
        return delivery.channel, outgoing


def _claim(delivery_id: int, scope: Scope) -> int | None:
    """Take the delivery for one attempt; returns its attempt number, or None if another took it."""
    now = utcnow()
    with scope() as session:
        claimed = session.execute(
            sa.update(D)
            .where(
                D.id == delivery_id,
                sa.or_(
                    D.status.in_([DeliveryStatus.pending.value, DeliveryStatus.retrying.value]),
                    (D.status == DeliveryStatus.sending.value) & (D.updated_at <= _stale_sending(now)),
                ),
            )
            .values(status=DeliveryStatus.sending.value, attempts=D.attempts + 1, updated_at=now)
            .returning(D.attempts)
        ).scalar_one_or_none()
    return claimed


def _send(delivery_id: int, channel: str, outgoing: Outgoing, attempt: int, scope: Scope) -> dict[str, Any]:
    settings, limits = get_settings(), get_notification_settings()
    try:
        if outgoing.email is not None:
            smtp.send(smtp.parse_smtp_url(settings.smtp_url), outgoing.email, limits.smtp_timeout_s)
            provider_id: str | None = outgoing.email["Message-ID"]
        else:
            assert outgoing.push is not None
            provider_id = push.send(
                settings.push_gateway_url,
                settings.push_secret,
                outgoing.push,
                idempotency_key=f"notification-delivery-{delivery_id}",
                timeout_s=limits.push_timeout_s,
            )
    except SendError as exc:
        gave_up = not exc.transient or attempt >= limits.max_attempts
        with scope() as session:
            status = DeliveryStatus.failed if gave_up else DeliveryStatus.retrying
            _record(session, delivery_id, status, error=str(exc))
        if gave_up:
            raise PermanentError(f"delivery {delivery_id} failed after {attempt} attempt(s): {exc}") from exc
        raise TransientError(f"delivery {delivery_id} attempt {attempt}: {exc}") from exc
    except TRANSIENT_ERRORS as exc:  # e.g. the soft time limit, mid-send
        with scope() as session:
            _record(session, delivery_id, DeliveryStatus.retrying, error=f"{type(exc).__name__}: {exc}")
        raise
    except Exception as exc:  # a bug: the job fails, and so does the delivery, visibly
        with scope() as session:
            _record(session, delivery_id, DeliveryStatus.failed, error=f"{type(exc).__name__}: {exc}")
        raise
    now = utcnow()
    with scope() as session:
        _record(session, delivery_id, DeliveryStatus.sent, provider_id=provider_id, sent_at=now)
        _mark_in_app(session, channel, outgoing, delivery_id, now)
    return {
        "delivery_id": delivery_id,
        "channel": channel,
        "status": DeliveryStatus.sent.value,
        "attempts": attempt,
    }


def _mark_in_app(session: Session, channel: str, outgoing: Outgoing, delivery_id: int, now: datetime) -> None:
    """Keep the seed's ``notifications.email_sent``/``push_sent`` true to what went out."""
    user_id = sa.select(D.user_id).where(D.id == delivery_id).scalar_subquery()
    in_app = sa.select(D.notification_id).where(
        D.user_id == user_id, D.channel == Channel.in_app.value, D.event_key.in_(outgoing.covers)
    )
    flags = (
        {"email_sent": True, "email_sent_at": now}
        if channel == Channel.email
        else {"push_sent": True, "push_sent_at": now}
    )
    session.execute(sa.update(Notification).where(Notification.id.in_(in_app)).values(**flags))
