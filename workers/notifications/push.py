"""Push: a signed JSON POST to ``PUSH_GATEWAY_URL``; the gateway knows each user's devices.

The body is signed like the ingest API's requests (``queues.signing``): header
``X-Skincare-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`` with
``PUSH_SECRET``. ``Idempotency-Key`` is the same on every attempt of one delivery, so a gateway
can drop a repeat. A 2xx is sent; 408 and 429 ask to come back later, other 4xx are permanent;
5xx, timeouts and connection errors are transient.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from queues import signing
from workers.notifications import SendError

RETRY_LATER_CODES = frozenset({408, 429})


def send(
    url: str, secret: str, payload: dict[str, Any], *, idempotency_key: str, timeout_s: float
) -> str | None:
    """POST ``payload``; returns the gateway's id for it (``{"id": ...}`` in its answer) if any."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signing.sign(secret, body),
        "Idempotency-Key": idempotency_key,
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise SendError(f"push gateway unreachable: {type(exc).__name__}: {exc}", transient=True) from exc
    if response.is_success:
        try:
            answer = response.json()
        except ValueError:
            return None
        return str(answer["id"])[:255] if isinstance(answer, dict) and answer.get("id") else None
    transient = response.status_code >= 500 or response.status_code in RETRY_LATER_CODES
    raise SendError(f"push gateway {response.status_code}: {response.text[:200]}", transient=transient)
