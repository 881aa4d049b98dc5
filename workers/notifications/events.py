"""The event contract of ``notifications.fanout`` and the context its templates are filled from.

An event is ``{"type": T, "event_id": <stable unique key>, ...ids}`` (the brief's task contract);
optional everywhere: ``expires_at`` (ISO 8601; product events may put it in ``details``). The
rows it names are reloaded here: a missing one is a :class:`PermanentError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from storage.models import Product, ProductAnswer, ProductQuestion, ProductReview, UploadedFile
from workers.notifications.templates import DEFAULT_LANGUAGE, PRIORITIES
from workers.taskbase import PermanentError

#: A user-written text quoted in a notification is cut to this many characters.
EXCERPT_CHARS = 140


class _Event(BaseModel):
    # Producers may send more than we read; what we do not know we keep but ignore.
    model_config = ConfigDict(extra="allow")

    event_id: str | None = Field(None, min_length=1, max_length=150)
    expires_at: datetime | None = None


class FileProcessed(_Event):
    type: Literal["file_processed"]
    user_id: PositiveInt
    file_id: PositiveInt
    outcome: Literal["active", "failed", "infected"]
    reason: str | None = None


class ReviewModerated(_Event):
    type: Literal["review_moderated"]
    review_id: PositiveInt
    decision: Literal["approved", "rejected"]


class ReviewResponse(_Event):
    type: Literal["review_response"]
    review_id: PositiveInt
    response_text: str | None = None


class QuestionAnswered(_Event):
    type: Literal["question_answered"]
    question_id: PositiveInt
    answer_id: PositiveInt


class ProductRecommendation(_Event):
    type: Literal["product_recommendation"]
    user_id: PositiveInt
    product_id: PositiveInt
    reason: str | None = None


class ProductNews(_Event):
    type: Literal["product_restock", "product_sale", "product_new_review"]
    product_id: PositiveInt
    details: dict[str, Any] = Field(default_factory=dict)


class ModerationAlert(_Event):
    type: Literal["moderation_alert"]
    content_type: str = Field(max_length=50)
    content_id: PositiveInt
    reason: str = ""
    #: low|normal|high|urgent, or the moderation queue's 1-5 (5 most urgent).
    priority: str | int | None = None


Event = Annotated[
    FileProcessed
    | ReviewModerated
    | ReviewResponse
    | QuestionAnswered
    | ProductRecommendation
    | ProductNews
    | ModerationAlert,
    Field(discriminator="type"),
]
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(raw: Mapping[str, Any]) -> Event:
    """The validated event; a malformed one can never be delivered, so it fails for good."""
    try:
        return _EVENT.validate_python(dict(raw))
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PermanentError(f"invalid notification event: {errors}") from exc


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def expires_at(event: Event) -> datetime | None:
    """The producer's expiry: ``expires_at``, or ``details.expires_at`` of a product event."""
    if event.expires_at is not None:
        return _naive_utc(event.expires_at)
    if isinstance(event, ProductNews) and event.details.get("expires_at"):
        try:
            return _naive_utc(datetime.fromisoformat(str(event.details["expires_at"])))
        except ValueError as exc:
            raise PermanentError(f"details.expires_at is not ISO 8601: {exc}") from exc
    return None


def priority(event: Event) -> str | None:
    """A moderation alert's own priority, as a notifications.priority value (None: the type's)."""
    if not isinstance(event, ModerationAlert) or event.priority is None:
        return None
    if isinstance(event.priority, int):
        return {5: "urgent", 4: "high", 3: "normal"}.get(event.priority, "low")
    if event.priority not in PRIORITIES:
        raise PermanentError(f"moderation_alert priority {event.priority!r} is not one of {PRIORITIES}")
    return event.priority


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class Context:
    """Template fields of one event: shared ones, plus those that differ by language."""

    def __init__(self, values: dict[str, Any], by_language: dict[str, dict[str, Any]] | None = None) -> None:
        self.values = values
        self.by_language = by_language or {}

    def for_language(self, language: str) -> dict[str, Any]:
        return {**self.values, **self.by_language.get(language, self.by_language.get(DEFAULT_LANGUAGE, {}))}


def _product(session: Session, product_id: int | None, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Product fields (the name in each language) into ``values``; returns the per-language part."""
    if product_id is None:
        return {}
    product = session.get(Product, product_id)
    if product is None:
        raise PermanentError(f"product {product_id} does not exist")
    values.update(product_id=product.id, product_slug=product.slug, product_image=product.image_url or "")
    return {
        "en": {"product_name": product.name_en},
        "kh": {"product_name": product.name_kh or product.name_en},
    }


def _must(session: Session, model: type[Any], ident: int, what: str) -> Any:
    row = session.get(model, ident)
    if row is None:
        raise PermanentError(f"{what} {ident} does not exist")
    return row


def load_context(session: Session, event: Event) -> Context:
    """Reload what the event names and gather the fields its templates may use."""
    values: dict[str, Any] = event.model_dump(mode="json", exclude={"event_id", "expires_at"})
    by_language: dict[str, dict[str, Any]] = {}
    if isinstance(event, ProductNews | ProductRecommendation):
        by_language = _product(session, event.product_id, values)
    elif isinstance(event, QuestionAnswered):
        question = _must(session, ProductQuestion, event.question_id, "question")
        answer = _must(session, ProductAnswer, event.answer_id, "answer")
        if answer.question_id != question.id:
            raise PermanentError(f"answer {answer.id} does not answer question {question.id}")
        values.update(question_excerpt=excerpt(question.question), answer_excerpt=excerpt(answer.answer))
        by_language = _product(session, question.product_id, values)
    elif isinstance(event, ReviewResponse | ReviewModerated):
        review = _must(session, ProductReview, event.review_id, "review")
        if isinstance(event, ReviewResponse):
            values["response_excerpt"] = excerpt(event.response_text)
        by_language = _product(session, review.product_id, values)
    elif isinstance(event, FileProcessed):
        # An infected upload may already be gone: the event itself says what happened to it.
        upload = session.get(UploadedFile, event.file_id)
        values.update(
            file_name=upload.original_filename if upload else f"#{event.file_id}",
            file_url=upload.file_url if upload and event.outcome == "active" else "",
        )
    return Context(values, by_language)
