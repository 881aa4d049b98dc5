"""Notifications as plain functions: templates, audience, fan-out, delivery and digest, no broker.

Real PostgreSQL (the session database), real Redis, a real SMTP server (aiosmtpd on loopback) and
a real HTTP push gateway (``http.server`` on loopback). The hand-off to ``notifications.deliver``
is collected instead of published, so nothing here needs a worker. The same servers serve the
worker tests in ``test_notifications_worker.py``.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session, sessionmaker

import storage.notification_models
from queues import signing
from storage.db import Base, make_engine, session_scope, utcnow
from storage.migrate import upgrade
from storage.models import (
    Job,
    Notification,
    Product,
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    User,
    UserRole,
    Wishlist,
    WishlistFeedback,
)
from storage.notification_models import NotificationDelivery, NotificationEvent, NotificationPreference
from tests.feedback_rows import make_product
from workers.notifications import live, ratelimit
from workers.notifications.bulk import deliver_job_id
from workers.notifications.delivery import deliver
from workers.notifications.digest import build_digests
from workers.notifications.events import parse_event
from workers.notifications.fanout import fan_out, insert_batch, make_plan, record_event
from workers.notifications.settings import get_notification_settings
from workers.notifications.templates import catalog, parse_catalog
from workers.settings import get_settings
from workers.taskbase import PermanentError, TransientError

PUSH_SECRET = "push-test-secret"
NOTIFICATION_TABLES = {t.name for t in Base.metadata.sorted_tables if t.name.startswith("notification_")}


# -- Rows ---------------------------------------------------------------------------------------


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def make_user(
    *, language: str = "en", role: UserRole = UserRole.customer, active: bool = True, **prefs: dict[str, bool]
) -> int:
    """A user; ``prefs`` maps a notification type (``all`` for ``'*'``) to its channel choices."""
    with session_scope() as s:
        user = User(
            email=f"n-{_tag()}@example.com", password="x", language=language, role=role, is_active=active
        )
        s.add(user)
        s.flush()
        for type_, channels in prefs.items():
            s.add(NotificationPreference(user_id=user.id, type="*" if type_ == "all" else type_, **channels))
        return user.id


def wishlist(product_id: int, *user_ids: int, **feedback: bool) -> None:
    """``user_ids`` wishlist the product; ``feedback`` (notify_on_*) becomes their feedback row."""
    with session_scope() as s:
        for user_id in user_ids:
            s.add(Wishlist(user_id=user_id, product_id=product_id))
            if feedback:
                s.add(WishlistFeedback(user_id=user_id, product_id=product_id, **feedback))


def only(*channels: str) -> dict[str, bool]:
    """Channel choices: exactly ``channels`` on."""
    return {c: c in channels for c in ("in_app", "email", "push")}


def deliveries(event_key: str) -> dict[tuple[int, str], NotificationDelivery]:
    with session_scope() as s:
        rows = s.scalars(sa.select(NotificationDelivery).where(NotificationDelivery.event_key == event_key))
        return {(d.user_id, d.channel): d for d in rows}


def notifications_of(user_id: int) -> list[Notification]:
    with session_scope() as s:
        return list(s.scalars(sa.select(Notification).where(Notification.user_id == user_id)))


def restock(product_id: int, **extra: Any) -> dict[str, Any]:
    return {"type": "product_restock", "event_id": f"restock-{_tag()}", "product_id": product_id, **extra}


# -- Real servers on loopback -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached after {timeout}s")


class SmtpSink:
    """An SMTP server on a fixed loopback port; keeps every message it accepts, parsed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"].addresses[0].addr_spec == address]


class PushGateway:
    """An HTTP push gateway on loopback: answers each user per its script (default 200) and
    records every request with its verified signature."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: dict[int, list[int]] = {}
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signing.verify(self.headers.get(signing.HEADER), body, [PUSH_SECRET], 300)
                payload = json.loads(body)
                gateway.requests.append({"body": payload, "idempotency_key": self.headers["Idempotency-Key"]})
                planned = gateway.script.get(payload["user_id"])
                status = planned.pop(0) if planned else 200
                answer = json.dumps({"id": f"push-{len(gateway.requests)}"} if status == 200 else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, user_id: int) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["body"]["user_id"] == user_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session", name="smtp_sink")
def smtp_sink_fixture() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session", name="push_gateway")
def push_gateway_fixture() -> Iterator[PushGateway]:
    gateway = PushGateway()
    yield gateway
    gateway.close()


def channel_env(smtp: SmtpSink, push: PushGateway) -> dict[str, str]:
    """What a process needs to send e-mail and push to the test servers, retrying fast."""
    return {
        "SMTP_URL": smtp.url,
        "PUSH_GATEWAY_URL": push.url,
        "PUSH_SECRET": PUSH_SECRET,
        "NOTIFY_RETRY_BACKOFF_S": "1",  # each retry within a second
        "NOTIFY_RETRY_BACKOFF_MAX_S": "1",
        "NOTIFY_MAX_ATTEMPTS": "4",
        "NOTIFY_EMAIL_RATE_PER_S": "1000",
        "NOTIFY_EMAIL_BURST": "1000",
    }


@pytest.fixture
def channels(
    monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink, push_gateway: PushGateway
) -> Iterator[None]:
    """This process configured for the test servers (settings are read once per process)."""
    for key, value in channel_env(smtp_sink, push_gateway).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    get_notification_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    get_notification_settings.cache_clear()


# -- Templates ----------------------------------------------------------------------------------


def test_every_type_renders_in_english_and_khmer_from_the_data_file() -> None:
    context = {
        "product_name": "Serum {x}",
        "product_slug": "serum",
        "decision": "approved",
        "outcome": "active",
    }
    for name, spec in catalog().types.items():
        for language in ("en", "kh"):
            rendered = spec.render(language, context)
            assert rendered.title and rendered.message, (name, language)
            assert "{" not in rendered.title.replace("{x}", ""), (name, rendered.title)
    restock = catalog().spec("product_restock")
    assert restock.render("kh", context).title == "មានស្តុកវិញ៖ Serum {x}"
    assert restock.render("fr", context).title == "Back in stock: Serum {x}"  # no French: English
    assert restock.render("en", {}).title == "Back in stock:"  # a missing field is empty, not an error
    moderated = catalog().spec("review_moderated")
    assert moderated.render("en", {"decision": "rejected"}).title == "Your review was not published"


def test_an_email_has_a_plain_and_an_escaped_html_body() -> None:
    rendered = catalog().spec("review_response").render("en", {"response_excerpt": "<b>thanks</b> & more"})
    mail = catalog().email(rendered, "en", "https://shop.example")
    assert "<b>thanks</b> & more" in mail.text
    assert "&lt;b&gt;thanks&lt;/b&gt; &amp; more" in mail.html and "<b>" not in mail.html
    assert "https://shop.example/account/notifications" in mail.text


def test_a_broken_template_file_is_refused_at_load() -> None:
    data = json.loads(Path("workers/notifications/templates.json").read_text(encoding="utf-8"))
    del data["types"]["product_sale"]["text"]["en"]
    with pytest.raises(ValueError, match="product_sale"):
        parse_catalog(data)


# -- Fan-out ------------------------------------------------------------------------------------


def test_restock_reaches_exactly_the_opted_in_users_on_exactly_their_channels() -> None:
    product = make_product()
    everything = make_user()  # no choices: the type's defaults, all three channels
    khmer = make_user(language="kh")
    no_restock = make_user()  # wishlist_feedback.notify_on_restock = false
    inactive = make_user(active=False)
    push_only = make_user(product_restock=only("push"))
    email_off = make_user(product_restock={"email": False})
    all_off_but_type = make_user(all=only(), product_restock={"in_app": True})  # type row wins over '*'
    nothing_at_all = make_user(all=only())
    make_user()  # did not wishlist the product
    wishlist(product, everything, khmer, inactive, push_only, email_off, all_off_but_type, nothing_at_all)
    wishlist(product, no_restock, notify_on_restock=False, notify_on_sale=True)

    sent: list[int] = []
    event = restock(product)
    result = fan_out(event, send=sent.extend)

    expected = {
        (everything, "in_app"), (everything, "email"), (everything, "push"),
        (khmer, "in_app"), (khmer, "email"), (khmer, "push"),
        (push_only, "push"),
        (email_off, "in_app"), (email_off, "push"),
        (all_off_but_type, "in_app"),
    }  # fmt: skip
    rows = deliveries(event["event_id"])
    assert set(rows) == expected
    assert result["created"] == {"in_app": 4, "email": 2, "push": 4} and result["recipients"] == 5
    # In-app: one row each, in the user's language, linked to its delivery, with an expiry.
    for user in (everything, khmer, email_off, all_off_but_type):
        (note,) = notifications_of(user)
        assert rows[(user, "in_app")].notification_id == note.id
        assert rows[(user, "in_app")].status == "sent"
        assert (
            note.type == "product_restock" and note.related_type == "product" and note.related_id == product
        )
        assert (
            note.expires_at is not None and note.created_at is not None and note.expires_at > note.created_at
        )
    assert notifications_of(khmer)[0].title.startswith("មានស្តុកវិញ")
    assert notifications_of(everything)[0].title.startswith("Back in stock: Serum")
    # E-mail and push wait for notifications.deliver, each with its job queued in the ledger.
    waiting = sorted(d.id for (_, channel), d in rows.items() if channel != "in_app")
    assert sorted(sent) == waiting
    with session_scope() as s:
        queued = s.scalars(sa.select(Job).where(Job.id.in_([deliver_job_id(i) for i in waiting]))).all()
        assert {(j.kind, j.state.value) for j in queued} == {("notifications.deliver", "queued")}
        assert len(queued) == len(waiting)


def test_the_same_event_again_adds_nothing_and_a_reused_key_is_refused() -> None:
    product = make_product()
    users = [make_user(product_restock=only("in_app", "email")) for _ in range(3)]
    wishlist(product, *users)
    event = restock(product)
    first: list[int] = []
    fan_out(event, send=first.extend)
    again: list[int] = []
    repeated = fan_out(event, send=again.extend)  # a second job for the same event_id
    assert repeated["already_done"] and again == []
    assert len(deliveries(event["event_id"])) == 6 and len(first) == 3
    assert all(len(notifications_of(u)) == 1 for u in users)
    with pytest.raises(PermanentError, match="already used"):
        fan_out({**event, "type": "product_sale"})


def test_a_fan_out_cut_short_resumes_and_reaches_everyone_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_FANOUT_BATCH_SIZE", "2")
    get_notification_settings.cache_clear()
    try:
        product = make_product()
        users = sorted(make_user(product_restock=only("in_app", "email")) for _ in range(5))
        wishlist(product, *users)
        event = restock(product)
        # A first run that died after committing the first batch and a part of the second one's
        # work (its rows exist, its cursor move does not).
        parsed = parse_event(event)
        with session_scope() as s:
            row = record_event(s, event["event_id"], parsed, None, utcnow())
            plan = make_plan(s, event["event_id"], parsed, row)
        with session_scope() as s:
            insert_batch(s, plan, 0, users[1], utcnow())
            s.execute(
                sa.update(NotificationEvent)
                .where(NotificationEvent.event_key == event["event_id"])
                .values(cursor=users[1])
            )
        with session_scope() as s:
            insert_batch(s, plan, users[1], users[3], utcnow())
        sent: list[int] = []
        result = fan_out(event, send=sent.extend)
    finally:
        monkeypatch.undo()
        get_notification_settings.cache_clear()
    assert result["resumed_after"] == users[1] and result["batches"] == 2
    assert result["created"] == {"in_app": 1, "email": 1, "push": 0}  # only the last user was missing
    assert all(len(notifications_of(u)) == 1 for u in users)
    assert len(deliveries(event["event_id"])) == 10


def test_expired_events_reach_nobody_and_expired_deliveries_are_not_sent(
    channels: None, smtp_sink: SmtpSink
) -> None:
    product = make_product()
    user = make_user(product_sale=only("in_app", "email"))
    wishlist(product, user)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    result = fan_out(
        {
            "type": "product_sale",
            "event_id": f"sale-{_tag()}",
            "product_id": product,
            "details": {"expires_at": past},
        }
    )
    assert result["expired"] and notifications_of(user) == []

    soon = restock(product, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    sent: list[int] = []
    fan_out(soon, send=sent.extend)
    (note,) = notifications_of(user)
    assert note.expires_at is not None and note.expires_at - utcnow() < timedelta(hours=1, minutes=1)
    with session_scope() as s:  # the hour went by before the e-mail could go
        s.execute(
            sa.update(NotificationEvent)
            .where(NotificationEvent.event_key == soon["event_id"])
            .values(expires_at=utcnow())
        )
    before = len(smtp_sink.messages)
    assert deliver(sent[0])["status"] == "expired"
    assert len(smtp_sink.messages) == before


def test_single_recipient_events_find_their_user() -> None:
    product = make_product()
    asker, answerer, author, customer = make_user(), make_user(), make_user(language="kh"), make_user()
    moderator, admin = make_user(role=UserRole.moderator), make_user(role=UserRole.admin)
    with session_scope() as s:
        question = ProductQuestion(product_id=product, user_id=asker, question="Does it sting?")
        review = ProductReview(product_id=product, user_id=author, rating=5, review_text="Lovely")
        s.add_all([question, review])
        s.flush()
        answer = ProductAnswer(
            question_id=question.id,
            user_id=answerer,
            answer="Not at all, even on my " + "very " * 40 + "sensitive skin.",
        )
        own_answer = ProductAnswer(question_id=question.id, user_id=asker, answer="Update: it does not.")
        s.add_all([answer, own_answer])
        s.flush()
        ids = {"question": question.id, "review": review.id, "answer": answer.id, "own": own_answer.id}

    def recipients(event: dict[str, Any]) -> set[int]:
        event = {"event_id": f"e-{_tag()}", **event}
        fan_out(event, send=lambda _: None)
        return {user for user, _ in deliveries(event["event_id"])}

    assert recipients(
        {"type": "question_answered", "question_id": ids["question"], "answer_id": ids["answer"]}
    ) == {asker}
    (note,) = notifications_of(asker)
    assert note.message.endswith("…”") and len(note.message) < 250  # a long answer is quoted short
    assert (
        recipients({"type": "question_answered", "question_id": ids["question"], "answer_id": ids["own"]})
        == set()
    )
    assert recipients(
        {"type": "review_response", "review_id": ids["review"], "response_text": "Thank you!"}
    ) == {author}
    assert notifications_of(author)[0].title == "ការឆ្លើយតបទៅមតិយោបល់របស់អ្នក"
    assert recipients({"type": "product_recommendation", "user_id": customer, "product_id": product}) == {
        customer
    }
    assert recipients(
        {"type": "file_processed", "user_id": customer, "file_id": 999999, "outcome": "infected"}
    ) == {customer}
    alerted = recipients(
        {
            "type": "moderation_alert",
            "content_type": "review",
            "content_id": 1,
            "reason": "spam",
            "priority": 5,
        }
    )
    assert {moderator, admin} <= alerted and not {asker, answerer, author, customer} & alerted
    with session_scope() as s:
        roles = set(s.scalars(sa.select(User.role).where(User.id.in_(alerted))))
        assert roles <= {UserRole.moderator, UserRole.admin}
        urgent = s.scalars(
            sa.select(Notification.priority).where(
                Notification.user_id == moderator, Notification.type == "moderation_alert"
            )
        )
        assert set(urgent) == {"urgent"}


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"type": "no_such_type", "event_id": "x"}, "invalid notification event"),
        ({"type": "product_restock", "event_id": "x"}, "product_id"),
        (
            {"type": "question_answered", "event_id": "q-gone", "question_id": 987654321, "answer_id": 1},
            "question 987654321 does not exist",
        ),
        ({"type": "product_restock", "product_id": 1}, "no event_id"),
    ],
)  # fmt: skip
def test_a_bad_event_fails_for_good(event: dict[str, Any], error: str) -> None:
    with pytest.raises(PermanentError, match=error):
        fan_out(event)


def test_new_in_app_rows_are_published_live_on_the_users_channel() -> None:
    product = make_product()
    user = make_user(product_restock=only("in_app"))
    wishlist(product, user)
    pubsub = redis.Redis.from_url(get_settings().redis).pubsub()
    pubsub.subscribe(live.channel_for(user))
    wait_until(lambda: pubsub.get_message(timeout=0.1), what="subscription")
    fan_out(restock(product))
    message = wait_until(lambda: pubsub.get_message(timeout=0.1), what="live message")
    pubsub.close()
    (note,) = notifications_of(user)
    body = json.loads(message["data"])
    assert body["id"] == note.id and body["user_id"] == user and body["title"] == note.title
    assert body["created_at"].endswith("Z") and body["priority"] == "normal"


# -- Delivery -----------------------------------------------------------------------------------


def test_an_email_goes_once_as_plain_text_and_html(channels: None, smtp_sink: SmtpSink) -> None:
    product = make_product()
    user = make_user(language="kh", product_restock=only("in_app", "email"))
    wishlist(product, user)
    sent: list[int] = []
    fan_out(restock(product), send=sent.extend)
    (delivery_id,) = sent
    outcome = deliver(delivery_id)
    assert outcome["status"] == "sent" and outcome["attempts"] == 1
    assert deliver(delivery_id)["status"] == "sent"  # again: nothing more is sent
    with session_scope() as s:
        address = s.get(User, user).email  # type: ignore[union-attr]
        row = s.get(NotificationDelivery, delivery_id)
        assert row is not None and row.provider_id == f"<notification.{delivery_id}@skincare.local>"
        (note,) = s.scalars(sa.select(Notification).where(Notification.user_id == user))
        assert note.email_sent and note.email_sent_at is not None and not note.push_sent
    (mail,) = smtp_sink.to(address)
    assert mail["Subject"].startswith("មានស្តុកវិញ")
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert "/products/serum-" in plain.get_content() and "<a href=" in html.get_content()


def test_a_channel_turned_off_after_the_fan_out_is_not_sent(channels: None, smtp_sink: SmtpSink) -> None:
    """The choice is read again at send time: the type's own row, then the '*' row."""
    product = make_product()
    user = make_user(product_restock=only("in_app", "email"))
    wishlist(product, user)
    sent: list[int] = []
    fan_out(restock(product), send=sent.extend)
    (delivery_id,) = sent
    with session_scope() as s:
        s.execute(
            sa.update(NotificationPreference)
            .where(NotificationPreference.user_id == user, NotificationPreference.type == "product_restock")
            .values(email=None)  # no choice of its own any more: the '*' row decides
        )
        s.add(NotificationPreference(user_id=user, type="*", email=False))

    outcome = deliver(delivery_id)

    assert outcome["status"] == "skipped"
    with session_scope() as s:
        row = s.get(NotificationDelivery, delivery_id)
        address = s.get(User, user).email  # type: ignore[union-attr]
        assert row is not None and "turned email off" in (row.last_error or "")
    assert smtp_sink.to(address) == []


def test_push_is_signed_400_fails_at_once_and_503_is_retried(
    channels: None, push_gateway: PushGateway
) -> None:
    product = make_product()
    rejected, flaky = make_user(product_restock=only("push")), make_user(product_restock=only("push"))
    wishlist(product, rejected, flaky)
    push_gateway.script.update({rejected: [400], flaky: [503, 503]})
    sent: list[int] = []
    event = restock(product)
    fan_out(event, send=sent.extend)
    rows = deliveries(event["event_id"])

    with pytest.raises(PermanentError, match="400"):
        deliver(rows[(rejected, "push")].id)
    failed = deliveries(event["event_id"])[(rejected, "push")]
    assert (failed.status, failed.attempts) == ("failed", 1) and "400" in (failed.last_error or "")
    assert len(push_gateway.of(rejected)) == 1

    flaky_id = rows[(flaky, "push")].id
    for attempt in (1, 2):
        with pytest.raises(TransientError):
            deliver(flaky_id)
        row = deliveries(event["event_id"])[(flaky, "push")]
        assert (row.status, row.attempts) == ("retrying", attempt)
    assert deliver(flaky_id) == {"delivery_id": flaky_id, "channel": "push", "status": "sent", "attempts": 3}
    calls = push_gateway.of(flaky)
    assert len(calls) == 3 and {c["idempotency_key"] for c in calls} == {f"notification-delivery-{flaky_id}"}
    assert calls[-1]["body"]["title"].startswith("Back in stock") and calls[-1]["body"][
        "action_url"
    ].startswith("http")


def test_a_delivery_gives_up_after_the_attempt_limit(channels: None, monkeypatch: pytest.MonkeyPatch) -> None:
    product = make_product()
    user = make_user(product_restock=only("email"))
    wishlist(product, user)
    sent: list[int] = []
    fan_out(restock(product), send=sent.extend)
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nobody listens there
    get_settings.cache_clear()
    limit = get_notification_settings().max_attempts
    for _ in range(limit - 1):
        with pytest.raises(TransientError, match="unreachable"):
            deliver(sent[0])
    with pytest.raises(PermanentError, match=f"after {limit} attempt"):
        deliver(sent[0])
    with session_scope() as s:
        row = s.get(NotificationDelivery, sent[0])
        assert row is not None and (row.status, row.attempts) == ("failed", limit)


def test_a_delivery_about_something_deleted_since_fails_visibly(channels: None) -> None:
    product = make_product()
    user = make_user(product_restock=only("email"))
    wishlist(product, user)
    sent: list[int] = []
    fan_out(restock(product), send=sent.extend)
    with session_scope() as s:
        s.execute(sa.delete(Product).where(Product.id == product))
    with pytest.raises(PermanentError, match=f"product {product} does not exist"):
        deliver(sent[0])
    with session_scope() as s:
        row = s.get(NotificationDelivery, sent[0])
        assert row is not None and (row.status, row.attempts) == ("failed", 0)


def test_low_priority_emails_wait_for_one_daily_digest(channels: None, smtp_sink: SmtpSink) -> None:
    product, other = make_product(), make_product()
    user = make_user(product_new_review=only("in_app", "email"), product_recommendation=only("email"))
    wishlist(product, user)
    sent: list[int] = []
    fan_out(
        {"type": "product_new_review", "event_id": f"nr-{_tag()}", "product_id": product}, send=sent.extend
    )
    fan_out(
        {"type": "product_recommendation", "event_id": f"rec-{_tag()}", "user_id": user, "product_id": other},
        send=sent.extend,
    )
    assert sent == []  # nothing goes at once
    day = date(2031, 1, 2)
    digests: list[int] = []
    summary = build_digests(day, send=digests.extend)
    assert summary["items"] >= 2 and len(digests) >= 1
    with session_scope() as s:
        digest = s.scalars(
            sa.select(NotificationDelivery).where(
                NotificationDelivery.event_key == "digest:2031-01-02", NotificationDelivery.user_id == user
            )
        ).one()
        items = s.scalars(
            sa.select(NotificationDelivery).where(NotificationDelivery.digest_id == digest.id)
        ).all()
        assert {i.type for i in items} == {"product_new_review", "product_recommendation"}
        assert {i.status for i in items} == {"digested"}
        address = s.get(User, user).email  # type: ignore[union-attr]
    assert deliver(digest.id)["status"] == "sent"
    (mail,) = smtp_sink.to(address)
    assert mail["Subject"] == "Your daily skincare digest"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "New review of Serum" in text and "Picked for you: Serum" in text
    again: list[int] = []
    assert build_digests(day, send=again.extend)["items"] == 0 and again == []


def test_the_rate_limit_bucket_is_shared_and_refills() -> None:
    channel = f"test-{_tag()}"
    limit = ratelimit.Limit(rate_per_s=0.5, burst=3)
    assert [ratelimit.try_take(channel, limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = ratelimit.try_take(channel, limit)
    assert 0 < wait <= 2.0  # empty: the next token is due within 1 / rate seconds


# -- Schema and the embedded database -----------------------------------------------------------


def test_the_migration_builds_what_the_models_declare(tmp_path: Path) -> None:
    def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in NOTIFICATION_TABLES

    assert {
        "notification_events",
        "notification_preferences",
        "notification_deliveries",
    } == NOTIFICATION_TABLES
    sqlite_url = f"sqlite:///{tmp_path / 'n.db'}"
    upgrade(sqlite_url)
    for engine in (make_engine(), make_engine(sqlite_url)):
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True, "include_object": ours}
            )
            assert compare_metadata(context, Base.metadata) == [], engine.dialect.name
        engine.dispose()
    assert storage.notification_models.Channel.in_app == "in_app"


def test_the_fan_out_runs_on_the_embedded_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    @contextmanager
    def scope() -> Iterator[Session]:
        with factory() as session, session.begin():
            yield session

    with scope() as s:
        product = Product(
            name_en="Toner", name_kh="ទឹកលាប", slug="toner", sku="T-1", price=Decimal("5"), category="toner"
        )
        users = [
            User(email=f"s{i}@example.com", password="x", language="kh" if i else "en") for i in range(3)
        ]
        s.add_all([product, *users])
        s.flush()
        s.add_all([Wishlist(user_id=u.id, product_id=product.id) for u in users])
        s.add(NotificationPreference(user_id=users[2].id, type="product_restock", in_app=False))
        ids = [u.id for u in users]
        product_id = product.id
    sent: list[int] = []
    event = {"type": "product_restock", "event_id": "embedded-1", "product_id": product_id}
    result = fan_out(event, scope=scope, send=sent.extend)
    assert fan_out(event, scope=scope)["already_done"]
    assert result["created"] == {"in_app": 2, "email": 3, "push": 3} and len(sent) == 6
    with scope() as s:
        titles = dict(s.execute(sa.select(Notification.user_id, Notification.title)).all())
        links = dict(
            s.execute(
                sa.select(NotificationDelivery.user_id, NotificationDelivery.notification_id).where(
                    NotificationDelivery.channel == "in_app"
                )
            ).all()
        )
        note_ids = dict(s.execute(sa.select(Notification.user_id, Notification.id)).all())
    assert titles == {ids[0]: "Back in stock: Toner", ids[1]: "មានស្តុកវិញ៖ ទឹកលាប"}
    assert links == note_ids
    engine.dispose()
