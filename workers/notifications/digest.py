"""The daily digest: low-priority e-mails (status ``digest``) go out as one e-mail per person.

The digest itself is a delivery (event key ``digest:<date>``, type ``digest``, channel e-mail),
so the UNIQUE (user_id, event_key, channel) key allows one digest per person per day, and it is
sent, retried and rate-limited by ``notifications.deliver`` like any e-mail. Waiting e-mails are
attached to it (``digested``, ``digest_id``) only while it is unsent; later ones wait for the
next day's digest.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import aliased

from storage.db import insert_or_merge, session_scope, utcnow
from storage.notification_models import Channel, DeliveryStatus, NotificationDelivery, NotificationEvent
from workers.notifications.bulk import Dispatch, Scope, dispatch, record_deliver_jobs
from workers.notifications.delivery import DIGEST_TYPE
from workers.notifications.settings import get_notification_settings

D = NotificationDelivery


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def build_digests(
    day: date | None = None, *, scope: Scope = session_scope, send: Dispatch = dispatch
) -> dict[str, Any]:
    """Create (or complete) ``day``'s digest e-mails, in batches of users; returns counts.

    ``send`` hands the digests to ``notifications.deliver`` once they are committed.
    """
    day = day or utcnow().date()
    key = digest_key(day)
    now = utcnow()
    with scope() as session:
        session.execute(
            insert_or_merge(NotificationEvent, session.get_bind())
            .values(
                event_key=key,
                type=DIGEST_TYPE,
                payload={"date": day.isoformat()},
                recipients=0,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
    batch_size = get_notification_settings().fanout_batch_size
    after, digests, items = 0, 0, 0
    while True:
        with scope() as session:
            users = list(
                session.scalars(
                    sa.select(D.user_id)
                    .where(D.status == DeliveryStatus.digest.value, D.user_id > after)
                    .group_by(D.user_id)
                    .order_by(D.user_id)
                    .limit(batch_size)
                )
            )
            if not users:
                break
            after = users[-1]
            digests += len(
                session.execute(
                    insert_or_merge(D, session.get_bind())
                    .values(
                        [
                            {
                                "event_key": key,
                                "user_id": user_id,
                                "channel": Channel.email.value,
                                "type": DIGEST_TYPE,
                                "status": DeliveryStatus.pending.value,
                                "attempts": 0,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for user_id in users
                        ]
                    )
                    .on_conflict_do_nothing()
                    .returning(D.id)
                ).all()
            )
            digest = aliased(D, name="digest")
            open_digest = sa.select(digest.id).where(
                digest.event_key == key,
                digest.user_id == D.user_id,
                digest.channel == Channel.email.value,
                digest.status == DeliveryStatus.pending.value,
            )
            attached = session.execute(
                sa.update(D)
                .where(D.status == DeliveryStatus.digest.value, D.user_id.in_(users), open_digest.exists())
                .values(
                    status=DeliveryStatus.digested.value,
                    digest_id=open_digest.scalar_subquery(),
                    updated_at=now,
                )
            )
            items += cast(CursorResult[Any], attached).rowcount
            to_send = list(
                session.scalars(
                    sa.select(D.id).where(
                        D.event_key == key, D.user_id.in_(users), D.status == DeliveryStatus.pending.value
                    )
                )
            )
            record_deliver_jobs(session, to_send, now)
        send(to_send)
    return {"digest_key": key, "digests": digests, "items": items}
