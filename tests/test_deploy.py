"""docker-compose.yml: valid for Compose, and the deployment the README describes.

Debian's ``docker-compose`` checks the file against the Compose schema and resolves its
variables without a container engine (``bash .ci/services`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import yaml

from tests.conftest import REPO

SECRETS = {"INGEST_SECRETS": "a-secret", "FLOWER_PASSWORD": "a-password"}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: `bash .ci/services` installs Debian's"
    return subprocess.run(
        [tool, "-f", str(REPO / "docker-compose.yml"), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _services() -> dict[str, Any]:
    resolved = _compose("config", env=SECRETS)
    assert resolved.returncode == 0, resolved.stderr
    services: dict[str, Any] = yaml.safe_load(resolved.stdout)["services"]
    return services


def test_compose_file_is_valid_and_refuses_to_run_without_its_secrets() -> None:
    assert _compose("config", "--quiet", env=SECRETS).returncode == 0
    missing = _compose("config", "--quiet", env={"FLOWER_PASSWORD": "a-password"})
    assert missing.returncode != 0 and "set INGEST_SECRETS" in missing.stderr


def test_every_part_runs_with_a_health_check() -> None:
    services = _services()
    assert set(services) == {
        "redis",
        "postgres",
        "mongo",
        "clamav",
        "migrate",
        "api",
        "worker-light",
        "worker-imaging",
        "worker-etl",
        "beat",
        "flower",
    }
    for name, service in services.items():
        if name != "migrate":  # runs once, then the others start
            assert "healthcheck" in service, name
    assert services["migrate"]["command"] == ["migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_imaging_runs_apart_from_the_light_queues() -> None:
    services = _services()
    queues = {
        name: set(service["command"][service["command"].index("--queues") + 1].split(","))
        for name, service in services.items()
        if service.get("command", [None])[0] == "worker"
    }
    assert queues == {
        "worker-light": {"uploads", "feedback", "notifications", "maintenance"},
        "worker-imaging": {"imaging"},
        "worker-etl": {"etl"},
    }
    for name in queues:  # long enough for the running job to finish on `docker stop`
        assert services[name]["stop_grace_period"]


def test_flower_is_published_on_the_host_only_and_state_lives_in_volumes() -> None:
    services = _services()
    (flower_port,) = services["flower"]["ports"]
    assert str(flower_port).startswith("127.0.0.1:5555:")
    for name in ("redis", "postgres", "mongo", "clamav"):
        assert services[name]["volumes"], name
    for name in ("api", "worker-light", "worker-imaging", "flower"):
        assert "files:/srv/files:rw" in services[name]["volumes"], name
