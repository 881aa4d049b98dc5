"""``skincare-workers``: one command for every process of the system, configured by the environment."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from queues.names import HEAVY_QUEUES, CeleryQueue, parse_queues
from workers.settings import get_settings


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("queues.api:create_app", factory=True, host=args.host, port=args.port, log_level="info")
    return 0


def worker_argv(
    queues: list[CeleryQueue], concurrency: int, loglevel: str = "INFO", include: str = ""
) -> list[str]:
    """The Celery worker command line for a queue group."""
    names = ",".join(q.value for q in queues)
    heavy = bool(HEAVY_QUEUES.intersection(queues))
    # A heavy task should not sit prefetched behind another heavy task on a busy process.
    prefetch = 1 if heavy else 4
    # Heavy tasks run C libraries that may leak: their processes are recycled sooner. A light
    # queue runs hundreds of jobs a second; recycling its processes as often would cost more
    # than it saves (worker_max_memory_per_child still replaces one that grew).
    max_tasks = 500 if heavy else 20_000
    extra = ["--include", include] if include else []
    return [
        "worker",
        "--queues",
        names,
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        str(prefetch),
        "--max-tasks-per-child",
        str(max_tasks),
        "--hostname",
        f"{names.replace(',', '+')}@%h",
        "--loglevel",
        loglevel,
        *extra,
    ]


def parse_cpus(spec: str) -> set[int]:
    """A CPU list as ``taskset`` writes it: ``1``, ``0,2`` or ``2-3``."""
    cpus: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise argparse.ArgumentTypeError(f"not a CPU list: {spec!r} (e.g. 1 or 0,2-3)")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _worker(args: argparse.Namespace) -> int:
    from workers.app import app

    if args.cpus is not None:
        # Set before Celery forks its pool: every child inherits it.
        os.sched_setaffinity(0, args.cpus)

    app.worker_main(worker_argv(parse_queues(args.queues), args.concurrency, args.loglevel, args.include))
    return 0


def _beat(args: argparse.Namespace) -> int:
    from workers.app import app

    schedule = get_settings().data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--schedule", str(schedule), "--loglevel", args.loglevel])
    return 0


def _flower(args: argparse.Namespace) -> int:
    from workers.app import app

    settings = get_settings()
    argv = ["flower", f"--port={args.port}", f"--address={args.host}"]
    if settings.flower_user and settings.flower_password:
        argv.append(f"--basic-auth={settings.flower_user}:{settings.flower_password}")
    elif not args.insecure_no_auth:
        print(
            "refusing to start Flower without FLOWER_USER and FLOWER_PASSWORD "
            "(pass --insecure-no-auth for a local development session)",
            file=sys.stderr,
        )
        return 2
    app.start(argv)
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from storage.migrate import upgrade

    upgrade()
    print(f"database at head: {get_settings().sqlalchemy_url}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from storage.models import JobState
    from workers import jobs

    if args.action == "dead":
        for job in jobs.list_by_state(JobState.dead, args.limit):
            last_line = (job.error or "").strip().splitlines()[-1:] or [""]
            print(f"{job.id}  {job.kind:32} {job.finished_at:%Y-%m-%d %H:%M:%S}  {last_line[0][:100]}")
        return 0
    if not args.ids and not args.all:
        print("name the job ids to replay, or --all", file=sys.stderr)
        return 2
    replayed = jobs.replay(None if args.all else args.ids)
    for jid in replayed:
        print(f"replayed {jid}")
    missing = set(args.ids) - {str(j) for j in replayed}
    for jid in sorted(missing):
        print(f"not a dead job: {jid}", file=sys.stderr)
    return 1 if missing else 0


def _etl(args: argparse.Namespace) -> int:
    from workers.etl import run_by_hand

    return run_by_hand(full=args.full)


def _analytics(args: argparse.Namespace) -> int:
    import json

    from storage.analytics import get_store

    collection, key = {
        "product": ("feedback_analytics", "product_id"),
        "user": ("user_feedback_journey", "user_id"),
    }[args.kind]
    doc = get_store().get(collection, {key: args.id})
    if doc is None:
        print(f"no {collection} document for {key} {args.id} (has the ETL run?)", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from workers.demo import run_demo

    return run_demo(keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skincare-workers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("api", help="run the signed ingest API (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_api)

    all_queues = ",".join(q.value for q in CeleryQueue)
    p = sub.add_parser("worker", help="run a Celery worker for a group of queues")
    p.add_argument("--queues", default=all_queues, help=f"comma-separated, of: {all_queues}")
    p.add_argument("--concurrency", type=int, default=2, help="worker processes")
    p.add_argument("--loglevel", default="INFO")
    p.add_argument("--include", default="", help="extra task modules, comma-separated")
    p.add_argument(
        "--cpus",
        type=parse_cpus,
        help="run only on these CPUs (e.g. 1-3): keeps background work off the cores the API "
        "answers on when both share a host",
    )
    p.set_defaults(func=_worker)

    p = sub.add_parser("beat", help="run the periodic scheduler (one per deployment)")
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=_beat)

    p = sub.add_parser("flower", help="run Flower behind basic auth")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--insecure-no-auth", action="store_true", help="development only: no login")
    p.set_defaults(func=_flower)

    p = sub.add_parser("migrate", help="bring the database to the latest schema")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("jobs", help="inspect and replay dead jobs")
    p.add_argument("action", choices=["dead", "replay"])
    p.add_argument("ids", nargs="*", help="job ids to replay")
    p.add_argument("--all", action="store_true", help="replay every dead job")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=_jobs)

    p = sub.add_parser("etl", help="update the analytics documents now, with a progress bar")
    p.add_argument("--full", action="store_true", help="rebuild every document, not only changed ones")
    p.set_defaults(func=_etl)

    p = sub.add_parser("analytics", help="print a product's or a user's analytics document")
    p.add_argument("kind", choices=["product", "user"])
    p.add_argument("id", type=int)
    p.set_defaults(func=_analytics)

    p = sub.add_parser("demo", help="run the whole system on embedded defaults and push work through it")
    p.add_argument("--keep", action="store_true", help="keep the demo's data folder afterwards")
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
