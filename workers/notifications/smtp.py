"""E-mail over SMTP: ``SMTP_URL`` = ``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://``.

Errors are sorted for the retry policy: a refused or dropped connection, a timeout and any 4xx
reply are transient; a 5xx reply about the message or its recipient is permanent. An
authentication failure is the relay's configuration, not the message: transient.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from workers.notifications import SendError
from workers.notifications.templates import Email

TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"SMTP_URL must be smtp://host[:port] or smtps://host[:port], not {url!r}")
    implicit_tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=query.get("starttls", ["0"])[0].lower() in TRUE_WORDS,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_message(email: Email, *, sender: str, to: str, message_id: str) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, the HTML part preferred."""
    msg = EmailMessage()
    msg["Subject"] = email.subject
    msg["From"] = sender
    msg["To"] = Address(addr_spec=to)
    msg["Date"] = formatdate(localtime=False)
    # Derived from the delivery: a resend after an unknown outcome carries the same id.
    msg["Message-ID"] = message_id
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    return msg


def send(target: SmtpTarget, msg: EmailMessage, timeout_s: float) -> None:
    """Hand ``msg`` to the relay; raises :class:`SendError`."""
    try:
        client: smtplib.SMTP
        if target.implicit_tls:
            client = smtplib.SMTP_SSL(
                target.host, target.port, timeout=timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout_s)
        with client:
            if target.starttls:
                client.starttls(context=ssl.create_default_context())
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SendError(
            f"recipient refused: {exc.recipients}", transient=all(400 <= c < 500 for c in codes)
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(
            f"SMTP authentication failed: {exc.smtp_code} {exc.smtp_error!r}", transient=True
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", transient=exc.smtp_code < 500) from exc
    except (OSError, smtplib.SMTPException) as exc:
        # Refused, reset, timed out, TLS failed, disconnected: the relay may be back later.
        raise SendError(f"SMTP unreachable: {type(exc).__name__}: {exc}", transient=True) from exc
