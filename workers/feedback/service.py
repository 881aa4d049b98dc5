"""The feedback events: load the row the shop wrote, analyse it, write the results back.

Each public function handles one webhook (``review_submitted``, ``progress_updated``,
``question_asked``, ``answer_provided``). In one transaction it locks the row, tags and scores the
text, writes sentiment and topics, records the moderation outcome in ``moderation_queue`` (one row
per item, automatic decisions included, so the scores live where the seed keeps them), applies the
decision to the content's status, and recomputes the derived counters from the rows themselves.
After the commit it upserts the ``feedback_stream`` and ``moderation_intelligence`` documents and
enqueues the notifications the new state implies.

Running a function twice changes nothing the second time: the analysis is deterministic, near
duplicates are looked for only among earlier items, counters are recounted rather than
incremented, an automatic decision is made only while the content is still ``pending``, the
documents are keyed by a stable event key (keeping their first ``processed_at``), and every
notification carries an idempotency key derived from its event id.

Concurrency: rows are locked in one order (content row, then question, product, user), so two
events for the same product or user recount one after the other and never miss each other's rows.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from storage.analytics import AnalyticsError, get_store
from storage.db import session_scope, utcnow
from storage.models import (
    FeedbackStatus,
    ModerationQueue,
    ModerationStatus,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    ReviewStatus,
    SkincareProgress,
    User,
)
from workers import jobs
from workers.feedback import documents, questions
from workers.feedback.moderation import (
    Decision,
    ModerationSettings,
    Verdict,
    decide,
    get_moderation_settings,
    score,
)
from workers.feedback.sentiment import Analysis, get_tagger
from workers.feedback.text import joined
from workers.taskbase import PermanentError, TransientError

_REVIEW_STATUS = {
    "approve": ReviewStatus.approved,
    "reject": ReviewStatus.rejected,
    "review": ReviewStatus.flagged,
}
_FEEDBACK_STATUS = {
    "approve": FeedbackStatus.approved,
    "reject": FeedbackStatus.rejected,
    "review": FeedbackStatus.flagged,
}
#: FOR NO KEY UPDATE: we never change keys, and a plain FOR UPDATE would conflict with the
#: FOR KEY SHARE locks that foreign-key checks of concurrent writers hold on the same rows,
#: deadlocking two events for one product.
_LOCK = {"key_share": True}
_OPEN = (ModerationStatus.pending, ModerationStatus.needs_review)
#: The diary's "what got better" flags (acne_reduced, hydration_improved, pores_minimized...).
_IMPROVEMENT_FLAGS = tuple(
    c.key
    for c in SkincareProgress.__table__.columns
    if c.key.endswith(("_reduced", "_improved", "_minimized"))
)
T = TypeVar("T")
_CLOSED_PRIORITY = 5  # an automatically closed row sorts after every open one


# -- Public functions (one per webhook) ---------------------------------------------------------------


def review_submitted(review_id: int) -> dict[str, Any]:
    """Tag, score and decide a review; recount its product's and author's counters."""
    settings = get_moderation_settings()
    with session_scope() as session:
        review = _locked(session, ProductReview, review_id, "review")
        parts = (review.title, review.review_text, review.skin_condition_after, review.side_effects)
        text = joined(*parts)
        analysis = get_tagger().analyse(*parts)
        earlier = select(
            ProductReview.id,
            ProductReview.title,
            ProductReview.review_text,
            ProductReview.skin_condition_after,
            ProductReview.side_effects,
        ).where(ProductReview.product_id == review.product_id, ProductReview.id < review.id)
        others = [
            (row[0], joined(*row[1:]))
            for row in session.execute(
                earlier.order_by(ProductReview.id.desc()).limit(settings.near_duplicate_window)
            )
        ]
        verdict = score(text, others=others, settings=settings)
        verified = _bought(session, review.user_id, review.product_id)
        changed = _assign(
            review,
            sentiment_score=_dec(analysis.score),
            sentiment_label=analysis.label,
            extracted_topics=analysis.extracted_topics(),
            is_verified_purchase=verified,
        )
        pending = review.status in (None, ReviewStatus.pending)
        row, decision = _moderate(
            session,
            "review",
            review.id,
            review.user_id,
            text,
            verdict,
            settings,
            may_decide=pending,
            metadata={"rating": review.rating, "sentiment": _sentiment_json(analysis)},
        )
        if pending:
            changed |= _assign(review, status=_REVIEW_STATUS[decision.action])
        if changed:
            review.updated_at = utcnow()
        session.flush()
        product = _recount_product(session, review.product_id)
        user = _recount_user(session, review.user_id)

        events = _moderation_alerts(row)
        # Only our own decision is ours to announce; a moderator's tool announces its own.
        auto = row.status in _ACTION_OF and row.reviewed_by is None
        if auto and row.status is not None and review.status == _REVIEW_STATUS[_ACTION_OF[row.status]]:
            events.append(
                {
                    "type": "review_moderated",
                    "event_id": f"review_moderated:{review.id}:{row.status.value}",
                    "review_id": review.id,
                    "decision": row.status.value,
                }
            )
        attention = _attention(row, analysis.score, settings)
        stream = documents.stream_doc(
            event_type="review_submitted",
            event_key=f"review_submitted:{review.id}",
            timestamp=review.created_at,
            row=row,
            attention=attention,
            event_data={
                "user_id": review.user_id,
                "product_id": review.product_id,
                "content_id": review.id,
                "rating": review.rating,
                "feedback_type": "review",
                **documents.content_fields(text, analysis),
                **documents.quality(
                    text,
                    analysis,
                    verdict,
                    verified=verified,
                    has_media=bool(review.has_photos or review.has_video),
                    has_context=review.usage_duration is not None,
                ),
                "user_skin_type": _value(review.skin_type_at_review)
                or _user_skin_type(session, review.user_id),
                "usage_duration_days": review.usage_duration,
                "is_verified_purchase": verified,
                "user_engagement_level": documents.engagement(user),
            },
        )
        intel = documents.intel_doc("review", review.id, text, analysis, verdict, row, verified=verified)
        result = {
            "review_id": review.id,
            "status": _value(review.status),
            "sentiment": {"score": float(_dec(analysis.score)), "label": analysis.label},
            "topics": analysis.topics,
            **_moderation_result(row, decision),
            "is_verified_purchase": verified,
            "counters": {"product": product, "user": user},
            "requires_immediate_attention": attention,
        }
    return _finish(result, stream, intel, events)


def progress_updated(progress_id: int) -> dict[str, Any]:
    """Tag and score a progress entry's notes; severe side effects alert the moderators."""
    settings = get_moderation_settings()
    with session_scope() as session:
        progress = _locked(session, SkincareProgress, progress_id, "progress entry")
        parts = (
            progress.skin_condition_notes,
            progress.application_notes,
            progress.lifestyle_factors,
            progress.completion_notes,
        )
        text = joined(*parts)
        analysis = get_tagger().analyse(*parts)
        verdict = score(text, settings=settings)  # a diary repeating itself week to week is no spam
        severity = progress.side_effects_severity or 0
        severe = severity >= settings.attention_side_effects_severity
        changed_at = progress.updated_at or progress.created_at
        # One event per saved state of the entry: a redelivery finds the same key.
        event_key = f"progress_updated:{progress.id}:{documents.iso(changed_at) or 'initial'}"
        row, decision = _moderate(
            session,
            "progress_note",
            progress.id,
            progress.user_id,
            text,
            verdict,
            settings,
            may_decide=True,
            extra_reasons=("severe_side_effects",) if severe else (),
            metadata={
                "state": event_key,
                "side_effects_severity": severity,
                "sentiment": _sentiment_json(analysis),
            },
        )
        session.flush()
        # A changed severity is a new alert ("escalated from 4 to 5"); a re-save is not.
        events = _moderation_alerts(row, event_suffix=f":{severity}")
        attention = severe or _attention(row, analysis.score, settings)
        verified = _bought(session, progress.user_id, progress.product_id)
        improvements = [name for name in _IMPROVEMENT_FLAGS if getattr(progress, name)]
        stream = documents.stream_doc(
            event_type="progress_updated",
            event_key=event_key,
            timestamp=changed_at,
            row=row,
            attention=attention,
            event_data={
                "user_id": progress.user_id,
                "product_id": progress.product_id,
                "content_id": progress.id,
                "rating": progress.overall_satisfaction,
                "feedback_type": "progress",
                **documents.content_fields(text, analysis),
                **documents.quality(
                    text,
                    analysis,
                    verdict,
                    verified=verified,
                    has_media=bool(progress.has_photos),
                    has_context=True,
                ),
                "user_skin_type": _user_skin_type(session, progress.user_id),
                "usage_duration_days": progress.week_number * 7,
                "is_verified_purchase": verified,
                "user_engagement_level": documents.engagement(_user_counters(session, progress.user_id)),
                "week_number": progress.week_number,
                "side_effects_severity": severity,
                "skin_improvement": progress.skin_improvement,
                "improvements": improvements,
            },
        )
        intel = documents.intel_doc(
            "progress_note", progress.id, text, analysis, verdict, row, verified=verified
        )
        result = {
            "progress_id": progress.id,
            "sentiment": {"score": float(_dec(analysis.score)), "label": analysis.label},
            "topics": analysis.topics,
            **_moderation_result(row, decision),
            "requires_immediate_attention": attention,
        }
    return _finish(result, stream, intel, events)


def question_asked(question_id: int) -> dict[str, Any]:
    """Categorize, rate urgency, score and decide a question; recount its asker's counters."""
    settings = get_moderation_settings()
    with session_scope() as session:
        question = _locked(session, ProductQuestion, question_id, "question")
        text = question.question or ""
        analysis = get_tagger().analyse(text)
        others = [
            (qid, other or "")
            for qid, other in session.execute(
                select(ProductQuestion.id, ProductQuestion.question)
                .where(ProductQuestion.product_id == question.product_id, ProductQuestion.id < question.id)
                .order_by(ProductQuestion.id.desc())
                .limit(settings.near_duplicate_window)
            )
        ]
        verdict = score(text, others=others, settings=settings)
        category = questions.category(text, analysis.ingredients)
        urgency = questions.urgency(text)
        changed = _assign(question, question_category=category, urgency_level=urgency)
        pending = question.status in (None, FeedbackStatus.pending)
        row, decision = _moderate(
            session,
            "question",
            question.id,
            question.user_id,
            text,
            verdict,
            settings,
            may_decide=pending,
            metadata={"question_category": category, "urgency_level": urgency},
        )
        if pending:
            changed |= _assign(question, status=_FEEDBACK_STATUS[decision.action])
        if changed:
            question.updated_at = utcnow()
        session.flush()
        answers = _recount_question(session, question)
        user = _recount_user(session, question.user_id)
        events = _moderation_alerts(row)
        attention = urgency == "high" or _attention(row, None, settings)
        verified = _bought(session, question.user_id, question.product_id)
        stream = documents.stream_doc(
            event_type="question_asked",
            event_key=f"question_asked:{question.id}",
            timestamp=question.created_at,
            row=row,
            attention=attention,
            event_data={
                "user_id": question.user_id,
                "product_id": question.product_id,
                "content_id": question.id,
                "rating": None,
                "feedback_type": "question",
                **documents.content_fields(text, analysis),
                **documents.quality(
                    text,
                    analysis,
                    verdict,
                    verified=verified,
                    has_media=bool(question.has_media),
                    has_context=False,
                ),
                "user_skin_type": _value(question.skin_type_context)
                or _user_skin_type(session, question.user_id),
                "usage_duration_days": None,
                "is_verified_purchase": verified,
                "user_engagement_level": documents.engagement(user),
                "question_category": category,
                "urgency_level": urgency,
            },
        )
        intel = documents.intel_doc("question", question.id, text, analysis, verdict, row, verified=verified)
        result = {
            "question_id": question.id,
            "status": _value(question.status),
            "question_category": category,
            "urgency_level": urgency,
            **_moderation_result(row, decision),
            "counters": {"question": answers, "user": user},
            "requires_immediate_attention": attention,
        }
    return _finish(result, stream, intel, events)


def answer_provided(answer_id: int) -> dict[str, Any]:
    """Score and decide an answer; recount its question's and author's counters; tell the asker."""
    settings = get_moderation_settings()
    with session_scope() as session:
        answer = _locked(session, ProductAnswer, answer_id, "answer")
        question = (
            session.get(ProductQuestion, answer.question_id, with_for_update=_LOCK)
            if answer.question_id
            else None
        )
        text = answer.answer or ""
        analysis = get_tagger().analyse(text)
        # Answer spam is pasted under many questions: compare with this question's answers and
        # with the author's own earlier answers.
        near = [ProductAnswer.question_id == answer.question_id]
        if answer.user_id is not None:
            near.append(ProductAnswer.user_id == answer.user_id)
        others = [
            (aid, other or "")
            for aid, other in session.execute(
                select(ProductAnswer.id, ProductAnswer.answer)
                .where(or_(*near), ProductAnswer.id < answer.id)
                .order_by(ProductAnswer.id.desc())
                .limit(settings.near_duplicate_window)
            )
        ]
        verdict = score(text, others=others, settings=settings)
        product_id = question.product_id if question else None
        verified = _bought(session, answer.user_id, product_id)
        changed = _assign(answer, is_from_verified_buyer=verified)
        pending = answer.status in (None, FeedbackStatus.pending)
        row, decision = _moderate(
            session,
            "answer",
            answer.id,
            answer.user_id,
            text,
            verdict,
            settings,
            may_decide=pending,
            metadata={"question_id": answer.question_id, "is_from_expert": bool(answer.is_from_expert)},
        )
        if pending:
            changed |= _assign(answer, status=_FEEDBACK_STATUS[decision.action])
        if changed:
            answer.updated_at = utcnow()
        session.flush()
        answers = _recount_question(session, question) if question else None
        user = _recount_user(session, answer.user_id)
        events = _moderation_alerts(row)
        asker = question.user_id if question else None
        if answer.status == FeedbackStatus.approved and asker is not None and asker != answer.user_id:
            events.append(
                {
                    "type": "question_answered",
                    "event_id": f"question_answered:{answer.id}",
                    "question_id": answer.question_id,
                    "answer_id": answer.id,
                }
            )
        attention = _attention(row, None, settings)
        stream = documents.stream_doc(
            event_type="answer_provided",
            event_key=f"answer_provided:{answer.id}",
            timestamp=answer.created_at,
            row=row,
            attention=attention,
            event_data={
                "user_id": answer.user_id,
                "product_id": product_id,
                "content_id": answer.id,
                "rating": None,
                "feedback_type": "answer",
                **documents.content_fields(text, analysis),
                **documents.quality(
                    text,
                    analysis,
                    verdict,
                    verified=verified,
                    has_media=bool(answer.has_media),
                    has_context=bool(answer.is_from_expert),
                    expert=bool(answer.is_from_expert),
                ),
                "user_skin_type": _user_skin_type(session, answer.user_id),
                "usage_duration_days": None,
                "is_verified_purchase": verified,
                "user_engagement_level": documents.engagement(user),
                "question_id": answer.question_id,
                "is_from_expert": bool(answer.is_from_expert),
            },
        )
        intel = documents.intel_doc(
            "answer",
            answer.id,
            text,
            analysis,
            verdict,
            row,
            verified=verified,
            expert=bool(answer.is_from_expert),
        )
        result = {
            "answer_id": answer.id,
            "status": _value(answer.status),
            "sentiment": {"score": float(_dec(analysis.score)), "label": analysis.label},
            **_moderation_result(row, decision),
            "is_from_verified_buyer": verified,
            "counters": {"question": answers, "user": user},
            "requires_immediate_attention": attention,
        }
    return _finish(result, stream, intel, events)


def _locked(session: Session, model: type[T], row_id: int, noun: str) -> T:
    """The row, locked for this transaction; an unknown id can never succeed."""
    row = session.get(model, row_id, with_for_update=_LOCK)
    if row is None:
        raise PermanentError(f"{noun} {row_id} does not exist")
    return row


# -- Moderation rows and notifications ---------------------------------------------------------------

_ACTION_OF = {ModerationStatus.approved: "approve", ModerationStatus.rejected: "reject"}


def _moderate(
    session: Session,
    content_type: str,
    content_id: int,
    user_id: int | None,
    text: str,
    verdict: Verdict,
    settings: ModerationSettings,
    *,
    may_decide: bool,
    extra_reasons: tuple[str, ...] = (),
    metadata: dict[str, Any],
) -> tuple[ModerationQueue, Decision]:
    """Get or create the item's automatic moderation row and write the scores into it.

    The decision fields (status, priority, reasons) are written when the row is new, or when the
    content awaits a decision (``may_decide``), no human has touched the row, and the content is
    not the state already decided (``metadata["state"]``, for content without a status of its own).
    A moderator's work is never undone.
    """
    decision = decide(verdict, extra_reasons=extra_reasons, settings=settings)
    row = session.scalar(
        select(ModerationQueue)
        .where(
            ModerationQueue.content_type == content_type,
            ModerationQueue.content_id == content_id,
            ModerationQueue.user_reported.is_not(True),
        )
        .order_by(ModerationQueue.id)
        .limit(1)
    )
    now = utcnow()
    created = row is None
    if row is None:
        row = ModerationQueue(content_type=content_type, content_id=content_id, created_at=now)
        session.add(row)
    new_state = (row.content_metadata or {}).get("state") != metadata.get("state")
    redecide = created or (may_decide and row.reviewed_by is None and (new_state or "state" not in metadata))
    changed = _assign(
        row,
        user_id=user_id,
        content_text=text,
        content_metadata={**metadata, "signals": verdict.signals()},
        spam_probability=_dec(verdict.spam_probability),
        toxicity_score=_dec(verdict.toxicity_score),
        medical_claims_detected=verdict.medical,
        inappropriate_content_detected=verdict.inappropriate,
    )
    if redecide:
        closed = decision.action != "review"
        status = (
            ModerationStatus.approved if decision.action == "approve" else decision.queue_status
        ) or ModerationStatus.pending
        changed |= _assign(
            row,
            flagged_reasons=list(decision.reasons),
            auto_flagged=decision.action != "approve",
            status=status,
            priority_level=decision.priority or _CLOSED_PRIORITY,
            review_notes=_notes(decision, verdict) if closed else None,
        )
        if closed and row.reviewed_at is None:
            row.reviewed_at = now
        elif not closed and row.reviewed_at is not None:
            row.reviewed_at = None
            changed = True
    if changed and not created:
        row.updated_at = now
    return row, decision


def _notes(decision: Decision, verdict: Verdict) -> str:
    if decision.action == "approve":
        return "automatic: approved, no flags"
    return f"automatic: rejected as spam ({', '.join(verdict.spam_signals)})"


def _moderation_alerts(row: ModerationQueue, event_suffix: str = "") -> list[dict[str, Any]]:
    """A priority-1 item still waiting for a human alerts the moderators (and admins)."""
    if row.priority_level != 1 or row.status not in _OPEN:
        return []
    return [
        {
            "type": "moderation_alert",
            "event_id": f"moderation_alert:{row.content_type}:{row.content_id}{event_suffix}",
            "content_type": row.content_type,
            "content_id": row.content_id,
            "reason": ", ".join(row.flagged_reasons or []),
            # A word, not the queue's number: 1 is the most urgent there, and a consumer reading
            # numbers the other way round would file it as the least.
            "priority": "urgent",
        }
    ]


def _finish(
    result: dict[str, Any],
    stream: tuple[dict[str, Any], dict[str, Any]],
    intel: tuple[dict[str, Any], dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """After the commit: the analytics documents, then the notifications (both idempotent)."""
    store = get_store()
    for collection, (key, doc) in (
        (documents.FEEDBACK_STREAM, stream),
        (documents.MODERATION_INTELLIGENCE, intel),
    ):
        for attempt in range(2):
            try:
                store.upsert(collection, key, documents.keep_first_seen(doc, store.get(collection, key)))
                break
            except sqlalchemy.exc.IntegrityError as exc:
                # A concurrent delivery inserted the same key first: the second try updates it.
                if attempt:
                    raise TransientError(f"analytics store: {exc}") from exc
            except AnalyticsError as exc:
                raise TransientError(f"analytics store: {exc}") from exc
    for event in events:
        jobs.enqueue("notifications.fanout", {"event": event}, idempotency_key=f"notify:{event['event_id']}")
    return {**result, "notifications": [e["event_id"] for e in events]}


# -- Counters -----------------------------------------------------------------------------------------


def _recount_product(session: Session, product_id: int | None) -> dict[str, Any] | None:
    """products.total_reviews and avg_rating over the product's approved reviews."""
    if product_id is None:
        return None
    product = session.get(Product, product_id, with_for_update=_LOCK, populate_existing=True)
    if product is None:
        return None
    count, average = session.execute(
        select(func.count(ProductReview.id), func.avg(ProductReview.rating)).where(
            ProductReview.product_id == product_id, ProductReview.status == ReviewStatus.approved
        )
    ).one()
    avg = (
        Decimal(str(average)).quantize(Decimal("0.01"), ROUND_HALF_UP) if average is not None else Decimal(0)
    )
    if _assign(product, total_reviews=int(count), avg_rating=avg):
        product.updated_at = utcnow()
    return {"product_id": product_id, "total_reviews": int(count), "avg_rating": float(avg)}


def _user_counters(session: Session, user_id: int | None) -> dict[str, int] | None:
    """The user's reviews, questions and answers that still stand (not rejected or hidden)."""
    if user_id is None:
        return None

    def standing(model: Any, dropped: tuple[Any, ...]) -> Any:
        return (
            select(func.count(model.id))
            .where(model.user_id == user_id, or_(model.status.is_(None), model.status.not_in(dropped)))
            .scalar_subquery()
        )

    # One round trip for the three counts.
    reviews, questions, answers = session.execute(
        select(
            standing(ProductReview, (ReviewStatus.rejected,)),
            standing(ProductQuestion, (FeedbackStatus.rejected, FeedbackStatus.hidden)),
            standing(ProductAnswer, (FeedbackStatus.rejected, FeedbackStatus.hidden)),
        )
    ).one()
    return {
        "reviews_written": int(reviews or 0),
        "questions_asked": int(questions or 0),
        "answers_provided": int(answers or 0),
    }


def _recount_user(session: Session, user_id: int | None) -> dict[str, Any] | None:
    """users.reviews_written, questions_asked and answers_provided, recounted from the rows."""
    if user_id is None:
        return None
    user = session.get(User, user_id, with_for_update=_LOCK, populate_existing=True)
    if user is None:
        return None
    counts = _user_counters(session, user_id)
    assert counts is not None
    if _assign(user, **counts):
        user.updated_at = utcnow()
    return {"user_id": user_id, **counts}


def _recount_question(session: Session, question: ProductQuestion) -> dict[str, Any]:
    """product_questions.answer_count and is_answered over the question's approved answers.

    The caller holds the question's row lock, so concurrent answers are counted one after another.
    """
    count = int(
        session.scalar(
            select(func.count(ProductAnswer.id)).where(
                ProductAnswer.question_id == question.id, ProductAnswer.status == FeedbackStatus.approved
            )
        )
        or 0
    )
    if _assign(question, answer_count=count, is_answered=count > 0):
        question.updated_at = utcnow()
    return {"question_id": question.id, "answer_count": count, "is_answered": count > 0}


def _bought(session: Session, user_id: int | None, product_id: int | None) -> bool:
    """Whether the user has a delivered order containing the product."""
    if user_id is None or product_id is None:
        return False
    return bool(
        session.scalar(
            select(
                exists().where(
                    OrderItem.order_id == Order.id,
                    Order.user_id == user_id,
                    Order.status == OrderStatus.delivered,
                    OrderItem.product_id == product_id,
                )
            )
        )
    )


def _attention(row: ModerationQueue, sentiment: float | None, settings: ModerationSettings) -> bool:
    """Safety or medical findings (priority 1), or strongly negative feedback."""
    if row.priority_level == 1 and row.status in _OPEN:
        return True
    return sentiment is not None and sentiment <= settings.attention_sentiment_at


def _user_skin_type(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)  # loaded already when the counters were recounted
    return _value(user.skin_type) if user is not None else None


def _sentiment_json(analysis: Analysis) -> dict[str, Any]:
    return {"score": float(_dec(analysis.score)), "label": analysis.label}


def _moderation_result(row: ModerationQueue, decision: Decision) -> dict[str, Any]:
    return {
        "moderation": {
            "id": row.id,
            "status": _value(row.status),
            "priority_level": row.priority_level,
            "flagged_reasons": list(row.flagged_reasons or []),
            "spam_probability": float(row.spam_probability or 0),
            "toxicity_score": float(row.toxicity_score or 0),
            "decision": decision.action,
        }
    }


# -- Small helpers ------------------------------------------------------------------------------------


def _assign(obj: Any, **values: Any) -> bool:
    """Set only the attributes whose value differs; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _dec(value: float) -> Decimal:
    """Two decimals, as the seed's DECIMAL(3,2) columns keep them."""
    return Decimal(f"{value:.2f}")


def _value(enum_or_none: Any) -> Any:
    return getattr(enum_or_none, "value", enum_or_none)
