"""Live in-app delivery: a Redis pub/sub message on ``notifications:user:<id>`` per new row.

The ``notifications`` row is the delivery; the publish only lets an open page show it at once.
Each message is one new unread notification (``id``, ``user_id``, ``type``, ``title``,
``message``, ``action_url``, ``thumbnail_url``, ``priority``, ``created_at``, ``expires_at``): a
page adds one to its unread count per message, and no message is ever published twice for one
row, so the count stays what the table says.

The publish happens after the row is committed and is best effort: a subscriber that missed it reads the
table when it reconnects. Without Redis (the embedded default) nothing is published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from storage.redis import redis_client

CHANNEL_PREFIX = "notifications:user:"


def channel_for(user_id: int) -> str:
    return f"{CHANNEL_PREFIX}{user_id}"


def message_tail(fields: Mapping[str, Any]) -> str:
    """The JSON members every message of a batch shares, encoded once (``"k":v,...}``)."""
    encoded = json.dumps(
        {k: v.isoformat() + "Z" if isinstance(v, datetime) else v for k, v in fields.items()}
    )
    return encoded[1:]


def message(notification_id: int, user_id: int, tail: str) -> str:
    """One user's message: its own ids in front of the batch's shared members."""
    return f'{{"id":{int(notification_id)},"user_id":{int(user_id)},{tail}'


#: PUBLISH each (channel, message) pair of ARGV: one round trip and one reply for a whole batch.
_PUBLISH_ALL = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2"
#: Messages per script run: a run blocks Redis, so it is kept to a few milliseconds.
PUBLISH_CHUNK = 1000


def publish(messages: Sequence[tuple[int, str]]) -> int:
    """Publish ``(user_id, message)`` pairs on their users' channels; returns how many."""
    client = redis_client()
    if client is None or not messages:
        return 0
    script = client.register_script(_PUBLISH_ALL)
    for start in range(0, len(messages), PUBLISH_CHUNK):
        args = [
            part
            for user_id, text in messages[start : start + PUBLISH_CHUNK]
            for part in (channel_for(user_id), text)
        ]
        script(args=args)
    return len(messages)
