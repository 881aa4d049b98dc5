"""The rules a stored upload must pass, read from its context's ``file_upload_configs`` row.

Every check works from the stored bytes and the database, never from what the client said. A
broken rule raises :class:`~workers.uploads.sniff.UploadRejected` whose message names the rule
(the config column where there is one), e.g. ``"min_width: 299 px is below the review minimum of
300 px"``; the pipeline stores it as the file's ``processing_error``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import FileStatus, FileUploadConfig, UploadedFile, User
from workers.uploads import imaging
from workers.uploads.sniff import FileType, UploadRejected, sniff

#: Never decode more pixels than this whatever a context's limits say (about 190 MB of RGBA).
MAX_PIXELS = 50_000_000


def check_size(size: int, config: FileUploadConfig) -> None:
    if size <= 0:
        raise UploadRejected("empty file", "the file has no bytes")
    if size > config.max_file_size:
        raise UploadRejected(
            "max_file_size",
            f"{size} bytes is over the {config.context} limit of {config.max_file_size} bytes",
        )


def check_type(path: Path, config: FileUploadConfig) -> FileType:
    """The file's real type, which the context must allow by MIME type and by extension."""
    file_type = sniff(path)
    if file_type.mime not in (config.allowed_mime_types or []):
        raise UploadRejected(
            "allowed_mime_types", f"{file_type.mime} files are not accepted for {config.context} uploads"
        )
    allowed = {extension.lower().lstrip(".") for extension in config.allowed_extensions or []}
    if file_type.extension not in allowed:
        raise UploadRejected(
            "allowed_extensions",
            f".{file_type.extension} files are not accepted for {config.context} uploads",
        )
    return file_type


def max_pixels(config: FileUploadConfig) -> int:
    """The most pixels an image of this context may have: its size limits, capped by :data:`MAX_PIXELS`."""
    if config.max_width and config.max_height:
        return min(MAX_PIXELS, config.max_width * config.max_height)
    return MAX_PIXELS


def check_image(path: Path, config: FileUploadConfig) -> imaging.ImageHeader:
    """Dimensions from the header only (no pixel is decoded) against the context's limits."""
    # The flood check uses the global cap so that an image merely over max_width is told so by name.
    try:
        header = imaging.probe(path, max_pixels=MAX_PIXELS)
    except imaging.ImageRejected as exc:
        rule, _, detail = str(exc).partition(": ")
        raise UploadRejected(rule, detail) from None
    context = config.context
    for rule, value, limit in (
        ("min_width", header.width, config.min_width),
        ("min_height", header.height, config.min_height),
    ):
        if limit and value < limit:
            raise UploadRejected(rule, f"{value} px is below the {context} minimum of {limit} px")
    for rule, value, limit in (
        ("max_width", header.width, config.max_width),
        ("max_height", header.height, config.max_height),
    ):
        if limit and value > limit:
            raise UploadRejected(rule, f"{value} px is above the {context} maximum of {limit} px")
    ratio = header.width / header.height
    bounds = config.aspect_ratio_restrictions or {}
    low, high = bounds.get("min"), bounds.get("max")
    if (low is not None and ratio < float(low)) or (high is not None and ratio > float(high)):
        raise UploadRejected(
            "aspect_ratio_restrictions",
            f"width/height {ratio:.2f} is outside the {context} range {low if low is not None else 0}"
            f" to {high if high is not None else 'any'}",
        )
    return header


def check_quotas(session: Session, upload: UploadedFile, config: FileUploadConfig, size: int) -> None:
    """Per entity, per user and storage limits, counting active files other than ``upload``.

    ``max_files_per_upload`` bounds the files attached to one entity (a review's photos), as the
    seed describes it ("8 files per review"); it applies when the upload names its entity.
    Authoritative when called with the uploader's row locked (``SELECT ... FOR UPDATE``), as the
    activation does: concurrent uploads of one user are then counted one after the other.
    """
    context = config.context
    others = select(func.count()).where(
        UploadedFile.status == FileStatus.active,
        UploadedFile.upload_context == context,
        UploadedFile.id != upload.id,
    )
    if config.max_files_per_upload and upload.related_entity_type and upload.related_entity_id is not None:
        attached = session.scalar(
            others.where(
                UploadedFile.related_entity_type == upload.related_entity_type,
                UploadedFile.related_entity_id == upload.related_entity_id,
            )
        )
        if (attached or 0) >= config.max_files_per_upload:
            raise UploadRejected(
                "max_files_per_upload",
                f"{upload.related_entity_type} {upload.related_entity_id} already has {attached} "
                f"{context} files (limit {config.max_files_per_upload})",
            )
    if upload.uploaded_by is None:
        return
    if config.max_files_per_user:
        owned = session.scalar(others.where(UploadedFile.uploaded_by == upload.uploaded_by)) or 0
        if owned >= config.max_files_per_user:
            raise UploadRejected(
                "max_files_per_user",
                f"the user already has {owned} {context} files (limit {config.max_files_per_user})",
            )
    if config.max_total_size_per_user:
        used = session.scalar(select(User.storage_used).where(User.id == upload.uploaded_by)) or 0
        if used + size > config.max_total_size_per_user:
            raise UploadRejected(
                "max_total_size_per_user",
                f"{used} bytes stored plus {size} is over the {context} limit of "
                f"{config.max_total_size_per_user} bytes",
            )
