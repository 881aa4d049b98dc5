"""The whole system on this machine, for a benchmark, and taken down after it.

A scratch PostgreSQL database (``BENCH_PG_ADMIN_URL``, default postgresql://postgres@127.0.0.1:5432/
postgres; created, migrated and dropped), a private ``redis-server`` on a free port (the broker, or
only the locks when the broker is a private RabbitMQ virtual host), optionally a local clamd, the
real API under uvicorn and worker processes. This process gets the same environment, so it can
read the ledger and publish as the API does. Nothing outside the loopback interface is touched.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.services import ApiServer, PrivateRedis, Service, WorkerService, rabbitmq_vhost

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret"


@dataclass
class Stack:
    folder: Path
    env: dict[str, str]
    database_url: str
    api: ApiServer
    workers: list[Service] = field(default_factory=list)

    def worker(
        self, queues: str, concurrency: int, include: str = "", nice: int = 0, cpus: str | None = None
    ) -> Service:
        """A worker process group; ``nice`` > 0 lowers its CPU priority below the API's; ``cpus``
        (``--cpus``) keeps it to those CPUs."""
        log = self.folder / f"worker-{len(self.workers)}.log"
        worker = WorkerService(log, queues, concurrency, env=self.env, include=include, cpus=cpus)
        worker.start()
        os.setpriority(os.PRIO_PGRP, worker.pid, nice)
        self.workers.append(worker)
        return worker


def signed(payload: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    """A JSON body and the headers a producer sends with it."""
    from queues import signing

    body = json.dumps(payload).encode()
    return body, {signing.HEADER: signing.sign(SECRET, body), "Content-Type": "application/json"}


@contextmanager
def running(broker: str = "redis", factory: str | None = None, clamd: bool = False) -> Iterator[Stack]:
    """Bring the system up (``broker`` is ``redis`` or ``amqp``); everything goes when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="skincare-bench-"))
    name = f"skincare_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with ExitStack() as stack:
            redis = PrivateRedis(folder / "redis")
            redis.start()
            stack.callback(redis.stop)
            broker_url = (
                redis.url if broker == "redis" else stack.enter_context(rabbitmq_vhost("skincare-bench"))
            )
            env = {
                "DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://", 1),
                "BROKER_URL": broker_url,
                "REDIS_URL": redis.url,
                "DATA_DIR": str(folder / "data"),
                "STORAGE_ROOT": str(folder / "files"),
                "INGEST_SECRETS": SECRET,
                "CLAMD_ADDRESS": f"unix://{folder / 'clamd' / 'clamd.sock'}",
            }
            os.environ.update(env)
            _fresh_settings()
            from storage.migrate import upgrade

            upgrade()
            if clamd:
                from workers.uploads.clamd_local import start_clamd

                stack.enter_context(start_clamd(folder / "clamd"))
            api = ApiServer(folder / "api.log", env=env, factory=factory)
            api.start()
            stack.callback(api.stop)
            system = Stack(folder, env, url, api)
            try:
                yield system
            finally:
                for worker in system.workers:
                    worker.stop()
    finally:
        from storage.db import reset_engine

        reset_engine()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)


def _fresh_settings() -> None:
    """This process may have read its settings already: read them again from the new environment."""
    from storage.db import reset_engine
    from workers.settings import get_settings

    get_settings.cache_clear()
    reset_engine()


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def wait_for(predicate: Callable[[], bool], timeout: float, poll_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())


class HttpConnection:
    """A bare HTTP/1.1 keep-alive client connection: a load generator must not eat the CPU it measures.

    (httpx spends about 2.5 ms of CPU on one request here, as much as the API's own work.) It
    sends the request as given and reads a ``Content-Length`` response, all this bench needs.
    """

    def __init__(self, url: str) -> None:
        self.host, _, port = url.removeprefix("http://").partition(":")
        self.port = int(port or 80)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        reused = self._streams is not None
        try:
            return await self._exchange(path, body, headers)
        except ConnectionResetError:
            if not reused:
                raise
            # The server closed the idle keep-alive connection before reading this request.
            await self.close()
            return await self._exchange(path, body, headers)

    async def _exchange(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection")
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await reader.readexactly(length)

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
