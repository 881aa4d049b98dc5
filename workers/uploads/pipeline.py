"""The upload pipeline: every stored upload is checked, scanned, rendered and published here.

Two stages, one public task each, both fed by file id only:

* :func:`process_upload` (``uploads.process``, queue uploads): size, virus scan, real type,
  image header, quotas. An accepted file is handed to ``uploads.render``.
* :func:`render_upload` (``uploads.render``, queue imaging): decode an image once into the master,
  thumbnails and WebP variants (a video is stored as it is), then publish.

Order matters: the scan comes right after the size check, before the type is judged, so malware
is quarantined and reported to moderators whatever it pretends to be.

Idempotency is a database fact: a row leaves ``processing`` only by a conditional UPDATE (``WHERE
status = 'processing'``), and the user's counters move in the same transaction as the move to
``active``, so a retried or redelivered job finds the row settled and changes nothing. The bytes
follow the row: ``incoming/file-<id>`` while it is checked (the name comes from the id, so a rerun
finds them), ``public/<storage_path>/<yyyy>/<mm>/<uuid>_<size>.<ext>`` once active (the uuid comes
from the id and the content, so a rerun rewrites the same paths), ``quarantine/file-<id>`` when
infected, nowhere when rejected.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import session_scope, utcnow
from storage.files import FileStore, StorageError, get_store
from storage.models import (
    FileStatus,
    FileUploadConfig,
    MediaType,
    ModerationQueue,
    UploadedFile,
    User,
    VirusScanStatus,
)
from workers import jobs
from workers.settings import get_settings
from workers.taskbase import PermanentError
from workers.uploads import imaging, scan, validate
from workers.uploads.sniff import TYPES, UploadRejected

log = logging.getLogger(__name__)

#: Names the public files of one upload; with the file id and content hash it gives the stable uuid.
LAYOUT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "skincare-workers/uploads")
#: The rendition name of a video stored as it came.
ORIGINAL = "original"
OPEN_STATES = (FileStatus.uploading, FileStatus.processing)


def process_upload(file_id: int) -> dict[str, Any]:
    """Check, scan and judge upload ``file_id``; hand an accepted one to ``uploads.render``."""
    store = get_store()
    upload, config = _load(file_id)
    if upload.status not in OPEN_STATES:
        return _settled(store, upload)
    try:
        source = _take_bytes(store, upload)
    except UploadRejected as exc:
        return _reject(store, upload, str(exc))
    if config is None:
        return _reject(store, upload, f"upload_context: no configuration for {upload.upload_context!r}")
    path = store.path(source)
    try:
        size = store.size(source)
        validate.check_size(size, config)
        verdict = scan.scan_file(path, required=bool(config.require_virus_scan))
        if verdict.status == VirusScanStatus.infected:
            return _quarantine(store, upload, source, verdict.detail or "unknown signature")
        file_type = validate.check_type(path, config)
        header = validate.check_image(path, config) if file_type.media_type == MediaType.image else None
        with session_scope() as session:
            validate.check_quotas(session, upload, config, size)
    except UploadRejected as exc:
        return _reject(store, upload, str(exc))
    values: dict[str, Any] = {
        "file_size": size,
        "mime_type": file_type.mime,
        "file_extension": file_type.extension,
        "media_type": file_type.media_type,
        "virus_scan_status": verdict.status,
        "virus_scan_result": verdict.detail,
    }
    if header is not None:
        values.update(image_width=header.width, image_height=header.height)
    with session_scope() as session:
        still_open = _transition(session, file_id, FileStatus.processing, **values)
    if not still_open:
        return _settled(store, _load(file_id)[0])
    job, _ = jobs.enqueue("uploads.render", {"file_id": file_id}, idempotency_key=f"render:{file_id}")
    return {
        "file_id": file_id,
        "status": FileStatus.processing.value,
        "virus_scan_status": verdict.status.value,
        "mime_type": file_type.mime,
        "render_job_id": str(job.id),
    }


def render_upload(file_id: int) -> dict[str, Any]:
    """Render and publish upload ``file_id``, which :func:`process_upload` accepted."""
    store = get_store()
    upload, config = _load(file_id)
    if upload.status not in OPEN_STATES:
        return _settled(store, upload)
    if upload.virus_scan_status not in (VirusScanStatus.clean, VirusScanStatus.skipped) or config is None:
        raise PermanentError(f"file {file_id} has not been accepted by uploads.process")
    source = work_key(file_id)
    if not store.exists(source):
        return _reject(store, upload, "stored bytes: the uploaded file is missing from storage")
    digest = sha256(store.path(source))
    duplicate = _duplicate(store, upload, digest)
    if duplicate is not None:
        return _activate(store, upload, config, _shared(duplicate), source, owned=[])
    try:
        published = _publish(store, upload, config, Layout.of(upload, config, digest), source)
    except (UploadRejected, imaging.ImageRejected) as exc:
        return _reject(store, upload, str(exc))
    published.content_hash = digest
    return _activate(store, upload, config, published, source, owned=published.keys)


# -- layout ------------------------------------------------------------------------------------------


def work_key(file_id: int) -> str:
    """Where the bytes of an upload wait while it is checked."""
    return f"incoming/file-{file_id}"


def quarantine_key(file_id: int) -> str:
    return f"quarantine/file-{file_id}"


def public_url(key: str) -> str:
    """The URL of a ``public/`` key: ``PUBLIC_BASE_URL`` serves ``STORAGE_ROOT/public``."""
    return f"{get_settings().public_base_url.rstrip('/')}/{key.removeprefix('public/')}"


@dataclass(frozen=True)
class Layout:
    """``public/<storage_path>/<yyyy>/<mm>/<uuid>_<size>.<ext>`` for one upload.

    The uuid is derived from the file id and the content hash: stable across retries (they rewrite
    the same paths) and not guessable from the id alone. The month is the upload's.
    """

    folder: str
    stem: str

    @classmethod
    def of(cls, upload: UploadedFile, config: FileUploadConfig, digest: str) -> Layout:
        created = upload.created_at or utcnow()
        base = config.storage_path.strip().strip("/")
        name = uuid.uuid5(LAYOUT_NAMESPACE, f"{upload.id}:{digest}")
        return cls(f"public/{base}/{created:%Y}/{created:%m}", str(name))

    def key(self, size: str, extension: str) -> str:
        return f"{self.folder}/{self.stem}_{size}.{extension}"


def _remove_dead_attempts(store: FileStore, layout: Layout) -> None:
    """Delete the hidden temporaries a render killed mid-write (kill -9, out of memory) left beside
    its outputs. Only this upload's render writes under its stem, and this one holds the job's
    lease: any found now were written by an attempt that is gone."""
    folder = store.folder(layout.folder)
    if folder.is_dir():
        for temp in folder.glob(f".{layout.stem}_*.tmp"):
            temp.unlink(missing_ok=True)


@dataclass
class Published:
    """What activation writes to the row (and the keys this upload wrote, for cleanup)."""

    file_path: str
    filename: str
    width: int | None = None
    height: int | None = None
    thumbnails: dict[str, str] | None = None
    dominant_colors: list[str] | None = None
    mime_type: str | None = None
    file_extension: str | None = None
    content_hash: str | None = None
    keys: list[str] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "file_path": self.file_path,
            "file_url": public_url(self.file_path),
            "filename": self.filename,
            "image_width": self.width,
            "image_height": self.height,
            "image_thumbnails": self.thumbnails,
            "dominant_colors": self.dominant_colors,
        }
        if self.mime_type and self.file_extension:
            values.update(mime_type=self.mime_type, file_extension=self.file_extension)
        return values


def image_spec(config: FileUploadConfig) -> imaging.ImageSpec:
    sizes = (config.thumbnail_sizes or {}) if config.create_thumbnails is not False else {}
    return imaging.ImageSpec(
        thumbnail_sizes={name: (int(box[0]), int(box[1])) for name, box in sizes.items()},
        quality=config.compression_quality or 80,
        compress=config.compress_images is not False,
        webp=bool(config.convert_to_webp),
        watermark_text=config.watermark_text if config.enable_watermark and config.watermark_text else None,
        max_pixels=validate.max_pixels(config),
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        while chunk := reader.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# -- stages ------------------------------------------------------------------------------------------


def _load(file_id: int) -> tuple[UploadedFile, FileUploadConfig | None]:
    if not isinstance(file_id, int) or isinstance(file_id, bool) or file_id < 1:
        raise PermanentError(f"file id {file_id!r} is not a positive integer")
    with session_scope() as session:
        upload = session.get(UploadedFile, file_id)
        if upload is None:
            raise PermanentError(f"uploaded file {file_id} does not exist")
        config = session.scalar(
            select(FileUploadConfig).where(FileUploadConfig.context == upload.upload_context)
        )
    return upload, config


def _take_bytes(store: FileStore, upload: UploadedFile) -> str:
    """Move the upload's bytes to its work key (the row follows) and return where they are now.

    Producers write under ``incoming/`` (the ingest API, or the shop's server before it calls
    ``uploads.process``). After a crash the bytes may already be at the work key, or in
    quarantine if the file was found infected.
    """
    work, quarantined = work_key(upload.id), quarantine_key(upload.id)
    current = upload.file_path
    if current not in (work, quarantined):
        if not current.startswith("incoming/") or current.startswith("incoming/file-"):
            # Never take another row's work file, nor anything outside the unchecked area.
            raise UploadRejected("file_path", "uploads must be stored under incoming/ by their producer")
        try:
            if store.exists(current):
                store.move(current, work)
        except StorageError:
            raise UploadRejected("file_path", f"{current!r} is not a valid storage key") from None
    for key in (work, quarantined):
        if store.exists(key):
            with session_scope() as session:
                _transition(
                    session, upload.id, FileStatus.processing, file_path=key, filename=key.rsplit("/", 1)[-1]
                )
            return key
    raise UploadRejected("stored bytes", "the uploaded file is missing from storage")


def _publish(
    store: FileStore, upload: UploadedFile, config: FileUploadConfig, layout: Layout, source: str
) -> Published:
    _remove_dead_attempts(store, layout)
    if upload.media_type == MediaType.video:
        key = layout.key(ORIGINAL, upload.file_extension)
        store.copy(source, key)  # a copy, not a move: the work key stays until the row is active
        return Published(file_path=key, filename=key.rsplit("/", 1)[-1], keys=[key])

    def dest(name: str, extension: str) -> Path:
        return store.path(layout.key(name, extension))

    result = imaging.render(store.path(source), image_spec(config), dest)
    keys = {r.name: layout.key(r.name, r.path.suffix.lstrip(".")) for r in result.renditions}
    master = next(r for r in result.renditions if r.name == "master")
    master_type = next(t for t in TYPES.values() if t.mime == master.mime)
    return Published(
        file_path=keys["master"],
        filename=keys["master"].rsplit("/", 1)[-1],
        width=result.width,
        height=result.height,
        thumbnails={name: public_url(key) for name, key in keys.items() if name != "master"},
        dominant_colors=result.dominant_colors,
        mime_type=master_type.mime,
        file_extension=master_type.extension,
        keys=list(keys.values()),
    )


def _duplicate(store: FileStore, upload: UploadedFile, digest: str) -> UploadedFile | None:
    """An active upload of the same bytes in the same context (same renditions) whose files exist."""
    with session_scope() as session:
        original = session.scalar(
            select(UploadedFile).where(
                UploadedFile.content_hash == digest,
                UploadedFile.status == FileStatus.active,
                UploadedFile.upload_context == upload.upload_context,
                UploadedFile.id != upload.id,
            )
        )
    if (
        original is None
        or not original.file_path.startswith("public/")
        or not store.exists(original.file_path)
    ):
        return None
    return original


def _shared(original: UploadedFile) -> Published:
    """The second upload of identical bytes points at the first one's stored files."""
    return Published(
        file_path=original.file_path,
        filename=original.filename,
        width=original.image_width,
        height=original.image_height,
        thumbnails=original.image_thumbnails,
        dominant_colors=original.dominant_colors,
        mime_type=original.mime_type,
        file_extension=original.file_extension,
    )


def _activate(
    store: FileStore,
    upload: UploadedFile,
    config: FileUploadConfig,
    published: Published,
    source: str,
    owned: list[str],
) -> dict[str, Any]:
    """Publish the row and count it for its user, once; the quotas are checked again under a lock."""
    reason: str | None = None
    with session_scope() as session:
        if upload.uploaded_by is not None:
            session.execute(select(User.id).where(User.id == upload.uploaded_by).with_for_update())
        try:
            validate.check_quotas(session, upload, config, upload.file_size)
        except UploadRejected as exc:
            reason = str(exc)
        else:
            now = utcnow()
            activated = _transition(
                session,
                upload.id,
                FileStatus.active,
                is_processed=True,
                processed_at=now,
                is_public=config.is_public is not False,
                processing_error=None,
                **published.values(),
            )
            if activated:
                if published.content_hash:
                    _claim_hash(session, upload.id, published.content_hash)
                if upload.uploaded_by is not None:
                    session.execute(
                        update(User)
                        .where(User.id == upload.uploaded_by)
                        .values(
                            storage_used=User.storage_used + upload.file_size,
                            files_uploaded=User.files_uploaded + 1,
                            updated_at=now,
                        )
                    )
    if reason is not None:
        _remove(store, owned)
        return _reject(store, upload, reason)
    current, _ = _load(upload.id)
    if current.status != FileStatus.active or current.file_path != published.file_path:
        _remove(store, [key for key in owned if key != current.file_path])  # another outcome won
        return _settled(store, current)
    store.delete(source)
    _notify(current, "active")
    return _summary(current)


def _claim_hash(session: Session, file_id: int, digest: str) -> None:
    """Record ``content_hash`` unless another row holds it (the seed's UNIQUE): then this one keeps NULL."""
    if session.scalar(select(UploadedFile.id).where(UploadedFile.content_hash == digest)) is not None:
        return
    try:
        with session.begin_nested():
            session.execute(
                update(UploadedFile).where(UploadedFile.id == file_id).values(content_hash=digest)
            )
    except IntegrityError:
        log.info("content hash of file %s was taken concurrently; the row keeps NULL", file_id)


def _quarantine(store: FileStore, upload: UploadedFile, source: str, signature: str) -> dict[str, Any]:
    """Move infected bytes out of reach, fail the row and ask moderators to look, once."""
    target = quarantine_key(upload.id)
    store.move(source, target)
    reason = f"virus scan: infected with {signature}"
    with session_scope() as session:
        failed = _transition(
            session,
            upload.id,
            FileStatus.failed,
            processing_error=reason,
            virus_scan_status=VirusScanStatus.infected,
            virus_scan_result=signature,
            file_path=target,
            file_url="",
            is_public=False,
        )
        if failed:
            session.add(
                ModerationQueue(
                    content_type="upload",
                    content_id=upload.id,
                    user_id=upload.uploaded_by,
                    file_id=upload.id,
                    contains_files=True,
                    file_moderation_results={"virus_scan": {"status": "infected", "signature": signature}},
                    flagged_reasons=["malware"],
                    auto_flagged=True,
                    priority_level=1,
                    content_metadata={"upload_context": upload.upload_context},
                )
            )
    return _settled(store, _load(upload.id)[0])


def _reject(store: FileStore, upload: UploadedFile, reason: str) -> dict[str, Any]:
    """Fail the row with ``reason`` and remove its bytes; a row settled otherwise is left alone."""
    with session_scope() as session:
        _transition(session, upload.id, FileStatus.failed, processing_error=reason, file_url="")
    return _settled(store, _load(upload.id)[0])


def _settled(store: FileStore, upload: UploadedFile) -> dict[str, Any]:
    """The row has its outcome: finish what a crash may have interrupted, and report it.

    Removing the work key and notifying again are both safe to repeat (the notification job has
    an idempotency key), so a rerun completes a run that died after its commit.
    """
    if upload.status in (FileStatus.active, FileStatus.failed):
        store.delete(work_key(upload.id))
        if upload.virus_scan_status == VirusScanStatus.infected:
            _notify(upload, "infected", upload.processing_error)
        else:
            if upload.status == FileStatus.failed:
                store.delete(quarantine_key(upload.id))  # a rescan found it clean, then a rule failed it
            _notify(upload, upload.status.value, upload.processing_error)
    return _summary(upload)


def _transition(session: Session, file_id: int, status: FileStatus, **values: Any) -> bool:
    """Move an open row to ``status``; False when it was settled already (by an earlier run)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(UploadedFile)
            .where(UploadedFile.id == file_id, UploadedFile.status.in_(OPEN_STATES))
            .values(status=status, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        ),
    )
    return bool(result.rowcount)


def _remove(store: FileStore, keys: list[str]) -> None:
    for key in keys:
        store.delete(key)


def _notify(upload: UploadedFile, outcome: str, reason: str | None = None) -> None:
    """The uploader's ``file_processed`` event, enqueued once per file whatever the reruns."""
    if upload.uploaded_by is None:
        return
    event: dict[str, Any] = {
        "type": "file_processed",
        "event_id": f"file_processed:{upload.id}",
        "user_id": upload.uploaded_by,
        "file_id": upload.id,
        "outcome": outcome,
    }
    if reason:
        event["reason"] = reason
    jobs.enqueue("notifications.fanout", {"event": event}, idempotency_key=f"notify:{event['event_id']}")


def _summary(upload: UploadedFile) -> dict[str, Any]:
    status = upload.status.value if upload.status else None
    summary: dict[str, Any] = {
        "file_id": upload.id,
        "status": status,
        "virus_scan_status": upload.virus_scan_status.value if upload.virus_scan_status else None,
    }
    if upload.status == FileStatus.active:
        summary.update(file_url=upload.file_url, thumbnails=upload.image_thumbnails)
    elif upload.processing_error:
        summary["processing_error"] = upload.processing_error
    return summary
