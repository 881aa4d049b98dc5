"""``feedback_analytics``: one document per product, in the seed's shape, aggregated in SQL.

Counts, averages, distributions and rates come from one ``GROUP BY`` over the product's approved
reviews (``FILTER (WHERE ...)`` for every bucket); the monthly trend from a second ``GROUP BY``
month whose window functions also give the trend; the repurchase rate from orders. Python only
divides and rounds what SQL summed, and arranges it in the seed's shape.

Definitions (rates are fractions 0..1, like the seed's SQL views, rounded to 4 places):

* ``results_rate``, ``recommendation_rate``: reviews with ``visible_results`` / ``would_recommend``.
* ``repurchase_rate``: buyers (non-cancelled, non-refunded orders) who ordered it more than once.
* ``sentiment_distribution``: reviews by ``sentiment_score``: very_positive >= 0.5 > positive
  >= 0.1 > neutral > -0.1 >= negative > -0.5 >= very_negative.
* ``aspect_sentiments``: each aspect's average rating mapped from 1..5 onto -1..1
  (``(avg - 3) / 2``); ``results`` is ``2 * results_rate - 1``; ``side_effects`` is
  ``1 - 2 * side_effects_rate`` (1: nobody reported any).
* ``trend_direction``: the average rating of the product's newest three calendar months with a
  review against the three before; a difference of at least :data:`TREND_STEP` stars is
  ``improving`` or ``declining``, less is ``stable``, and without both windows it is ``stable``
  with ``momentum_score`` null.
* ``analysis_date``: the newest change of a review it counts (never the run's time, so a rerun
  over unchanged reviews yields the same document).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session

from storage.models import (
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductReview,
    ReviewStatus,
    SkinType,
)
from workers.etl.runner import Batch, Etl, Follow, iso, rate, rounded, touched
from workers.etl.sql import month_number, month_start, year_month

COLLECTION = "feedback_analytics"
MODEL_VERSION = "etl-v1"
#: Stars of change between the two three-month windows that make a trend.
TREND_STEP = 0.25
#: Skin types with their own performance block (the seed's list; ``all`` is a product's target only).
SKIN_TYPES = ("acne", "oily", "dry", "sensitive", "combination", "normal")
#: Aspect name in the document -> rating column.
ASPECTS = {
    "effectiveness": ProductReview.effectiveness_rating,
    "texture": ProductReview.texture_rating,
    "scent": ProductReview.scent_rating,
    "packaging": ProductReview.packaging_rating,
    "value": ProductReview.value_for_money_rating,
}
#: Orders that are not purchases.
NOT_BOUGHT = (OrderStatus.cancelled, OrderStatus.refunded)

r = ProductReview
_score = r.sentiment_score
SENTIMENT_BUCKETS: dict[str, ColumnElement[bool]] = {
    "very_positive": _score >= 0.5,
    "positive": (_score >= 0.1) & (_score < 0.5),
    "neutral": (_score > -0.1) & (_score < 0.1),
    "negative": (_score > -0.5) & (_score <= -0.1),
    "very_negative": _score <= -0.5,
}
_results = r.visible_results.is_(True)
_recommends = r.would_recommend.is_(True)
_side_effects = func.length(func.trim(r.side_effects)) > 0


def _count(condition: ColumnElement[bool] | None = None) -> Any:
    return func.count(r.id) if condition is None else func.count(r.id).filter(condition)


def summary_query(batch: Batch | None) -> Select:
    """One row per product: every count and average of its approved reviews (all products when
    ``batch`` is None; the benchmark runs it so).

    The reviews are aggregated on their own and then joined to the products (not joined first),
    so PostgreSQL can aggregate in parallel workers; a product without reviews gets zero counts.
    """
    counts: dict[str, Any] = {
        "total": _count(),
        **{f"stars_{stars}": _count(r.rating == stars) for stars in range(1, 6)},
        "with_results": _count(_results),
        "recommending": _count(_recommends),
        "with_side_effects": _count(_side_effects),
        **{f"sentiment_{name}": _count(bucket) for name, bucket in SENTIMENT_BUCKETS.items()},
    }
    others: dict[str, Any] = {
        "avg_rating": func.avg(r.rating),
        **{f"avg_{aspect}": func.avg(column) for aspect, column in ASPECTS.items()},
        "sentiment": func.avg(_score),
        "last_change": func.max(func.coalesce(r.updated_at, r.created_at)),
    }
    for skin in SKIN_TYPES:
        is_skin = r.skin_type_at_review == SkinType(skin)
        counts |= {
            f"{skin}_n": _count(is_skin),
            f"{skin}_results": _count(is_skin & _results),
            f"{skin}_recommending": _count(is_skin & _recommends),
            f"{skin}_side_effects": _count(is_skin & _side_effects),
        }
        others |= {
            f"{skin}_rating": func.avg(r.rating).filter(is_skin),
            f"{skin}_usage": func.avg(r.usage_duration).filter(is_skin),
        }
    per_product = (
        select(r.product_id, *(expr.label(name) for name, expr in (counts | others).items()))
        .where(r.status == ReviewStatus.approved)
        .group_by(r.product_id)
    )
    if batch is not None:
        per_product = per_product.where(batch.where(r.product_id))
    agg = per_product.subquery()
    return (
        select(
            Product.id.label("product_id"),
            *(func.coalesce(agg.c[name], 0).label(name) for name in counts),
            *(agg.c[name] for name in others),
        )
        .select_from(Product)
        .outerjoin(agg, agg.c.product_id == Product.id)
        .where(batch.where(Product.id) if batch is not None else true())
        .order_by(Product.id)
    )


def monthly_query(batch: Batch | None) -> Select:
    """One row per product and month, each carrying its product's two trend windows (window sums).

    Grouped by the month's first instant (a cheap truncation); the month's name and number are
    computed once per group, not once per review. ``_trends`` reads the columns by position.
    """
    start = month_start(r.created_at)
    grouped = (
        select(
            r.product_id,
            start.label("start"),
            func.count(r.id).label("n"),
            func.sum(r.rating).label("rating_sum"),
            func.avg(_score).label("sentiment"),
            _count(_results).label("with_results"),
        )
        .where(r.status == ReviewStatus.approved, r.created_at.is_not(None))
        .group_by(r.product_id, start)
    )
    if batch is not None:
        grouped = grouped.where(batch.where(r.product_id))
    g = grouped.subquery()
    number = month_number(g.c.start)
    aged = select(
        g,
        year_month(g.c.start).label("month"),
        number.label("number"),
        (func.max(number).over(partition_by=g.c.product_id) - number).label("age"),
    ).subquery()
    recent, prior = aged.c.age < 3, (aged.c.age >= 3) & (aged.c.age < 6)
    return select(
        aged.c.product_id,
        aged.c.month,
        aged.c.n,
        aged.c.rating_sum,
        aged.c.sentiment,
        aged.c.with_results,
        func.sum(aged.c.rating_sum).filter(recent).over(partition_by=aged.c.product_id).label("recent_sum"),
        func.sum(aged.c.n).filter(recent).over(partition_by=aged.c.product_id).label("recent_n"),
        func.sum(aged.c.rating_sum).filter(prior).over(partition_by=aged.c.product_id).label("prior_sum"),
        func.sum(aged.c.n).filter(prior).over(partition_by=aged.c.product_id).label("prior_n"),
    ).order_by(aged.c.product_id, aged.c.number)


def repurchase_query(batch: Batch | None) -> Select:
    """Per product: its buyers, and those who bought it in more than one order."""
    per_buyer = (
        select(
            OrderItem.product_id,
            Order.user_id,
            func.count(func.distinct(Order.id)).label("orders"),
        )
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.user_id.is_not(None), Order.status.not_in(NOT_BOUGHT))
        .group_by(OrderItem.product_id, Order.user_id)
    )
    if batch is not None:
        per_buyer = per_buyer.where(batch.where(OrderItem.product_id))
    b = per_buyer.subquery()
    return (
        select(
            b.c.product_id,
            func.count().label("buyers"),
            func.count().filter(b.c.orders > 1).label("repeat_buyers"),
        )
        .group_by(b.c.product_id)
        .order_by(b.c.product_id)
    )


def documents(session: Session, batch: Batch) -> Iterator[dict[str, Any]]:
    """The documents of the batch's products (one without reviews gets zero counts): three
    queries sorted by product id, merged row by row."""
    months = Follow(session.execute(monthly_query(batch)))
    buyers = Follow(session.execute(repurchase_query(batch)))
    for row in session.execute(summary_query(batch)):
        values = row._asdict()  # a plain dict: tens of lookups per product are cheaper there
        bought = buyers.take(values["product_id"])
        yield document(values, months.take(values["product_id"]), bought[0] if bought else None)


def document(v: dict[str, Any], months: list[Any], buyers: Any) -> dict[str, Any]:
    """One product's document from its summary values, its month rows and its buyer counts."""
    n = v["total"]
    aspects = {aspect: v[f"avg_{aspect}"] for aspect in ASPECTS}
    results_rate = rate(v["with_results"], n)
    side_effects_rate = rate(v["with_side_effects"], n)
    return {
        "product_id": v["product_id"],
        "analysis_date": iso(v["last_change"]),
        "feedback_summary": {
            "total_reviews": n,
            "avg_rating": rounded(v["avg_rating"], 2),
            "rating_distribution": {f"{k}_star": v[f"stars_{k}"] for k in range(5, 0, -1)},
            "effectiveness_scores": {f"avg_{aspect}": rounded(value, 2) for aspect, value in aspects.items()},
            "results_rate": results_rate,
            "recommendation_rate": rate(v["recommending"], n),
            "repurchase_rate": rate(buyers.repeat_buyers, buyers.buyers) if buyers else None,
            "side_effects_rate": side_effects_rate,
            "skin_type_performance": {skin: _skin_block(v, skin) for skin in SKIN_TYPES},
        },
        "sentiment_analysis": {
            "overall_sentiment_score": rounded(v["sentiment"], 3),
            "sentiment_distribution": {name: v[f"sentiment_{name}"] for name in SENTIMENT_BUCKETS},
            "aspect_sentiments": {
                **{aspect: _to_sentiment(value) for aspect, value in aspects.items()},
                "results": None if results_rate is None else rounded(2 * results_rate - 1, 3),
                "side_effects": None if side_effects_rate is None else rounded(1 - 2 * side_effects_rate, 3),
            },
        },
        "feedback_trends": _trends(months),
        "model_version": MODEL_VERSION,
    }


def _skin_block(v: dict[str, Any], skin: str) -> dict[str, Any]:
    n = v[f"{skin}_n"]
    return {
        "review_count": n,
        "avg_rating": rounded(v[f"{skin}_rating"], 2),
        "results_rate": rate(v[f"{skin}_results"], n),
        "recommendation_rate": rate(v[f"{skin}_recommending"], n),
        "avg_usage_duration": rounded(v[f"{skin}_usage"], 1),
        "side_effects_rate": rate(v[f"{skin}_side_effects"], n),
    }


def _to_sentiment(avg_rating: Any) -> float | None:
    return None if avg_rating is None else rounded((float(avg_rating) - 3) / 2, 3)


def _trends(months: list[Any]) -> dict[str, Any]:
    """Month rows unpacked by position (the columns of :func:`monthly_query`): many per product."""
    momentum = None
    if months:
        *_, recent_sum, recent_n, prior_sum, prior_n = months[0]  # every row carries the windows
        if recent_n and prior_n:
            momentum = rounded(float(recent_sum) / float(recent_n) - float(prior_sum) / float(prior_n), 3)
    direction = "stable"
    if momentum is not None and momentum >= TREND_STEP:
        direction = "improving"
    elif momentum is not None and momentum <= -TREND_STEP:
        direction = "declining"
    return {
        "monthly_ratings": [
            {
                "month": month,
                "avg_rating": rounded(float(rating_sum) / n, 2),
                "review_count": n,
                "sentiment_score": rounded(sentiment, 3),
                "results_rate": rate(with_results, n),
            }
            for _, month, n, rating_sum, sentiment, with_results, *_ in months
        ],
        "trend_direction": direction,
        "momentum_score": momentum,
    }


def changed_since(since: datetime) -> list[Select]:
    """Products with a review or an order changed, or the product itself new or changed."""
    ordered = touched(Order, Order.id, since)
    return [
        touched(r, r.product_id, since),
        select(OrderItem.product_id).where(
            OrderItem.order_id.in_(ordered), OrderItem.product_id.is_not(None)
        ),
        touched(Product, Product.id, since),
    ]


FEEDBACK_ANALYTICS = Etl(
    collection=COLLECTION,
    key="product_id",
    id_column=Product.id,
    changed_since=changed_since,
    documents=documents,
)
