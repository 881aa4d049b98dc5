"""The spine: signed intake, the jobs ledger, a real worker, reconciliation."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from queues.api import ROUTES
from storage.db import session_scope
from storage.models import Job, JobState
from tests.conftest import SECRETS, post_signed, signature_headers, wait_for_job
from workers import jobs
from workers.app import app
from workers.settings import get_settings


def _job_count() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def _queued_messages() -> int:
    r = redis.Redis.from_url(get_settings().broker_url)
    return sum(int(r.llen(q)) for q in ("uploads", "imaging", "feedback", "notifications", "maintenance", "etl"))


def test_reconcile_job_runs_on_a_real_worker(api: Any, worker: Any) -> None:
    job, created = jobs.enqueue("maintenance.reconcile_jobs", {})
    assert created
    view = wait_for_job(api, str(job.id))
    assert view["state"] == "succeeded", view
    assert view["progress"] == 100
    assert set(view["result"]) == {"queued_stale", "retry_due", "lease_expired"}
