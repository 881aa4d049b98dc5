"""Flower behind its login: the command refuses to run open, the pages ask for the password, the
metrics are served, and a real browser (Debian's headless Chromium, driven by Playwright) logs in
and sees the worker online and a finished job. Its screenshot goes to the test scratch folder;
with ``UPDATE_SCREENSHOTS=1`` it replaces the README's ``docs/flower.png``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from queues.names import CeleryQueue
from tests.conftest import REPO, SCRATCH, WorkerProcess, wait_for_job
from tests.services import Service, free_port
from workers import jobs

CHROMIUM = "/usr/bin/chromium"
#: Headless, and quiet: no first-run, sync, update or other background calls to the outside.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A test run leaves the committed picture alone unless asked to renew it.
SCREENSHOT = (REPO / "docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else SCRATCH) / "flower.png"
#: The session worker's Celery node name: its queues, then the host (``workers.cli.worker_argv``).
WORKER_NAME = f"{'+'.join(q.value for q in CeleryQueue)}@{socket.gethostname()}"
USER = "ops"


class Flower(Service):
    def __init__(self, password: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth = (USER, password)
        argv = [sys.executable, "-m", "workers.cli", "flower", "--port", str(self.port)]
        env = {"FLOWER_USER": USER, "FLOWER_PASSWORD": password}
        super().__init__(argv, SCRATCH / "flower.log", ready=lambda _: self._up(), env=env)

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthcheck", timeout=1).status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture(scope="module")
def flower(worker: WorkerProcess) -> Iterator[Flower]:
    server = Flower(secrets.token_urlsafe(12))
    server.start()
    yield server
    server.stop()


def test_flower_refuses_to_start_without_credentials() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWER_USER", "FLOWER_PASSWORD")}
    argv = [sys.executable, "-m", "workers.cli", "flower", "--port", str(free_port())]
    refused = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "refusing to start Flower without FLOWER_USER and FLOWER_PASSWORD" in refused.stderr


def test_flower_pages_need_the_login_and_metrics_are_served(flower: Flower) -> None:
    for page in ("/", "/workers", "/tasks", "/api/workers"):
        assert httpx.get(flower.url + page).status_code == 401, page
        assert httpx.get(flower.url + page, auth=("ops", "wrong")).status_code == 401, page
    assert httpx.get(flower.url + "/", auth=flower.auth, follow_redirects=True).status_code == 200
    metrics = httpx.get(flower.url + "/metrics", auth=flower.auth)
    assert metrics.status_code == 200
    assert "flower_events_total" in metrics.text and "flower_worker_online" in metrics.text
    # Flower serves its metrics (counts by task name and worker) without the login, so that
    # Prometheus needs no password; the README says to keep Flower's port internal.
    assert httpx.get(flower.url + "/metrics").status_code == 200


def test_a_browser_logs_in_and_sees_the_worker_online_and_a_finished_task(
    flower: Flower, worker: WorkerProcess, api: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    job, _ = jobs.enqueue("maintenance.reconcile_jobs", {})
    assert wait_for_job(api, str(job.id))["state"] == "succeeded"
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            http_credentials={"username": flower.auth[0], "password": flower.auth[1]},
            viewport={"width": 1600, "height": 520},
        )
        try:
            page = browser.new_page()
            page.goto(flower.url + "/workers")
            row = page.locator("tr", has_text=WORKER_NAME)
            expect(row).to_contain_text("Online", timeout=30_000)
            # The task's own page: in a long test session the list pages it past the first screen.
            page.goto(flower.url + f"/task/{job.id}")
            body = page.locator("body")
            expect(body).to_contain_text("SUCCESS", timeout=30_000)
            expect(body).to_contain_text("maintenance.reconcile_jobs")
            page.goto(flower.url + "/tasks")  # the list, for the README's screenshot
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
