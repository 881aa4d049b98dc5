"""Stored upload bytes: a small interface, a local-filesystem backend and one error type.

A file is named by a *key*: a relative POSIX path under the storage root whose first part is an
area. ``incoming/`` holds bytes nobody has checked yet (never served), ``public/`` is served under
``PUBLIC_BASE_URL``, ``quarantine/`` keeps infected files for moderators (never served). Every key
is resolved safely: one that is absolute, climbs with ``..``, names no area or leads out of the
root through a symlink is refused with :class:`StorageError`, whoever wrote it. Writes are atomic
(a temporary file in the same folder, then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from workers.settings import get_settings

AREAS = ("incoming", "public", "quarantine")

#: Public files are read by the web server, which runs as another user.
PUBLIC_MODE = 0o644
#: Unchecked and quarantined bytes are the workers' alone.
PRIVATE_MODE = 0o600


class StorageError(Exception):
    """A key that is not allowed, or a storage operation that failed."""


class StagedFile:
    """A file being written under a temporary name; :meth:`commit` gives it its key."""

    def __init__(self, store: LocalFileStore, area: str) -> None:
        self._store = store
        self.key = f"{area}/{secrets.token_hex(16)}"
        self._final = store.path(self.key)
        self._final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._final.parent, prefix=".", suffix=".part")
        self._temp = Path(name)
        self._out: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        self._out.close()
        os.replace(self._temp, self._final)
        self.committed = True
        return self.key

    def discard(self) -> None:
        """Remove whatever was written, committed or not."""
        self._out.close()
        self._temp.unlink(missing_ok=True)
        if self.committed:
            self._final.unlink(missing_ok=True)


class FileStore(Protocol):
    """What the upload pipeline needs from a storage backend."""

    def path(self, key: str) -> Path: ...
    def folder(self, key: str) -> Path: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def staged(self, area: str) -> StagedFile: ...
    def move(self, src: str, dst: str) -> None: ...
    def copy(self, src: str, dst: str) -> None: ...
    def delete(self, key: str) -> None: ...


class LocalFileStore:
    """Keys are files below ``root`` on the local filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """The local path of ``key``; :class:`StorageError` if the key is not a safe one."""
        if not key or "\x00" in key or "\\" in key or key.startswith("/"):
            raise StorageError(f"storage key {key!r} is not a relative path")
        parts = key.split("/")  # not PurePosixPath: it would quietly drop "." and empty parts
        if parts[0] not in AREAS or any(part in ("..", ".", "") for part in parts) or len(parts) < 2:
            raise StorageError(f"storage key {key!r} is not inside {'/, '.join(AREAS)}/")
        resolved = (self.root / key).resolve()
        if not resolved.is_relative_to((self.root / parts[0]).resolve()):
            raise StorageError(f"storage key {key!r} leads out of the storage root")
        return resolved

    def folder(self, key: str) -> Path:
        """The local path of a folder: an area (``incoming``) or a key below one."""
        return self.root / key if key in AREAS else self.path(key)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc

    def staged(self, area: str) -> StagedFile:
        """A new file in ``area`` with a random name, written under a temporary name until committed."""
        return StagedFile(self, area)

    def move(self, src: str, dst: str) -> None:
        """Atomic rename; both keys live under one root, hence on one filesystem."""
        source, target = self.path(src), self.path(dst)
        if source == target:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            os.chmod(target, _mode(dst))
        except OSError as exc:
            raise StorageError(f"cannot move {src} to {dst}: {exc.strerror}") from exc

    def copy(self, src: str, dst: str) -> None:
        """Copy into a temporary file beside ``dst``, then rename it into place."""
        source, target = self.path(src), self.path(dst)
        try:
            with _atomic(target) as temp, open(source, "rb") as reader, open(temp, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)
            os.chmod(target, _mode(dst))
        except OSError as exc:
            raise StorageError(f"cannot copy {src} to {dst}: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        """Remove ``key``; a key already gone is not an error (deletes are retried)."""
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror}") from exc


def _mode(key: str) -> int:
    return PUBLIC_MODE if key.startswith("public/") else PRIVATE_MODE


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def get_store() -> LocalFileStore:
    """The store under ``STORAGE_ROOT`` (``get_settings().files_root``)."""
    return LocalFileStore(get_settings().files_root)
