"""What the whole path costs: a no-op job through it against a bare Celery no-op task, same run.

    PYTHONPATH=. python bench/pipeline.py [--jobs 2000] [--rounds 3] [--samples 200] [--broker redis|amqp]

The whole path is what every job takes: a signed HTTP request to the real API (uvicorn) -> the
job's row committed in the ledger -> published -> broker -> worker -> claimed in the ledger ->
the task (``maintenance.noop_for_bench``, which does nothing) -> its outcome recorded. The
baseline is a bare Celery task (``bench.bare_noop``, one Redis RPUSH to note when it ran)
published straight to the same broker. One worker with two processes takes both, from the same
queue; the two are measured in turn, round after round, in the same run (``bench.stack``).

Throughput: ``--jobs`` of each, sent as fast as the sender goes (the HTTP side 16 requests at a
time), from the first send to the last one's recorded end; the median round counts. Latency: one
at a time, 30 ms apart, alternating; from before the send to the end the worker recorded (for
the whole path, the ledger's ``finished_at``). Goals: the whole path at least 40% of the bare
rate, and it adds under 10 ms at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from bench.stack import HttpConnection, Stack, percentile, running, signed, wait_for

QUEUE = "maintenance"
CONCURRENCY = 16
GAP_S = 0.03


def _finished(tag: str, since: float) -> list[tuple[str, float]]:
    """(job id, end as a Unix time) of the no-op jobs of ``tag`` that succeeded after ``since``.

    Found through the ledger's ``(state, updated_at)`` index: the poll must not load the system it
    measures with a scan of every job of the earlier rounds.
    """
    from sqlalchemy import select

    from bench.noop_tasks import NOOP_TASK
    from storage.db import session_scope
    from storage.models import Job, JobState

    with session_scope() as session:
        rows = session.execute(
            select(Job.id, Job.finished_at).where(
                Job.state == JobState.succeeded,
                Job.updated_at >= datetime.fromtimestamp(since - 1, UTC).replace(tzinfo=None),
                Job.kind == NOOP_TASK,
                Job.payload["tag"].as_string() == tag,
            )
        ).all()
    return [(str(jid), end.replace(tzinfo=UTC).timestamp()) for jid, end in rows if end is not None]


async def _post_all(url: str, payloads: list[dict[str, Any]]) -> list[int]:
    from bench.noop_tasks import NOOP_PATH

    todo = iter([signed(payload) for payload in payloads])  # signed ahead: the sender stays cheap
    statuses: list[int] = []

    async def sender() -> None:
        connection = HttpConnection(url)
        try:
            for body, headers in todo:
                statuses.append((await connection.post(NOOP_PATH, body, headers))[0])
        finally:
            await connection.close()

    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    return statuses


def whole_path_rate(stack: Stack, jobs: int) -> float:
    tag = uuid.uuid4().hex
    started = time.time()
    statuses = asyncio.run(_post_all(stack.api.url, [{"tag": tag}] * jobs))
    accepted = statuses.count(202)
    if accepted != jobs:
        raise RuntimeError(f"{jobs - accepted} requests refused: {sorted(set(statuses))}")
    if not wait_for(lambda: len(_finished(tag, started)) == jobs, timeout=300, poll_s=0.1):
        raise RuntimeError(f"only {len(_finished(tag, started))} of {jobs} no-op jobs finished")
    return jobs / (max(end for _, end in _finished(tag, started)) - started)


def _bare_ends(key: str) -> dict[int, float]:
    """When each bare task of ``key`` ran, by its index (the task notes it in Redis)."""
    from workers.settings import get_settings

    entries = redis.Redis.from_url(get_settings().redis).lrange(key, 0, -1)
    return {int(index): float(end) for index, end in (entry.split() for entry in entries)}


def bare_rate(jobs: int) -> float:
    from bench.noop_tasks import BARE_TASK
    from workers.app import app

    key = f"bench:bare:{uuid.uuid4().hex}"
    started = time.time()
    for index in range(jobs):
        app.send_task(BARE_TASK, args=[key, index])
    if not wait_for(lambda: len(_bare_ends(key)) == jobs, timeout=300, poll_s=0.02):
        raise RuntimeError(f"only {len(_bare_ends(key))} of {jobs} bare tasks ran")
    return jobs / (max(_bare_ends(key).values()) - started)


def latencies(stack: Stack, samples: int) -> tuple[list[float], list[float]]:
    """(whole path, bare) seconds per job, sent one at a time and alternating; the HTTP side on
    the same bare connection as the throughput rounds (httpx would add its own milliseconds)."""
    from bench.noop_tasks import BARE_TASK, NOOP_PATH
    from workers.app import app

    tag, key = uuid.uuid4().hex, f"bench:latency:{uuid.uuid4().hex}"
    since = time.time()
    sent_jobs: dict[str, float] = {}
    sent_bare: dict[int, float] = {}

    async def alternate() -> None:
        connection = HttpConnection(stack.api.url)
        try:
            for index in range(samples):
                body, headers = signed({"tag": tag})
                sent = time.time()
                status, answer = await connection.post(NOOP_PATH, body, headers)
                if status != 202:
                    raise RuntimeError(f"the API answered {status}: {answer!r}")
                sent_jobs[json.loads(answer)["job_id"]] = sent
                await asyncio.sleep(GAP_S)
                sent_bare[index] = time.time()
                app.send_task(BARE_TASK, args=[key, index])
                await asyncio.sleep(GAP_S)
        finally:
            await connection.close()

    asyncio.run(alternate())
    wait_for(lambda: len(_finished(tag, since)) == samples and len(_bare_ends(key)) == samples, timeout=60)
    whole = [end - sent_jobs[jid] for jid, end in _finished(tag, since)]
    bare = [end - sent_bare[index] for index, end in _bare_ends(key).items()]
    return whole, bare


def _rounds(rates: list[float]) -> str:
    return ", ".join(f"{rate:.0f}" for rate in rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per throughput round, each side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200, help="latency samples, each side")
    parser.add_argument("--broker", choices=["redis", "amqp"], default="redis")
    args = parser.parse_args()

    with running(args.broker, factory="bench.noop_tasks:create_app") as stack:
        stack.worker(QUEUE, concurrency=2, include="bench.noop_tasks")
        bare_rate(200)  # warm-up: connections, imports, the processes' first tasks
        whole_path_rate(stack, 200)
        bare, whole = [], []
        for _ in range(args.rounds):
            bare.append(bare_rate(args.jobs))
            whole.append(whole_path_rate(stack, args.jobs))
        whole_s, bare_s = latencies(stack, args.samples)

    bare_median, whole_median = statistics.median(bare), statistics.median(whole)
    ratio = whole_median / bare_median
    added = percentile(whole_s, 50) - percentile(bare_s, 50)
    print(f"no-op job, whole path vs bare Celery; broker {args.broker}, one worker with 2 processes")
    print(f"  at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.jobs} jobs a round, {args.rounds} rounds")
    print(f"  bare Celery no-op     {bare_median:8.0f} tasks/s  (rounds: {_rounds(bare)})")
    print(f"  whole path no-op      {whole_median:8.0f} jobs/s   (rounds: {_rounds(whole)})")
    verdict = "met" if ratio >= 0.4 else "NOT met"
    print(f"  ratio                 {ratio:8.0%}          goal >= 40%: {verdict}")
    for name, values in (("bare Celery", bare_s), ("whole path", whole_s)):
        p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
        print(f"  latency {name:12}  p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({len(values)} samples)")
    verdict = "met" if added < 0.010 else "NOT met"
    print(f"  added latency p50     {added * 1000:8.1f} ms       goal < 10 ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
