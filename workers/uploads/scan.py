"""Virus scanning with ClamAV's ``clamd`` over its INSTREAM protocol, failing closed.

Only a clean ``stream: OK`` answer means clean and only ``<signature> FOUND`` means infected.
Everything else (clamd unreachable or not configured, a timeout, ``INSTREAM size limit exceeded``,
any ERROR or unexpected reply) raises :class:`ScanUnavailable`, a transient error: the task retries
with backoff and the file stays unpublished until a real answer comes.

The ``clamd`` package speaks the protocol; two of its methods are replaced here because as shipped
they can fail open or hang: its INSTREAM uses ``socket.send``, which on a socket with a timeout may
write only part of a chunk (desynchronising the length-prefixed stream, so clamd could scan less
than the file), and it sets the timeout only after ``connect``.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import clamd

from storage.models import VirusScanStatus
from workers.settings import get_settings
from workers.taskbase import TransientError

#: INSTREAM chunk size; clamd's own limit is StreamMaxLength for the whole stream.
CHUNK_BYTES = 64 * 1024
#: The CLAMD_ADDRESS that turns scanning off (the demo on a bare machine; never production).
DISABLED = "disabled"


class ScanUnavailable(TransientError):
    """clamd gave no clean verdict; the file must not be treated as clean."""


@dataclass(frozen=True)
class Verdict:
    status: VirusScanStatus  # clean | infected | skipped
    detail: str | None = None  # the signature when infected, the reason when skipped


class _Stream:
    """The replaced parts of the clamd client (see the module docstring)."""

    clamd_socket: socket.socket
    timeout: float | None

    def _connect(self) -> socket.socket:
        raise NotImplementedError

    def _init_socket(self) -> None:
        try:
            self.clamd_socket = self._connect()
        except OSError as exc:
            raise clamd.ConnectionError(f"cannot connect to clamd: {exc}") from exc

    def instream(self, stream: BinaryIO) -> str:
        """Send ``stream`` and return clamd's one-line answer."""
        self._init_socket()
        try:
            self._send_command("INSTREAM")  # type: ignore[attr-defined]
            try:
                while chunk := stream.read(CHUNK_BYTES):
                    self.clamd_socket.sendall(struct.pack("!L", len(chunk)) + chunk)
                self.clamd_socket.sendall(struct.pack("!L", 0))
            except OSError as exc:
                # clamd closes the stream early when it refuses it (size limit): its reason is the answer.
                answer = self._recv_response()  # type: ignore[attr-defined]
                raise clamd.ConnectionError(answer or f"clamd closed the stream: {exc}") from exc
            return str(self._recv_response())  # type: ignore[attr-defined]
        finally:
            self._close_socket()  # type: ignore[attr-defined]


class _UnixClamd(_Stream, clamd.ClamdUnixSocket):
    unix_socket: str

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_socket)
        except OSError:
            sock.close()
            raise
        return sock


class _TcpClamd(_Stream, clamd.ClamdNetworkSocket):
    host: str
    port: int

    def _connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=self.timeout)


def client(address: str, timeout_s: float) -> _UnixClamd | _TcpClamd:
    """A clamd client for ``tcp://host:port`` or ``unix:///path/to/socket``."""
    parts = urlsplit(address)
    if parts.scheme == "unix" and parts.path:
        return _UnixClamd(parts.path, timeout=timeout_s)
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        return _TcpClamd(parts.hostname, parts.port, timeout=timeout_s)
    raise ScanUnavailable(f"CLAMD_ADDRESS {address!r} is not tcp://host:port or unix:///path")


def parse_answer(answer: str) -> Verdict:
    """clamd's INSTREAM answer as a verdict; anything but OK or FOUND raises :class:`ScanUnavailable`."""
    match = clamd.scan_response.match(answer)
    if match is not None and match.group("path") == "stream":
        if match.group("status") == "OK" and not match.group("virus"):
            return Verdict(VirusScanStatus.clean)
        if match.group("status") == "FOUND" and match.group("virus"):
            return Verdict(VirusScanStatus.infected, match.group("virus"))
    raise ScanUnavailable(f"clamd gave no verdict: {answer!r}")


def scan_file(path: Path, *, required: bool) -> Verdict:
    """Scan ``path`` when ``required`` (the context's ``require_virus_scan``), else skip it."""
    if not required:
        return Verdict(VirusScanStatus.skipped, "the upload context does not require a virus scan")
    settings = get_settings()
    address = settings.clamd_address.strip()
    if address == DISABLED:
        return Verdict(VirusScanStatus.skipped, "scanning disabled (CLAMD_ADDRESS=disabled)")
    if not address:
        raise ScanUnavailable("CLAMD_ADDRESS is not set: no file can be scanned")
    scanner = client(address, settings.clamd_timeout_s)
    with open(path, "rb") as stream:
        try:
            answer = scanner.instream(stream)
        except (clamd.ClamdError, OSError) as exc:  # OSError: socket errors and timeouts
            raise ScanUnavailable(f"clamd at {address} is unavailable: {exc}") from exc
    return parse_answer(answer)
