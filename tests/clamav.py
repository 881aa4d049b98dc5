"""A real clamd for the test session (``workers.uploads.clamd_local``), stoppable for outage tests.

Its signature database is generated at run time: one MD5 hash signature of the EICAR test file,
so neither the EICAR bytes nor a signature file is committed. It listens on the unix socket named
by ``CLAMD_ADDRESS`` (set by conftest before anything reads the settings), runs in the foreground
and is stopped at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from workers.uploads.clamd_local import SIGNATURE_NAME, LocalClamd, ping, start_clamd

__all__ = ["SIGNATURE_NAME", "ClamdService", "clamav"]


class ClamdService:
    """One clamd in ``folder`` that can be stopped and started again (same socket, same address)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket_path = folder / "clamd.sock"
        self._running: AbstractContextManager[LocalClamd] | None = None

    def start(self) -> None:
        if self._running is None:
            running = start_clamd(self.folder)
            running.__enter__()  # returns once clamd answers PING
            self._running = running

    def stop(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            running.__exit__(None, None, None)
            self.socket_path.unlink(missing_ok=True)

    def ping(self) -> bool:
        return ping(self.socket_path)


@pytest.fixture(scope="session")
def clamav() -> Iterator[ClamdService]:
    """The session's clamd, at the socket ``CLAMD_ADDRESS`` names."""
    socket_path = Path(urlsplit(os.environ["CLAMD_ADDRESS"]).path)
    service = ClamdService(socket_path.parent)
    assert service.socket_path == socket_path, "clamd_local names its socket clamd.sock"
    service.start()
    yield service
    service.stop()
