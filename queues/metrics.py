"""The API's Prometheus metrics, served at ``GET /metrics``.

Measured in the request path (cheap: one dict lookup and two observations per request):

* ``skincare_api_requests_total{method, route, status}``: requests by route *template*
  (``/v1/jobs/{job_id}``, never the raw path, so ids cannot explode the label set; a path that
  matches no route is ``route="<unmatched>"``);
* ``skincare_api_request_duration_seconds{method, route}``: API latency histogram;
* ``skincare_jobs_accepted_total{kind}``: new jobs recorded by this process (an idempotent replay
  is not a new job).

Read when Prometheus scrapes, from the jobs ledger and the broker (off the event loop):

* ``skincare_job_latency_seconds{kind, outcome}``: end to end, from the job's row being committed
  to its final state (queueing, retries and redeliveries included); its ``_count`` per outcome
  (succeeded, failed, dead) is the outcome count;
* ``skincare_job_attempts{kind, outcome}``: how many attempts a finished job took;
* ``skincare_jobs_open{kind, state}``: jobs queued, running or retrying right now;
* ``skincare_queue_depth{queue}``: messages waiting in each broker queue (Redis LLEN, an AMQP
  passive declare, files in the filesystem transport's folder; prefetched and running messages
  are not waiting); ``skincare_broker_up`` is 0 when the broker did not answer the scrape.

The two job histograms are cumulative in this process: each scrape adds the jobs that finished
since the previous one, found through the ``(state, updated_at)`` index, so a scrape costs what
finished in its interval, never a scan of the whole table. A job is counted once it has been
finished for :data:`SETTLE_S` (a commit can land a little after its timestamp was taken). They
count every job of the ledger, whichever process ran it, so API replicas report the same jobs:
aggregate them with ``max by (kind, outcome) (rate(...))``, not ``sum``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from queues.names import CeleryQueue
from storage.db import session_scope, utcnow
from storage.models import Job, JobState

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

#: A finished job is counted this long after its finish time, once its commit has surely landed.
SETTLE_S = 2.0
#: Intake answers in milliseconds; the top buckets catch a stalled database or broker.
API_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: From a no-op job (milliseconds) to a job retried over an hour.
JOB_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
ATTEMPT_BUCKETS = (1, 2, 3, 5, 9)
UNMATCHED = "<unmatched>"
FINISHED = (JobState.succeeded, JobState.failed, JobState.dead)
OPEN = (JobState.queued, JobState.running, JobState.retrying)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU, memory and open files of the API process

REQUESTS = Counter(
    "skincare_api_requests",
    "API requests by route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "skincare_api_request_duration_seconds",
    "API latency, from the request's arrival to its response's first byte.",
    ["method", "route"],
    buckets=API_BUCKETS_S,
    registry=REGISTRY,
)
JOBS_ACCEPTED = Counter(
    "skincare_jobs_accepted", "New jobs recorded by this API process.", ["kind"], registry=REGISTRY
)


_accepted_by_kind: dict[str, Any] = {}


def job_accepted(kind: str) -> None:
    child = _accepted_by_kind.get(kind)
    if child is None:
        child = _accepted_by_kind[kind] = JOBS_ACCEPTED.labels(kind)
    child.inc()


class MetricsMiddleware:
    """Pure ASGI (no per-request task or body copy): times each HTTP request and counts its status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        async def send_and_time(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                # The route is known once routing ran, which it has by the time an answer starts.
                self._record(scope, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_time)
        except BaseException:
            if not answered:  # escaped every handler: the server answers 500
                self._record(scope, 500, time.perf_counter() - started)
            raise

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", UNMATCHED)
        key = (scope["method"], template, status)
        children = self._children.get(key)
        if children is None:
            children = (REQUESTS.labels(*key), REQUEST_SECONDS.labels(key[0], template))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


async def metrics_endpoint(_: Request) -> Response:
    """The exposition; the collectors query the database and the broker, so off the event loop."""
    body = await run_in_threadpool(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class LedgerCollector(Collector):
    """Job latency, attempts and outcomes from the jobs table, added up scrape by scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counted_until: datetime = utcnow() - timedelta(seconds=SETTLE_S)  # from this process's start
        self.latency = Histogram(
            "skincare_job_latency_seconds",
            "Jobs by outcome: seconds from the job's row being committed to its final state.",
            ["kind", "outcome"],
            buckets=JOB_BUCKETS_S,
            registry=None,
        )
        self.attempts = Histogram(
            "skincare_job_attempts",
            "Attempts a finished job took, by outcome.",
            ["kind", "outcome"],
            buckets=ATTEMPT_BUCKETS,
            registry=None,
        )

    def collect(self) -> Iterator[Metric]:
        try:
            open_jobs = self._advance()
        except Exception:  # a scrape must answer; the gap shows as missing samples
            log.warning("metrics: the jobs ledger could not be read", exc_info=True)
            return
        yield from self.latency.collect()
        yield from self.attempts.collect()
        gauge = GaugeMetricFamily(
            "skincare_jobs_open", "Jobs not finished yet, by state.", labels=["kind", "state"]
        )
        for (kind, state), count in sorted(open_jobs.items()):
            gauge.add_metric([kind, state], count)
        yield gauge

    def _advance(self) -> dict[tuple[str, str], int]:
        with self._lock, session_scope() as session:
            until = utcnow() - timedelta(seconds=SETTLE_S)
            since = self._counted_until
            if until > since:
                finished = session.execute(
                    select(Job.kind, Job.state, Job.created_at, Job.finished_at, Job.attempts).where(
                        Job.state.in_(FINISHED), Job.updated_at > since, Job.updated_at <= until
                    )
                )
                for kind, state, created, finished_at, attempts in finished:
                    outcome = state.value
                    seconds = ((finished_at or until) - created).total_seconds()
                    self.latency.labels(kind, outcome).observe(max(seconds, 0.0))
                    self.attempts.labels(kind, outcome).observe(attempts)
            self._counted_until = max(until, since)
            rows = session.execute(
                select(Job.kind, Job.state, func.count())
                .where(Job.state.in_(OPEN))
                .group_by(Job.kind, Job.state)
            )
            return {(kind, state.value): int(count) for kind, state, count in rows}


def queue_depths(connection: Any) -> dict[str, int]:
    """Messages waiting in each of our queues, through a connected kombu ``connection``.

    A passive declare answers with the count on every transport kombu has; a queue that does not
    exist (never declared, or empty on Redis, which keeps no empty list) holds nothing.
    """
    depths: dict[str, int] = {}
    channel = connection.channel()
    try:
        for queue in CeleryQueue:
            try:
                depths[queue.value] = int(
                    channel.queue_declare(queue=queue.value, passive=True).message_count
                )
            except connection.channel_errors:
                depths[queue.value] = 0
                if not getattr(channel, "is_open", True):  # AMQP closes the channel on NOT_FOUND
                    channel = connection.channel()
    finally:
        channel.close()
    return depths


class BrokerCollector(Collector):
    """Queue depth per queue, asked of the broker at each scrape."""

    def collect(self) -> Iterator[Metric]:
        from workers.app import app as celery_app

        up = GaugeMetricFamily("skincare_broker_up", "1 when the broker answered this scrape.")
        try:
            with celery_app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                depths = queue_depths(conn)
        except Exception:
            log.warning("metrics: the broker could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "skincare_queue_depth", "Messages waiting in a broker queue.", labels=["queue"]
        )
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth


REGISTRY.register(LedgerCollector())
REGISTRY.register(BrokerCollector())
