"""The notification domain's own tables (not in the seed): events, preferences, deliveries.

The seed's ``notifications`` table stays as it is; it is the in-app channel. What makes a
message "never twice" lives here, as constraints:

* ``notification_deliveries`` is UNIQUE on ``(user_id, event_key, channel)``: one row per person
  and channel for an event, inserted with ``ON CONFLICT DO NOTHING``. The in-app row is written
  in the same transaction as its ``notifications`` row, only when it is itself new, and points at
  it (``notification_id``, UNIQUE): a notification exists exactly when its delivery row does.
* ``notification_events`` is keyed by the event key, so a redelivered or repeated event finds
  its row (and its fan-out cursor) instead of starting over.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, JSONType, utcnow

#: Deliveries of a busy shop outgrow 2**31 ids; SQLite's rowid alias must stay INTEGER.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: ``notification_preferences.type`` of the row that applies to every type without its own row.
ALL_TYPES = "*"


class Channel(enum.StrEnum):
    in_app = "in_app"  # the seed's notifications row, plus a Redis pub/sub publish
    email = "email"  # SMTP, plain text and HTML
    push = "push"  # signed JSON POST to the push gateway


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # waiting for its notifications.deliver task
    sending = "sending"  # a worker claimed it and is talking to the provider
    retrying = "retrying"  # the last attempt failed transiently; the task retries it with backoff
    digest = "digest"  # a low-priority e-mail waiting for the daily digest
    digested = "digested"  # carried by the digest e-mail ``digest_id``
    sent = "sent"  # the provider accepted it (in-app: the row exists)
    failed = "failed"  # permanent error, or retries exhausted (see last_error)
    expired = "expired"  # the event's expires_at passed before it could be sent
    skipped = "skipped"  # not sent on purpose: channel not configured, user deactivated since


#: A delivery in one of these states is finished: nothing will ever send it again.
FINAL_STATUSES = frozenset(
    {DeliveryStatus.sent, DeliveryStatus.failed, DeliveryStatus.expired, DeliveryStatus.skipped}
)


def _in(column: str, values: type[enum.Enum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class NotificationEvent(Base):
    """One event as fanned out: what happened, and how far the fan-out got."""

    __tablename__ = "notification_events"

    #: The producer's ``event_id``, or the fan-out job's id when it sent none.
    event_key: Mapped[str] = mapped_column(sa.String(150), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    job_id: Mapped[str | None] = mapped_column(sa.String(36))  # the job that first fanned it out
    expires_at: Mapped[datetime | None]
    #: Keyset high-water mark: every recipient with ``users.id <= cursor`` is done. A redelivered
    #: fan-out resumes after it.
    cursor: Mapped[int | None]
    recipients: Mapped[int] = mapped_column(server_default=sa.text("0"))  # deliveries created so far
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """A user's channels for one notification type (``type='*'``: for every type).

    A NULL column means "not chosen": the type's own row, then the ``'*'`` row, then the type's
    default in ``workers/notifications/templates.json`` decide, in that order.
    """

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    in_app: Mapped[bool | None]
    email: Mapped[bool | None]
    push: Mapped[bool | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationDelivery(Base):
    """One event for one person on one channel, and every attempt's outcome."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # User first: the same index finds a user's rows (ON DELETE CASCADE from users).
        UniqueConstraint("user_id", "event_key", "channel", name="uq_notification_deliveries_once"),
        CheckConstraint(_in("channel", Channel), name="valid_notification_delivery_channel"),
        CheckConstraint(_in("status", DeliveryStatus), name="valid_notification_delivery_status"),
        # The digest sweep reads only the e-mails waiting for it.
        Index(
            "ix_notification_deliveries_digest",
            "user_id",
            postgresql_where=sa.text("status = 'digest'"),
            sqlite_where=sa.text("status = 'digest'"),
        ),
        Index(
            "ix_notification_deliveries_digest_id",
            "digest_id",
            postgresql_where=sa.text("digest_id IS NOT NULL"),
            sqlite_where=sa.text("digest_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_key: Mapped[str] = mapped_column(
        sa.String(150), ForeignKey("notification_events.event_key", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(10))
    type: Mapped[str] = mapped_column(sa.String(50))
    status: Mapped[str] = mapped_column(sa.String(10))
    attempts: Mapped[int] = mapped_column(server_default=sa.text("0"))  # sends tried
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    provider_id: Mapped[str | None] = mapped_column(sa.String(255))  # Message-ID, or the gateway's id
    #: The in-app channel's notifications row, written in the same statement. A plain reference,
    #: not a foreign key: the shop deletes its notifications without touching this table, a
    #: dangling id is harmless, and the hot fan-out insert saves a lookup per row.
    notification_id: Mapped[int | None] = mapped_column(unique=True)
    #: For a digested e-mail: the digest delivery that carried it.
    digest_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("notification_deliveries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
