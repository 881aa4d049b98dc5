"""The Celery application. Task modules are listed once here; each registers its public names.

Database engines are per process (``storage.db.get_engine`` rebuilds after a fork), so pool
children never share a connection with the parent.
"""

from __future__ import annotations

from celery import Celery

import workers.logs  # noqa: F401  (structured logs for every worker and task line)

#: The domain modules that declare tasks; tests check every registered name is documented.
TASK_MODULES = [
    "tasks.uploads",
    "tasks.feedback",
    "tasks.notifications",
    "tasks.maintenance",
    "tasks.etl",
]

app = Celery("skincare_workers", include=TASK_MODULES)
app.config_from_object("celeryconfig")
