"""Notifications end to end: signed API -> real worker processes -> real SMTP and push servers.

The workers here are this module's own ``skincare-workers worker`` subprocesses on the
notifications queue, started with the test servers' addresses (``SMTP_URL``, ``PUSH_GATEWAY_URL``)
and a fast retry backoff. A shared worker of the session, if one runs, is told to stop consuming
the notifications queue meanwhile, so every notification task of this module runs where the
servers are configured.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
import sqlalchemy as sa

from storage.db import session_scope, utcnow
from storage.models import Job, Notification, ProductAnswer, ProductQuestion, User
from storage.notification_models import FINAL_STATUSES, NotificationDelivery
from tests.conftest import WorkerProcess, post_signed, wait_for_job
from tests.feedback_rows import make_product
from tests.test_notifications import (  # noqa: F401  (the two fixtures are used by name)
    PushGateway,
    SmtpSink,
    _tag,
    channel_env,
    deliveries,
    make_user,
    notifications_of,
    only,
    push_gateway_fixture,
    smtp_sink_fixture,
    wait_until,
    wishlist,
)
from workers import jobs
from workers.app import app
from workers.notifications import live
from workers.notifications.bulk import deliver_job_id
from workers.settings import get_settings

QUEUE = "notifications"


class NotifyWorkers:
    """This module's notifications worker, started on demand and replaceable by a test."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.current: WorkerProcess | None = None

    def running(self) -> WorkerProcess:
        if self.current is None or self.current.proc.poll() is not None:
            self.current = WorkerProcess(queues=QUEUE, env=self.env)
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


@pytest.fixture(scope="module")
def notify_workers(smtp_sink: SmtpSink, push_gateway: PushGateway) -> Iterator[NotifyWorkers]:
    paused = [
        name for reply in app.control.cancel_consumer(QUEUE, reply=True, timeout=2) or [] for name in reply
    ]
    # More attempts than the plain tests allow: a server a test restarts must be back before they run out.
    workers = NotifyWorkers({**channel_env(smtp_sink, push_gateway), "NOTIFY_MAX_ATTEMPTS": "12"})
    yield workers
    workers.stop()
    if paused:
        app.control.add_consumer(QUEUE, destination=paused, reply=True, timeout=2)


@pytest.fixture
def worker_on(notify_workers: NotifyWorkers) -> WorkerProcess:
    return notify_workers.running()


def email_of(user_id: int) -> str:
    with session_scope() as s:
        user = s.get(User, user_id)
        assert user is not None
        return user.email


def settled(event_key: str) -> dict[tuple[int, str], NotificationDelivery]:
    """The event's deliveries once none is waiting or being sent any more."""

    def check() -> dict[tuple[int, str], NotificationDelivery] | None:
        rows = deliveries(event_key)
        return rows if rows and all(d.status in FINAL_STATUSES for d in rows.values()) else None

    try:
        result: dict[tuple[int, str], NotificationDelivery] = wait_until(
            check, what=f"deliveries of {event_key}"
        )
    except TimeoutError as exc:
        statuses = {key: (d.status, d.attempts, d.last_error) for key, d in deliveries(event_key).items()}
        raise TimeoutError(f"{exc}: {statuses}") from exc
    return result


def test_a_product_event_reaches_exactly_the_opted_in_users_on_their_channels(
    api: Any, worker_on: WorkerProcess, smtp_sink: SmtpSink, push_gateway: PushGateway
) -> None:
    product = make_product()
    everyone = make_user()
    khmer = make_user(language="kh")
    push_only = make_user(product_restock=only("push"))
    no_restock, inactive, bystander = make_user(), make_user(active=False), make_user()
    wishlist(product, everyone, khmer, push_only, inactive)
    wishlist(product, no_restock, notify_on_restock=False)
    event_id = f"restock-{_tag()}"
    body = {"product_id": product, "event": "restock", "event_id": event_id, "details": {"stock": 40}}

    response = post_signed(api, "/v1/events/product", body)
    assert response.status_code == 202, response.text
    view = wait_for_job(api, response.json()["job_id"])
    assert view["state"] == "succeeded", view
    assert view["progress"] == 100
    assert view["result"]["created"] == {"in_app": 2, "email": 2, "push": 3}

    rows = settled(event_id)
    assert set(rows) == {
        (everyone, "in_app"), (everyone, "email"), (everyone, "push"),
        (khmer, "in_app"), (khmer, "email"), (khmer, "push"),
        (push_only, "push"),
    }  # fmt: skip
    assert {d.status for d in rows.values()} == {"sent"}
    assert [len(notifications_of(u)) for u in (everyone, khmer, push_only, no_restock, inactive)] == [
        1,
        1,
        0,
        0,
        0,
    ]
    for user in (everyone, khmer):
        (mail,) = smtp_sink.to(email_of(user))
        assert mail.get_body(("plain",)) is not None and mail.get_body(("html",)) is not None
    assert smtp_sink.to(email_of(khmer))[0]["Subject"].startswith("មានស្តុកវិញ")
    for user in (no_restock, inactive, bystander, push_only):
        assert smtp_sink.to(email_of(user)) == []
    assert Counter(
        r["body"]["user_id"] for r in push_gateway.requests if r["body"]["event_key"] == event_id
    ) == {
        everyone: 1,
        khmer: 1,
        push_only: 1,
    }

    # The producer sends the same event again: a new job, and nobody hears of it twice.
    again = post_signed(api, "/v1/events/product", body)
    view = wait_for_job(api, again.json()["job_id"])
    assert view["state"] == "succeeded" and view["result"]["already_done"], view
    assert deliveries(event_id).keys() == rows.keys()
    assert len(smtp_sink.to(email_of(everyone))) == 1 and len(notifications_of(everyone)) == 1


def test_an_answered_question_reaches_its_asker_live_and_by_email(
    api: Any, worker_on: WorkerProcess, smtp_sink: SmtpSink
) -> None:
    product = make_product()
    asker, expert = make_user(question_answered=only("in_app", "email")), make_user()
    with session_scope() as s:
        question = ProductQuestion(product_id=product, user_id=asker, question="Safe in pregnancy?")
        s.add(question)
        s.flush()
        answer = ProductAnswer(question_id=question.id, user_id=expert, answer="Yes, niacinamide is fine.")
        s.add(answer)
        s.flush()
        ids = {"question_id": question.id, "answer_id": answer.id}
    pubsub = redis.Redis.from_url(get_settings().redis).pubsub()
    pubsub.subscribe(live.channel_for(asker))
    wait_until(lambda: pubsub.get_message(timeout=0.1), what="subscription")

    response = post_signed(api, "/realtime/notify-question-answered", ids)
    view = wait_for_job(api, response.json()["job_id"])
    assert view["state"] == "succeeded", view
    message = wait_until(lambda: pubsub.get_message(timeout=0.1), what="live message")
    pubsub.close()

    (note,) = notifications_of(asker)
    assert json.loads(message["data"])["id"] == note.id
    assert "niacinamide is fine" in note.message and note.related_type == "question"
    # Without an event_id the job id is the event key.
    rows = settled(view["job_id"])
    assert set(rows) == {(asker, "in_app"), (asker, "email")}
    wait_until(lambda: smtp_sink.to(email_of(asker)), what="e-mail")
    (mail,) = smtp_sink.to(email_of(asker))
    assert mail["Subject"] == "Your question was answered"
    with session_scope() as s:
        row = s.get(Notification, note.id)
        assert row is not None and row.email_sent and not row.is_read


def test_the_gateway_refusing_a_push_is_final_and_a_busy_gateway_is_retried(
    api: Any, worker_on: WorkerProcess, push_gateway: PushGateway
) -> None:
    product = make_product()
    refused, busy = make_user(product_sale=only("push")), make_user(product_sale=only("push"))
    wishlist(product, refused, busy)
    push_gateway.script.update({refused: [400], busy: [503, 503]})
    event_id = f"sale-{_tag()}"

    response = post_signed(
        api, "/v1/events/product", {"product_id": product, "event": "sale", "event_id": event_id}
    )
    assert wait_for_job(api, response.json()["job_id"])["state"] == "succeeded"
    rows = settled(event_id)

    failed, sent = rows[(refused, "push")], rows[(busy, "push")]
    assert (failed.status, failed.attempts) == ("failed", 1) and "400" in (failed.last_error or "")
    assert (sent.status, sent.attempts) == ("sent", 3) and sent.provider_id is not None
    assert len(push_gateway.of(refused)) == 1 and len(push_gateway.of(busy)) == 3
    refused_job = wait_for_job(api, str(deliver_job_id(failed.id)))
    busy_job = wait_for_job(api, str(deliver_job_id(sent.id)))
    assert (refused_job["state"], refused_job["attempts"]) == ("failed", 1)
    assert (busy_job["state"], busy_job["attempts"]) == ("succeeded", 3)


def test_an_email_waits_for_the_smtp_server_and_goes_once(
    api: Any, worker_on: WorkerProcess, smtp_sink: SmtpSink
) -> None:
    product = make_product()
    user = make_user(product_restock=only("email"))
    wishlist(product, user)
    event_id = f"restock-{_tag()}"
    smtp_sink.stop()
    try:
        response = post_signed(
            api, "/v1/events/product", {"product_id": product, "event": "restock", "event_id": event_id}
        )
        assert wait_for_job(api, response.json()["job_id"])["state"] == "succeeded"
        retrying = wait_until(
            lambda: (d := deliveries(event_id)[(user, "email")]).status == "retrying" and d,
            what="a failed attempt",
        )
        assert "unreachable" in (retrying.last_error or "")
    finally:
        smtp_sink.start()
    (row,) = settled(event_id).values()
    assert row.status == "sent" and row.attempts >= 2
    assert len(smtp_sink.to(email_of(user))) == 1
    assert wait_for_job(api, str(deliver_job_id(row.id)))["state"] == "succeeded"


def test_a_fan_out_killed_mid_way_is_finished_by_another_worker_and_nobody_hears_twice(
    api: Any, notify_workers: NotifyWorkers, smtp_sink: SmtpSink
) -> None:
    notify_workers.stop()  # this test runs its own two workers
    env = {**notify_workers.env, "NOTIFY_FANOUT_BATCH_SIZE": "10", "NOTIFY_FANOUT_PARALLELISM": "1"}
    product = make_product()
    users = sorted(make_user(product_restock=only("in_app", "email")) for _ in range(30))
    wishlist(product, *users)
    event_id = f"restock-{_tag()}"
    # Hold the 11th recipient's row: the second batch waits on it (its foreign-key check), so
    # the first worker is killed in the middle of the fan-out, one batch committed.
    blocker = psycopg.connect(get_settings().database_url.replace("postgresql+psycopg://", "postgresql://"))
    blocker.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (users[10],))
    first = WorkerProcess(queues=QUEUE, env=env)
    try:
        response = post_signed(
            api, "/v1/events/product", {"product_id": product, "event": "restock", "event_id": event_id}
        )
        job_id = response.json()["job_id"]
        view = wait_until(
            lambda: (v := api.get(f"/v1/jobs/{job_id}").json())["progress"] >= 33 and v, what="progress"
        )
        assert view["state"] == "running"
        # The first batch's e-mails are all sent and recorded: no send is in flight at the kill.
        wait_until(
            lambda: [d.status for (_, c), d in deliveries(event_id).items() if c == "email"] == ["sent"] * 10,
            what="first e-mails",
        )
        first.stop(signal.SIGKILL)
    finally:
        first.stop(signal.SIGKILL)
        blocker.rollback()
        blocker.close()
    # Its message is never acknowledged; once the job's lease has run out the reconciler
    # publishes it again (the lease is made to run out now rather than in ten minutes).
    with session_scope() as s:
        s.execute(
            sa.update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    second = WorkerProcess(queues=QUEUE, env=env)
    notify_workers.current = second
    assert jobs.reconcile(queued_grace_s=3600)["lease_expired"] >= 1
    view = wait_for_job(api, job_id)
    assert view["state"] == "succeeded", view
    assert view["result"]["resumed_after"] == users[9]
    assert view["result"]["created"] == {"in_app": 20, "email": 20, "push": 0}

    assert {d.status for d in settled(event_id).values()} == {"sent"}
    assert [len(smtp_sink.to(email_of(u))) for u in users] == [1] * 30
    assert [len(notifications_of(u)) for u in users] == [1] * 30
    with session_scope() as s:
        job = s.get(Job, uuid.UUID(job_id))
        assert job is not None and job.deliveries == 2
