"""The feedback service functions on real PostgreSQL, without a broker or worker.

Each test writes rows as the shop's API server would, runs the plain function, and checks what it
wrote back: sentiment and topics, the moderation row, the content's status, the counters, the
analytics documents and the notification jobs recorded in the ledger (not their delivery).
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from storage.analytics import get_store
from storage.db import session_scope
from storage.models import (
    FeedbackStatus,
    Job,
    ModerationQueue,
    ModerationStatus,
    Product,
    ProductAnswer,
    ProductQuestion,
    ProductReview,
    ReviewStatus,
    User,
    UserRole,
)
from tests.feedback_rows import (
    get,
    make_answer,
    make_order,
    make_product,
    make_progress,
    make_question,
    make_review,
    make_user,
    moderation_rows,
    notification_jobs,
    snapshot,
)
from workers.feedback import service
from workers.taskbase import PermanentError

GOOD = (
    "It cleared up my acne in three weeks and never broke me out. The texture is lightweight, "
    "no stickiness at all, and the niacinamide works wonders on my redness."
)


def _event(job: Job) -> dict[str, Any]:
    event: dict[str, Any] = job.payload["event"]
    return event


def test_clean_review_is_tagged_approved_counted_and_announced() -> None:
    user, product = make_user(), make_product()
    make_order(user, product)
    review_id = make_review(user, product, GOOD, rating=5, title="Holy grail", usage_duration=21)

    result = service.review_submitted(review_id)

    review = get(ProductReview, review_id)
    assert review.status == ReviewStatus.approved
    assert review.sentiment_label == "positive" and review.sentiment_score >= Decimal("0.5")
    topics = review.extracted_topics
    assert {"results", "texture", "side_effects"} <= set(topics["topics"])
    assert topics["aspects"]["texture"]["label"] == "positive"
    assert "acne" in topics["skin_concerns"] and "niacinamide" in topics["ingredients"]
    assert review.is_verified_purchase is True

    [row] = moderation_rows("review", review_id)
    assert row.status == ModerationStatus.approved and row.auto_flagged is False
    assert row.flagged_reasons == [] and row.spam_probability == 0 and row.reviewed_at is not None
    assert row.user_id == user and row.reviewed_by is None

    assert get(Product, product).total_reviews == 1 and get(Product, product).avg_rating == Decimal("5.00")
    assert get(User, user).reviews_written == 1

    [job] = notification_jobs(f"review_moderated:{review_id}:")
    assert _event(job) == {
        "type": "review_moderated",
        "event_id": f"review_moderated:{review_id}:approved",
        "review_id": review_id,
        "decision": "approved",
    }
    assert result["notifications"] == [f"review_moderated:{review_id}:approved"]

    stream = get_store().find_one("feedback_stream", {"event_key": f"review_submitted:{review_id}"})
    assert stream is not None and stream["event_type"] == "review_submitted"
    data = stream["event_data"]
    assert data["sentiment"] == "positive" and data["content_id"] == review_id and data["rating"] == 5
    assert "acne" in data["skin_concerns_mentioned"] and data["is_verified_purchase"] is True
    assert data["usage_duration_days"] == 21 and 0 < data["quality_score"] <= 100
    assert stream["processing_status"]["moderation_passed"] is True
    assert stream["requires_immediate_attention"] is False and stream["moderation_flags"] == []
    intel = get_store().find_one(
        "moderation_intelligence", {"content_type": "review", "content_id": review_id}
    )
    assert intel is not None
    assert intel["moderation_decision"]["automated_action"] == "approve"
    assert intel["moderation_decision"]["approved_by"] == "ai"
    assert intel["safety_analysis"]["medical_claims_detected"] is False


def test_running_twice_changes_nothing() -> None:
    user, product = make_user(), make_product()
    review_id = make_review(user, product, GOOD, rating=4)
    first = service.review_submitted(review_id)
    rows = [(ProductReview, review_id), (Product, product), (User, user)]
    before = snapshot(*rows, *((ModerationQueue, r.id) for r in moderation_rows("review", review_id)))
    store = get_store()
    docs = [
        store.find_one("feedback_stream", {"event_key": f"review_submitted:{review_id}"}),
        store.find_one("moderation_intelligence", {"content_type": "review", "content_id": review_id}),
    ]
    jobs_before = len(notification_jobs(f"review_moderated:{review_id}:"))

    second = service.review_submitted(review_id)

    assert second == first
    after = snapshot(*rows, *((ModerationQueue, r.id) for r in moderation_rows("review", review_id)))
    assert after == before
    assert len(moderation_rows("review", review_id)) == 1
    assert len(notification_jobs(f"review_moderated:{review_id}:")) == jobs_before == 1
    assert [
        store.find_one("feedback_stream", {"event_key": f"review_submitted:{review_id}"}),
        store.find_one("moderation_intelligence", {"content_type": "review", "content_id": review_id}),
    ] == docs
    assert get(Product, product).total_reviews == 1


def test_spam_is_rejected_and_not_counted() -> None:
    user, product = make_user(), make_product()
    review_id = make_review(
        user, product, "Buy now at www.glow-deals.shop and use code GLOW50 for 50% off!", rating=5
    )
    result = service.review_submitted(review_id)

    assert get(ProductReview, review_id).status == ReviewStatus.rejected
    [row] = moderation_rows("review", review_id)
    assert row.status == ModerationStatus.rejected and row.auto_flagged is True
    assert (row.spam_probability or 0) >= Decimal("0.9") and row.flagged_reasons == ["spam"]
    assert "automatic: rejected as spam" in (row.review_notes or "")
    assert result["moderation"]["decision"] == "reject"
    assert get(Product, product).total_reviews == 0
    assert get(User, user).reviews_written == 0  # a rejected review does not stand
    [job] = notification_jobs(f"review_moderated:{review_id}:")
    assert _event(job)["decision"] == "rejected"


def test_medical_claim_waits_for_a_human_at_priority_one() -> None:
    user, product = make_user(), make_product()
    review_id = make_review(user, product, "This cream cured my eczema in a week. FDA approved!", rating=5)
    result = service.review_submitted(review_id)

    assert get(ProductReview, review_id).status == ReviewStatus.flagged
    [row] = moderation_rows("review", review_id)
    assert row.status == ModerationStatus.needs_review and row.priority_level == 1
    assert row.medical_claims_detected is True and row.reviewed_at is None
    assert "medical_claims" in (row.flagged_reasons or [])
    assert result["requires_immediate_attention"] is True
    assert notification_jobs(f"review_moderated:{review_id}:") == []  # nothing decided yet
    [alert] = notification_jobs(f"moderation_alert:review:{review_id}")
    assert _event(alert) == {
        "type": "moderation_alert",
        "event_id": f"moderation_alert:review:{review_id}",
        "content_type": "review",
        "content_id": review_id,
        "reason": "medical_claims",
        "priority": "urgent",
    }
    intel = get_store().find_one(
        "moderation_intelligence", {"content_type": "review", "content_id": review_id}
    )
    assert intel is not None
    assert intel["moderation_decision"]["automated_action"] == "needs_human_review"
    assert intel["safety_analysis"]["medical_claims_list"] == ["cured my eczema", "FDA approved"]
    assert get(Product, product).total_reviews == 0


def test_a_moderators_decision_is_never_undone() -> None:
    user, moderator, product = make_user(), make_user(UserRole.moderator), make_product()
    review_id = make_review(user, product, "Clinically proven to cure acne, trust me.", rating=5)
    service.review_submitted(review_id)
    [row] = moderation_rows("review", review_id)
    with session_scope() as s:
        s.execute(
            update(ModerationQueue)
            .where(ModerationQueue.id == row.id)
            .values(status=ModerationStatus.approved, reviewed_by=moderator)
        )
        s.execute(
            update(ProductReview).where(ProductReview.id == review_id).values(status=ReviewStatus.approved)
        )

    service.review_submitted(review_id)  # a late redelivery

    [row] = moderation_rows("review", review_id)
    assert row.status == ModerationStatus.approved and row.reviewed_by == moderator
    assert get(ProductReview, review_id).status == ReviewStatus.approved
    assert get(Product, product).total_reviews == 1  # the moderator's approval counts
    assert notification_jobs(f"review_moderated:{review_id}:") == []  # the moderator's tool announces


def test_near_duplicate_of_an_earlier_review_is_spam() -> None:
    product = make_product()
    text = (
        "I have been using this serum every night for a month and my skin has never looked better, "
        "the texture is light and it absorbs fast."
    )
    first = make_review(make_user(), product, text)
    # Pasted again by another account, punctuation dropped: the same words.
    copy = make_review(make_user(), product, text.replace(",", "").replace(".", "!"))

    assert service.review_submitted(first)["moderation"]["status"] == "approved"
    result = service.review_submitted(copy)

    [row] = moderation_rows("review", copy)
    signals = (row.content_metadata or {})["signals"]
    assert signals["near_duplicate_of"] == first and "near_duplicate" in signals["spam_signals"]
    assert result["moderation"]["flagged_reasons"] == ["spam"]
    assert get(ProductReview, copy).status == ReviewStatus.flagged
    # The original is compared only with earlier reviews, so a rerun leaves it clean.
    assert service.review_submitted(first)["moderation"]["status"] == "approved"


@pytest.mark.parametrize(
    "fn",
    [service.review_submitted, service.progress_updated, service.question_asked, service.answer_provided],
)
def test_unknown_ids_are_permanent_errors(fn: Any) -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        fn(2_000_000_000)


def test_question_is_categorized_and_counted() -> None:
    user, product = make_user(), make_product()
    plain = make_question(user, product, "Can I use this with vitamin C in the morning?")
    urgent = make_question(
        user, product, "My face is burning and swollen after the first use, what should I do?"
    )

    first = service.question_asked(plain)
    second = service.question_asked(urgent)

    q = get(ProductQuestion, plain)
    assert (q.question_category, q.urgency_level, q.status) == (
        "compatibility",
        "low",
        FeedbackStatus.approved,
    )
    assert first["counters"]["question"] == {"question_id": plain, "answer_count": 0, "is_answered": False}
    u = get(ProductQuestion, urgent)
    assert (u.question_category, u.urgency_level) == ("side_effects", "high")
    assert u.status == FeedbackStatus.flagged  # a reported reaction reaches a human first
    [row] = moderation_rows("question", urgent)
    assert row.priority_level == 1 and "allergic_reaction" in (row.flagged_reasons or [])
    assert second["requires_immediate_attention"] is True
    assert len(notification_jobs(f"moderation_alert:question:{urgent}")) == 1
    assert get(User, user).questions_asked == 2
    service.question_asked(urgent)
    assert get(User, user).questions_asked == 2


def test_answer_counts_and_notifies_the_asker_once() -> None:
    asker, answerer, product = make_user(), make_user(), make_product()
    make_order(answerer, product)
    question_id = make_question(asker, product, "How long until I see results?")
    service.question_asked(question_id)
    answer_id = make_answer(answerer, question_id, "About four weeks for me, my dark spots faded a lot.")

    result = service.answer_provided(answer_id)
    service.answer_provided(answer_id)  # redelivered

    answer = get(ProductAnswer, answer_id)
    assert answer.status == FeedbackStatus.approved and answer.is_from_verified_buyer is True
    question = get(ProductQuestion, question_id)
    assert question.is_answered is True and question.answer_count == 1
    assert get(User, answerer).answers_provided == 1
    [job] = notification_jobs(f"question_answered:{answer_id}")
    assert _event(job) == {
        "type": "question_answered",
        "event_id": f"question_answered:{answer_id}",
        "question_id": question_id,
        "answer_id": answer_id,
    }
    assert result["sentiment"]["label"] == "positive"
    stream = get_store().find_one("feedback_stream", {"event_key": f"answer_provided:{answer_id}"})
    assert stream is not None and stream["event_data"]["question_id"] == question_id


def test_an_answer_to_ones_own_question_notifies_nobody() -> None:
    user, product = make_user(), make_product()
    question_id = make_question(user, product, "Does it pill under makeup?")
    answer_id = make_answer(user, question_id, "Update: no, it does not pill at all.")
    service.answer_provided(answer_id)
    assert notification_jobs(f"question_answered:{answer_id}") == []
    assert get(ProductQuestion, question_id).answer_count == 1


def test_severe_side_effects_alert_the_moderators() -> None:
    user, product = make_user(), make_product()
    severe = make_progress(
        user, product, 2, "Stinging and redness every night, my cheeks are raw.", severity=4
    )
    mild = make_progress(
        user, product, 3, "Skin feels smoother and looks brighter, no irritation.", severity=0
    )

    result = service.progress_updated(severe)
    service.progress_updated(severe)
    calm = service.progress_updated(mild)

    assert result["requires_immediate_attention"] is True
    assert result["sentiment"]["label"] == "negative"
    [row] = moderation_rows("progress_note", severe)
    assert row.status == ModerationStatus.needs_review and row.priority_level == 1
    assert row.flagged_reasons == ["severe_side_effects"]
    [alert] = notification_jobs(f"moderation_alert:progress_note:{severe}:")
    assert _event(alert)["event_id"] == f"moderation_alert:progress_note:{severe}:4"
    assert _event(alert)["reason"] == "severe_side_effects"
    docs = get_store().find(
        "feedback_stream", {"event_type": "progress_updated", "event_data.content_id": severe}
    )
    assert len(docs) == 1 and docs[0]["requires_immediate_attention"] is True
    assert docs[0]["event_data"]["side_effects_severity"] == 4

    assert calm["requires_immediate_attention"] is False and calm["sentiment"]["label"] == "positive"
    assert notification_jobs(f"moderation_alert:progress_note:{mild}:") == []
    [calm_row] = moderation_rows("progress_note", mild)
    assert calm_row.status == ModerationStatus.approved


def test_concurrent_reviews_of_one_product_are_all_counted() -> None:
    product = make_product()
    reviews = [
        make_review(make_user(), product, f"Review {i}: lovely texture, my skin is glowing.")
        for i in range(6)
    ]
    errors: list[BaseException] = []

    def run(review_id: int) -> None:
        try:
            service.review_submitted(review_id)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in reviews + reviews]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert get(Product, product).total_reviews == 6
    assert all(len(moderation_rows("review", r)) == 1 for r in reviews)
