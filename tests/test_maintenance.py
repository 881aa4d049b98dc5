"""Cleanup, escalation, locks and slots as plain functions against PostgreSQL and real files.

Each test dates its rows in a year of its own and passes ``now`` in that year; the years go
down from one test to the next, so rows an earlier test leaves behind lie in the future of every
later one and are never its candidates.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from schedules import BEAT_SCHEDULE
from storage.db import session_scope, utcnow
from storage.files import get_store
from storage.maintenance_models import FileRemoval, PeriodicLock
from storage.models import (
    FileStatus,
    Job,
    MediaType,
    ModerationQueue,
    ModerationStatus,
    Product,
    ProductMedia,
    ProductReview,
    ReviewMedia,
    UploadedFile,
    User,
    VirusScanStatus,
)
from workers.maintenance import files, moderation, periodic
from workers.taskbase import PermanentError
from workers.uploads.pipeline import quarantine_key, work_key


def _user() -> int:
    with session_scope() as session:
        user = User(
            email=f"clean-{uuid.uuid4().hex[:10]}@example.com",
            password="x",
            storage_used=999,
            files_uploaded=9,
        )
        session.add(user)
        session.flush()
        return user.id


def _write(key: str, size: int) -> str:
    path = get_store().path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return key


def _exists(key: str) -> bool:
    return get_store().exists(key)


def _upload(
    created: datetime,
    *,
    user: int | None = None,
    size: int = 100,
    thumbs: bool = True,
    share: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An uploaded_files row with its master and thumbnails on disk (or sharing ``share``'s)."""
    if share is None:
        stem = f"public/reviews/{created:%Y}/{created:%m}/{uuid.uuid4()}"
        path = _write(f"{stem}_master.jpg", size)
        keys = [path]
        thumbnails = None
        if thumbs:
            keys += [_write(f"{stem}_small.jpg", 10), _write(f"{stem}_medium.jpg", 20)]
            thumbnails = {
                name: "/media/" + key.removeprefix("public/")
                for name, key in zip(("small", "medium"), keys[1:], strict=True)
            }
    else:
        path, keys, thumbnails = share["file_path"], share["keys"], share["image_thumbnails"]
    values: dict[str, Any] = {
        "filename": path.rsplit("/", 1)[-1],
        "original_filename": "photo.jpg",
        "file_path": path,
        "file_url": "/media/" + path.removeprefix("public/"),
        "file_size": size,
        "mime_type": "image/jpeg",
        "file_extension": "jpg",
        "media_type": MediaType.image,
        "upload_context": "review",
        "status": FileStatus.active,
        "virus_scan_status": VirusScanStatus.clean,
        "uploaded_by": user,
        "image_thumbnails": thumbnails,
        "created_at": created,
        "updated_at": created,
        **fields,
    }
    with session_scope() as session:
        row = UploadedFile(**values)
        session.add(row)
        session.flush()
        return {"id": row.id, "file_path": path, "keys": keys, "image_thumbnails": thumbnails, "size": size}


def _row(file_id: int) -> UploadedFile | None:
    with session_scope() as session:
        return session.get(UploadedFile, file_id)


def _counters(user_id: int) -> tuple[int | None, int | None]:
    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.storage_used, user.files_uploaded


def _product() -> int:
    tag = uuid.uuid4().hex[:10]
    with session_scope() as session:
        product = Product(
            name_en="Cream", slug=f"clean-{tag}", sku=f"CLEAN-{tag}", price=Decimal("5"), category="cream"
        )
        session.add(product)
        session.flush()
        return product.id


def test_expired_temporary_uploads_lose_row_and_bytes_but_never_shared_bytes() -> None:
    t = datetime(2009, 1, 1)
    now, expired, later = datetime(2009, 3, 1), datetime(2009, 2, 1), datetime(2009, 6, 1)
    user = _user()
    own = _upload(t, user=user, size=100, is_temporary=True, expires_at=expired)
    kept = _upload(t, user=user, size=300)  # permanent, and a temporary duplicate shares its bytes
    dup = _upload(t, user=user, size=300, share=kept, is_temporary=True, expires_at=expired)
    young = _upload(t, user=user, size=50, is_temporary=True, expires_at=later)
    never_processed = _upload(
        t, user=user, thumbs=False, is_temporary=True, expires_at=expired, status=FileStatus.uploading
    )
    with session_scope() as session:  # its bytes wait at its work key, like the pipeline's
        session.execute(
            update(UploadedFile)
            .where(UploadedFile.id == never_processed["id"])
            .values(file_path=_write(work_key(never_processed["id"]), 40), file_url="")
        )
    get_store().delete(never_processed["file_path"])

    result = files.cleanup_expired_uploads(now=now)

    for gone in (own, dup, never_processed):
        row = _row(gone["id"])
        assert row is not None and row.status == FileStatus.deleted and row.deleted_at == now
    assert not any(_exists(key) for key in own["keys"])
    assert not _exists(work_key(never_processed["id"]))
    assert all(_exists(key) for key in kept["keys"])  # the duplicate's bytes are the kept row's
    for alive in (kept, young):
        row = _row(alive["id"])
        assert row is not None and row.status == FileStatus.active
        assert all(_exists(key) for key in alive["keys"])
    assert _counters(user) == (300 + 50, 2)  # recomputed from the active files
    assert result == {
        "rows": 3,
        "files_removed": 4,  # own master and two thumbnails, the never-processed work file
        "bytes_freed": 100 + 10 + 20 + 40,
        "kept_in_use": 1,
        "users_recomputed": 1,
        "batches": 2,  # one soft-delete batch, one removal batch
        "more": False,
    }
    again = files.cleanup_expired_uploads(now=now)
    assert again["rows"] == again["files_removed"] == again["batches"] == 0


def test_orphans_are_soft_deleted_and_lose_their_bytes_only_after_the_grace() -> None:
    t, now = datetime(2008, 1, 1), datetime(2008, 3, 1)
    user, product = _user(), _product()
    orphan = _upload(t, user=user, size=100)
    late_attached = _upload(t, user=user, size=70)  # orphaned now, attached to a review during the grace
    in_gallery = _upload(t, user=user, size=200)
    duplicate = _upload(t, user=user, size=200, share=in_gallery)  # unreferenced, bytes shared
    avatar = _upload(t, user=user, size=30, thumbs=False)
    young = _upload(now - timedelta(days=3), user=user, size=5, thumbs=False)
    with session_scope() as session:
        session.add(ProductMedia(product_id=product, file_id=in_gallery["id"]))
        session.execute(update(User).where(User.id == user).values(profile_picture_file_id=avatar["id"]))

    first = files.cleanup_orphaned_files(now=now)

    assert first["rows"] == 3 and first["files_removed"] == 0 and first["users_recomputed"] == 1
    for soft in (orphan, late_attached, duplicate):
        row = _row(soft["id"])
        assert row is not None and row.status == FileStatus.deleted
        assert all(_exists(key) for key in soft["keys"])  # still there during the grace
    for alive in (in_gallery, avatar, young):
        row = _row(alive["id"])
        assert row is not None and row.status == FileStatus.active
    assert _counters(user) == (200 + 30 + 5, 3)
    with session_scope() as session:
        due = session.scalars(select(FileRemoval.due_at).where(FileRemoval.file_id == orphan["id"])).one()
        assert due == now + files.ORPHAN_GRACE
        review = ProductReview(product_id=product, rating=4)
        session.add(review)
        session.flush()
        session.add(ReviewMedia(review_id=review.id, file_id=late_attached["id"], media_type="video"))

    nothing_yet = files.cleanup_orphaned_files(now=now + files.ORPHAN_GRACE - timedelta(seconds=1))
    assert nothing_yet["files_removed"] == 0 and all(_exists(key) for key in orphan["keys"])

    after = files.cleanup_orphaned_files(now=now + files.ORPHAN_GRACE)

    assert not any(_exists(key) for key in orphan["keys"])
    assert all(_exists(key) for key in late_attached["keys"])  # referenced again: never removed
    assert all(_exists(key) for key in in_gallery["keys"])  # the duplicate's bytes are in use
    assert after["files_removed"] == 3 and after["bytes_freed"] == 100 + 10 + 20
    assert after["kept_in_use"] == 2
    with session_scope() as session:
        assert not session.scalars(
            select(FileRemoval).where(FileRemoval.file_id.in_([orphan["id"], duplicate["id"]]))
        ).all()


def test_failed_and_quarantined_uploads_are_purged_after_their_retention() -> None:
    now = datetime(2007, 3, 1)
    old, recent = datetime(2007, 1, 1), datetime(2007, 2, 25)

    def failed(at: datetime, infected: bool = False) -> dict[str, Any]:
        row = _upload(at, thumbs=False, status=FileStatus.failed, file_url="")
        key = quarantine_key(row["id"]) if infected else work_key(row["id"])
        get_store().delete(row["file_path"])
        with session_scope() as session:
            session.execute(
                update(UploadedFile)
                .where(UploadedFile.id == row["id"])
                .values(
                    file_path=_write(key, 64),
                    virus_scan_status=VirusScanStatus.infected if infected else VirusScanStatus.clean,
                )
            )
        return {**row, "key": key}

    rejected, rejected_young = failed(old), failed(recent)
    reviewed, awaiting, infected_young = (
        failed(old, True),
        failed(old, True),
        failed(datetime(2007, 2, 10), True),
    )
    with session_scope() as session:
        for row, status in ((reviewed, ModerationStatus.rejected), (awaiting, ModerationStatus.pending)):
            session.add(
                ModerationQueue(content_type="upload", content_id=row["id"], file_id=row["id"], status=status)
            )

    result = files.purge_failed_uploads(now=now)

    for purged in (rejected, reviewed):
        assert _row(purged["id"]) is None and not _exists(purged["key"])
    for kept in (rejected_young, awaiting, infected_young):
        assert _row(kept["id"]) is not None and _exists(kept["key"])
    assert result["rows"] == 2 and result["files_removed"] == 2 and result["bytes_freed"] == 128


def test_cleanup_works_in_bounded_batches() -> None:
    t, now = datetime(2006, 1, 1), datetime(2006, 3, 1)
    rows = [_upload(t, thumbs=False, is_temporary=True, expires_at=datetime(2006, 2, 1)) for _ in range(5)]

    assert files.cleanup_expired_uploads(now=now, time_budget_s=0) == {
        "rows": 0,
        "files_removed": 0,
        "bytes_freed": 0,
        "kept_in_use": 0,
        "users_recomputed": 0,
        "batches": 0,
        "more": True,  # out of time before the first batch: the next run carries on
    }
    result = files.cleanup_expired_uploads(now=now, batch_size=2)

    assert result["rows"] == 5 and result["files_removed"] == 5
    assert result["batches"] == 3 + 3  # 2 + 2 + 1 rows, then 2 + 2 + 1 removals
    assert not any(_exists(row["file_path"]) for row in rows)


def test_overdue_moderation_items_are_escalated_once_with_one_alert_each() -> None:
    now = datetime(2005, 3, 1, 12)

    def item(priority: int | None, waited: timedelta, **fields: Any) -> int:
        with session_scope() as session:
            row = ModerationQueue(
                content_type="review",
                content_id=1,
                priority_level=priority,
                created_at=now - waited,
                **fields,
            )
            session.add(row)
            session.flush()
            return row.id

    urgent = item(1, timedelta(hours=2))
    normal_late = item(3, timedelta(hours=25))
    unranked_late = item(None, timedelta(hours=25), status=ModerationStatus.needs_review)
    normal_waiting = item(3, timedelta(hours=2))
    decided = item(1, timedelta(days=3), status=ModerationStatus.approved)
    done_before = item(1, timedelta(days=3), escalated=True)

    result = moderation.escalate_overdue(now=now)

    with session_scope() as session:
        rows = {
            r.id: r
            for r in session.scalars(
                select(ModerationQueue).where(
                    ModerationQueue.id.in_(
                        [urgent, normal_late, unranked_late, normal_waiting, decided, done_before]
                    )
                )
            )
        }
        alerts = {
            job.idempotency_key: job.payload["event"]
            for job in session.scalars(select(Job).where(Job.kind == "notifications.fanout"))
            if job.payload["event"].get("type") == "moderation_alert"
        }
    escalated = {urgent, normal_late, unranked_late}
    assert result["escalated"] == 3 and result["more"] is False
    for item_id, row in rows.items():
        assert row.escalated is (item_id in escalated or item_id == done_before)
        assert (row.escalated_at == now) is (item_id in escalated)
    event = alerts[f"notify:moderation_escalated:{urgent}"]
    assert event["content_type"] == "review" and event["priority"] == 1 and "1 h SLA" in event["reason"]
    assert alerts[f"notify:moderation_escalated:{unranked_late}"]["priority"] == 3
    assert f"notify:moderation_escalated:{normal_waiting}" not in alerts

    assert moderation.escalate_overdue(now=now)["escalated"] == 0
    with session_scope() as session:
        assert len(session.scalars(select(Job).where(Job.idempotency_key.in_(list(alerts)))).all()) == len(
            alerts
        )


def _lock_contract(backend: periodic.LockBackend) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    assert backend.acquire(name, "a", 60)
    assert not backend.acquire(name, "b", 60)
    backend.release(name, "b")  # not the holder: changes nothing
    assert not backend.acquire(name, "b", 60)
    backend.release(name, "a")
    assert backend.acquire(name, "b", 60)
    backend.release(name, "b")


def test_redis_lock_keeps_a_second_run_out_until_released() -> None:
    client = periodic.lock_backend()
    assert isinstance(client, periodic.RedisLocks)  # the test environment has Redis
    _lock_contract(client)


def test_database_lock_keeps_a_second_run_out_until_released_or_expired() -> None:
    db = periodic.DatabaseLocks()
    _lock_contract(db)
    name = f"test-{uuid.uuid4().hex[:8]}"
    assert db.acquire(name, "crashed", 60)
    with session_scope() as session:  # its holder died and the TTL ran out
        session.execute(
            update(PeriodicLock).where(PeriodicLock.name == name).values(expires_at=datetime(2000, 1, 1))
        )
    assert db.acquire(name, "next", 60)


def test_a_slot_is_claimed_once_and_re_entered_only_by_its_own_job() -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    t = 1_699_999_300.0  # 100 s into the 900-second slot that starts at 1_699_999_200
    assert periodic.claim_slot(name, 900, "job-a", t) == (1_699_999_200, True)
    assert periodic.claim_slot(name, 900, "job-b", t + 60) == (1_699_999_200, False)  # the other beat
    assert periodic.claim_slot(name, 900, "job-a", t + 120) == (1_699_999_200, True)  # job-a's retry
    assert periodic.claim_slot(name, 900, "job-b", t + 900) == (1_700_000_100, True)  # the next slot
    assert periodic.claim_slot(name, 900, "job-a", t) == (1_699_999_200, False)  # never back in time


def test_run_periodic_skips_when_locked_or_when_the_slot_ran() -> None:
    calls: list[int] = []

    def work() -> dict[str, Any]:
        calls.append(1)
        return {"done": len(calls)}

    task = f"maintenance.test-{uuid.uuid4().hex[:8]}"  # any maintenance.* name has a time limit
    by_hand = periodic.run_periodic(task, work)
    assert by_hand == {"done": 1}
    first = periodic.run_periodic(task, work, job_id="a", slot_s=3600)
    assert first["done"] == 2 and isinstance(first["slot"], int)
    second = periodic.run_periodic(task, work, job_id="b", slot_s=3600)
    assert second == {"skipped": "slot_taken", "slot": first["slot"]}
    with periodic.hold(task, 60) as held:
        assert held
        assert periodic.run_periodic(task, work) == {"skipped": "locked"}
    with pytest.raises(PermanentError, match="slot_s must be a positive number"):
        periodic.run_periodic(task, work, slot_s="900")  # type: ignore[arg-type]
    assert len(calls) == 2


def test_every_slotted_beat_entry_fires_once_per_slot() -> None:
    """A slot is ``floor(unix_time / slot_s)``: the entry's crontab must fire exactly once in each."""
    slotted = {name: e for name, e in BEAT_SCHEDULE.items() if "slot_s" in e.get("kwargs", {})}
    assert {e["task"] for e in slotted.values()} == {
        "maintenance.cleanup_expired_files",
        "maintenance.cleanup_orphaned_files",
        "maintenance.purge_failed_uploads",
        "maintenance.escalate_moderation",
        "etl.feedback_analytics",
        "etl.user_feedback_journey",
    }
    for name, entry in slotted.items():
        cron, slot_min = entry["schedule"], entry["kwargs"]["slot_s"] // 60
        assert len(cron.day_of_week) == 7 and len(cron.day_of_month) == 31, name
        fires = sorted(hour * 60 + minute for hour in cron.hour for minute in cron.minute)
        gaps = {(b - a) % 1440 or 1440 for a, b in zip(fires, [*fires[1:], fires[0]], strict=True)}
        assert gaps == {slot_min}, (name, fires)
        assert entry["options"]["expires"] < entry["kwargs"]["slot_s"], name


def test_a_crashed_intake_leaves_nothing_in_incoming_for_long() -> None:
    """Bytes no row names and unfinished ``.part`` files go once a day old; a row's bytes stay."""
    day_old = time.time() - files.ABANDONED_INTAKE_AGE.total_seconds() - 60
    named, unnamed, fresh = (f"incoming/{uuid.uuid4().hex}" for _ in range(3))
    for key in (named, unnamed, fresh):
        _write(key, 40)
    part = get_store().path(f"incoming/.{uuid.uuid4().hex}.part")
    part.write_bytes(b"x" * 25)
    for path in (get_store().path(named), get_store().path(unnamed), part):
        os.utime(path, (day_old, day_old))
    row = _upload(utcnow(), user=_user(), status=FileStatus.processing, file_path=named)

    result = files.cleanup_orphaned_files()

    assert not _exists(unnamed) and not part.exists()
    assert _exists(named) and _exists(fresh)
    assert result["files_removed"] >= 2 and result["bytes_freed"] >= 40 + 25
    assert _row(row["id"]) is not None
