"""The process's Redis client: locks, rate limits and live pub/sub share one connection pool."""

from __future__ import annotations

import os

import redis

from workers.settings import get_settings

_client: redis.Redis | None = None
_client_pid: int | None = None


def redis_client() -> redis.Redis | None:
    """This process's Redis connection pool (rebuilt after a fork), or None when none is configured."""
    global _client, _client_pid
    url = get_settings().redis
    if not url:
        return None
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _client_pid = os.getpid()
    return _client
