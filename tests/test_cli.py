"""The worker command line: queue groups, process recycling and CPU placement."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from queues.names import CeleryQueue
from tests.conftest import WorkerProcess
from workers.cli import parse_cpus, worker_argv


def test_cpu_lists_read_as_taskset_writes_them() -> None:
    assert parse_cpus("1") == {1}
    assert parse_cpus("0,2-3") == {0, 2, 3}
    for bad in ("", "a", "1-", "-2", "1,,2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_cpus(bad)


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_heavy_queues_prefetch_one_and_recycle_sooner() -> None:
    heavy = worker_argv([CeleryQueue.IMAGING], 1)
    light = worker_argv([CeleryQueue.FEEDBACK, CeleryQueue.NOTIFICATIONS], 2)
    assert (_option(heavy, "--prefetch-multiplier"), _option(heavy, "--max-tasks-per-child")) == ("1", "500")
    assert (_option(light, "--prefetch-multiplier"), _option(light, "--max-tasks-per-child")) == (
        "4",
        "20000",
    )


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_worker_started_with_cpus_keeps_its_pool_on_them(database: str) -> None:
    """The pool's processes are forked after the option applies, so they inherit it."""
    proc = WorkerProcess(queues="maintenance", concurrency=2, cpus="0")
    try:
        pool = _children(proc.proc.pid)
        assert len(pool) >= 2
        for pid in [proc.proc.pid, *pool]:
            assert os.sched_getaffinity(pid) == {0}
    finally:
        proc.stop()
