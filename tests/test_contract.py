"""The public interface stays documented: every task name and HTTP path is in the README."""

from __future__ import annotations

import re
from pathlib import Path

from celeryconfig import VISIBILITY_TIMEOUT_S, time_limits
from queues.api import ROUTES, create_app
from queues.names import CeleryQueue
from workers.app import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _public_tasks() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_registered_task_is_documented_and_every_documented_task_exists() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", README, flags=re.M))
    assert _public_tasks() == documented


def test_every_task_is_routed_to_a_declared_queue_with_time_limits() -> None:
    queues = {q.value for q in CeleryQueue}
    for name in _public_tasks():
        route = app.amqp.router.route({}, name)
        assert route["queue"].name in queues, name
        soft, hard = time_limits(name)
        task = app.tasks[name]
        assert (task.soft_time_limit, task.time_limit) == (soft, hard), name
        assert soft < hard < VISIBILITY_TIMEOUT_S
        assert task.acks_late and task.reject_on_worker_lost, name


def test_every_http_path_is_documented() -> None:
    paths = {getattr(r, "path", "") for r in create_app().routes}
    paths = {p for p in paths if p.startswith(("/webhook", "/realtime", "/v1"))}
    assert set(ROUTES) <= paths
    for path in paths:
        assert f"{path}`" in README, path
