"""HMAC request signatures: ``X-Skincare-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is HMAC-SHA256 over ``"<t>." + raw body`` with one of the configured secrets (several are
accepted at once so a secret can be rotated without downtime). Stale or future timestamps beyond
the tolerance are refused, which bounds replay.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "X-Skincare-Signature"


class SignatureError(Exception):
    """The request is not signed by a current secret; the message says why."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a producer sends (used by the demo, the tests and the benchmarks)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body).hexdigest()}"


def _digest(secret: str, timestamp: int, body: bytes) -> hmac.HMAC:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    mac.update(f"{timestamp}.".encode())
    mac.update(body)
    return mac


def parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("signature timestamp is not an integer") from None
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("signature must carry t=<unix seconds> and v1=<hex>")
    return timestamp, candidates


def check_time(timestamp: int, tolerance_s: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp outside the {tolerance_s} s tolerance")


class MacSource:
    """Each secret's MAC over a body that may arrive in chunks (uploads are streamed)."""

    def __init__(self, secrets: Iterable[str], timestamp: int) -> None:
        self._macs = [_digest(s, timestamp, b"") for s in secrets]

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def check(self, candidates: list[str]) -> None:
        """Constant-time comparison of every candidate against every secret's MAC."""
        ok = False
        for mac in self._macs:
            expected = mac.hexdigest()
            for candidate in candidates:
                ok |= hmac.compare_digest(expected, candidate)
        if not ok:
            raise SignatureError("signature does not match")


def verify(header: str | None, body: bytes, secrets: list[str], tolerance_s: int) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs ``body`` with a current secret."""
    if not secrets:
        raise SignatureError("no ingest secret is configured (INGEST_SECRETS)")
    timestamp, candidates = parse(header)
    check_time(timestamp, tolerance_s)
    macs = MacSource(secrets, timestamp)
    macs.update(body)
    macs.check(candidates)
