"""Per-channel rate limits shared by every worker: a token bucket in Redis.

A burst of deliveries (a sale to 100,000 wishlists) must not flood the SMTP relay or the push
gateway, whatever the number of workers; so the bucket lives in Redis and is updated by one Lua
script (atomic), timed by the Redis server's clock. Without Redis there is no shared state and
no limit (the embedded default runs one worker).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from storage.redis import redis_client
from workers.notifications.settings import get_notification_settings
from workers.taskbase import TransientError

#: KEYS[1] bucket; ARGV rate (tokens/s), burst. Takes a token if one is there; returns 0, or the
#: milliseconds until one will be.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""

KEY_PREFIX = "notifications:ratelimit:"


@dataclass(frozen=True)
class Limit:
    rate_per_s: float
    burst: int


def limit_for(channel: str) -> Limit:
    settings = get_notification_settings()
    if channel == "email":
        return Limit(settings.email_rate_per_s, settings.email_burst)
    return Limit(settings.push_rate_per_s, settings.push_burst)


def try_take(channel: str, limit: Limit | None = None) -> float:
    """Take one token for ``channel``: 0.0 if taken, else seconds until one is due (none taken)."""
    client = redis_client()
    if client is None:
        return 0.0
    limit = limit or limit_for(channel)
    wait_ms = client.eval(_TAKE, 1, KEY_PREFIX + channel, limit.rate_per_s, limit.burst)
    return int(wait_ms) / 1000.0


def take(channel: str) -> None:
    """Wait for a token for ``channel``; past NOTIFY_RATE_LIMIT_MAX_WAIT_S it is a transient error
    (the delivery is retried later rather than holding a worker process)."""
    deadline = time.monotonic() + get_notification_settings().rate_limit_max_wait_s
    while (wait := try_take(channel)) > 0:
        if time.monotonic() + wait > deadline:
            raise TransientError(f"{channel} rate limit: no token within the allowed wait")
        time.sleep(wait)
