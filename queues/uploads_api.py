"""Upload intake: ``POST /v1/uploads`` streams a signed multipart body to storage; ``GET /v1/files/{id}``.

The body is never held in memory or spooled by the framework: python-multipart parses it as it
arrives, the file part goes straight to ``incoming/`` under a temporary name while its SHA-256
(for ``Idempotency-Key``) and the request's HMAC are computed, and the upload is cut off with 413
as soon as it passes its context's ``max_file_size``. The signature's header and timestamp are
checked before a byte is read; the MAC itself, which covers the whole body, at the end. Any
refusal removes what was written and records nothing. An accepted upload becomes an
``uploaded_files`` row (``processing``) and an ``uploads.process`` job, committed together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import select

from queues import metrics, signing
from queues.api import ApiError
from storage.db import session_scope, utcnow
from storage.files import StagedFile, get_store
from storage.models import FileStatus, FileUploadConfig, MediaType, UploadedFile, User
from workers import jobs
from workers.settings import get_settings
from workers.uploads.sniff import HEAD_BYTES, UploadRejected, detect

log = logging.getLogger(__name__)

router = APIRouter()

TASK = "uploads.process"
#: Form fields are ids, flags and short names.
MAX_FIELD_BYTES = 1024
#: Multipart framing and the form fields, on top of the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_PARTS = 16
#: Bytes of body parsed per trip to the thread pool.
FEED_BATCH_BYTES = 256 * 1024
FIELDS = ("context", "user_id", "related_entity_type", "related_entity_id", "is_temporary")
#: How long a file sent with ``is_temporary`` lives before the cleanup may remove it.
TEMPORARY_TTL = timedelta(hours=24)
#: What intake records until the pipeline has judged the bytes (the columns are NOT NULL).
UNKNOWN_TYPE = ("application/octet-stream", "bin", MediaType.document)


class UploadAccepted(BaseModel):
    file_id: int
    job_id: str
    status_url: str


class FileView(BaseModel):
    file_id: int
    status: str | None
    upload_context: str
    virus_scan_status: str | None
    virus_scan_result: str | None
    mime_type: str
    file_extension: str
    media_type: str
    file_size: int
    width: int | None
    height: int | None
    file_url: str | None
    thumbnails: dict[str, str] | None
    dominant_colors: list[str] | None
    processing_error: str | None
    created_at: str | None
    processed_at: str | None


class _Refused(Exception):
    """Raised inside the parser's callbacks to stop reading the body."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass
class _Intake:
    """The state of one streamed multipart body."""

    limits: dict[str, int]  # context -> max_file_size
    store_file: StagedFile | None = None
    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    head: bytes = b""
    file_digest: Any = field(default_factory=hashlib.sha256)
    body_bytes: int = 0
    parts: int = 0
    _part_headers: dict[str, bytes] = field(default_factory=dict)
    _header_name: bytes = b""
    _header_value: bytes = b""
    _field_name: str | None = None
    _field_value: bytearray = field(default_factory=bytearray)
    _in_file: bool = False

    def request_hash(self) -> str:
        """What makes two uploads the same request: the form and the file's bytes, not the
        multipart framing (a client that retries builds a new boundary)."""
        same = {"fields": self.fields, "filename": self.filename, "sha256": self.file_digest.hexdigest()}
        return jobs.body_hash(json.dumps(same, sort_keys=True).encode())

    @property
    def limit(self) -> int:
        context = self.fields.get("context")
        return self.limits[context] if context in self.limits else max(self.limits.values())

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise _Refused(ApiError(422, "invalid_body", f"more than {MAX_PARTS} form parts"))
        self._part_headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._part_headers[self._header_name.decode("latin-1").lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part_headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if name == "file":
            if self.store_file is not None:
                raise _Refused(ApiError(422, "invalid_body", "one file per request"))
            self.filename = clean_filename(options.get(b"filename", b""))
            self.store_file = get_store().staged("incoming")
            self._in_file = True
        elif name in FIELDS:
            if name in self.fields:
                raise _Refused(ApiError(422, "invalid_body", f"field {name!r} given twice"))
            self._field_name = name
            self._field_value = bytearray()
        else:
            raise _Refused(ApiError(422, "invalid_body", f"unknown form field {name!r}"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file:
            assert self.store_file is not None
            if self.store_file.size + len(chunk) > self.limit:
                raise _Refused(_too_large(self.fields.get("context"), self.limit))
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            self.file_digest.update(chunk)
            self.store_file.write(chunk)
            return
        self._field_value += chunk
        if len(self._field_value) > MAX_FIELD_BYTES:
            raise _Refused(ApiError(422, "invalid_body", f"field {self._field_name!r} is too long"))

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            return
        assert self._field_name is not None
        try:
            value = self._field_value.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise _Refused(
                ApiError(422, "invalid_body", f"field {self._field_name!r} is not UTF-8")
            ) from None
        self.fields[self._field_name] = value
        if self._field_name == "context" and value not in self.limits:
            raise _Refused(ApiError(422, "invalid_body", f"unknown upload context {value!r}"))
        self._field_name = None


def clean_filename(raw: bytes) -> str:
    """The client's filename as a label only (it never reaches a path): last path part, printable, short."""
    name = raw.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:255] or "upload"


def _too_large(context: str | None, limit: int) -> ApiError:
    where = f"the {context} limit" if context else "the largest upload limit"
    return ApiError(413, "too_large", f"file over {where} of {limit} bytes")


#: How long intake trusts the ``file_upload_configs`` limits it read: an admin's change applies
#: within this, and a burst of uploads does not read the same rows once per request.
LIMITS_TTL_S = 30.0
_limits_cache: tuple[float, dict[str, int]] = (0.0, {})


def _limits() -> dict[str, int]:
    global _limits_cache
    read_at, limits = _limits_cache
    if limits and time.monotonic() - read_at < LIMITS_TTL_S:
        return limits
    with session_scope() as session:
        rows = session.execute(select(FileUploadConfig.context, FileUploadConfig.max_file_size)).all()
    limits = {context: int(size) for context, size in rows}
    _limits_cache = (time.monotonic(), limits)
    return limits


def _int_field(fields: dict[str, str], name: str, *, required: bool) -> int | None:
    value = fields.get(name, "")
    if not value:
        if required:
            raise ApiError(422, "invalid_body", f"field {name!r} is required")
        return None
    if not value.isdigit() or int(value) < 1 or int(value) > 2**31 - 1:
        raise ApiError(422, "invalid_body", f"field {name!r} must be a positive integer")
    return int(value)


def _row(intake: _Intake, key: str) -> UploadedFile:
    """The new row from the form, once its fields are valid; the file type is provisional."""
    fields = intake.fields
    if "context" not in fields:
        raise ApiError(422, "invalid_body", "field 'context' is required")
    user_id = _int_field(fields, "user_id", required=True)
    entity_id = _int_field(fields, "related_entity_id", required=False)
    entity_type = fields.get("related_entity_type") or None
    if entity_type is not None and len(entity_type) > 50:
        raise ApiError(422, "invalid_body", "field 'related_entity_type' is longer than 50 characters")
    temporary = fields.get("is_temporary", "false").lower()
    if temporary not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid_body", "field 'is_temporary' must be true or false")
    try:
        sniffed = detect(intake.head)
        mime, extension, media_type = sniffed.mime, sniffed.extension, sniffed.media_type
    except UploadRejected:  # the pipeline fails it with the reason; intake only records it
        mime, extension, media_type = UNKNOWN_TYPE
    now = utcnow()
    is_temporary = temporary in ("true", "1")
    assert intake.store_file is not None
    return UploadedFile(
        filename=key.rsplit("/", 1)[-1],
        original_filename=intake.filename,
        file_path=key,
        file_url="",
        file_size=intake.store_file.size,
        mime_type=mime,
        file_extension=extension,
        media_type=media_type,
        uploaded_by=user_id,
        upload_context=fields["context"],
        related_entity_type=entity_type,
        related_entity_id=entity_id,
        status=FileStatus.processing,
        is_temporary=is_temporary,
        expires_at=now + TEMPORARY_TTL if is_temporary else None,
        created_at=now,
        updated_at=now,
    )


class _Replayed(Exception):
    """The Idempotency-Key was used for an upload already: its ids (read before the rollback)."""

    def __init__(self, file_id: int, job_id: str) -> None:
        super().__init__(job_id)
        self.file_id, self.job_id = file_id, job_id


def _record(intake: _Intake, key: str, idempotency_key: str | None) -> tuple[int, str, bool]:
    """Insert the row and its job in one transaction; a replayed Idempotency-Key inserts nothing."""
    request_hash = intake.request_hash() if idempotency_key else None
    try:
        with session_scope() as session:
            row = _row(intake, key)
            if session.get(User, row.uploaded_by) is None:
                raise ApiError(422, "invalid_body", f"user {row.uploaded_by} does not exist")
            session.add(row)
            session.flush()
            payload = {"file_id": row.id}
            job, created = jobs.submit(
                session, TASK, payload, idempotency_key=idempotency_key, request_hash=request_hash
            )
            if not created:
                raise _Replayed(int(job.payload["file_id"]), str(job.id))  # rolls the new row back
            file_id, job_id = row.id, job.id
    except _Replayed as replay:
        return replay.file_id, replay.job_id, False
    except jobs.IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from exc
    try:
        jobs.publish(job_id, TASK, payload)
    except Exception:
        log.exception("publish failed; the reconciler will re-publish job %s", job_id)
    return file_id, str(job_id), True


def _commit_and_record(
    intake: _Intake, staged: StagedFile, idempotency_key: str | None
) -> tuple[int, str, bool]:
    return _record(intake, staged.commit(), idempotency_key)


def _check_header(header: str | None) -> tuple[int, list[str]]:
    """The cheap half of the signature check, done before the body is read."""
    settings = get_settings()
    try:
        if not settings.secrets:
            raise signing.SignatureError("no ingest secret is configured (INGEST_SECRETS)")
        timestamp, candidates = signing.parse(header)
        signing.check_time(timestamp, settings.signature_tolerance_s)
    except signing.SignatureError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from exc
    return timestamp, candidates


@router.post(
    "/v1/uploads",
    status_code=202,
    response_model=UploadAccepted,
    summary="Upload a file (streamed, signed multipart) and queue uploads.process",
    responses={
        401: {"description": "missing, stale or wrong signature"},
        409: {"description": "Idempotency-Key reused with another body"},
        413: {"description": "file over its context's max_file_size"},
        415: {"description": "not multipart/form-data"},
        422: {"description": "missing or invalid form field, empty file, unknown user or context"},
    },
)
async def upload(
    request: Request, idempotency_key: str | None = Header(None, alias="Idempotency-Key")
) -> JSONResponse:
    """Multipart fields: ``context``, ``user_id``, optional ``related_entity_type``,
    ``related_entity_id``, ``is_temporary``, then ``file`` (fields first, so the context's size
    limit applies while the file streams)."""
    timestamp, candidates = _check_header(request.headers.get(signing.HEADER))
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise ApiError(400, "bad_idempotency_key", "Idempotency-Key must be 1 to 255 characters")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "the body must be multipart/form-data with a boundary")
    intake = _Intake(limits=await run_in_threadpool(_limits))
    if not intake.limits:
        raise ApiError(503, "not_configured", "no file_upload_configs rows")
    max_body = max(intake.limits.values()) + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise ApiError(413, "too_large", f"body over the largest upload limit of {max_body} bytes")
    macs = signing.MacSource(get_settings().secrets, timestamp)
    parser = MultipartParser(boundary, intake.callbacks())  # type: ignore[arg-type]

    def feed(chunk: bytes) -> None:
        intake.body_bytes += len(chunk)
        if intake.body_bytes > max_body:
            raise _Refused(ApiError(413, "too_large", f"body over {max_body} bytes"))
        macs.update(chunk)
        parser.write(chunk)

    def feed_last(chunk: bytes) -> None:
        feed(chunk)
        parser.finalize()

    try:
        try:
            # Parsed and written off the event loop, in batches: one thread hop per batch, not per
            # socket read (a photo is a few reads; a 20 MB file a few hundred batches).
            batch: list[bytes] = []
            batched = 0
            async for chunk in request.stream():
                batch.append(chunk)
                batched += len(chunk)
                if batched >= FEED_BATCH_BYTES:
                    await run_in_threadpool(feed, b"".join(batch))
                    batch.clear()
                    batched = 0
            await run_in_threadpool(feed_last, b"".join(batch))
        except _Refused as refused:
            raise refused.error from None
        except ValueError as exc:  # python-multipart's parse errors
            raise ApiError(422, "invalid_body", f"malformed multipart body: {exc}") from exc
        try:
            macs.check(candidates)
        except signing.SignatureError as exc:
            raise ApiError(401, "unauthorized", str(exc)) from exc
        staged = intake.store_file
        if staged is None:
            raise ApiError(422, "invalid_body", "field 'file' is required")
        if staged.size == 0:
            raise ApiError(422, "empty_file", "the file has no bytes")
        context = intake.fields.get("context")
        if context in intake.limits and staged.size > intake.limits[context]:
            raise _too_large(context, intake.limits[context])
        file_id, job_id, created = await run_in_threadpool(
            _commit_and_record, intake, staged, idempotency_key
        )
        if created:
            metrics.job_accepted(TASK)
        else:
            staged.discard()
    except BaseException:
        if intake.store_file is not None:
            intake.store_file.discard()
        raise
    body = UploadAccepted(file_id=file_id, job_id=job_id, status_url=f"/v1/files/{file_id}")
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse(body.model_dump(), status_code=202, headers=headers)


def _view(file_id: int) -> FileView | None:
    with session_scope() as session:
        row = session.get(UploadedFile, file_id)
    if row is None:
        return None
    active = row.status == FileStatus.active
    return FileView(
        file_id=row.id,
        status=row.status.value if row.status else None,
        upload_context=row.upload_context,
        virus_scan_status=row.virus_scan_status.value if row.virus_scan_status else None,
        virus_scan_result=row.virus_scan_result,
        mime_type=row.mime_type,
        file_extension=row.file_extension,
        media_type=row.media_type.value,
        file_size=row.file_size,
        width=row.image_width,
        height=row.image_height,
        file_url=row.file_url if active else None,
        thumbnails=row.image_thumbnails if active else None,
        dominant_colors=row.dominant_colors,
        processing_error=row.processing_error,
        created_at=row.created_at.isoformat() + "Z" if row.created_at else None,
        processed_at=row.processed_at.isoformat() + "Z" if row.processed_at else None,
    )


@router.get("/v1/files/{file_id}", response_model=FileView, responses={404: {}})
async def get_file(file_id: int) -> FileView:
    view = await run_in_threadpool(_view, file_id) if 0 < file_id <= 2**31 - 1 else None
    if view is None:
        raise ApiError(404, "not_found", f"no file {file_id}")
    return view
