"""Fan-out benchmark: one restock event to 100,000 wishlisting users, in-app channel, PostgreSQL.

Prints rows per second end to end (enqueue -> a real ``skincare-workers worker`` subprocess runs
``notifications.fanout`` -> job succeeded) next to a bare psycopg ``COPY`` and ``executemany`` of
the same notifications rows into the same table, measured in the same run, and the ratios.
The goal is at least 50% of the bare insert rate.

    PYTHONPATH=. python bench/fanout.py [--users 100000] [--batch-size 5000]

Needs PostgreSQL (``BENCH_PG_ADMIN_URL``, default postgresql://postgres@127.0.0.1:5432/postgres;
a scratch database is created and dropped) and Redis (``BENCH_REDIS_HOST``, default
127.0.0.1:6379; a database index no test session holds is taken).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_HOST = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1:6379")


def _redis_index() -> tuple[int, IO[str]]:
    """A Redis database index held by no test session (they lock from 1 up; we lock from 15 down)."""
    for index in range(15, 0, -1):
        handle = open(f"{tempfile.gettempdir()}/skincare-workers-redis-db-{index}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return index, handle
        except BlockingIOError:
            handle.close()
    raise RuntimeError("every Redis database index is held by a test session")


def _seed(url: str, users: int) -> int:
    """``users`` users (a third of them Khmer speakers) wishlisting one product, in-app only."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO products (name_en, name_kh, slug, sku, price, category) "
            "VALUES ('Niacinamide Serum', 'សេរ៉ូមនីអាស៊ីណាមីត', 'niacinamide-serum', 'BENCH-1', 12.5, 'serum') "
            "RETURNING id"
        )
        row = cur.fetchone()
        assert row is not None
        product_id = int(row[0])
        with cur.copy("COPY users (id, email, password, language) FROM STDIN") as copy:
            for i in range(1, users + 1):
                copy.write_row((i, f"user{i}@bench.local", "x", "kh" if i % 3 == 0 else "en"))
        cur.execute("SELECT setval('users_id_seq', %s)", (users,))
        with cur.copy("COPY wishlists (user_id, product_id) FROM STDIN") as copy:
            for i in range(1, users + 1):
                copy.write_row((i, product_id))
        # In-app only: everyone switched e-mail and push off for restock news.
        with cur.copy(
            "COPY notification_preferences (user_id, type, in_app, email, push, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, users + 1):
                copy.write_row((i, "product_restock", None, False, False, "2026-01-01"))
        cur.execute("ANALYZE")
    return product_id


def _rows(url: str, product_id: int, users: int) -> list[tuple[Any, ...]]:
    """The notifications rows the fan-out writes, rendered by the same templates."""
    from storage.db import utcnow
    from workers.notifications.templates import catalog

    spec = catalog().spec("product_restock")
    names = {"en": "Niacinamide Serum", "kh": "សេរ៉ូមនីអាស៊ីណាមីត"}
    texts = {
        lang: spec.render(lang, {"product_name": name, "product_slug": "niacinamide-serum"})
        for lang, name in names.items()
    }
    now = utcnow()
    expires = now + timedelta(days=spec.ttl_days or 1)
    rows = []
    for i in range(1, users + 1):
        text = texts["kh" if i % 3 == 0 else "en"]
        kind = ("product_restock", text.title, text.message, text.action_url, None, "product", product_id)
        rows.append((i, *kind, None, text.priority, now, expires))  # in NOTE_COLUMNS order
    return rows


def _bare_copy(url: str, rows: list[tuple[Any, ...]]) -> float:
    from workers.notifications.fanout import NOTE_COLUMNS

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        with cur.copy(f"COPY notifications ({', '.join(NOTE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - start
        cur.execute("TRUNCATE notifications CASCADE")
    return elapsed


def _bare_executemany(url: str, rows: list[tuple[Any, ...]]) -> float:
    from workers.notifications.fanout import NOTE_COLUMNS

    marks = ", ".join(["%s"] * len(NOTE_COLUMNS))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        cur.executemany(f"INSERT INTO notifications ({', '.join(NOTE_COLUMNS)}) VALUES ({marks})", rows)
        conn.commit()
        elapsed = time.perf_counter() - start
        cur.execute("TRUNCATE notifications CASCADE")
    return elapsed


def _through_celery(product_id: int, log_path: Path) -> tuple[float, dict[str, Any]]:
    """Enqueue the event, let a real worker fan it out; seconds until the job succeeded."""
    from workers import jobs

    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker", "--queues", "notifications"],
            cwd=REPO,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(worker, log_path)
            start = time.perf_counter()
            job, _ = jobs.enqueue(
                "notifications.fanout",
                {"event": {"type": "product_restock", "event_id": "bench-restock", "product_id": product_id}},
            )
            while True:
                current = jobs.get(str(job.id))
                assert current is not None
                if current.state.value in ("succeeded", "failed", "dead"):
                    break
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(30)
    if current.state.value != "succeeded":
        raise RuntimeError(f"fan-out ended {current.state.value}: {current.error}\n{log_path.read_text()}")
    return elapsed, dict(current.result or {})


def _wait_ready(worker: subprocess.Popen[bytes], log_path: Path) -> None:
    from workers.app import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker not ready:\n{log_path.read_text()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()

    redis_db, _lock = _redis_index()
    name = f"skincare_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    scratch = Path(tempfile.mkdtemp(prefix="skincare-bench-"))
    os.environ.update(
        DATABASE_URL=url.replace("postgresql://", "postgresql+psycopg://", 1),
        BROKER_URL=f"redis://{REDIS_HOST}/{redis_db}",
        REDIS_URL=f"redis://{REDIS_HOST}/{redis_db}",
        DATA_DIR=str(scratch),
        NOTIFY_FANOUT_BATCH_SIZE=str(args.batch_size),
    )
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        redis.Redis.from_url(os.environ["BROKER_URL"]).flushdb()
        from storage.migrate import upgrade

        upgrade()
        product_id = _seed(url, args.users)
        rows = _rows(url, product_id, args.users)
        copy_s = _bare_copy(url, rows)
        many_s = _bare_executemany(url, rows)
        celery_s, result = _through_celery(product_id, scratch / "worker.log")
        with psycopg.connect(url) as conn:
            written = conn.execute("SELECT count(*) FROM notifications").fetchone()
        assert written is not None and written[0] == args.users, (written, result)
        n = args.users
        print(f"fan-out of one restock event to {n:,} wishlisting users (in-app), PostgreSQL")
        print(f"  batches of {args.batch_size}: {result.get('batches')} (result: {result.get('created')})")
        print(f"  bare COPY          {n / copy_s:>10,.0f} rows/s  ({copy_s:.2f} s)")
        print(f"  bare executemany   {n / many_s:>10,.0f} rows/s  ({many_s:.2f} s)")
        print(f"  through Celery     {n / celery_s:>10,.0f} rows/s  ({celery_s:.2f} s, end to end)")
        print(f"  ratio vs COPY        {copy_s / celery_s:>8.0%}")
        print(f"  ratio vs executemany {many_s / celery_s:>8.0%}   (goal: at least 50% of the bare insert)")
        load = os.getloadavg()[0]
        print(f"  (load average {load:.1f} on {os.cpu_count()} CPUs: compare ratios, not rates)")
    finally:
        from storage.db import reset_engine

        reset_engine()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        redis.Redis.from_url(os.environ["BROKER_URL"]).flushdb()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
