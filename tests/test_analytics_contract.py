"""One contract for every analytics backend: the SQL-JSON table always, MongoDB when MONGO_URL is set.

No MongoDB server can be installed on the CI machine kind, so the MongoDB case runs wherever
``MONGO_URL`` points at one (docker-compose provides it) and says so plainly when it cannot.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from storage.analytics import AnalyticsStore, MongoStore, SqlJsonStore


@pytest.fixture(params=["sql-json", "mongodb"])
def store(request: pytest.FixtureRequest) -> Iterator[AnalyticsStore]:
    if request.param == "sql-json":
        yield SqlJsonStore()
        return
    url = os.environ.get("MONGO_URL")
    if not url:
        pytest.skip("MONGO_URL is not set: no MongoDB server here (the SQL-JSON backend ran the contract)")
    mongo = MongoStore(url, f"skincare_contract_{uuid.uuid4().hex[:8]}")
    mongo.ensure_indexes()
    yield mongo
    mongo.drop_database()


def _collection() -> str:
    return f"contract_{uuid.uuid4().hex[:8]}"


def test_upsert_inserts_then_reports_no_change(store: AnalyticsStore) -> None:
    coll = _collection()
    doc = {"product_id": 7, "feedback_summary": {"avg_rating": 4.5, "dist": {"5": 3}}}
    assert store.upsert(coll, {"product_id": 7}, doc) is True
    assert store.upsert(coll, {"product_id": 7}, dict(doc)) is False
    assert store.find_one(coll, {"product_id": 7}) == doc


def test_upsert_replaces_whole_document(store: AnalyticsStore) -> None:
    coll = _collection()
    store.upsert(coll, {"product_id": 1}, {"product_id": 1, "a": 1, "b": 2})
    assert store.upsert(coll, {"product_id": 1}, {"product_id": 1, "a": 2}) is True
    assert store.find_one(coll, {"product_id": 1}) == {"product_id": 1, "a": 2}
    assert len(store.find(coll, {"product_id": 1})) == 1


def test_find_by_dotted_path_and_all(store: AnalyticsStore) -> None:
    coll = _collection()
    for pid, rating in ((1, 4.0), (2, 3.0), (3, 4.0)):
        store.upsert(coll, {"product_id": pid}, {"product_id": pid, "summary": {"avg": rating}})
    found = store.find(coll, {"summary.avg": 4.0})
    assert sorted(d["product_id"] for d in found) == [1, 3]
    assert len(store.find(coll)) == 3
    assert store.find_one(coll, {"product_id": 99}) is None


def test_documents_round_trip_as_json(store: AnalyticsStore) -> None:
    coll = _collection()
    doc = {
        "event_id": "e1",
        "tags": ["acne", "retinol"],
        "score": -0.25,
        "nested": {"ok": True, "none": None},
    }
    store.upsert(coll, {"event_id": "e1"}, doc)
    assert store.find_one(coll, {"event_id": "e1"}) == doc


def test_upsert_many_counts_only_what_changed(store: AnalyticsStore) -> None:
    coll = _collection()
    docs = [{"product_id": i, "avg": i / 2} for i in range(3)]
    assert store.upsert_many(coll, "product_id", docs) == 3
    assert store.upsert_many(coll, "product_id", [dict(d) for d in docs]) == 0
    assert store.upsert_many(coll, "product_id", [docs[0], {"product_id": 1, "avg": 9.0}]) == 1
    assert store.find_one(coll, {"product_id": 1}) == {"product_id": 1, "avg": 9.0}
    assert len(store.find(coll)) == 3


def test_get_reads_exactly_one_key(store: AnalyticsStore) -> None:
    coll = _collection()
    store.upsert(
        coll, {"content_type": "review", "content_id": 3}, {"content_type": "review", "content_id": 3}
    )
    assert store.get(coll, {"content_type": "review", "content_id": 3}) == {
        "content_type": "review",
        "content_id": 3,
    }
    assert store.get(coll, {"content_type": "review", "content_id": 4}) is None
