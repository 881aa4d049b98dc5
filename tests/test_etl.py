"""The analytics ETL against PostgreSQL: documents equal values worked out by hand, a rerun
rewrites nothing, an incremental run reads exactly the changed products and users, the tasks run
on a real worker, ``skincare-workers etl`` works by hand, and SQLite builds the same documents.

Fixture rows are dated 2024 so that "changed since the watermark" means changed by the test;
this module imports nothing from ``conftest`` so that a SQLite subprocess can import
:func:`seed` without the PostgreSQL environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, union, update
from sqlalchemy.orm import Session

from storage.analytics import AnalyticsDocument, get_store
from storage.db import session_scope, utcnow
from storage.models import (
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    ReviewStatus,
    ReviewVote,
    SkincareProgress,
    SkinType,
    User,
)
from workers import jobs
from workers.etl import FEEDBACK_ANALYTICS, USER_FEEDBACK_JOURNEY, run
from workers.etl.runner import OVERLAP
from workers.maintenance.periodic import hold, lock_ttl_s

REPO = Path(__file__).resolve().parent.parent
OLD = datetime(2024, 1, 1)


@dataclass
class Fixture:
    product: int  # four approved reviews, one pending, two buyers (one came back)
    quiet: int  # no reviews at all
    other: int  # one review by `shopper`
    shopper: int  # the user whose journey is worked out by hand
    buyer: int
    reviewers: list[int]
    review_of_other: int
    shopper_orders: list[int]


def seed(session: Session) -> Fixture:
    """Users, products, reviews, orders, a diary entry, a question, an answer and a vote."""
    tag = uuid.uuid4().hex[:10]

    def user(i: int, skin: SkinType) -> User:
        u = User(
            email=f"etl-{tag}-{i}@example.com", password="x", skin_type=skin, created_at=OLD, updated_at=OLD
        )
        session.add(u)
        return u

    def product(i: int) -> Product:
        p = Product(
            name_en=f"Serum {i}",
            slug=f"etl-{tag}-{i}",
            sku=f"ETL-{tag}-{i}",
            price=Decimal("10.00"),
            category="serum",
            created_at=OLD.date(),
            updated_at=OLD,
        )
        session.add(p)
        return p

    shopper, buyer = user(0, SkinType.acne), user(1, SkinType.oily)
    reviewers = [user(2 + i, SkinType.normal) for i in range(4)]
    main, quiet, other = product(1), product(2), product(3)
    session.flush()

    def review(p: Product, u: User, at: datetime, rating: int, **kw: Any) -> ProductReview:
        row = ProductReview(
            product_id=p.id,
            user_id=u.id,
            rating=rating,
            status=kw.pop("status", ReviewStatus.approved),
            created_at=at,
            updated_at=at,
            **kw,
        )
        session.add(row)
        return row

    aspects = (
        "effectiveness_rating",
        "texture_rating",
        "scent_rating",
        "packaging_rating",
        "value_for_money_rating",
    )
    rows = [  # rating, aspects, skin, results, recommends, sentiment, usage days, side effects, date
        (5, (5, 4, 3, 4, 5), SkinType.acne, True, True, "0.80", 30, None, datetime(2024, 1, 10, 9)),
        (
            4,
            (4, 4, None, 3, 4),
            SkinType.acne,
            False,
            True,
            "0.30",
            60,
            "slight dryness",
            datetime(2024, 1, 20),
        ),
        (2, (2, 3, 2, None, 2), SkinType.oily, False, False, "-0.60", 14, "  ", datetime(2024, 5, 5)),
        (
            1,
            (1, None, None, None, None),
            SkinType.dry,
            False,
            False,
            "0.00",
            None,
            None,
            datetime(2024, 6, 1),
        ),
    ]
    for u, (rating, values, skin, results, recommends, sentiment, days, effects, at) in zip(
        reviewers, rows, strict=True
    ):
        review(
            main,
            u,
            at,
            rating,
            **dict(zip(aspects, values, strict=True)),
            skin_type_at_review=skin,
            visible_results=results,
            would_recommend=recommends,
            sentiment_score=Decimal(sentiment),
            usage_duration=days,
            side_effects=effects,
        )
    review(main, reviewers[0], datetime(2024, 6, 2), 5, status=ReviewStatus.pending)
    theirs = review(
        other,
        shopper,
        datetime(2024, 1, 10, 12),
        4,
        effectiveness_rating=4,
        texture_rating=5,
        visible_results=True,
        would_recommend=True,
        helpful_votes_count=3,
        side_effects="mild tingling ",
        usage_duration=21,
    )

    def order(u: User, p: Product, day: date, quantity: int, status: OrderStatus) -> int:
        o = Order(
            order_number=f"ETL-{tag}-{uuid.uuid4().hex[:6]}",
            user_id=u.id,
            customer_email=u.email,
            subtotal=Decimal("10.00"),
            total=Decimal("10.00"),
            status=status,
            created_at=day,
            updated_at=datetime.combine(day, datetime.min.time()),
        )
        session.add(o)
        session.flush()
        session.add(
            OrderItem(
                order_id=o.id,
                product_id=p.id,
                product_name=p.name_en,
                quantity=quantity,
                unit_price=Decimal("10.00"),
                total_price=Decimal("10.00") * quantity,
                created_at=OLD,
            )
        )
        return o.id

    shopper_orders = [
        order(shopper, main, date(2024, 1, 5), 1, OrderStatus.delivered),
        order(shopper, main, date(2024, 3, 1), 2, OrderStatus.delivered),
    ]
    order(buyer, main, date(2024, 2, 1), 1, OrderStatus.confirmed)
    order(buyer, main, date(2024, 2, 9), 1, OrderStatus.cancelled)  # not a purchase
    session.flush()
    session.add(
        SkincareProgress(
            user_id=shopper.id,
            product_id=main.id,
            week_number=1,
            progress_date=date(2024, 1, 12),
            overall_satisfaction=4,
            skin_improvement=3,
            side_effects_severity=0,
            acne_reduced=True,
            hydration_improved=True,
            created_at=datetime(2024, 1, 12, 8),
            updated_at=datetime(2024, 1, 12, 8),
        )
    )
    question = ProductQuestion(
        product_id=main.id, user_id=shopper.id, question="Safe with retinol?", created_at=datetime(2024, 2, 1)
    )
    session.add(question)
    session.flush()
    session.add(
        ProductAnswer(
            question_id=question.id,
            user_id=shopper.id,
            answer="Yes, at night.",
            created_at=datetime(2024, 2, 2),
        )
    )
    first_review = session.scalars(
        select(ProductReview.id).where(ProductReview.user_id == reviewers[0].id).order_by(ProductReview.id)
    ).first()
    session.add(
        ReviewVote(
            review_id=first_review, user_id=shopper.id, vote_type="helpful", created_at=datetime(2024, 2, 3)
        )
    )
    session.flush()
    return Fixture(
        product=main.id,
        quiet=quiet.id,
        other=other.id,
        shopper=shopper.id,
        buyer=buyer.id,
        reviewers=[u.id for u in reviewers],
        review_of_other=theirs.id,
        shopper_orders=shopper_orders,
    )


def seeded() -> Fixture:
    with session_scope() as session:
        return seed(session)


def empty_skin(n: int = 0) -> dict[str, Any]:
    return {
        "review_count": n,
        "avg_rating": None,
        "results_rate": None,
        "recommendation_rate": None,
        "avg_usage_duration": None,
        "side_effects_rate": None,
    }


def expected_product(f: Fixture) -> dict[str, Any]:
    """Worked out by hand from :func:`seed` (the pending review is not counted)."""
    return {
        "product_id": f.product,
        "analysis_date": "2024-06-01T00:00:00",
        "feedback_summary": {
            "total_reviews": 4,
            "avg_rating": 3.0,  # (5 + 4 + 2 + 1) / 4
            "rating_distribution": {"5_star": 1, "4_star": 1, "3_star": 0, "2_star": 1, "1_star": 1},
            "effectiveness_scores": {
                "avg_effectiveness": 3.0,  # 12 / 4
                "avg_texture": 3.67,  # 11 / 3
                "avg_scent": 2.5,  # 5 / 2
                "avg_packaging": 3.5,  # 7 / 2
                "avg_value": 3.67,  # 11 / 3
            },
            "results_rate": 0.25,
            "recommendation_rate": 0.5,
            "repurchase_rate": 0.5,  # shopper twice, buyer once (the cancelled order is no purchase)
            "side_effects_rate": 0.25,  # a blank answer is no side effect
            "skin_type_performance": {
                "acne": {
                    "review_count": 2,
                    "avg_rating": 4.5,
                    "results_rate": 0.5,
                    "recommendation_rate": 1.0,
                    "avg_usage_duration": 45.0,
                    "side_effects_rate": 0.5,
                },
                "oily": {
                    "review_count": 1,
                    "avg_rating": 2.0,
                    "results_rate": 0.0,
                    "recommendation_rate": 0.0,
                    "avg_usage_duration": 14.0,
                    "side_effects_rate": 0.0,
                },
                "dry": {
                    "review_count": 1,
                    "avg_rating": 1.0,
                    "results_rate": 0.0,
                    "recommendation_rate": 0.0,
                    "avg_usage_duration": None,
                    "side_effects_rate": 0.0,
                },
                "sensitive": empty_skin(),
                "combination": empty_skin(),
                "normal": empty_skin(),
            },
        },
        "sentiment_analysis": {
            "overall_sentiment_score": 0.125,  # (0.8 + 0.3 - 0.6 + 0) / 4
            "sentiment_distribution": {
                "very_positive": 1,
                "positive": 1,
                "neutral": 1,
                "negative": 0,
                "very_negative": 1,
            },
            "aspect_sentiments": {
                "effectiveness": 0.0,  # (3 - 3) / 2
                "texture": 0.333,  # (11/3 - 3) / 2
                "scent": -0.25,
                "packaging": 0.25,
                "value": 0.333,
                "results": -0.5,  # 2 * 0.25 - 1
                "side_effects": 0.5,  # 1 - 2 * 0.25
            },
        },
        "feedback_trends": {
            "monthly_ratings": [
                {
                    "month": "2024-01",
                    "avg_rating": 4.5,
                    "review_count": 2,
                    "sentiment_score": 0.55,
                    "results_rate": 0.5,
                },
                {
                    "month": "2024-05",
                    "avg_rating": 2.0,
                    "review_count": 1,
                    "sentiment_score": -0.6,
                    "results_rate": 0.0,
                },
                {
                    "month": "2024-06",
                    "avg_rating": 1.0,
                    "review_count": 1,
                    "sentiment_score": 0.0,
                    "results_rate": 0.0,
                },
            ],
            # Newest three months (Apr-Jun): 3 stars over 2 reviews; the three before (Jan-Mar): 9 over 2.
            "trend_direction": "declining",
            "momentum_score": -3.0,
        },
        "model_version": "etl-v1",
    }


def expected_shopper(f: Fixture) -> dict[str, Any]:
    return {
        "user_id": f.shopper,
        "skin_profile": {"skin_type": "acne"},
        "feedback_timeline": [
            {
                "product_id": f.product,
                "event_type": "purchased",
                "date": "2024-01-05T00:00:00",
                "order_id": f.shopper_orders[0],
                "quantity": 1,
            },
            {
                "product_id": f.other,
                "event_type": "first_review",
                "date": "2024-01-10T12:00:00",
                "rating": 4,
                "detailed_ratings": {
                    "effectiveness": 4,
                    "texture": 5,
                    "scent": None,
                    "packaging": None,
                    "value": None,
                },
                "usage_duration_days": 21,
                "visible_results": True,
                "would_recommend": True,
                "side_effects_mentioned": ["mild tingling"],
                "review_helpfulness_score": 3,
            },
            {
                "product_id": f.product,
                "event_type": "progress_update",
                "date": "2024-01-12T00:00:00",
                "week_number": 1,
                "satisfaction_level": 4,
                "skin_improvement": 3,
                "skin_improvement_areas": ["acne_reduced", "hydration_improved"],
                "side_effects_severity": 0,
                "continued_usage": True,
            },
            {
                "product_id": f.product,
                "event_type": "repurchased",
                "date": "2024-03-01T00:00:00",
                "order_id": f.shopper_orders[1],
                "quantity": 2,
            },
        ],
        "user_intelligence": {"helpfulness_ratio": 3.0, "product_success_rate": 1.0},
        "engagement_summary": {
            "total_reviews": 1,
            "total_progress_entries": 1,
            "questions_asked": 1,
            "answers_provided": 1,
            "community_interactions": 1,
            "total_purchases": 2,
            "engagement_evolution": [
                {
                    "period": "2024-Q1",
                    "activity_level": "medium",  # 7 actions
                    "primary_activities": ["purchase", "answer", "progress", "question", "review", "vote"],
                }
            ],
        },
        "created_at": "2024-01-01T00:00:00",
        "last_updated": "2024-03-01T00:00:00",
    }


def test_feedback_analytics_document_matches_hand_computed_values() -> None:
    f = seeded()
    result = run(FEEDBACK_ANALYTICS, full=True)
    assert result["mode"] == "full" and result["documents"] >= 3
    store = get_store()
    assert store.find_one("feedback_analytics", {"product_id": f.product}) == expected_product(f)
    quiet = store.find_one("feedback_analytics", {"product_id": f.quiet})
    assert quiet is not None
    assert quiet["feedback_summary"]["total_reviews"] == 0
    assert quiet["feedback_summary"]["avg_rating"] is None
    assert quiet["feedback_trends"] == {
        "monthly_ratings": [],
        "trend_direction": "stable",
        "momentum_score": None,
    }


def test_user_journey_document_matches_hand_computed_values() -> None:
    f = seeded()
    run(USER_FEEDBACK_JOURNEY, full=True)
    store = get_store()
    assert store.find_one("user_feedback_journey", {"user_id": f.shopper}) == expected_shopper(f)
    buyer = store.find_one("user_feedback_journey", {"user_id": f.buyer})
    assert buyer is not None
    assert [e["event_type"] for e in buyer["feedback_timeline"]] == [
        "purchased"
    ]  # the cancelled order is not
    assert buyer["engagement_summary"]["total_purchases"] == 1
    assert buyer["user_intelligence"] == {"helpfulness_ratio": None, "product_success_rate": None}


def _stored_at(collection: str) -> dict[str, datetime]:
    with session_scope() as session:
        rows = session.execute(
            select(AnalyticsDocument.doc_key, AnalyticsDocument.updated_at).where(
                AnalyticsDocument.collection == collection
            )
        ).all()
    return {key: at for key, at in rows}


def test_rerun_with_no_changes_rewrites_nothing() -> None:
    seeded()
    for etl in (FEEDBACK_ANALYTICS, USER_FEEDBACK_JOURNEY):
        run(etl, full=True)
        before = _stored_at(etl.collection)
        for full in (True, False):
            again = run(etl, full=full)
            assert again["written"] == 0, again
            assert again["unchanged"] == again["documents"]
        assert _stored_at(etl.collection) == before


def _changed(etl: Any, since: datetime) -> set[int]:
    with session_scope() as session:
        return set(session.scalars(union(*etl.changed_since(since))).all())


def test_incremental_run_reads_exactly_the_changed_products_and_users() -> None:
    f = seeded()
    for etl in (FEEDBACK_ANALYTICS, USER_FEEDBACK_JOURNEY):
        run(etl, full=True)
    mark = utcnow()
    now = mark + timedelta(seconds=1)
    with session_scope() as session:
        # A review edited (its product and author change) and a new order (its product and buyer).
        session.execute(
            update(ProductReview)
            .where(ProductReview.id == f.review_of_other)
            .values(rating=2, updated_at=now)
        )
        order = Order(
            order_number=f"ETL-{uuid.uuid4().hex}",
            user_id=f.buyer,
            customer_email="buyer@example.com",
            subtotal=Decimal("10.00"),
            total=Decimal("10.00"),
            status=OrderStatus.confirmed,
            created_at=now.date(),
            updated_at=now,
        )
        session.add(order)
        session.flush()
        session.add(
            OrderItem(
                order_id=order.id,
                product_id=f.quiet,
                product_name="Serum 2",
                quantity=1,
                unit_price=Decimal("10.00"),
                total_price=Decimal("10.00"),
                created_at=now,
            )
        )
    mine_products = {f.product, f.quiet, f.other}
    mine_users = {f.shopper, f.buyer, *f.reviewers}
    assert _changed(FEEDBACK_ANALYTICS, mark) & mine_products == {f.other, f.quiet}
    assert _changed(USER_FEEDBACK_JOURNEY, mark) & mine_users == {f.shopper, f.buyer}

    products = run(FEEDBACK_ANALYTICS)
    users = run(USER_FEEDBACK_JOURNEY)
    assert products["mode"] == users["mode"] == "incremental"
    assert (
        datetime.fromisoformat(products["since"]) < mark - OVERLAP
    )  # the previous run's start, less the overlap
    store = get_store()
    other = store.find_one("feedback_analytics", {"product_id": f.other})
    assert other is not None and other["feedback_summary"]["avg_rating"] == 2.0
    quiet = store.find_one("feedback_analytics", {"product_id": f.quiet})
    assert quiet is not None and quiet["feedback_summary"]["repurchase_rate"] == 0.0  # one buyer, once
    shopper = store.find_one("user_feedback_journey", {"user_id": f.shopper})
    assert shopper is not None and shopper["feedback_timeline"][1]["rating"] == 2
    buyer = store.find_one("user_feedback_journey", {"user_id": f.buyer})
    assert buyer is not None and buyer["engagement_summary"]["total_purchases"] == 2
    assert store.find_one("feedback_analytics", {"product_id": f.product}) == expected_product(f)


#: Runs in a subprocess on a fresh SQLite database (the embedded default): seed, ETL, print.
SQLITE_RUN = """
import json
from dataclasses import asdict

from storage.analytics import get_store
from storage.db import session_scope
from storage.migrate import upgrade
from tests.test_etl import seed
from workers.etl import ETLS, run

upgrade()
with session_scope() as session:
    f = seed(session)
for etl in ETLS:
    run(etl, full=True)
store = get_store()
print(json.dumps({
    "fixture": asdict(f),
    "product": store.find_one("feedback_analytics", {"product_id": f.product}),
    "shopper": store.find_one("user_feedback_journey", {"user_id": f.shopper}),
}))
"""


def test_sqlite_builds_the_same_documents(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "BROKER_URL", "REDIS_URL", "MONGO_URL")
    }
    env.update(DATA_DIR=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_RUN], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    f = Fixture(**out["fixture"])
    assert out["product"] == expected_product(f)
    assert out["shopper"] == expected_shopper(f)


def _finished(job_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if job is not None and job.state in jobs.FINISHED:
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} not finished after {timeout}s")


def test_etl_tasks_run_on_a_real_worker(worker: Any) -> None:
    f = seeded()
    full = _finished(str(jobs.enqueue("etl.feedback_analytics", {"full": True})[0].id))
    assert full.state == "succeeded", full.error
    assert full.result["collection"] == "feedback_analytics" and full.result["mode"] == "full"
    assert full.progress == 100 and "slot" not in full.result  # asked by hand: no schedule slot
    assert get_store().find_one("feedback_analytics", {"product_id": f.product}) == expected_product(f)
    journey = _finished(str(jobs.enqueue("etl.user_feedback_journey", {})[0].id))
    assert journey.state == "succeeded", journey.error
    assert get_store().find_one("user_feedback_journey", {"user_id": f.shopper}) == expected_shopper(f)
    bad = _finished(str(jobs.enqueue("etl.feedback_analytics", {"full": "yes"})[0].id))
    assert bad.state == "failed" and "full must be true or false" in bad.error


def _etl_by_hand(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "etl", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_etl_by_hand_shows_progress_and_a_summary() -> None:
    seeded()
    done = _etl_by_hand("--full")
    assert done.returncode == 0, done.stderr
    assert "feedback_analytics: full, " in done.stdout and "user_feedback_journey: full, " in done.stdout
    assert "100%" in done.stderr
    # A run in progress elsewhere holds the lock: that ETL is skipped and said so; the other runs.
    with hold("etl.feedback_analytics", lock_ttl_s("etl.feedback_analytics")) as held:
        assert held
        busy = _etl_by_hand()
    assert busy.returncode == 1
    assert "feedback_analytics: skipped, another run holds the lock" in busy.stderr
    assert "user_feedback_journey: incremental, " in busy.stdout


def test_a_products_document_is_printed_by_hand_after_the_etl() -> None:
    f = seeded()
    assert _etl_by_hand("--full").returncode == 0
    shown = subprocess.run(
        [sys.executable, "-m", "workers.cli", "analytics", "product", str(f.product)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == get_store().get("feedback_analytics", {"product_id": f.product})
    assert json.loads(shown.stdout)["product_id"] == f.product
