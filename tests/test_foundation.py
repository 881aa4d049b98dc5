"""The spine: signed intake, the jobs ledger, a real worker, reconciliation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import func, select, update

from queues.api import ROUTES
from storage.db import session_scope, utcnow
from storage.models import Job, JobState
from tests.conftest import (
    REDIS_HOST,
    SECRETS,
    WorkerProcess,
    lock_redis_db,
    post_signed,
    signature_headers,
    wait_for_job,
)
from workers import jobs
from workers.app import app
from workers.settings import get_settings

QUEUES = ("uploads", "imaging", "feedback", "notifications", "maintenance", "etl")


def _job_count() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def _queued_messages() -> int:
    r = redis.Redis.from_url(get_settings().broker_url)
    return sum(int(r.llen(q)) for q in QUEUES)


def _job(job_id: str) -> Job:
    with session_scope() as s:
        job = s.get(Job, uuid.UUID(job_id))
        assert job is not None
        return job


def _refused(api: Any, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    before, queued = _job_count(), _queued_messages()
    resp = api.post(path, content=body, headers=headers)
    assert resp.status_code == 401, resp.text
    assert _job_count() == before and _queued_messages() == queued
    detail: dict[str, Any] = resp.json()
    return detail


def test_unsigned_stale_and_wrong_signatures_are_refused_with_nothing_recorded(api: Any) -> None:
    body = json.dumps({"review_id": 1}).encode()
    path = "/webhook/review-submitted"
    plain = {"Content-Type": "application/json"}
    assert "missing" in _refused(api, path, body, plain)["detail"]
    stale = signature_headers(body, timestamp=int(time.time()) - 301)
    assert "tolerance" in _refused(api, path, body, stale)["detail"]
    assert (
        _refused(api, path, body, signature_headers(body, secret="not-a-secret"))["error"] == "unauthorized"
    )
    tampered = signature_headers(body)
    _refused(api, path, json.dumps({"review_id": 2}).encode(), tampered)
    garbage = {**plain, "X-Skincare-Signature": "t=abc,v1=zz"}
    _refused(api, path, body, garbage)
    # An unsigned malformed body is refused for its signature before anything looks at it.
    _refused(api, path, b"{not json", plain)


def test_previous_secret_still_accepted_during_rotation(api: Any) -> None:
    resp = post_signed(api, "/webhook/review-submitted", {"review_id": 1}, secret=SECRETS[0])
    assert resp.status_code == 202, resp.text
    assert resp.json()["status_url"] == f"/v1/jobs/{resp.json()['job_id']}"


def test_malformed_bodies_get_422_with_field_errors_and_nothing_recorded(api: Any) -> None:
    started = utcnow()
    for payload in ({"review_id": "abc"}, {"review_id": -3}, {}, {"review_id": 1, "extra": True}):
        resp = post_signed(api, "/webhook/review-submitted", payload)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"] == "invalid_body"
        assert resp.json()["detail"][0]["loc"]
    resp = post_signed(api, "/v1/events/product", {"product_id": 1, "event": "discontinued"})
    assert resp.status_code == 422
    assert any(e["loc"] == ["event"] for e in resp.json()["detail"])
    # Only jobs these requests would have made count: the worker may still be finishing earlier
    # tests' reviews, and their notifications are jobs too.
    with session_scope() as s:
        made = s.execute(select(Job.kind, Job.payload).where(Job.created_at >= started)).all()
    assert not [
        (kind, payload)
        for kind, payload in made
        if kind == "feedback.review_submitted"
        or str(payload.get("event", {}).get("type")).startswith("product_")
    ]


def test_idempotency_key_returns_same_job_or_409(api: Any) -> None:
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = post_signed(api, "/webhook/question-asked", {"question_id": 5}, headers=key)
    again = post_signed(api, "/webhook/question-asked", {"question_id": 5}, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = post_signed(api, "/webhook/question-asked", {"question_id": 6}, headers=key)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "idempotency_conflict"


def test_every_route_records_a_job_of_its_routed_public_task(api: Any) -> None:
    bodies = {
        "/webhook/review-submitted": {"review_id": 1},
        "/webhook/progress-updated": {"progress_id": 1},
        "/webhook/question-asked": {"question_id": 1},
        "/webhook/answer-provided": {"answer_id": 1},
        "/realtime/notify-review-response": {"review_id": 1, "response_text": "Thanks!"},
        "/realtime/notify-question-answered": {"question_id": 1, "answer_id": 1},
        "/realtime/notify-product-recommendation": {"user_id": 1, "product_id": 1},
        "/v1/events/product": {"product_id": 1, "event": "restock"},
    }
    assert set(bodies) == set(ROUTES)
    app.loader.import_default_modules()
    for path, body in bodies.items():
        kind = ROUTES[path][0]
        resp = post_signed(api, path, body)
        assert resp.status_code == 202, (path, resp.text)
        job = _job(resp.json()["job_id"])
        assert job.kind == kind
        assert kind in app.tasks, f"{kind} is not a registered task"
        queue = app.amqp.router.route({}, kind)["queue"].name
        assert queue == kind.split(".")[0], (kind, queue)


def test_job_view_and_health(api: Any) -> None:
    assert api.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404
    assert api.get("/v1/jobs/not-a-uuid").status_code == 404
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text


def test_readyz_names_the_unreachable_dependency(api: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    resp = api.get("/readyz")
    assert resp.status_code == 503
    assert set(resp.json()["failing"]) == {"broker"}


def test_job_runs_on_a_real_worker_and_redelivery_changes_nothing(api: Any, worker: WorkerProcess) -> None:
    job, created = jobs.enqueue("maintenance.reconcile_jobs", {})
    assert created
    view = wait_for_job(api, str(job.id))
    assert view["state"] == "succeeded", view
    assert view["progress"] == 100 and view["attempts"] == 1
    assert set(view["result"]) == {"queued_stale", "retry_due", "lease_expired"}
    lines = [json.loads(x) for x in worker.log().splitlines() if x.startswith("{")]
    finished = [x for x in lines if x.get("job_id") == str(job.id) and x.get("state") == "succeeded"]
    assert finished and finished[0]["task"] == "maintenance.reconcile_jobs" and finished[0]["attempt"] == 1
    assert finished[0]["duration_ms"] >= 0
    # The broker delivers the same message again: the ledger answers, nothing runs twice.
    jobs.publish(job.id, job.kind, {})
    time.sleep(1.5)
    again = _job(str(job.id))
    assert again.state == JobState.succeeded and again.deliveries == 1 and again.attempts == 1


def test_direct_call_by_name_is_recorded_in_the_ledger(api: Any, worker: WorkerProcess) -> None:
    task_id = str(uuid.uuid4())
    app.send_task("maintenance.reconcile_jobs", task_id=task_id)
    view = wait_for_job(api, task_id)
    assert view["kind"] == "maintenance.reconcile_jobs" and view["state"] == "succeeded"


def test_lost_message_is_republished_by_the_reconciler(api: Any, worker: WorkerProcess) -> None:
    with session_scope() as s:  # committed, never published: a broker that lost the message
        job, _ = jobs.submit(s, "maintenance.reconcile_jobs", {})
        job_id = str(job.id)
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == job.id).values(updated_at=utcnow() - timedelta(minutes=10)))
    counts = jobs.reconcile(queued_grace_s=get_settings().queued_grace_s)
    assert counts["queued_stale"] >= 1
    assert wait_for_job(api, job_id)["state"] == "succeeded"


def test_a_job_that_keeps_killing_its_worker_becomes_dead(api: Any, database: str) -> None:
    # Its own broker database: the shared worker does not know this test-only task.
    index, lock = lock_redis_db()
    broker = f"redis://{REDIS_HOST}/{index}"
    redis.Redis.from_url(broker).flushdb()
    proc = WorkerProcess(
        queues="maintenance", concurrency=1, include="tests.crash_tasks", env={"BROKER_URL": broker}
    )
    try:
        with session_scope() as s:
            job, _ = jobs.submit(s, "maintenance.kill_own_worker_for_tests", {})
        with app.connection_for_write(broker) as conn:
            app.send_task(job.kind, task_id=str(job.id), connection=conn)
        view = wait_for_job(api, str(job.id), timeout=120)
    finally:
        proc.stop()
        lock.close()
    assert view["state"] == "dead", view
    assert "keeps losing its worker" in view["error"]
    assert _job(str(job.id)).deliveries == get_settings().max_redeliveries + 2


def test_dead_jobs_are_listed_and_replayed_from_the_command_line(api: Any, worker: WorkerProcess) -> None:
    with session_scope() as s:
        job, _ = jobs.submit(s, "maintenance.reconcile_jobs", {})
        job.state, job.error, job.finished_at, job.attempts, job.deliveries = (
            JobState.dead,
            "Traceback ...\nConnectionError: gave up",
            utcnow(),
            9,
            9,
        )
        job_id = str(job.id)
    cli = [sys.executable, "-m", "workers.cli", "jobs"]
    listed = subprocess.run([*cli, "dead"], capture_output=True, text=True, check=True).stdout
    assert job_id in listed and "ConnectionError: gave up" in listed
    replayed = subprocess.run([*cli, "replay", job_id], capture_output=True, text=True, check=True).stdout
    assert f"replayed {job_id}" in replayed
    assert wait_for_job(api, job_id)["state"] == "succeeded"
    missing = subprocess.run([*cli, "replay", job_id], capture_output=True, text=True)
    assert missing.returncode == 1 and "not a dead job" in missing.stderr
