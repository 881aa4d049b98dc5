"""Chaos: real failures under the real system, on Redis and on RabbitMQ.

Each scenario runs the real ingest API (uvicorn) and real worker processes against the broker
under test, breaks something for real (kill -9, a broker that comes back empty, a database that
refuses every connection, clamd gone, SIGTERM mid-job), and then checks from the database that
nothing was lost and nothing was done twice: every upload active once, its owner's counters
moved once, one render job, one set of renditions, one notification job, every job finished.

Redis here is a private ``redis-server`` (the shared one is never touched) and RabbitMQ a private
virtual host, so both may be broken at will. Beat does not run: :meth:`Stack.reconcile` sends the
reconciler's task through the broker as beat would, every few seconds while a test waits.
"""

from __future__ import annotations

import functools
import hashlib
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kombu import Connection
from sqlalchemy import func, select

from queues.metrics import queue_depths
from storage.db import session_scope
from storage.models import FileStatus, FileUploadConfig, Job, JobState
from tests import corpus
from tests import test_uploads_pipeline as uploads
from tests.clamav import ClamdService
from tests.conftest import PG_ADMIN_URL, SCRATCH, TEST_DB, WorkerProcess
from tests.services import ApiServer, PrivateRedis, rabbitmq_lose_everything, rabbitmq_vhost
from tests.test_uploads_validation import counters, new_user, reload_file
from workers import jobs
from workers.app import app
from workers.settings import get_settings
from workers.uploads import pipeline

#: A context whose render takes seconds (16 MP in, large WebP and watermarked renditions out), so
#: a test can act while an image job is surely in the middle of its work.
SLOW_CONTEXT = "chaos_slow"
FINISHED = (JobState.succeeded, JobState.failed, JobState.dead)
#: How often the test plays beat's part and sends the reconciler (beat: every minute).
RECONCILE_EVERY_S = 3.0


@dataclass
class Stack:
    """The API and the workers on one broker, and how to break that broker."""

    broker: str
    url: str
    env: dict[str, str]
    api: ApiServer
    client: httpx.Client
    lose_everything: Callable[[], None]

    def worker(self, concurrency: int = 2) -> WorkerProcess:
        return WorkerProcess(concurrency=concurrency, env=self.env)

    def reconcile(self) -> None:
        """What beat sends every minute, sent now through this broker."""
        with app.connection_for_write(self.url) as conn:
            app.send_task("maintenance.reconcile_jobs", task_id=str(uuid.uuid4()), connection=conn)

    def depths(self) -> dict[str, int]:
        with Connection(self.url) as conn:
            return queue_depths(conn)


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def stack(request: pytest.FixtureRequest, database: str, clamav: ClamdService) -> Iterator[Stack]:
    folder = SCRATCH / f"chaos-{request.param}"
    folder.mkdir(parents=True, exist_ok=True)
    with _broker(request.param, folder) as (url, env, lose_everything):
        api = ApiServer(folder / "api.log", env=env)
        api.start()
        try:
            with api.client() as client:
                yield Stack(request.param, url, env, api, client, lose_everything)
        finally:
            api.stop()


@contextmanager
def _broker(kind: str, folder: Path) -> Iterator[tuple[str, dict[str, str], Callable[[], None]]]:
    if kind == "redis":
        server = PrivateRedis(folder / "redis")
        server.start()
        try:  # one Redis for everything, as in production: the broker and the locks go down together
            yield server.url, {"BROKER_URL": server.url, "REDIS_URL": server.url}, server.restart_empty
        finally:
            server.stop()
    else:
        with rabbitmq_vhost() as url:
            yield url, {"BROKER_URL": url}, functools.partial(rabbitmq_lose_everything, url)


@pytest.fixture(scope="module", autouse=True)
def slow_context(database: str) -> None:
    with session_scope() as session:
        if session.scalar(select(FileUploadConfig).where(FileUploadConfig.context == SLOW_CONTEXT)):
            return
        session.add(
            FileUploadConfig(
                context=SLOW_CONTEXT,
                max_file_size=20 * 1024 * 1024,
                allowed_mime_types=["image/jpeg"],
                allowed_extensions=["jpg", "jpeg"],
                max_width=4000,
                max_height=4000,
                thumbnail_sizes={"large": [3000, 3000], "medium": [2000, 2000]},
                convert_to_webp=True,
                enable_watermark=True,
                watermark_text="chaos",
                storage_path="uploads/chaos/",
                require_virus_scan=True,
            )
        )


@functools.cache
def _big_photo() -> bytes:
    return corpus.jpeg(4000, 4000, noise=True)


def unique(jpeg: bytes) -> bytes:
    """The same picture with a comment of its own: new bytes, so no upload is a duplicate of another."""
    comment = f"chaos {uuid.uuid4()}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


@dataclass
class Upload:
    user: int
    data: bytes
    accepted: dict[str, Any]

    @property
    def file_id(self) -> int:
        return int(self.accepted["file_id"])


def upload(stack: Stack, *, slow: bool = False) -> Upload:
    user = new_user()
    data = unique(_big_photo() if slow else corpus.jpeg(400, 400, noise=True))
    response = uploads._post(stack.client, data, user_id=user, context=SLOW_CONTEXT if slow else "review")
    assert response.status_code == 202, response.text
    return Upload(user, data, response.json())


def _ledger(key: str) -> Job | None:
    with session_scope() as session:
        return session.scalar(select(Job).where(Job.idempotency_key == key))


def _jobs_of(item: Upload) -> list[Job | None]:
    """The upload's three jobs: process, render, notification (None while not created yet)."""
    return [
        jobs.get(item.accepted["job_id"]),
        _ledger(f"render:{item.file_id}"),
        _ledger(f"notify:file_processed:{item.file_id}"),
    ]


def wait_until(
    predicate: Callable[[], bool], what: str, timeout: float = 60, stack: Stack | None = None
) -> None:
    """Poll ``predicate``; with a ``stack``, play beat meanwhile and send the reconciler regularly."""
    deadline = time.monotonic() + timeout
    next_reconcile = time.monotonic() + RECONCILE_EVERY_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout}s")
        if stack is not None and time.monotonic() > next_reconcile:
            stack.reconcile()
            next_reconcile = time.monotonic() + RECONCILE_EVERY_S
        time.sleep(0.05)


def settle(stack: Stack, items: list[Upload], timeout: float = 120) -> None:
    def done() -> bool:
        return all(job is not None and job.state in FINISHED for item in items for job in _jobs_of(item))

    wait_until(done, "uploads not settled", timeout, stack)


def assert_done_once(stack: Stack, items: list[Upload]) -> None:
    """Every upload active once, counted once, rendered once, announced once; no job twice."""
    for item in items:
        view = stack.client.get(item.accepted["status_url"]).json()
        assert view["status"] == "active", view
        assert counters(item.user) == (len(item.data), 1)
        published = {Path(url).name for url in (view["file_url"], *view["thumbnails"].values())}
        master = uploads._public_path(view["file_url"])
        stem = master.name.split("_", 1)[0]
        visible = {p.name for p in master.parent.iterdir() if p.name.startswith(stem)}
        assert visible == published, "one set of renditions"
        # A render killed mid-write left hidden temporaries; the attempt that finished removed them.
        leftovers = {p.name for p in master.parent.iterdir() if p.name.startswith("." + stem)}
        assert not leftovers, leftovers
        for job in _jobs_of(item):
            assert job is not None and job.state == JobState.succeeded, job and (job.kind, job.error)
        with session_scope() as session:
            notifications = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.kind == "notifications.fanout",
                    Job.payload["event"]["event_id"].as_string() == f"file_processed:{item.file_id}",
                )
            )
            renders = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.kind == "uploads.render", Job.payload["file_id"].as_integer() == item.file_id)
            )
        assert (notifications, renders) == (1, 1)
        assert reload_file(item.file_id).is_processed


def render_job_id(item: Upload, timeout: float = 60) -> str:
    """The render job the upload's process job queued, once it has."""

    def queued() -> bool:
        return _ledger(f"render:{item.file_id}") is not None

    wait_until(queued, "no render job", timeout)
    job = _ledger(f"render:{item.file_id}")
    assert job is not None
    return str(job.id)


def wait_running(job_id: str) -> None:
    def running() -> bool:
        job = jobs.get(job_id)
        return job is not None and job.state == JobState.running

    wait_until(running, f"job {job_id} never ran", 60)


# -- the scenarios -------------------------------------------------------------------------------------


def test_kill_9_in_the_middle_of_an_image_job(stack: Stack) -> None:
    """The whole worker (main process and pool) dies by SIGKILL while a render is at work; a
    restarted worker completes the job, and its side effects happen once."""
    worker = stack.worker()
    try:
        item = upload(stack, slow=True)
        render = render_job_id(item)
        wait_running(render)
        # The renditions are being written: the job is truly in the middle of its work.
        stem = uuid.uuid5(
            pipeline.LAYOUT_NAMESPACE, f"{item.file_id}:{hashlib.sha256(item.data).hexdigest()}"
        )
        public = get_settings().files_root / "public"
        wait_until(lambda: any(public.rglob(f".{stem}_*.tmp")), "the render wrote nothing", 60)
    finally:
        worker.stop(signal.SIGKILL)
    interrupted = jobs.get(render)
    assert interrupted is not None and interrupted.state == JobState.running, "killed in the middle"
    assert reload_file(item.file_id).status == FileStatus.processing

    restarted = stack.worker()
    try:
        settle(stack, [item])
    finally:
        restarted.stop()
    assert_done_once(stack, [item])
    done = jobs.get(render)
    assert done is not None and (done.attempts, done.deliveries) == (1, 2), "taken over once, run once more"


def test_broker_restarted_empty_with_jobs_queued(stack: Stack) -> None:
    """Jobs accepted while no worker runs; the broker dies and comes back empty. The reconciler
    re-publishes them from the ledger and every one completes, once."""
    before = stack.depths()["uploads"]
    items = [upload(stack) for _ in range(3)]
    wait_until(lambda: stack.depths()["uploads"] == before + len(items), "messages not in the broker", 10)
    stack.lose_everything()
    assert stack.depths()["uploads"] == 0, "the broker lost its messages"
    items.append(upload(stack))  # the API reconnects on its own

    worker = stack.worker()
    try:
        settle(stack, items)
    finally:
        worker.stop()
    assert_done_once(stack, items)
    for item in items:
        process = jobs.get(item.accepted["job_id"])
        assert process is not None and (process.attempts, process.deliveries) == (1, 1)


@contextmanager
def database_outage() -> Iterator[Callable[[], None]]:
    """The test database refuses new connections and loses every open one, until the block ends.

    Yields ``hit``: a call that terminates the database's backends again (the outage goes on
    terminating them in a background thread too, every 50 ms).
    """
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        stop = threading.Event()

        def hit() -> None:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (TEST_DB,)
            )

        admin.execute(f'ALTER DATABASE "{TEST_DB}" WITH ALLOW_CONNECTIONS false')
        hit()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as killer:

            def keep_hitting() -> None:
                while not stop.wait(0.05):
                    killer.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (TEST_DB,),
                    )

            thread = threading.Thread(target=keep_hitting, daemon=True)
            thread.start()
            try:
                yield hit
            finally:
                stop.set()
                thread.join()
                admin.execute(f'ALTER DATABASE "{TEST_DB}" WITH ALLOW_CONNECTIONS true')


def test_database_connections_terminated_while_jobs_run(stack: Stack) -> None:
    """Renders are at work and more jobs wait when the database drops every connection and refuses
    new ones for a while: the tasks that hit it retry, and everything completes once."""
    worker = stack.worker()
    try:
        slow = [upload(stack, slow=True) for _ in range(2)]
        for item in slow:
            wait_running(render_job_id(item))
        waiting = [upload(stack) for _ in range(2)]  # behind the renders, for the busy pool
        with database_outage():
            # Until the renders have ended and found no database to record their outcome in.
            wait_until(lambda: "OperationalError" in worker.log(), "no task met the outage", 60)
            time.sleep(2)
        settle(stack, slow + waiting)
    finally:
        worker.stop()
    assert_done_once(stack, slow + waiting)


def test_clamd_down_uploads_wait_unpublished_then_complete(stack: Stack, clamav: ClamdService) -> None:
    """The clamd outage scenario of the upload tests, through this broker."""
    worker = stack.worker()
    before = uploads._files()
    try:
        uploads.test_a_clamd_outage_delays_the_file_but_never_publishes_it(
            stack.client, worker, clamav, lambda: uploads._files() - before
        )
    finally:
        worker.stop()


def test_sigterm_mid_job_finishes_or_returns_every_job(stack: Stack) -> None:
    """SIGTERM to the worker (as ``docker stop`` sends it) while a render runs and more jobs wait:
    the running job finishes, the waiting ones go back to the broker, none is lost or run twice."""
    worker = stack.worker()
    slow = upload(stack, slow=True)
    render = render_job_id(slow)
    wait_running(render)
    rest = [upload(stack) for _ in range(3)]
    worker.proc.send_signal(signal.SIGTERM)  # the main process only: it stops taking work, then waits
    assert worker.proc.wait(120) == 0, worker.log()
    worker.stop()
    finished = jobs.get(render)
    assert finished is not None and finished.state == JobState.succeeded, "the running job finished"
    ours = [job for item in [slow, *rest] for job in _jobs_of(item) if job is not None]
    left = [job for job in ours if job.state not in FINISHED]
    assert all(job.state == JobState.queued for job in left), [(job.kind, job.state) for job in left]
    returned = Counter(app.amqp.router.route({}, job.kind)["queue"].name for job in left)

    def back() -> bool:
        depths = stack.depths()
        return all(depths[queue] >= n for queue, n in returned.items())

    wait_until(back, f"not every job left is back in the broker: {returned}", 10)

    def all_done() -> bool:
        return all(job is not None and job.state in FINISHED for i in [slow, *rest] for job in _jobs_of(i))

    restarted = stack.worker()
    try:  # no reconciler: the messages themselves come back
        wait_until(all_done, "jobs returned at shutdown did not complete")
    finally:
        restarted.stop()
    assert_done_once(stack, [slow, *rest])
    ran = [job for item in [slow, *rest] for job in _jobs_of(item) if job is not None]
    assert len(ran) == 3 * len([slow, *rest])
    assert all((job.attempts, job.deliveries) == (1, 1) for job in ran), [(j.kind, j.deliveries) for j in ran]
