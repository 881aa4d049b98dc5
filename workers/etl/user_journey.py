"""``user_feedback_journey``: one document per user, in the seed's shape.

* ``feedback_timeline``: the user's purchases, approved reviews and progress diary entries,
  oldest first. A product's first order is ``purchased`` and later ones ``repurchased``; a first
  review ``first_review`` and later ones ``final_review``; a diary week ``progress_update``. The
  ordinal comes from ``row_number()`` over the user and product.
* ``engagement_summary``: totals per activity and, per calendar quarter, the activity level
  (``high`` from :data:`HIGH_ACTIVITY` actions, ``medium`` from :data:`MEDIUM_ACTIVITY`) and the
  activities by count. One ``GROUP BY`` user, quarter and activity over every source, with window
  sums for the totals.
* ``user_intelligence``: ``helpfulness_ratio`` (helpful votes received per approved review) and
  ``product_success_rate`` (reviewed products with visible results / reviewed products).

Dates are ISO 8601 strings; a date-only source (an order, a diary week) is at midnight.
``last_updated`` is the user's newest activity, never the run's time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.orm import Session

from storage.models import (
    Order,
    OrderItem,
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    ReviewStatus,
    ReviewVote,
    SkincareProgress,
    User,
)
from workers.etl.feedback_analytics import ASPECTS, NOT_BOUGHT
from workers.etl.runner import Batch, Etl, iso, rate, touched
from workers.etl.sql import year_quarter

COLLECTION = "user_feedback_journey"
HIGH_ACTIVITY = 10
MEDIUM_ACTIVITY = 3
#: Diary flags reported as improvement areas, in this order.
IMPROVEMENTS = (
    "acne_reduced",
    "skin_texture_improved",
    "hydration_improved",
    "redness_reduced",
    "pores_minimized",
    "brightness_improved",
    "scarring_reduced",
    "oil_control_improved",
    "fine_lines_reduced",
)
#: Event types on one day sort in the order they happen in a journey.
EVENT_ORDER = {"purchased": 0, "repurchased": 1, "progress_update": 2, "first_review": 3, "final_review": 4}

r, sp = ProductReview, SkincareProgress
_approved = r.status == ReviewStatus.approved
_bought = Order.status.not_in(NOT_BOUGHT)


def _reviews(batch: Batch) -> Select:
    nth = func.row_number().over(partition_by=(r.user_id, r.product_id), order_by=(r.created_at, r.id))
    return select(
        r.user_id,
        r.product_id,
        r.created_at,
        r.rating,
        *(column.label(aspect) for aspect, column in ASPECTS.items()),
        r.usage_duration,
        r.visible_results,
        r.would_recommend,
        r.side_effects,
        r.helpful_votes_count,
        nth.label("nth"),
    ).where(batch.where(r.user_id), _approved)


def _purchases(batch: Batch) -> Select:
    per_order = (
        select(
            Order.user_id,
            OrderItem.product_id,
            Order.id.label("order_id"),
            Order.created_at,
            func.sum(OrderItem.quantity).label("quantity"),
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(batch.where(Order.user_id), _bought)
        .group_by(Order.user_id, OrderItem.product_id, Order.id, Order.created_at)
        .subquery()
    )
    nth = func.row_number().over(
        partition_by=(per_order.c.user_id, per_order.c.product_id),
        order_by=(per_order.c.created_at, per_order.c.order_id),
    )
    return select(per_order, nth.label("nth"))


def _progress(batch: Batch) -> Select:
    return select(
        sp.user_id,
        sp.product_id,
        func.coalesce(sp.progress_date, func.date(sp.created_at)).label("day"),
        sp.week_number,
        sp.overall_satisfaction,
        sp.skin_improvement,
        sp.side_effects_severity,
        sp.status,
        *(getattr(sp, flag) for flag in IMPROVEMENTS),
    ).where(batch.where(sp.user_id))


def _activities(batch: Batch) -> Select:
    """Per user, quarter and activity: how many, plus the activity's and the quarter's totals."""
    sources = [
        ("review", r.user_id, r.created_at, _approved),
        ("progress", sp.user_id, sp.created_at, None),
        ("question", ProductQuestion.user_id, ProductQuestion.created_at, None),
        ("answer", ProductAnswer.user_id, ProductAnswer.created_at, None),
        ("vote", ReviewVote.user_id, ReviewVote.created_at, None),
        ("purchase", Order.user_id, Order.created_at, _bought),
    ]
    selects = []
    for name, user_id, at, condition in sources:
        query = select(user_id.label("user_id"), literal(name).label("activity"), at.label("at")).where(
            batch.where(user_id), at.is_not(None)
        )
        selects.append(query if condition is None else query.where(condition))
    acts = union_all(*selects).subquery()
    quarter = year_quarter(acts.c.at)
    counted = (
        select(
            acts.c.user_id,
            quarter.label("period"),
            acts.c.activity,
            func.count().label("n"),
            func.max(acts.c.at).label("last_at"),
        )
        .group_by(acts.c.user_id, quarter, acts.c.activity)
        .subquery()
    )
    return select(
        counted,
        func.sum(counted.c.n).over(partition_by=(counted.c.user_id, counted.c.activity)).label("total"),
        func.sum(counted.c.n).over(partition_by=(counted.c.user_id, counted.c.period)).label("in_period"),
    ).order_by(counted.c.user_id, counted.c.period, counted.c.n.desc(), counted.c.activity)


def _review_stats(batch: Batch) -> Select:
    return (
        select(
            r.user_id,
            func.count(r.id).label("reviews"),
            func.sum(r.helpful_votes_count).label("helpful_votes"),
            func.count(func.distinct(r.product_id)).label("products"),
            func.count(func.distinct(r.product_id)).filter(r.visible_results.is_(True)).label("worked"),
        )
        .where(batch.where(r.user_id), _approved)
        .group_by(r.user_id)
    )


def documents(session: Session, batch: Batch) -> list[dict[str, Any]]:
    """The documents of the batch's users: one query per source for the whole batch."""
    timeline: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(_purchases(batch)):
        timeline[row.user_id].append(_purchase_event(row))
    for row in session.execute(_reviews(batch)):
        timeline[row.user_id].append(_review_event(row))
    for row in session.execute(_progress(batch)):
        timeline[row.user_id].append(_progress_event(row))
    activity: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(_activities(batch)):
        activity[row.user_id].append(row)
    stats = {row.user_id: row for row in session.execute(_review_stats(batch))}
    users = session.execute(
        select(User.id, User.skin_type, User.created_at).where(batch.where(User.id)).order_by(User.id)
    )
    return [
        document(user, timeline.get(user.id, []), activity.get(user.id, []), stats.get(user.id))
        for user in users
    ]


def document(user: Any, events: list[dict[str, Any]], activity: list[Any], stats: Any) -> dict[str, Any]:
    events.sort(key=lambda e: (e["date"] or "", EVENT_ORDER[e["event_type"]], e["product_id"] or 0))
    totals = {row.activity: int(row.total) for row in activity}
    periods: dict[str, list[Any]] = defaultdict(list)
    for row in activity:  # ordered by period, then count (desc) and name
        periods[row.period].append(row)
    return {
        "user_id": user.id,
        "skin_profile": {"skin_type": user.skin_type.value if user.skin_type else None},
        "feedback_timeline": events,
        "user_intelligence": {
            "helpfulness_ratio": rate(stats.helpful_votes, stats.reviews) if stats else None,
            "product_success_rate": rate(stats.worked, stats.products) if stats else None,
        },
        "engagement_summary": {
            "total_reviews": totals.get("review", 0),
            "total_progress_entries": totals.get("progress", 0),
            "questions_asked": totals.get("question", 0),
            "answers_provided": totals.get("answer", 0),
            "community_interactions": totals.get("vote", 0),
            "total_purchases": totals.get("purchase", 0),
            "engagement_evolution": [
                {
                    "period": period,
                    "activity_level": _level(int(rows[0].in_period)),
                    "primary_activities": [row.activity for row in rows],
                }
                for period, rows in periods.items()
            ],
        },
        "created_at": iso(user.created_at),
        "last_updated": iso(max((row.last_at for row in activity), default=None)),
    }


def _level(actions: int) -> str:
    if actions >= HIGH_ACTIVITY:
        return "high"
    return "medium" if actions >= MEDIUM_ACTIVITY else "low"


def _purchase_event(row: Any) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "event_type": "purchased" if row.nth == 1 else "repurchased",
        "date": iso(row.created_at),
        "order_id": row.order_id,
        "quantity": int(row.quantity),
    }


def _review_event(row: Any) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "event_type": "first_review" if row.nth == 1 else "final_review",
        "date": iso(row.created_at),
        "rating": row.rating,
        "detailed_ratings": {aspect: getattr(row, aspect) for aspect in ASPECTS},
        "usage_duration_days": row.usage_duration,
        "visible_results": row.visible_results,
        "would_recommend": row.would_recommend,
        "side_effects_mentioned": [row.side_effects.strip()] if (row.side_effects or "").strip() else [],
        "review_helpfulness_score": row.helpful_votes_count or 0,
    }


def _progress_event(row: Any) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "event_type": "progress_update",
        "date": iso(row.day),
        "week_number": row.week_number,
        "satisfaction_level": row.overall_satisfaction,
        "skin_improvement": row.skin_improvement,
        "skin_improvement_areas": [flag for flag in IMPROVEMENTS if getattr(row, flag)],
        "side_effects_severity": row.side_effects_severity,
        "continued_usage": row.status is None or row.status.value != "abandoned",
    }


def changed_since(since: datetime) -> list[Select]:
    """Users whose profile, reviews, diary, questions, answers, votes or orders changed."""
    return [
        touched(User, User.id, since),
        touched(r, r.user_id, since),
        touched(sp, sp.user_id, since),
        touched(ProductQuestion, ProductQuestion.user_id, since),
        touched(ProductAnswer, ProductAnswer.user_id, since),
        touched(ReviewVote, ReviewVote.user_id, since),
        touched(Order, Order.user_id, since),
    ]


USER_FEEDBACK_JOURNEY = Etl(
    collection=COLLECTION,
    key="user_id",
    id_column=User.id,
    changed_since=changed_since,
    documents=documents,
)
