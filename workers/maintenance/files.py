"""Stored-file cleanup: expired temporary uploads, orphaned files, failed and quarantined uploads.

The seed's ``cleanup_expired_files`` and ``cleanup_file_storage`` only mark rows deleted; here the
bytes go too, by these rules:

* **Deduplicated uploads share bytes.** Two rows may have one ``file_path`` (and the same
  thumbnails), so bytes are removed only when, at that moment, no other row that is not deleted
  uses the path and no row with that path is referenced by anything the seed lists (product,
  review, progress, question and answer media, user pictures and banners, category images,
  product main images). That check runs right before the delete, not when the row was chosen.
* **A soft delete queues its bytes** (``file_removals``) in the same transaction, due at once for
  an expired upload and after :data:`ORPHAN_GRACE` for an orphan, so an orphan wrongly deleted
  can be restored before anything is lost, and a crash between the row and the bytes leaves the
  removal queued instead of bytes nobody removes. The row changes first because a temporary file
  can still be attached while the sweep runs: once the row is ``deleted`` nothing new uses it.
* **A purge removes the bytes, then the row**: a crash in between leaves the row, and the next
  run finds it again.
* **Sweeps may overlap** (each has its own lock): both conditional UPDATEs re-check their row,
  removing a key already gone is no error, and a removal row deleted twice is deleted once.
* **Bounded batches.** Each batch selects at most ``batch_size`` rows, acts and commits; a run
  starts no batch after its time budget, and the next slot continues where it stopped.

Each function returns its counts (rows, files removed, bytes freed, ...) as the job result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, true, update
from sqlalchemy.orm import Session

from storage.db import session_scope, utcnow
from storage.files import FileStore, StorageError, get_store
from storage.maintenance_models import FileRemoval
from storage.models import (
    AnswerMedia,
    Category,
    FileStatus,
    ModerationQueue,
    ModerationStatus,
    Product,
    ProductMedia,
    ProgressMedia,
    QuestionMedia,
    ReviewMedia,
    UploadedFile,
    User,
    VirusScanStatus,
)
from workers.settings import get_settings
from workers.uploads.pipeline import quarantine_key, work_key

log = logging.getLogger(__name__)

#: Active files older than this that nothing references are orphans (the seed's 7 days).
ORPHAN_AGE = timedelta(days=7)
#: An orphan's bytes outlive its soft delete by this much, so a wrong delete can be undone.
ORPHAN_GRACE = timedelta(days=7)
#: Failed uploads (rejected, never published) are purged this long after they failed.
FAILED_RETENTION = timedelta(days=7)
#: Quarantined (infected) uploads stay this long for moderators, and while their review is open.
QUARANTINE_RETENTION = timedelta(days=30)
#: A file in ``incoming/`` that no row names, or an unfinished ``.part``, this old is the remains
#: of an intake that crashed between writing the bytes and committing the row.
ABANDONED_INTAKE_AGE = timedelta(days=1)
#: Rows per batch: one select, one write and one commit each.
BATCH_SIZE = 500
#: A run starts no batch after this many seconds (maintenance.* has a 540 s soft limit).
TIME_BUDGET_S = 300.0

OPEN_REVIEW = (ModerationStatus.pending, ModerationStatus.needs_review)


@dataclass
class Tally:
    """What one run did; returned as the job result."""

    rows: int = 0  # rows soft-deleted or purged
    files_removed: int = 0
    bytes_freed: int = 0
    kept_in_use: int = 0  # removals skipped: another live or referenced row uses the bytes
    users_recomputed: int = 0
    batches: int = 0
    more: bool = False  # the time budget ran out with work left

    def result(self) -> dict[str, Any]:
        return asdict(self)


def referenced(file_id: Any) -> ColumnElement[bool]:
    """True where something the seed lists points at upload ``file_id``."""
    return or_(
        *(
            exists().where(column == file_id)
            for column in (
                ProductMedia.file_id,
                ReviewMedia.file_id,
                ProgressMedia.file_id,
                QuestionMedia.file_id,
                AnswerMedia.file_id,
                User.profile_picture_file_id,
                User.profile_banner_file_id,
                Category.image_file_id,
                Category.banner_file_id,
                Product.main_image_file_id,
            )
        )
    )


def cleanup_expired_uploads(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, time_budget_s: float = TIME_BUDGET_S
) -> dict[str, Any]:
    """Mark temporary uploads past ``expires_at`` deleted and remove their bytes and thumbnails
    (and the bytes of any other removal come due, such as an orphan's after its grace)."""
    now = now or utcnow()
    tally, deadline = Tally(), time.monotonic() + time_budget_s
    expired = (
        (UploadedFile.is_temporary == true())
        & (UploadedFile.expires_at < now)
        & UploadedFile.status.is_distinct_from(FileStatus.deleted)
    )
    _sweep(tally, deadline, lambda: _soft_delete(expired, "expired", now, now, batch_size, tally))
    _sweep(tally, deadline, lambda: _reap(now, batch_size, tally))
    return tally.result()


def cleanup_orphaned_files(
    *,
    now: datetime | None = None,
    age: timedelta = ORPHAN_AGE,
    grace: timedelta = ORPHAN_GRACE,
    batch_size: int = BATCH_SIZE,
    time_budget_s: float = TIME_BUDGET_S,
) -> dict[str, Any]:
    """Soft-delete active files older than ``age`` that nothing references; remove the bytes of
    those whose ``grace`` has passed. The uploaders' counters are recomputed."""
    now = now or utcnow()
    tally, deadline = Tally(), time.monotonic() + time_budget_s
    orphaned = (
        (UploadedFile.status == FileStatus.active)
        & (UploadedFile.created_at < now - age)
        & ~referenced(UploadedFile.id)
    )
    _sweep(tally, deadline, lambda: _soft_delete(orphaned, "orphaned", now, now + grace, batch_size, tally))
    _sweep(tally, deadline, lambda: _reap(now, batch_size, tally))
    _remove_abandoned_intake(get_store(), now - ABANDONED_INTAKE_AGE, tally)
    return tally.result()


def _remove_abandoned_intake(store: FileStore, before: datetime, tally: Tally) -> None:
    """Delete what a crashed intake left in ``incoming/``: bytes no row names, and unfinished
    ``.part`` files, once older than ``before`` (naive UTC). A live intake names its file in a row
    within the same request, so nothing that old is still on its way in."""
    folder = store.folder("incoming")
    if not folder.is_dir():
        return
    with session_scope() as session:
        named = set(
            session.scalars(select(UploadedFile.file_path).where(UploadedFile.file_path.like("incoming/%")))
        )
    for path in folder.iterdir():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # moved on by the pipeline meanwhile
        if not path.is_file() or datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None) >= before:
            continue
        if path.name.endswith(".part") or f"incoming/{path.name}" not in named:
            path.unlink(missing_ok=True)
            tally.files_removed += 1
            tally.bytes_freed += stat.st_size


def purge_failed_uploads(
    *,
    now: datetime | None = None,
    failed_retention: timedelta = FAILED_RETENTION,
    quarantine_retention: timedelta = QUARANTINE_RETENTION,
    batch_size: int = BATCH_SIZE,
    time_budget_s: float = TIME_BUDGET_S,
) -> dict[str, Any]:
    """Delete failed uploads past ``failed_retention`` and quarantined ones past
    ``quarantine_retention`` whose moderation item is closed: bytes first, then the row."""
    now = now or utcnow()
    tally, deadline = Tally(), time.monotonic() + time_budget_s
    failed_at = func.coalesce(UploadedFile.updated_at, UploadedFile.created_at)
    infected = UploadedFile.virus_scan_status == VirusScanStatus.infected
    review_open = exists().where(
        ModerationQueue.file_id == UploadedFile.id, ModerationQueue.status.in_(OPEN_REVIEW)
    )
    purgeable = (UploadedFile.status == FileStatus.failed) & or_(
        UploadedFile.virus_scan_status.is_distinct_from(VirusScanStatus.infected)
        & (failed_at < now - failed_retention),
        infected & (failed_at < now - quarantine_retention) & ~review_open,
    )

    def batch() -> int:
        with session_scope() as session:
            rows = session.execute(
                select(UploadedFile.id, UploadedFile.file_path, UploadedFile.image_thumbnails)
                .where(purgeable)
                .order_by(UploadedFile.id)
                .limit(batch_size)
            ).all()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        in_use = _paths_in_use([row.file_path for row in rows], now, exclude_ids=ids)
        store = get_store()
        for row in rows:
            shared = _shared_keys(row.file_path, row.image_thumbnails)
            _remove_keys(store, [work_key(row.id), quarantine_key(row.id)], tally)
            if row.file_path in in_use:
                tally.kept_in_use += 1
            else:
                _remove_keys(store, shared, tally)
        with session_scope() as session:
            purged = session.execute(
                delete(UploadedFile)
                .where(UploadedFile.id.in_(ids), purgeable)
                .execution_options(synchronize_session=False)
            )
        tally.rows += purged.rowcount  # type: ignore[attr-defined]
        return len(rows)

    _sweep(tally, deadline, batch)
    return tally.result()


def recompute_user_counters(session: Session, user_ids: Iterable[int | None], now: datetime) -> int:
    """Set ``storage_used`` and ``files_uploaded`` of these users from their active files.

    The users' rows are locked first (in id order, as the upload pipeline locks one before it
    adds to the counters), so the sums read after the lock include every committed activation.
    """
    ids = sorted({uid for uid in user_ids if uid is not None})
    if not ids:
        return 0
    session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id).with_for_update())
    active = (UploadedFile.uploaded_by == User.id) & (UploadedFile.status == FileStatus.active)
    session.execute(
        update(User)
        .where(User.id.in_(ids))
        .values(
            storage_used=select(func.coalesce(func.sum(UploadedFile.file_size), 0))
            .where(active)
            .scalar_subquery(),
            files_uploaded=select(func.count()).where(active).scalar_subquery(),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return len(ids)


# -- steps ----------------------------------------------------------------------------------------


def in_batches(batch: Callable[[], int], deadline: float) -> tuple[int, bool]:
    """Run ``batch`` until it finds nothing or the ``time.monotonic()`` deadline has passed.

    Returns ``(batches that did something, whether work was left for the next run)``.
    """
    done = 0
    while time.monotonic() <= deadline:
        if not batch():
            return done, False
        done += 1
    return done, True


def update_batch(
    session: Session,
    model: Any,
    condition: ColumnElement[bool],
    batch_size: int,
    values: dict[str, Any],
    returning: list[Any],
) -> tuple[int, list[Any]]:
    """Set ``values`` on at most ``batch_size`` rows of ``model`` matching ``condition`` (lowest
    ids first). Returns how many were chosen and the ``returning`` columns of those updated.

    The UPDATE repeats the condition, so a row changed since it was chosen is checked anew and
    left alone if it no longer matches.
    """
    ids = session.scalars(select(model.id).where(condition).order_by(model.id).limit(batch_size)).all()
    if not ids:
        return 0, []
    rows = session.execute(
        update(model)
        .where(model.id.in_(ids), condition)
        .values(**values)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    ).all()
    return len(ids), list(rows)


def _sweep(tally: Tally, deadline: float, batch: Callable[[], int]) -> None:
    done, more = in_batches(batch, deadline)
    tally.batches += done
    tally.more = tally.more or more


def _soft_delete(
    condition: ColumnElement[bool],
    reason: str,
    now: datetime,
    due_at: datetime,
    batch_size: int,
    tally: Tally,
) -> int:
    """Mark one batch deleted, queue its bytes for ``due_at`` and recompute its uploaders."""
    with session_scope() as session:
        chosen, rows = update_batch(
            session,
            UploadedFile,
            condition,
            batch_size,
            {"status": FileStatus.deleted, "deleted_at": now, "updated_at": now},
            [
                UploadedFile.id,
                UploadedFile.file_path,
                UploadedFile.image_thumbnails,
                UploadedFile.uploaded_by,
            ],
        )
        session.add_all(
            FileRemoval(
                file_id=row.id,
                file_path=row.file_path,
                keys=_shared_keys(row.file_path, row.image_thumbnails),
                reason=reason,
                due_at=due_at,
            )
            for row in rows
        )
        tally.users_recomputed += recompute_user_counters(session, (row.uploaded_by for row in rows), now)
    tally.rows += len(rows)
    return chosen


def _reap(now: datetime, batch_size: int, tally: Tally) -> int:
    """Remove the bytes of one batch of due removals whose path nothing uses any more."""
    with session_scope() as session:
        due = session.execute(
            select(FileRemoval.id, FileRemoval.file_id, FileRemoval.file_path, FileRemoval.keys)
            .where(FileRemoval.due_at <= now)
            .order_by(FileRemoval.due_at, FileRemoval.id)
            .limit(batch_size)
        ).all()
    if not due:
        return 0
    in_use = _paths_in_use([row.file_path for row in due], now)
    store = get_store()
    for row in due:
        _remove_keys(store, [work_key(row.file_id)], tally)  # named by the id: never shared
        if row.file_path in in_use:
            tally.kept_in_use += 1
        else:
            _remove_keys(store, row.keys, tally)
    with session_scope() as session:
        session.execute(delete(FileRemoval).where(FileRemoval.id.in_([row.id for row in due])))
    return len(due)


def _paths_in_use(paths: list[str], now: datetime, exclude_ids: Iterable[int] = ()) -> set[str]:
    """Which of ``paths`` a row not deleted uses, a referenced row uses, or a removal due later
    still waits for (another soft-deleted row sharing the bytes, still in its grace)."""
    excluded = list(exclude_ids)
    with session_scope() as session:
        used = session.scalars(
            select(UploadedFile.file_path)
            .where(
                UploadedFile.file_path.in_(paths),
                UploadedFile.id.not_in(excluded) if excluded else true(),
                or_(UploadedFile.status.is_distinct_from(FileStatus.deleted), referenced(UploadedFile.id)),
            )
            .union(
                select(FileRemoval.file_path).where(
                    FileRemoval.file_path.in_(paths), FileRemoval.due_at > now
                )
            )
        ).all()
    return set(used)


def _shared_keys(file_path: str, thumbnails: dict[str, Any] | None) -> list[str]:
    """The keys a deduplicated row shares with its original: the file and its thumbnails."""
    keys = [file_path, *(_key_of_url(url) for url in (thumbnails or {}).values())]
    return [key for key in dict.fromkeys(keys) if key]


def _key_of_url(url: Any) -> str:
    """The ``public/`` key a public URL serves (the upload pipeline's ``public_url`` reversed)."""
    base = get_settings().public_base_url.rstrip("/") + "/"
    if not isinstance(url, str) or not url.startswith(base):
        return ""  # not one of ours (an external URL): nothing of ours to remove
    return "public/" + url.removeprefix(base)


def _remove_keys(store: FileStore, keys: Iterable[str], tally: Tally) -> None:
    for key in keys:
        try:
            path = store.path(key)
        except StorageError:
            log.warning("not removing %r: not a storage key", key)
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # removed by an earlier run, or never written
        store.delete(key)
        tally.files_removed += 1
        tally.bytes_freed += size
