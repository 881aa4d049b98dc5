"""Processes that the ops tests and the benches start, break and stop themselves.

A private ``redis-server`` (it may be killed: the shared one on 6379 never is), a private RabbitMQ
virtual host (its messages may be thrown away), and the real ingest API under uvicorn. Importing
this module changes nothing: the environment is whatever the caller set.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A subprocess in its own process group, its output kept in a log file."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        ready: Callable[[Service], bool],
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self._ready = ready
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._ready(self):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[:4]} exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise TimeoutError(f"{self.argv[:4]} not ready after {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Signal the whole process group and wait; SIGKILL whatever outlives ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class PrivateRedis:
    """A ``redis-server`` of our own on a free port, keeping nothing on disk: safe to kill -9."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(folder)]
        self.server = Service(argv, folder / f"redis-{self.port}.log", ready=lambda _: self.ping())

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.exceptions.ConnectionError:
            return False

    def start(self) -> None:
        self.server.start()

    def restart_empty(self) -> None:
        """kill -9 and start again: every message it held is gone."""
        self.server.stop(signal.SIGKILL)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(signal.SIGKILL)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_vhost(prefix: str = "skincare-test") -> Iterator[str]:
    """A virtual host of our own on the machine's RabbitMQ (others use it too); its AMQP URL."""
    vhost = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def rabbitmq_lose_everything(url: str) -> None:
    """What a broker restarted empty does to us: every queued message gone, every client cut off."""
    from kombu import Connection

    from queues.names import TASK_QUEUES

    with Connection(url) as conn:
        for queue in TASK_QUEUES:
            bound = queue.bind(conn.default_channel)
            bound.declare()  # a queue no worker declared yet has nothing to purge, but must exist
            bound.purge()
    vhost = url.rsplit("/", 1)[1]
    rabbitmqctl("close_all_connections", "--vhost", vhost, "chaos test: broker restarted")


class ApiServer(Service):
    """The ingest API on a free port, ready when ``/healthz`` answers.

    By default the production command, ``skincare-workers api``; with ``factory``
    (``"module:function"``) uvicorn runs that app factory with the same options instead.
    """

    def __init__(self, log_path: Path, env: dict[str, str] | None = None, factory: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if factory is None:
            argv = [sys.executable, "-m", "workers.cli", "api", "--port", str(self.port)]
        else:
            argv = [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(self.port)]
            argv += ["--host", "127.0.0.1", "--log-level", "info"]
        super().__init__(argv, log_path, ready=lambda _: self._healthy(), env=env)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


class WorkerService(Service):
    """``skincare-workers worker`` for a group of queues, ready once Celery says so."""

    def __init__(
        self,
        log_path: Path,
        queues: str,
        concurrency: int,
        env: dict[str, str] | None = None,
        include: str = "",
        cpus: str | None = None,
    ) -> None:
        argv = [sys.executable, "-m", "workers.cli", "worker", "--queues", queues]
        argv += ["--concurrency", str(concurrency)] + (["--include", include] if include else [])
        argv += ["--cpus", cpus] if cpus else []
        super().__init__(argv, log_path, ready=lambda service: " ready." in service.log(), env=env)
