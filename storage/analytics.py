"""Analytics documents (the seed's MongoDB collections) behind one small interface.

Two backends keep the same contract (``tests/test_analytics_contract.py`` runs it on each):
MongoDB through pymongo in production, and a SQL-JSON table as the embedded default. Writes are
upserts keyed by a natural key, and report whether anything changed, so a rerun rewrites nothing.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, JSONType, autocommit, insert_or_merge, session_scope, utcnow
from workers.settings import get_settings

#: The seed's indexes (database/mongodb/indexes.js) per collection: (field, direction) lists.
INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "feedback_analytics": [
        [("product_id", 1)],
        [("feedback_summary.avg_rating", -1)],
        [("feedback_summary.skin_type_performance.acne.avg_rating", -1)],
        [("sentiment_analysis.overall_sentiment_score", -1)],
    ],
    "feedback_stream": [
        [("timestamp", -1)],
        [("event_data.product_id", 1), ("timestamp", -1)],
        [("event_data.user_skin_type", 1)],
        [("processing_status.analytics_updated", 1)],
        [("requires_immediate_attention", 1)],
        [("event_data.sentiment_score", 1)],
    ],
    "user_feedback_journey": [
        [("user_id", 1)],
        [("skin_profile.skin_type", 1)],
        [("engagement_summary.total_reviews", -1)],
    ],
    "moderation_intelligence": [
        [("content_type", 1), ("content_id", 1)],
        [("safety_analysis.medical_claims_detected", 1)],
        [("moderation_decision.automated_action", 1)],
        [("moderation_decision.human_review_required", 1)],
        [("created_at", -1)],
    ],
}


class AnalyticsError(Exception):
    """The analytics store failed; callers treat it as transient."""


class AnalyticsStore(ABC):
    """The few document operations the workers need; nothing more of MongoDB's API."""

    @abstractmethod
    def upsert(self, collection: str, key: dict[str, Any], doc: dict[str, Any]) -> bool:
        """Store ``doc`` (which includes ``key``'s fields) as the one document with ``key``.

        Returns True when a document was inserted or its content changed, False when identical.
        """

    def upsert_many(self, collection: str, key_field: str, docs: list[dict[str, Any]]) -> int:
        """:meth:`upsert` each document, keyed by its ``key_field``, in one round trip where the
        backend can. Returns how many were inserted or changed."""
        return sum(self.upsert(collection, {key_field: doc[key_field]}, doc) for doc in docs)

    @abstractmethod
    def get(self, collection: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """The document stored under exactly this ``key`` (as given to :meth:`upsert`), or None."""

    @abstractmethod
    def find_one(self, collection: str, query: dict[str, Any]) -> dict[str, Any] | None:
        """The first document whose fields (dotted paths allowed) equal ``query``'s values."""

    @abstractmethod
    def find(self, collection: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every matching document, without MongoDB's ``_id``."""

    @abstractmethod
    def ensure_indexes(self) -> None:
        """Create the seed's indexes (a no-op where the backend has none to create)."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    """Through JSON and back: what either backend gives back for this document."""
    return json.loads(_canonical(doc))


def _get_path(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    return all(_get_path(doc, k) == v for k, v in query.items())


class AnalyticsDocument(Base):
    """One analytics document of the SQL-JSON backend (the embedded default)."""

    __tablename__ = "analytics_documents"
    __table_args__ = (UniqueConstraint("collection", "doc_key", name="uq_analytics_documents_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    doc_key: Mapped[str] = mapped_column(String(255), nullable=False)
    doc: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SqlJsonStore(AnalyticsStore):
    """Documents as JSON rows in the relational database. Queries by key are indexed; any other
    query scans the collection, which suits the demo and tests, not a production dashboard."""

    def upsert(self, collection: str, key: dict[str, Any], doc: dict[str, Any]) -> bool:
        """One autocommitted statement; a document equal to the stored one is not written."""
        table = AnalyticsDocument.__table__
        statement = insert_or_merge(AnalyticsDocument).values(
            collection=collection, doc_key=_canonical(key), doc=_plain(doc), updated_at=utcnow()
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.collection, table.c.doc_key],
            set_={"doc": statement.excluded.doc, "updated_at": statement.excluded.updated_at},
            # jsonb compares by value; SQLite compares the text, which _plain writes keys sorted
            where=table.c.doc != statement.excluded.doc,
        ).returning(table.c.id)
        with autocommit() as conn:
            return conn.execute(statement).first() is not None

    def upsert_many(self, collection: str, key_field: str, docs: list[dict[str, Any]]) -> int:
        """One transaction: read the stored documents of these keys, insert the new ones and
        update the changed ones in two executemany statements."""
        plain = {_canonical({key_field: doc[key_field]}): _plain(doc) for doc in docs}
        now = utcnow()
        with session_scope() as session:
            stored = {
                key: (row_id, doc)
                for key, row_id, doc in session.execute(
                    select(AnalyticsDocument.doc_key, AnalyticsDocument.id, AnalyticsDocument.doc)
                    .where(
                        AnalyticsDocument.collection == collection, AnalyticsDocument.doc_key.in_(list(plain))
                    )
                    .with_for_update()
                )
            }
            new = [
                {"collection": collection, "doc_key": key, "doc": doc, "updated_at": now}
                for key, doc in plain.items()
                if key not in stored
            ]
            changed = [
                {"id": stored[key][0], "doc": doc, "updated_at": now}
                for key, doc in plain.items()
                if key in stored and _canonical(stored[key][1]) != _canonical(doc)
            ]
            if new:
                session.execute(insert(AnalyticsDocument), new)
            if changed:
                session.execute(update(AnalyticsDocument), changed)
        return len(new) + len(changed)

    def get(self, collection: str, key: dict[str, Any]) -> dict[str, Any] | None:
        with autocommit() as conn:
            found: dict[str, Any] | None = conn.scalar(
                select(AnalyticsDocument.doc).where(
                    AnalyticsDocument.collection == collection,
                    AnalyticsDocument.doc_key == _canonical(key),
                )
            )
        return found

    def find_one(self, collection: str, query: dict[str, Any]) -> dict[str, Any] | None:
        found = self._select(collection, query, limit_one=True)
        return found[0] if found else None

    def find(self, collection: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._select(collection, query or {}, limit_one=False)

    def _select(self, collection: str, query: dict[str, Any], *, limit_one: bool) -> list[dict[str, Any]]:
        with session_scope() as session:
            by_key = session.scalar(
                select(AnalyticsDocument.doc).where(
                    AnalyticsDocument.collection == collection,
                    AnalyticsDocument.doc_key == _canonical(query),
                )
            )
            if by_key is not None and limit_one:
                return [by_key]
            docs: Iterable[dict[str, Any]] = session.scalars(
                select(AnalyticsDocument.doc)
                .where(AnalyticsDocument.collection == collection)
                .order_by(AnalyticsDocument.id)
            )
            found = [d for d in docs if _matches(d, query)]
        return found[:1] if limit_one else found

    def ensure_indexes(self) -> None:
        """The unique (collection, doc_key) index is created by the migration."""


class MongoStore(AnalyticsStore):
    """MongoDB through pymongo; ``replace_one(upsert=True)`` keyed by the natural key."""

    def __init__(self, url: str, database: str) -> None:
        import pymongo

        self._client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000, tz_aware=False)
        self._db = self._client[database]

    def upsert(self, collection: str, key: dict[str, Any], doc: dict[str, Any]) -> bool:
        from pymongo.errors import PyMongoError

        try:
            res = self._db[collection].replace_one(key, _plain(doc), upsert=True)
        except PyMongoError as exc:
            raise AnalyticsError(str(exc)) from exc
        return res.upserted_id is not None or res.modified_count > 0

    def upsert_many(self, collection: str, key_field: str, docs: list[dict[str, Any]]) -> int:
        from pymongo import ReplaceOne
        from pymongo.errors import PyMongoError

        if not docs:
            return 0
        requests = [ReplaceOne({key_field: doc[key_field]}, _plain(doc), upsert=True) for doc in docs]
        try:
            res = self._db[collection].bulk_write(requests, ordered=False)
        except PyMongoError as exc:
            raise AnalyticsError(str(exc)) from exc
        return int(res.upserted_count + res.modified_count)

    def get(self, collection: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.find_one(collection, key)

    def find_one(self, collection: str, query: dict[str, Any]) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._db[collection].find_one(query, {"_id": 0})
        return found

    def find(self, collection: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self._db[collection].find(query or {}, {"_id": 0}).sort("_id", 1))

    def ensure_indexes(self) -> None:
        for collection, indexes in INDEXES.items():
            for fields in indexes:
                self._db[collection].create_index(fields)

    def drop_database(self) -> None:
        """For the contract tests' own scratch database only."""
        self._client.drop_database(self._db.name)


@lru_cache(maxsize=1)
def get_store() -> AnalyticsStore:
    """MongoDB when ``MONGO_URL`` is set, else the SQL-JSON table."""
    settings = get_settings()
    if settings.mongo_url:
        store: AnalyticsStore = MongoStore(settings.mongo_url, settings.mongo_db)
        store.ensure_indexes()
        return store
    return SqlJsonStore()
