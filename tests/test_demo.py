"""The embedded default end to end: `skincare-workers demo` on SQLite and the filesystem broker."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

SERVICE_VARS = (
    "DATABASE_URL",
    "BROKER_URL",
    "REDIS_URL",
    "RESULT_BACKEND",
    "MONGO_URL",
    "STORAGE_ROOT",
    "DATA_DIR",
)


def test_demo_runs_every_endpoint_to_its_final_state_without_any_server() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS and k != "CLAMD_ADDRESS"}
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "database: sqlite:///" in text and "filesystem transport" in text
    for path in (
        "/v1/uploads",
        "/webhook/review-submitted",
        "/webhook/progress-updated",
        "/webhook/question-asked",
        "/webhook/answer-provided",
        "/realtime/notify-review-response",
        "/realtime/notify-question-answered",
        "/realtime/notify-product-recommendation",
        "/v1/events/product",
    ):
        rows = [line for line in text.splitlines() if line.startswith(path + " ")]
        assert rows and "succeeded" in rows[-1], (path, text)
    assert '"status": "active"' in text
    assert "What the demo skipped on this machine:" in text
    assert "every job reached its expected final state" in text
