"""Who an event is for, and on which channels: one SELECT, so a fan-out can batch it by user id.

Recipients are active users only (``users.is_active``: the seed has no other deleted flag).
Product news goes to the product's wishlisters, minus those whose ``wishlist_feedback`` turned
that kind of news off (no row: on, as the seed's defaults say). Each channel is the user's choice
for the type, else their choice for every type (``'*'``), else the type's default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from storage.models import (
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    User,
    UserRole,
    Wishlist,
    WishlistFeedback,
)
from storage.notification_models import ALL_TYPES, Channel, NotificationPreference
from workers.notifications.events import (
    Event,
    FileProcessed,
    ModerationAlert,
    ProductNews,
    ProductRecommendation,
    QuestionAnswered,
    ReviewModerated,
    ReviewResponse,
)
from workers.notifications.templates import TypeSpec

#: The wishlist_feedback switch each kind of product news obeys.
PRODUCT_NEWS_SWITCH = {
    "product_restock": WishlistFeedback.notify_on_restock,
    "product_sale": WishlistFeedback.notify_on_sale,
    "product_new_review": WishlistFeedback.notify_on_reviews,
}


def _recipient_filter(session: Session, event: Event) -> Any:
    """The WHERE clause on ``users`` (and ``wishlists``) naming the event's audience."""
    if isinstance(event, ProductNews):
        opted_out = (
            sa.select(WishlistFeedback.id)
            .where(
                WishlistFeedback.user_id == User.id,
                WishlistFeedback.product_id == event.product_id,
                PRODUCT_NEWS_SWITCH[event.type].is_(False),
            )
            .exists()
        )
        return sa.and_(Wishlist.product_id == event.product_id, ~opted_out)
    if isinstance(event, ModerationAlert):
        return User.role.in_([UserRole.moderator, UserRole.admin])
    if isinstance(event, FileProcessed | ProductRecommendation):
        return User.id == event.user_id
    if isinstance(event, QuestionAnswered):
        asker = session.scalar(
            sa.select(ProductQuestion.user_id).where(ProductQuestion.id == event.question_id)
        )
        answerer = session.scalar(sa.select(ProductAnswer.user_id).where(ProductAnswer.id == event.answer_id))
        # Nobody is told about their own answer to their own question.
        return User.id == asker if asker is not None and asker != answerer else sa.false()
    if isinstance(event, ReviewResponse | ReviewModerated):
        author = session.scalar(sa.select(ProductReview.user_id).where(ProductReview.id == event.review_id))
        return User.id == author if author is not None else sa.false()
    raise TypeError(f"no audience rule for {type(event).__name__}")


def _between(column: Any, after: int, upto: int | None) -> Any:
    """``after < column <= upto``, the bounds written into the SQL text.

    A statement run with other parameters again and again gets prepared, and PostgreSQL may then
    plan it once for any range; for a batch that plan can be a nested loop of the batch against
    itself. With the bounds in the text every batch is planned for its own range.
    """

    def bound(value: int) -> Any:
        return sa.bindparam(None, value, type_=sa.Integer, literal_execute=True)

    return (
        sa.and_(column > bound(after), column <= bound(upto)) if upto is not None else column > bound(after)
    )


@dataclass(frozen=True)
class Audience:
    """An event's recipients, selectable by ranges of user id (the fan-out's batches)."""

    spec: TypeSpec
    product_id: int | None  # product news: the wishlisted product
    recipients: Any  # the WHERE clause naming them

    def select(self, after: int = 0, upto: int | None = None) -> sa.Select[Any]:
        """``(user_id, language, in_app, email, push)`` of the recipients with ``after < id <= upto``.

        The range is repeated on every joined table's user id, so that each batch reads its own
        slice of the wishlists and preferences instead of all of them.
        """
        query = _with_choices(
            self.spec,
            lambda user_id: _between(user_id, after, upto),
            User.id.label("user_id"),
            User.language.label("language"),
        )
        if self.product_id is not None:
            query = query.join(
                Wishlist,
                sa.and_(Wishlist.user_id == User.id, _between(Wishlist.user_id, after, upto)),
            )
        return query.where(sa.func.coalesce(User.is_active, sa.true()).is_(True), self.recipients)


def _with_choices(spec: TypeSpec, users: Callable[[Any], Any], *columns: Any) -> sa.Select[Any]:
    """``columns``, then each channel's choice (the type's own preference row, then the ``'*'``
    row, then the type's default) of the users ``users(user_id_column)`` admits; the condition is
    repeated on each preference join, so that a batch reads only its own slice of them."""
    own = aliased(NotificationPreference, name="own_pref")
    every = aliased(NotificationPreference, name="all_pref")

    def chosen(channel: Channel) -> Any:
        value = sa.func.coalesce(
            getattr(own, channel.value), getattr(every, channel.value), sa.literal(spec.channels[channel])
        )
        return sa.type_coerce(value, sa.Boolean).label(channel.value)

    return (
        sa.select(*columns, *(chosen(channel) for channel in Channel))
        .select_from(User)
        .outerjoin(own, sa.and_(own.user_id == User.id, own.type == spec.name, users(own.user_id)))
        .outerjoin(every, sa.and_(every.user_id == User.id, every.type == ALL_TYPES, users(every.user_id)))
        .where(users(User.id))
    )


def still_wanted(session: Session, user_id: int, spec: TypeSpec, channel: Channel) -> bool:
    """The user's choice for ``channel`` now, by the rule the fan-out chose with."""
    choices = session.execute(_with_choices(spec, lambda column: column == user_id)).one_or_none()
    return bool(choices is not None and getattr(choices, channel.value))


def audience(session: Session, event: Event, spec: TypeSpec) -> Audience:
    """Everyone ``event`` is for (see the module docstring)."""
    product_id = event.product_id if isinstance(event, ProductNews) else None
    return Audience(spec=spec, product_id=product_id, recipients=_recipient_filter(session, event))
