"""The one task decorator of the project: every public task is a job in the ledger.

A task body unpacks ids and calls a plain function. Around it, :class:`JobTask` claims the job
(so a duplicate delivery does nothing), records the outcome, and sorts errors: transient ones
are retried with exponential backoff and jitter, permanent ones fail the job at once, and a job
that exhausts its retries becomes ``dead`` with its traceback.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
import sqlalchemy.exc
from celery import Task
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded

from celeryconfig import MAX_BROKER_DELAY_S, time_limits
from storage.db import utcnow
from storage.files import StorageError
from workers import jobs
from workers.app import app
from workers.settings import get_settings

log = logging.getLogger(__name__)


class TransientError(Exception):
    """Might succeed on a later try: a service is down, busy or timed out."""


class PermanentError(Exception):
    """Can never succeed with this input (unknown id, rejected content): no retry."""


#: Errors worth another try; anything else not listed is a bug or bad input and is not retried.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    SoftTimeLimitExceeded,
    StorageError,
)


#: While the database is unreachable, a worker keeps trying this long (backing off) to record an
#: outcome it already has. Giving up at once would leave the job leased to a worker that has
#: moved on, and so stuck until its lease runs out (the hard time limit).
LEDGER_PATIENCE_S = 60.0
_LEDGER_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def _record(write: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Write an outcome to the jobs ledger, waiting out a short database outage."""
    deadline = time.monotonic() + LEDGER_PATIENCE_S
    delay = 0.1
    while True:
        try:
            write(*args, **kwargs)
            return
        except _LEDGER_DOWN as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "the jobs ledger is unreachable (%s); recording the outcome again in %.1fs",
                type(exc).__name__,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class JobTask(Task):
    """Base class of every public task; see the module docstring."""

    #: Attempts after the first before the job is declared dead.
    max_job_retries = 8
    #: Backoff: ``retry_backoff_s * 2**n`` seconds with full jitter, at most ``retry_backoff_max_s``.
    #: Delays past MAX_BROKER_DELAY_S wait in the jobs table, not in the broker.
    retry_backoff_s = 2.0
    retry_backoff_max_s = 3600.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        job_id = self.request.id
        if job_id is None or self.request.called_directly:
            return self.run(*args, **kwargs)
        payload = dict(inspect.signature(self.run).bind(*args, **kwargs).arguments)
        _, hard = time_limits(self.name)
        try:
            claim = jobs.claim(
                job_id,
                self.name,
                payload,
                lease_s=hard + 30,
                max_redeliveries=get_settings().max_redeliveries,
                is_abandoned=jobs.holder_is_dead,
            )
        except TRANSIENT_ERRORS as exc:
            # The ledger itself is unreachable: keep the message alive until it is back.
            raise self.retry(
                exc=exc, countdown=self._backoff(self.request.retries), max_retries=None
            ) from exc
        if claim.outcome == jobs.Outcome.DONE:
            return claim.result
        if claim.outcome == jobs.Outcome.DEAD:
            raise Reject(f"job {job_id} is dead", requeue=False)
        if claim.outcome == jobs.Outcome.BUSY:
            wait = (claim.lease_until - utcnow()).total_seconds() + 1 if claim.lease_until else 1
            self.apply_async(kwargs=payload, task_id=job_id, countdown=min(max(wait, 1), MAX_BROKER_DELAY_S))
            raise Ignore()
        self.request.job_attempt = claim.attempts
        started = time.monotonic()
        outcome = "failed"
        try:
            result = self._run_claimed(job_id, payload, claim.attempts)
            outcome = "succeeded"
            return result
        except Retry:
            outcome = "retrying"
            raise
        finally:
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            log.info("job %s", outcome, extra={"state": outcome, "duration_ms": duration_ms})

    def _run_claimed(self, job_id: str, payload: dict[str, Any], attempts: int) -> Any:
        try:
            result = self.run(**payload)
        except PermanentError as exc:
            _record(jobs.fail, job_id, str(exc))
            raise Reject(str(exc), requeue=False) from exc
        except TRANSIENT_ERRORS as exc:
            self._retry_or_bury(job_id, exc, attempts)
        except Exception:
            _record(jobs.fail, job_id, traceback.format_exc())
            raise
        try:
            _record(jobs.succeed, job_id, result)
        except TRANSIENT_ERRORS as exc:
            # The work is done and idempotent; the retry only records it.
            raise self.retry(exc=exc, countdown=self._backoff(attempts), max_retries=None) from exc
        return result

    def _retry_or_bury(self, job_id: str, exc: BaseException, attempts: int) -> None:
        if attempts > self.max_job_retries:
            _record(jobs.fail, job_id, "".join(traceback.format_exception(exc)), dead=True)
            raise exc
        delay = self._backoff(attempts - 1)
        _record(jobs.retry_later, job_id, f"{type(exc).__name__}: {exc}", delay)
        log.warning("job %s attempt %d failed (%s); retrying in %.1fs", job_id, attempts, exc, delay)
        if delay <= MAX_BROKER_DELAY_S:
            raise self.retry(exc=exc, countdown=delay, max_retries=None)
        raise Ignore()  # the reconciler publishes it at next_attempt_at

    def _backoff(self, retries: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**retries)] (Celery's helper wants integers)."""
        return random.uniform(0, min(self.retry_backoff_max_s, self.retry_backoff_s * 2**retries))


F = TypeVar("F", bound=Callable[..., Any])


def job_task(name: str, **options: Any) -> Callable[[F], Any]:
    """Declare a public task ``name`` (e.g. ``"uploads.process"``): bound, idempotent, time-limited."""
    soft, hard = time_limits(name)

    def decorate(fn: F) -> Any:
        return app.task(
            name=name,
            base=JobTask,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            soft_time_limit=soft,
            time_limit=hard,
            **options,
        )(fn)

    return decorate
