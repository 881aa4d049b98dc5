"""Celery settings. Every setting carries the reason it is set.

Read by ``workers.app`` through ``config_from_object("celeryconfig")``; the URLs come from the
environment (``workers.settings``), everything else is fixed here so that every worker runs alike.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from queues.names import TASK_QUEUES, CeleryQueue
from schedules import BEAT_SCHEDULE
from workers.settings import get_settings

_settings = get_settings()

# -- Time: the ordering that keeps acks_late safe --------------------------------------------------
#: (soft, hard) time limits in seconds per task name pattern; first match wins. The soft limit
#: raises inside the task so it can clean up; the hard limit kills the process.
TASK_TIME_LIMITS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("uploads.render", (240, 300)),  # a 16 MP decode + thumbnails takes seconds; 5 min means stuck
    ("uploads.*", (120, 150)),  # validation and one clamd INSTREAM of at most 20 MB
    ("feedback.*", (60, 90)),  # text analysis of one item
    ("notifications.fanout", (540, 600)),  # inserts a whole audience in bounded batches
    ("notifications.send_digests", (540, 600)),  # one e-mail per person with waiting news
    ("notifications.*", (60, 90)),  # one SMTP or HTTP round trip
    ("maintenance.*", (540, 600)),  # bounded batches; a run that lasts 10 min is stuck
    ("etl.*", (1700, 1800)),  # a full rebuild over 1M reviews
)
#: Redis re-delivers an unacknowledged message after this long. It must exceed the longest hard
#: limit, or a slow task would be run a second time while the first is still at work.
VISIBILITY_TIMEOUT_S = 7200
#: The longest delay (countdown, ETA, retry backoff) a message may wait in the broker. Longer
#: waits are kept in the jobs table (``next_attempt_at``) and published by the reconciler.
MAX_BROKER_DELAY_S = 600

assert max(hard for _, (_, hard) in TASK_TIME_LIMITS) < VISIBILITY_TIMEOUT_S
assert MAX_BROKER_DELAY_S < VISIBILITY_TIMEOUT_S


def time_limits(task_name: str) -> tuple[int, int]:
    """(soft, hard) limits for a task; every task must match a pattern."""
    for pattern, limits in TASK_TIME_LIMITS:
        if fnmatchcase(task_name, pattern):
            return limits
    raise LookupError(f"no time limit declared for task {task_name!r} in celeryconfig")


# -- Broker and results -----------------------------------------------------------------------------
broker_url = _settings.celery_broker_url
if broker_url.startswith("filesystem"):
    _folder = _settings.broker_folder
    for _sub in ("out", "processed"):
        (_folder / _sub).mkdir(parents=True, exist_ok=True)
    # The embedded default: one folder is both in and out, so producer and worker share it.
    broker_transport_options: dict[str, Any] = {
        "data_folder_in": str(_folder / "out"),
        "data_folder_out": str(_folder / "out"),
        "processed_folder": str(_folder / "processed"),
        "store_processed": False,
    }
else:
    broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
# Celery reads the visibility timeout here too, for Redis result backends that use pub/sub.
result_backend_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
result_backend = _settings.result_backend or None
# The jobs table is the record of every outcome; a result backend is optional.
task_ignore_result = not _settings.result_backend
result_expires = 24 * 3600  # results are also in the jobs table; keep the backend small
broker_connection_retry_on_startup = True  # a worker started before Redis waits for it
broker_connection_max_retries = None  # and never gives up while the broker restarts

# -- Serialization and time ------------------------------------------------------------------------
task_serializer = "json"  # producers in other languages send JSON; pickle would run their bytes
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# -- Queues and routes ------------------------------------------------------------------------------
task_queues = TASK_QUEUES
task_default_queue = CeleryQueue.MAINTENANCE.value
task_create_missing_queues = False  # a misspelt queue must fail, not create a queue nobody reads
#: Routed by task name; first match wins. Producers only ever name tasks, never queues.
task_routes = (
    [
        ("uploads.render", {"queue": CeleryQueue.IMAGING.value}),
        ("uploads.*", {"queue": CeleryQueue.UPLOADS.value}),
        ("feedback.*", {"queue": CeleryQueue.FEEDBACK.value}),
        ("notifications.*", {"queue": CeleryQueue.NOTIFICATIONS.value}),
        ("maintenance.*", {"queue": CeleryQueue.MAINTENANCE.value}),
        ("etl.*", {"queue": CeleryQueue.ETL.value}),
    ],
)

# -- Reliability -----------------------------------------------------------------------------------
task_acks_late = True  # ack after the work: a crashed worker's job is delivered again
task_reject_on_worker_lost = True  # a killed child process requeues its message instead of acking it
task_acks_on_failure = True  # a task that failed for good is not redelivered forever
task_acks_on_timeout = True  # nor one its hard time limit killed: it would only be killed again
worker_cancel_long_running_tasks_on_connection_loss = True  # they will be redelivered: do not run twice
worker_prefetch_multiplier = 4  # light queues; `skincare-workers worker` uses 1 for heavy queues
worker_max_tasks_per_child = 500  # recycle processes so slow leaks in C libraries cannot build up;
# `skincare-workers worker` raises it for light queues
worker_max_memory_per_child = 600_000  # KiB; a child that grew past this is replaced after its task
task_track_started = True  # Flower and the ledger show STARTED, not just PENDING
worker_send_task_events = True  # Flower's live view
# No "task-sent" events: each would cost every publish a second broker round trip. Flower shows a
# task from its "received" event on; a job not yet received is in the ledger, state queued.
task_send_sent_event = False
worker_hijack_root_logger = False  # our JSON logging stays in charge
beat_max_loop_interval = 30  # beat notices schedule changes within half a minute

# -- Beat ------------------------------------------------------------------------------------------
beat_schedule = BEAT_SCHEDULE  # every entry with its reason, in schedules/
