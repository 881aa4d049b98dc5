"""Benchmark-only tasks and route, never part of the system: loaded by ``bench/pipeline.py``'s worker
with ``--include bench.noop_tasks`` and served by its API through :func:`create_app`.

* ``maintenance.noop_for_bench``: a job (``job_task``: ledger claim and outcome) that does nothing;
* ``bench.bare_noop``: a plain Celery task that only notes when it ran (one Redis RPUSH), the
  bare-library baseline;
* ``POST /bench/noop``: the signed intake of the no-op job, exactly as every other webhook.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from queues import api
from workers.app import app
from workers.settings import get_settings
from workers.taskbase import job_task

NOOP_PATH = "/bench/noop"
NOOP_TASK = "maintenance.noop_for_bench"
BARE_TASK = "bench.bare_noop"


class NoopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = Field(max_length=64)


@job_task(NOOP_TASK)
def noop(self: Any, tag: str) -> None:
    return None


_redis: redis.Redis | None = None


@app.task(name=BARE_TASK)
def bare_noop(key: str, index: int) -> None:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(get_settings().redis)
    _redis.rpush(key, f"{index} {time.time()}")


def create_app() -> FastAPI:
    """The ingest API with the no-op route added to its contract, for the benchmark's process only."""
    api.ROUTES.setdefault(NOOP_PATH, (NOOP_TASK, NoopBody, lambda body: body.model_dump()))
    return api.create_app()
