"""A private clamd for the tests and the demo, with a signature database built at run time.

Official signatures cannot be downloaded on the build machines, so this clamd knows one
signature: the EICAR anti-virus test file, as an MD5 hash signature computed here. The EICAR
string itself is never stored in the repository; it is decoded when needed.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SIGNATURE_NAME = "Skincare.Test.EICAR"
# The standard 68-byte EICAR test string, base64-encoded so that no scanner flags this source file.
_EICAR_B64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo="
CLAMD_CANDIDATES = ("/usr/sbin/clamd", "/usr/local/sbin/clamd")


def eicar() -> bytes:
    """The EICAR test file: harmless, and detected by every anti-virus engine."""
    return base64.b64decode(_EICAR_B64)


def find_clamd() -> str | None:
    """The clamd binary (Debian's clamav-daemon), or None when it is not installed."""
    found = shutil.which("clamd")
    if found:
        return found
    return next((c for c in CLAMD_CANDIDATES if Path(c).is_file()), None)


@dataclass(frozen=True)
class LocalClamd:
    address: str  # unix:///.../clamd.sock, the form CLAMD_ADDRESS takes
    socket_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def ping(self) -> bool:
        return ping(self.socket_path)


def ping(socket_path: Path, timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(socket_path))
            s.sendall(b"zPING\0")
            return s.recv(16).startswith(b"PONG")
    except OSError:
        return False


def write_config(folder: Path) -> Path:
    """The signature database and a foreground config for a clamd living in ``folder``."""
    db = folder / "db"
    db.mkdir(parents=True, exist_ok=True)
    sample = eicar()
    digest = hashlib.md5(sample).hexdigest()
    (db / "skincare-test.hdb").write_text(f"{digest}:{len(sample)}:{SIGNATURE_NAME}\n")
    conf = folder / "clamd.conf"
    conf.write_text(
        "\n".join(
            [
                f"LocalSocket {folder / 'clamd.sock'}",
                f"DatabaseDirectory {db}",
                f"LogFile {folder / 'clamd.log'}",
                f"PidFile {folder / 'clamd.pid'}",
                "Foreground yes",
                "User root",
                # Above the largest upload context (20 MB), so no upload is ever cut short.
                "StreamMaxLength 25M",
                "MaxFileSize 25M",
                "MaxScanSize 100M",
                "",
            ]
        )
    )
    return conf


@contextmanager
def start_clamd(folder: Path, timeout: float = 60) -> Iterator[LocalClamd]:
    """Run clamd in ``folder`` until the block ends; fail loudly if it does not answer PING."""
    binary = find_clamd()
    if binary is None:
        raise FileNotFoundError("clamd is not installed (Debian: apt-get install clamav-daemon)")
    folder.mkdir(parents=True, exist_ok=True)
    conf = write_config(folder)
    sock = folder / "clamd.sock"
    log = folder / "clamd.out"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "--config-file", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not ping(sock):
            if proc.poll() is not None:
                raise RuntimeError(f"clamd exited with {proc.returncode}: {log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"clamd did not answer within {timeout}s")
            time.sleep(0.1)
        yield LocalClamd(f"unix://{sock}", sock, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
