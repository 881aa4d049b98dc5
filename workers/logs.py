"""Structured JSON logs: every line a task writes carries its job id, task name and attempt.

Installed on Celery's logger set-up signals, so the worker's own lines and the tasks' lines share
one format. ``LOG_FORMAT=text`` keeps Celery's plain format for a developer's terminal.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery._state import get_current_task
from celery.signals import after_setup_logger, after_setup_task_logger

from workers.settings import get_settings

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        task = get_current_task()
        if task is not None and task.request.id:
            line["job_id"] = task.request.id
            line["task"] = task.name
            line["attempt"] = getattr(task.request, "job_attempt", task.request.retries + 1)
        # Fields passed with ``extra=`` (duration_ms, state...) go in as they are.
        line.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _install(logger: logging.Logger, **_: Any) -> None:
    # libvips reports every load and save at INFO: useful when debugging, noise in production.
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    if get_settings().log_format != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


after_setup_logger.connect(_install)
after_setup_task_logger.connect(_install)
