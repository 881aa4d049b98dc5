"""Rows as the shop's API server writes them, for the feedback tests, plus a few lookups.

Every helper commits its rows and returns their ids, so the code under test loads them itself.
Emails, slugs, SKUs and order numbers are unique per call: tests share one database.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from storage.db import session_scope
from storage.models import (
    Job,
    ModerationQueue,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    SkincareProgress,
    User,
    UserRole,
)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def make_user(role: UserRole = UserRole.customer) -> int:
    with session_scope() as s:
        user = User(email=f"user-{_tag()}@example.com", password="x", first_name="Test", role=role)
        s.add(user)
        s.flush()
        return user.id


def make_product() -> int:
    tag = _tag()
    with session_scope() as s:
        product = Product(
            name_en=f"Serum {tag}",
            slug=f"serum-{tag}",
            sku=f"SKU-{tag}",
            price=Decimal("19.90"),
            category="serum",
        )
        s.add(product)
        s.flush()
        return product.id


def make_order(user_id: int, product_id: int, status: OrderStatus = OrderStatus.delivered) -> int:
    with session_scope() as s:
        order = Order(
            order_number=f"ORD-{_tag()}",
            user_id=user_id,
            customer_email="buyer@example.com",
            subtotal=Decimal("19.90"),
            total=Decimal("19.90"),
            status=status,
        )
        s.add(order)
        s.flush()
        s.add(
            OrderItem(
                order_id=order.id,
                product_id=product_id,
                product_name="Serum",
                quantity=1,
                unit_price=Decimal("19.90"),
                total_price=Decimal("19.90"),
            )
        )
        return order.id


def make_review(user_id: int | None, product_id: int, text: str, rating: int = 5, **fields: Any) -> int:
    with session_scope() as s:
        review = ProductReview(
            user_id=user_id, product_id=product_id, rating=rating, review_text=text, **fields
        )
        s.add(review)
        s.flush()
        return review.id


def make_question(user_id: int | None, product_id: int, text: str, **fields: Any) -> int:
    with session_scope() as s:
        question = ProductQuestion(user_id=user_id, product_id=product_id, question=text, **fields)
        s.add(question)
        s.flush()
        return question.id


def make_answer(user_id: int | None, question_id: int, text: str, **fields: Any) -> int:
    with session_scope() as s:
        answer = ProductAnswer(user_id=user_id, question_id=question_id, answer=text, **fields)
        s.add(answer)
        s.flush()
        return answer.id


def make_progress(user_id: int, product_id: int, week: int, notes: str, severity: int, **fields: Any) -> int:
    with session_scope() as s:
        progress = SkincareProgress(
            user_id=user_id,
            product_id=product_id,
            week_number=week,
            skin_condition_notes=notes,
            side_effects_severity=severity,
            **fields,
        )
        s.add(progress)
        s.flush()
        return progress.id


def get(model: Any, row_id: int) -> Any:
    with session_scope() as s:
        return s.get(model, row_id)


def moderation_rows(content_type: str, content_id: int) -> list[ModerationQueue]:
    with session_scope() as s:
        return list(
            s.scalars(
                select(ModerationQueue)
                .where(ModerationQueue.content_type == content_type, ModerationQueue.content_id == content_id)
                .order_by(ModerationQueue.id)
            )
        )


def notification_jobs(event_id_prefix: str) -> list[Job]:
    """The notifications.fanout jobs whose event id starts with the prefix."""
    with session_scope() as s:
        return list(
            s.scalars(
                select(Job)
                .where(
                    Job.kind == "notifications.fanout", Job.idempotency_key.like(f"notify:{event_id_prefix}%")
                )
                .order_by(Job.created_at)
            )
        )


def snapshot(*rows: tuple[Any, int]) -> list[dict[str, Any]]:
    """Every column of the given (model, id) rows, to compare before and after a rerun."""
    out = []
    with session_scope() as s:
        for model, row_id in rows:
            row = s.get(model, row_id)
            out.append({c.key: getattr(row, c.key) for c in model.__table__.columns} if row else {})
    return out
