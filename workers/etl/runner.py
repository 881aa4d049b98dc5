"""The ETL loop shared by every analytics collection: pick the ids, build their documents in
batches, upsert them, move the watermark.

* **Full** (``full=True``, or no watermark yet): every id, in keyset pages of
  :data:`FULL_PAGE_SIZE` consecutive ids; a page's queries select their rows by id range (one
  scan, parallel on PostgreSQL).
* **Incremental**: only the ids with a source row changed since the watermark, in pages of
  :data:`PAGE_SIZE`. The watermark is the time the previous run *started*, minus
  :data:`OVERLAP`: a row committed late (a long transaction, or a writer whose clock runs behind)
  is still read. Reading a row twice costs nothing: the upsert of an unchanged document writes
  nothing.
* **Deterministic documents**: a document holds only what its source rows say (its dates are
  the rows' dates, never the run's), so a rerun over unchanged rows produces the same document
  and the store reports it unchanged.

Deleted source rows leave no change time behind, so only a full run sees them; beat runs one
nightly. The store has no delete: the document of a product or user deleted from PostgreSQL
stays as it last was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, union
from sqlalchemy.orm import Session

from storage.analytics import get_store
from storage.db import session_scope, utcnow
from storage.maintenance_models import EtlWatermark

#: Consecutive ids per page of a full run: its documents are built (and held) together.
FULL_PAGE_SIZE = 5000
#: Changed ids per page of an incremental run.
PAGE_SIZE = 1000
#: How far before the watermark an incremental run reads again (late commits, clock skew).
OVERLAP = timedelta(minutes=5)

#: Called with (documents done, documents expected) after every page.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Batch:
    """The ids whose documents to build: every id from ``first`` to ``last`` (a page of a full
    run), or only ``ids`` (sorted, first to last) among them (a page of an incremental run)."""

    first: int
    last: int
    ids: list[int] | None = None

    def where(self, column: Any) -> ColumnElement[bool]:
        """The condition selecting this batch's rows by ``column``, an id column."""
        span: ColumnElement[bool] = column.between(self.first, self.last)
        return span if self.ids is None else span & column.in_(self.ids)


@dataclass(frozen=True)
class Etl:
    """One analytics collection and how to build it."""

    collection: str
    key: str  # the document's key field, e.g. "product_id"
    id_column: Any  # the id of the table with one row per document (products.id, users.id)
    changed_since: Callable[[datetime], list[Select]]  # one SELECT of ids per source table
    #: The documents of a batch's ids that exist, in id order.
    documents: Callable[[Session, Batch], Iterable[dict[str, Any]]]


def run(etl: Etl, *, full: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Bring ``etl.collection`` up to date; returns the counts (the job result)."""
    store = get_store()
    store.ensure_indexes()
    started = utcnow()
    with session_scope() as session:
        mark = session.get(EtlWatermark, etl.collection)
        since = None if full or mark is None else mark.watermark - OVERLAP
        if since is None:
            total = session.scalar(select(func.count(etl.id_column))) or 0
            batches: Iterable[Batch] = _full_pages(etl)
        else:
            changed = sorted(session.scalars(union(*etl.changed_since(since))).all())
            total = len(changed)
            pages = (changed[i : i + PAGE_SIZE] for i in range(0, total, PAGE_SIZE))
            batches = (Batch(page[0], page[-1], page) for page in pages)
    documents = written = 0
    for batch in batches:
        with session_scope() as session:
            docs = list(etl.documents(session, batch))
        written += store.upsert_many(etl.collection, etl.key, docs)
        documents += len(docs)
        if progress is not None:
            progress(documents, max(total, documents))
    with session_scope() as session:
        mark = session.get(EtlWatermark, etl.collection)
        if mark is None:
            session.add(EtlWatermark(name=etl.collection, watermark=started, updated_at=utcnow()))
        else:
            mark.watermark, mark.updated_at = started, utcnow()
    return {
        "collection": etl.collection,
        "mode": "incremental" if since is not None else "full",
        "since": since.isoformat() if since is not None else None,
        "documents": documents,
        "written": written,
        "unchanged": documents - written,
        "watermark": started.isoformat(),
    }


def _full_pages(etl: Etl) -> Iterator[Batch]:
    """Keyset pages of :data:`FULL_PAGE_SIZE` consecutive ids, each read in its own short session."""
    after: int | None = None
    while True:
        query = select(etl.id_column).order_by(etl.id_column).limit(FULL_PAGE_SIZE)
        with session_scope() as session:
            ids = session.scalars(query if after is None else query.where(etl.id_column > after)).all()
        if not ids:
            return
        yield Batch(ids[0], ids[-1])
        after = ids[-1]


def touched(model: Any, id_column: Any, since: datetime) -> Select:
    """``id_column`` of the ``model`` rows created or updated after ``since`` (NULLs left out)."""
    stamps = [model.created_at > since]
    if hasattr(model, "updated_at"):
        stamps.append(model.updated_at > since)
    return select(id_column).where(or_(*stamps), id_column.is_not(None))


class Follow:
    """Walks rows sorted by their first column alongside a parent list sorted the same way,
    handing each parent its own rows: a merge join of two sorted results."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = iter(rows)
        self._next = next(self._rows, None)

    def take(self, key: Any) -> list[Any]:
        taken = []
        while self._next is not None and self._next[0] <= key:
            if self._next[0] == key:
                taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def iso(value: Any) -> str | None:
    """A date or timestamp as ISO 8601 (dates at midnight), so every date in a document sorts alike."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return f"{value.isoformat()}T00:00:00"


def rounded(value: Any, places: int) -> float | None:
    """A SQL number (Decimal on PostgreSQL, float on SQLite) as a float rounded alike on both.

    ``+ 0.0`` turns ``-0.0`` into ``0.0``: JSONB (numeric) keeps no negative zero, so a stored
    ``-0.0`` would read back as ``0.0`` and the document would look changed on every run.
    """
    return None if value is None else round(float(value), places) + 0.0


def rate(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` to 4 places; None when there is nothing to divide."""
    return rounded((part or 0) / whole, 4) if whole else None
