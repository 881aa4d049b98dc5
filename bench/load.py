"""Load: signed review webhooks and photo uploads at a steady rate against the real system.

    PYTHONPATH=. python bench/load.py [--rate 200] [--duration 60] [--upload-share 0.1] [--broker redis|amqp]

The real API (uvicorn) with a worker pool behind it (``bench.stack``): one worker for the light
queues (uploads, feedback, notifications, maintenance; two processes) and one for imaging (one
process), a local clamd scanning every upload, PostgreSQL and a private Redis. The sender is
open-loop: request ``i`` leaves at ``start + i / rate`` whatever the answers before it, on as
many keep-alive connections as that takes, so a slow API shows as latency, not as a lower rate.
Each review webhook names its own seeded review; each upload is a distinct 400x400 JPEG (no
deduplication shortcut) from one of many users.

Printed: the accepted rate; API latency p50/p99 (send to full answer, at the sender); errors;
after the load, the jobs are drained (``--drain-timeout``) and the end-to-end latency p50/p95/p99
is read from the ledger (review: the webhook's job committed -> finished; upload: the upload's
row committed -> the file active); jobs lost: accepted but missing from the ledger, dead, or not
finished when the drain timed out, and every job they led to (renders, notifications) too.
Goal on this 2-core machine: 200 requests/s held, API p99 under 50 ms, no errors, no losses.

The first ``--warm-up`` seconds of load (default 3) are sent like the rest but left out of the
rate and latency figures: connections, caches and the sender's own start. Their jobs count in
errors and losses like any other. The workers run on every CPU but the first (``--worker-cpus``,
the worker's ``--cpus``), as a deployment that shares a host between intake and background work
would keep them: with all cores saturated by the backlog, the intake's p99 doubles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.stack import SECRET, HttpConnection, Stack, percentile, running, wait_for

SENTENCES = (
    "My skin feels so much softer after two weeks.",
    "The texture is light and it absorbs quickly.",
    "It broke me out around the chin, not for me.",
    "Great for dry patches, I use it every night.",
    "The scent is a bit strong but fades fast.",
    "Visible results on my dark spots after a month.",
    "Too expensive for such a small bottle.",
    "Gentle enough for my sensitive skin, no redness.",
    "It pills under sunscreen, annoying in the morning.",
    "My pores look smaller and my face less oily.",
)
USERS = 400
PRODUCTS = 150
MAX_CONNECTIONS = 256


@dataclass
class Request:
    kind: str  # "review" or "upload"
    path: str
    body: bytes
    content_type: str
    sent: float = 0.0  # when it was due to leave (perf_counter)
    latency: float = 0.0
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)


def seed(url: str, reviews: int) -> None:
    """Users, products and ``reviews`` pending reviews, with COPY."""
    rng = random.Random(7)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY users (id, email, password) FROM STDIN") as copy:
            for i in range(1, USERS + 1):
                copy.write_row((i, f"load{i}@bench.local", "x"))
        cur.execute("SELECT setval('users_id_seq', %s)", (USERS,))
        with cur.copy("COPY products (id, name_en, slug, sku, price, category) FROM STDIN") as copy:
            for i in range(1, PRODUCTS + 1):
                copy.write_row((i, f"Serum {i}", f"serum-{i}", f"LOAD-{i}", 10 + i % 40, "serum"))
        cur.execute("SELECT setval('products_id_seq', %s)", (PRODUCTS,))
        columns = "id, product_id, user_id, rating, title, review_text, status"
        with cur.copy(f"COPY product_reviews ({columns}) FROM STDIN") as copy:
            for i in range(1, reviews + 1):
                text = " ".join(rng.sample(SENTENCES, 3)) + f" ({i})"
                product, user = rng.randint(1, PRODUCTS), rng.randint(1, USERS)
                copy.write_row((i, product, user, rng.randint(1, 5), f"Review {i}", text, "pending"))
        cur.execute("SELECT setval('product_reviews_id_seq', %s)", (reviews,))
        cur.execute("ANALYZE")


def multipart(fields: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    """A form as a client library builds it: the fields first, then the file."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def plan(rate: float, duration: float, upload_share: float) -> list[Request]:
    """Every request of the run, built ahead (signed when sent): reviews and uploads interleaved."""
    from tests import corpus

    rng = random.Random(11)
    count = int(rate * duration)
    requests: list[Request] = []
    review_id = 0
    for i in range(count):
        if rng.random() < upload_share:
            colour = (i * 7 % 256, i * 13 % 256, i * 29 % 256)  # a distinct picture for every upload
            photo = corpus.jpeg(400, 400, color=colour, quality=80)
            fields = {"context": "review", "user_id": str(rng.randint(1, USERS))}
            body, content_type = multipart(fields, photo)
            requests.append(Request("upload", "/v1/uploads", body, content_type))
        else:
            review_id += 1
            body = json.dumps({"review_id": review_id}).encode()
            requests.append(Request("review", "/webhook/review-submitted", body, "application/json"))
    return requests


async def send_all(url: str, requests: list[Request], rate: float) -> None:
    """Open loop: each request leaves on its schedule, on an idle connection or a new one.

    Latency counts from the scheduled moment, so a sender held back (at most
    :data:`MAX_CONNECTIONS` requests in flight) shows as latency, never hides it.
    """
    from queues import signing

    idle: list[HttpConnection] = []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    start = time.perf_counter() + 0.5

    async def send(request: Request) -> None:
        connection = idle.pop() if idle else HttpConnection(url)
        headers = {signing.HEADER: signing.sign(SECRET, request.body), "Content-Type": request.content_type}
        try:
            request.status, answer = await connection.post(request.path, request.body, headers)
            request.latency = time.perf_counter() - request.sent
            request.answer = json.loads(answer) if request.status == 202 else {}
            idle.append(connection)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            request.status, request.answer = -1, {"error": repr(exc)}
            await connection.close()
        finally:
            slots.release()

    tasks = []
    for i, request in enumerate(requests):
        request.sent = start + i / rate
        delay = request.sent - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        tasks.append(asyncio.create_task(send(request)))
    await asyncio.gather(*tasks)
    for connection in idle:
        await connection.close()


@dataclass
class Outcome:
    review_latency: list[float]
    upload_latency: list[float]
    unfinished: list[str]
    lost: list[str]


def collect(accepted: list[Request], drain_timeout: float) -> Outcome:
    """Wait for the ledger to drain, then read what became of every accepted request."""
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Job, JobState, UploadedFile

    finished = (JobState.succeeded, JobState.failed, JobState.dead)

    def open_jobs() -> int:
        with session_scope() as session:
            return int(session.scalar(select(func.count()).where(Job.state.not_in(finished))) or 0)

    wait_for(lambda: open_jobs() == 0, drain_timeout, poll_s=1.0)
    ids = [uuid.UUID(r.answer["job_id"]) for r in accepted]
    with session_scope() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}
        everything = session.execute(select(Job.id, Job.kind, Job.state)).all()
        files = {
            row.id: row
            for row in session.scalars(
                select(UploadedFile).where(
                    UploadedFile.id.in_([r.answer["file_id"] for r in accepted if r.kind == "upload"])
                )
            )
        }
    lost = [str(i) for i in ids if i not in jobs]
    lost += [f"{jid} ({kind})" for jid, kind, state in everything if state == JobState.dead]
    unfinished = [
        f"{jid} ({kind}, {state.value})" for jid, kind, state in everything if state not in finished
    ]
    review_latency = [
        (job.finished_at - job.created_at).total_seconds()
        for request in accepted
        if request.kind == "review"
        and (job := jobs.get(uuid.UUID(request.answer["job_id"]))) is not None
        and job.finished_at is not None
    ]
    upload_latency = [
        (row.processed_at - row.created_at).total_seconds()
        for request in accepted
        if request.kind == "upload"
        and (row := files.get(request.answer["file_id"])) is not None
        and row.processed_at is not None
        and row.created_at is not None
    ]
    return Outcome(review_latency, upload_latency, unfinished, lost)


def start_workers(stack: Stack, nice: int = 0, cpus: str | None = None) -> None:
    stack.worker("uploads,feedback,notifications,maintenance", concurrency=2, nice=nice, cpus=cpus)
    stack.worker("imaging", concurrency=1, nice=nice, cpus=cpus)


def default_worker_cpus() -> str:
    """Every CPU but the first, which the API keeps (on a single CPU: that one)."""
    count = os.cpu_count() or 1
    return "0" if count == 1 else "1" if count == 2 else f"1-{count - 1}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--upload-share", type=float, default=0.1, help="fraction of requests that upload")
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds to wait for the jobs")
    parser.add_argument("--broker", choices=["redis", "amqp"], default="redis")
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="run the workers at this niceness (the API stays at 0)"
    )
    parser.add_argument(
        "--worker-cpus",
        default=default_worker_cpus(),
        help="CPUs the workers run on (default: all but the first); 'all' leaves them unpinned",
    )
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds of load not measured")
    parser.add_argument(
        "--no-workers", action="store_true", help="diagnosis: the API alone (jobs stay queued, no drain)"
    )
    args = parser.parse_args()
    worker_cpus = None if args.worker_cpus == "all" else args.worker_cpus

    requests = plan(args.rate, args.warm_up + args.duration, args.upload_share)
    reviews = sum(1 for r in requests if r.kind == "review")
    with running(args.broker, clamd=True) as stack:
        seed(stack.database_url, reviews)
        if not args.no_workers:
            start_workers(stack, args.worker_nice, worker_cpus)
        asyncio.run(send_all(stack.api.url, requests, args.rate))
        measured = requests[int(args.rate * args.warm_up) :]
        sending = max(r.sent + r.latency for r in measured) - measured[0].sent
        accepted = [r for r in requests if r.status == 202]
        drain_began = time.perf_counter()
        outcome = collect(accepted, 0 if args.no_workers else args.drain_timeout)
        drained = time.perf_counter() - drain_began

    errors = [r for r in requests if r.status != 202]
    measured_accepted = [r for r in measured if r.status == 202]
    latencies = [r.latency for r in measured_accepted]
    print(f"load: {args.rate:.0f} requests/s for {args.duration:.0f} s, broker {args.broker}")
    print(f"  machine: {os.cpu_count()} cores, API, workers, PostgreSQL, Redis, clamd and sender all on it")
    if args.no_workers:
        print("  workers: none (the API alone: jobs stay queued; end-to-end and losses not measured)")
    else:
        where = f"CPUs {worker_cpus}" if worker_cpus else "every CPU"
        print(f"  workers: light queues x2 processes, imaging x1, on {where}, niceness {args.worker_nice}")
    uploads = sum(1 for r in requests if r.kind == "upload")
    print(f"  requests          {len(requests)} ({reviews} review webhooks, {uploads} uploads)")
    print(f"  measured          {len(measured)}, after {len(requests) - len(measured)} sent to warm up")
    print(f"  accepted rate     {len(measured_accepted) / sending:8.1f} /s over {sending:.1f} s")
    by_kind = [
        (kind, [r.latency for r in measured_accepted if r.kind == kind]) for kind in ("review", "upload")
    ]
    for name, values in [("all", latencies), *by_kind]:
        p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
        print(f"  API latency {name:6} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    statuses = sorted({r.status for r in errors})
    print(f"  errors            {len(errors)}" + (f" (statuses {statuses})" if errors else ""))
    if args.no_workers:
        print(f"  jobs in the ledger {len(accepted) - len(outcome.lost)} of {len(accepted)} accepted")
    else:
        for name, values in (("review", outcome.review_latency), ("upload", outcome.upload_latency)):
            p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
            spread = f"p50 {p50:7.2f} s  p95 {p95:7.2f} s  p99 {p99:7.2f} s"
            print(f"  end to end {name:7} {spread}  ({len(values)} jobs)")
        print(f"  drained in        {drained:8.1f} s after the load")
        print(f"  jobs lost         {len(outcome.lost)}" + (f": {outcome.lost[:5]}" if outcome.lost else ""))
        if outcome.unfinished:
            waited = f"after {args.drain_timeout:.0f} s"
            print(f"  still unfinished  {len(outcome.unfinished)} {waited}: {outcome.unfinished[:5]}")
    p99 = percentile(latencies, 99)
    held = len(measured_accepted) / sending >= 0.98 * args.rate
    goal = held and p99 < 0.050 and not errors and not outcome.lost and not outcome.unfinished
    if not args.no_workers:
        print(f"  goal (rate held, p99 < 50 ms, no errors, none lost): {'met' if goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
