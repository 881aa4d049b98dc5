"""The API's Prometheus metrics (``queues.metrics``), read the way Prometheus reads them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from queues.metrics import queue_depths
from queues.names import TASK_QUEUES
from storage.db import session_scope
from storage.models import Job
from tests.conftest import REDIS_HOST, WorkerProcess, lock_redis_db, post_signed, wait_for_job
from tests.services import rabbitmq_vhost
from workers import jobs
from workers.app import app

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Any) -> Samples:
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_route_template_and_status(api: Any) -> None:
    review = {"method": "POST", "route": "/webhook/review-submitted"}
    job_view = {"method": "GET", "route": "/v1/jobs/{job_id}"}
    before = scrape(api)
    key = {"Idempotency-Key": f"metrics-{uuid.uuid4()}"}
    assert post_signed(api, "/webhook/review-submitted", {"review_id": 7}, headers=key).status_code == 202
    assert post_signed(api, "/webhook/review-submitted", {"review_id": 7}, headers=key).status_code == 202
    assert post_signed(api, "/webhook/review-submitted", {"review_id": 7}, secret="wrong").status_code == 401
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    assert api.get(f"/v1/jobs/{ids[0]}").status_code == 404
    assert api.get(f"/no/such/path/{ids[1]}").status_code == 404
    after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("skincare_api_requests_total", **review, status="202") == 2
    assert grew("skincare_api_requests_total", **review, status="401") == 1
    assert grew("skincare_api_requests_total", **job_view, status="404") == 1  # the template, not the id
    assert grew("skincare_api_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert grew("skincare_api_request_duration_seconds_count", **review) == 3
    assert grew("skincare_api_request_duration_seconds_bucket", **review, le="+Inf") == 3
    assert grew("skincare_api_request_duration_seconds_sum", **review) > 0
    # A replay of the same Idempotency-Key and a refused signature record no new job.
    assert grew("skincare_jobs_accepted_total", kind="feedback.review_submitted") == 1
    labels = {value for _, pairs in after for _, value in pairs}
    assert not any(i in label for i in ids for label in labels), "a raw path became a label"


def test_job_latency_outcomes_and_open_jobs_come_from_the_ledger(api: Any, worker: WorkerProcess) -> None:
    ok = {"kind": "maintenance.reconcile_jobs", "outcome": "succeeded"}
    failed = {"kind": "uploads.process", "outcome": "failed"}
    before = scrape(api)
    done, _ = jobs.enqueue("maintenance.reconcile_jobs", {})
    bad, _ = jobs.enqueue("uploads.process", {"file_id": 2**31 - 7})  # no such file: a permanent failure
    assert wait_for_job(api, str(done.id))["state"] == "succeeded"
    assert wait_for_job(api, str(bad.id))["state"] == "failed"

    def counted() -> Samples | None:
        after = scrape(api)
        counts = [
            value(after, "skincare_job_latency_seconds_count", **labels)
            - value(before, "skincare_job_latency_seconds_count", **labels)
            for labels in (ok, failed)
        ]
        return after if min(counts) >= 1 else None

    after = _poll(counted, "finished jobs never reached the latency histogram")
    assert value(after, "skincare_job_latency_seconds_bucket", **ok, le="+Inf") >= 1
    assert value(after, "skincare_job_latency_seconds_sum", **ok) > 0
    assert value(after, "skincare_job_attempts_bucket", **failed, le="1.0") >= 1  # failed at once, no retry

    with session_scope() as session:  # recorded, not published: a job the reconciler would pick up
        waiting, _ = jobs.submit(session, "maintenance.reconcile_jobs", {})
    try:
        now = scrape(api)
        assert value(now, "skincare_jobs_open", kind="maintenance.reconcile_jobs", state="queued") >= 1
    finally:
        with session_scope() as session:
            session.delete(session.get(Job, waiting.id))


def _poll(probe: Callable[[], Samples | None], what: str, timeout: float = 20) -> Samples:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, what
        time.sleep(0.25)
    return found


def test_queue_depth_and_broker_up_on_the_configured_broker(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = scrape(api)
    assert value(samples, "skincare_broker_up") == 1
    assert {dict(labels)["queue"] for name, labels in samples if name == "skincare_queue_depth"} == {
        q.name for q in TASK_QUEUES
    }
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    down = scrape(api)  # the scrape still answers, and says what it could not read
    assert value(down, "skincare_broker_up") == 0
    assert not any(name == "skincare_queue_depth" for name, _ in down)


@pytest.fixture(params=["redis", "amqp", "filesystem"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    """A connection to an empty broker of each kind kombu gives us, with our queues declared."""
    if request.param == "redis":
        index, lock = lock_redis_db()
        try:
            with Connection(f"redis://{REDIS_HOST}/{index}") as conn:
                conn.default_channel.client.flushdb()
                yield _declared(conn)
                conn.default_channel.client.flushdb()
        finally:
            lock.close()
    elif request.param == "amqp":
        with rabbitmq_vhost("skincare-metrics") as url, Connection(url) as conn:
            yield _declared(conn)
    else:
        folder = str(tmp_path)
        options = {"data_folder_in": folder, "data_folder_out": folder}
        with Connection("filesystem://", transport_options=options) as conn:
            yield _declared(conn)


def _declared(conn: Connection) -> Connection:
    for queue in TASK_QUEUES:
        queue.bind(conn.default_channel).declare()
    return conn


def test_queue_depth_counts_waiting_messages_on_every_transport(broker: Connection) -> None:
    assert set(queue_depths(broker).values()) == {0}
    for name, count in (("feedback.review_submitted", 3), ("uploads.render", 2)):
        for _ in range(count):
            app.send_task(name, kwargs={"review_id": 1}, task_id=str(uuid.uuid4()), connection=broker)
    expected = {**dict.fromkeys((q.name for q in TASK_QUEUES), 0), "imaging": 2, "feedback": 3}
    deadline = time.monotonic() + 10  # RabbitMQ counts a message once it has routed it, a moment later
    while (depths := queue_depths(broker)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert depths == expected
