"""The maintenance domain's own tables (not in the seed): periodic-run bookkeeping, ETL
watermarks and the queue of stored bytes waiting to be removed.

* ``periodic_locks``: the lease that keeps two runs of one periodic task apart when there is no
  Redis (the embedded default). One row per lock name; whoever moves ``expires_at`` forward with a
  conditional UPDATE holds it.
* ``periodic_slots``: which schedule slot a periodic task last ran in. A beat run claims its slot
  with a conditional UPDATE, so a second beat's message for the same slot finds it taken.
* ``etl_watermarks``: the time up to which an ETL has read its source rows.
* ``file_removals``: bytes to remove once ``due_at`` has passed, written in the same transaction
  that soft-deletes their row, so a crash between the two can never leave bytes nobody removes.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, JSONType, utcnow


class PeriodicLock(Base):
    """A lease on one lock name: held by ``holder`` until ``expires_at``."""

    __tablename__ = "periodic_locks"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(255))
    expires_at: Mapped[datetime | None]


class PeriodicSlot(Base):
    """The newest schedule slot a periodic task ran in, and the job that claimed it."""

    __tablename__ = "periodic_slots"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    slot_start: Mapped[int] = mapped_column(sa.BigInteger)  # Unix seconds of the slot's start
    job_id: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class EtlWatermark(Base):
    """An ETL has read every source row changed before ``watermark``."""

    __tablename__ = "etl_watermarks"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    watermark: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FileRemoval(Base):
    """Stored keys of an ``uploaded_files`` row to remove at ``due_at``, unless a live row still
    uses ``file_path`` then (deduplicated uploads share their bytes)."""

    __tablename__ = "file_removals"
    __table_args__ = (Index("ix_file_removals_due_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int]  # no foreign key: the row may be purged before its bytes go
    file_path: Mapped[str] = mapped_column(sa.String(500))
    keys: Mapped[list[str]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(sa.String(20))  # expired | orphaned
    due_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
