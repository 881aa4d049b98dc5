"""A task that kills its own worker process, loaded only by the crash-loop test's worker."""

from __future__ import annotations

import os
import signal
from typing import Any

from workers.taskbase import job_task


@job_task("maintenance.kill_own_worker_for_tests")
def kill_own_worker(self: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)
