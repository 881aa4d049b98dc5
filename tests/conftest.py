"""Test harness: real PostgreSQL, real Redis, a real worker process.

The environment is set here, before any project module reads its settings: a fresh PostgreSQL
database per session, a Redis database index locked for this session (so parallel sessions on
one machine never share queues), a temporary storage root and two ingest secrets (rotation).
A missing service fails the run; nothing here skips.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.clamav import ClamdService

#: The session's clamd fixture ``clamav`` lives beside the service it starts.
pytest_plugins = ("tests.clamav",)

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1:6379")
SECRETS = ("test-secret-previous", "test-secret")


def lock_redis_db() -> tuple[int, IO[str]]:
    """Take the first Redis database index no other test session on this machine holds."""
    for index in range(1, 16):
        handle = open(f"{tempfile.gettempdir()}/skincare-workers-redis-db-{index}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return index, handle
    raise RuntimeError("all Redis database indexes 1-15 are held by other test sessions")


REDIS_DB, _REDIS_LOCK = lock_redis_db()
TEST_DB = f"skincare_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
SCRATCH = Path(tempfile.mkdtemp(prefix="skincare-tests-"))
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]

os.environ.update(
    DATABASE_URL=f"{PG_BASE.replace('postgresql://', 'postgresql+psycopg://', 1)}/{TEST_DB}",
    BROKER_URL=f"redis://{REDIS_HOST}/{REDIS_DB}",
    REDIS_URL=f"redis://{REDIS_HOST}/{REDIS_DB}",
    DATA_DIR=str(SCRATCH / "data"),
    STORAGE_ROOT=str(SCRATCH / "files"),
    INGEST_SECRETS=",".join(SECRETS),
    CLAMD_ADDRESS=f"unix://{SCRATCH / 'clamd' / 'clamd.sock'}",
    QUEUED_GRACE_S="5",
)
os.environ.pop("RESULT_BACKEND", None)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    """A fresh database at the latest migration, dropped at the end."""
    import redis

    redis.Redis.from_url(os.environ["BROKER_URL"]).flushdb()
    _admin(f'CREATE DATABASE "{TEST_DB}"')
    from storage.migrate import upgrade

    upgrade()
    yield os.environ["DATABASE_URL"]
    from storage.db import reset_engine

    reset_engine()
    _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    shutil.rmtree(SCRATCH, ignore_errors=True)


class WorkerProcess:
    """A real ``skincare-workers worker`` subprocess with its log kept for assertions."""

    def __init__(
        self,
        queues: str = "",
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        include: str = "",
        cpus: str = "",
    ) -> None:
        self.log_path = SCRATCH / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        cmd = [sys.executable, "-m", "workers.cli", "worker", "--concurrency", str(concurrency)]
        if queues:
            cmd += ["--queues", queues]
        if include:
            cmd += ["--include", include]
        if cpus:
            cmd += ["--cpus", cpus]
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if " ready." in self.log():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="session")
def worker(database: str, clamav: ClamdService) -> Iterator[WorkerProcess]:
    """One worker consuming every queue, shared by the integration tests."""
    proc = WorkerProcess()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def api() -> Any:
    """The real ASGI app, driven over its HTTP interface in-process."""
    from fastapi.testclient import TestClient

    from queues.api import create_app

    with TestClient(create_app()) as client:
        yield client


def signature_headers(body: bytes, secret: str = SECRETS[-1], timestamp: int | None = None) -> dict[str, str]:
    """The headers a producer sends with a signed JSON body."""
    from queues import signing

    return {signing.HEADER: signing.sign(secret, body, timestamp), "Content-Type": "application/json"}


def post_signed(client: Any, path: str, payload: dict[str, Any], **kw: Any) -> Any:
    """POST ``payload`` as JSON, signed with the current secret (or ``secret=``)."""
    import json

    body = json.dumps(payload).encode()
    headers = signature_headers(body, kw.pop("secret", SECRETS[-1]), kw.pop("timestamp", None))
    headers.update(kw.pop("headers", {}))
    return client.post(path, content=body, headers=headers, **kw)


def wait_for_job(client: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until the job is finished; return its view."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = client.get(f"/v1/jobs/{job_id}").json()
        if view.get("state") in ("succeeded", "failed", "dead"):
            return view
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} not finished after {timeout}s: {view}")
