"""The feedback webhooks through the real ingest API and a real worker process.

The notification fan-out is another domain's task: these tests check that its job was recorded in
the ledger with the right event, not that anything was delivered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.analytics import get_store
from storage.db import session_scope
from storage.models import (
    FeedbackStatus,
    Job,
    JobState,
    ModerationQueue,
    ModerationStatus,
    Product,
    ProductQuestion,
    ProductReview,
    ReviewStatus,
    User,
)
from tests.conftest import post_signed, wait_for_job
from tests.feedback_rows import (
    get,
    make_answer,
    make_order,
    make_product,
    make_question,
    make_review,
    make_user,
    moderation_rows,
    notification_jobs,
    snapshot,
)

REVIEW = (
    "Holy grail! It cleared up my acne in four weeks without any irritation, and the gel texture "
    "sinks in fast. No breakouts, and my skin is glowing."
)


@pytest.fixture(autouse=True, scope="module")
def _settled() -> Iterator[None]:
    """Leave no fan-out running behind: later modules count jobs around their own requests."""
    yield
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope() as s:
            busy = s.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.kind.like("notifications.%"),
                    Job.state.in_((JobState.queued, JobState.running, JobState.retrying)),
                )
            )
        if not busy:
            return
        time.sleep(0.2)


def _deliver(api: Any, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = post_signed(api, path, payload)
    assert response.status_code == 202, response.text
    return wait_for_job(api, response.json()["job_id"])


def test_a_review_lands_tagged_scored_and_decided(api: Any, worker: Any) -> None:
    user, product = make_user(), make_product()
    make_order(user, product)
    review_id = make_review(user, product, REVIEW, rating=5, title="Finally clear skin")

    job = _deliver(api, "/webhook/review-submitted", {"review_id": review_id})

    assert job["state"] == "succeeded", job
    assert job["result"]["status"] == "approved" and job["result"]["sentiment"]["label"] == "positive"
    review = get(ProductReview, review_id)
    assert review.status == ReviewStatus.approved and review.is_verified_purchase is True
    assert review.sentiment_label == "positive" and review.sentiment_score > Decimal("0.5")
    assert {"results", "texture", "side_effects"} <= set(review.extracted_topics["topics"])
    assert review.extracted_topics["skin_concerns"][0] == "acne"
    [row] = moderation_rows("review", review_id)
    assert row.status == ModerationStatus.approved and row.spam_probability == 0
    assert row.toxicity_score is not None and row.toxicity_score < Decimal("0.5")
    product_row = get(Product, product)
    assert (product_row.total_reviews, product_row.avg_rating) == (1, Decimal("5.00"))
    [notify] = notification_jobs(f"review_moderated:{review_id}:")
    assert notify.payload == {
        "event": {
            "type": "review_moderated",
            "event_id": f"review_moderated:{review_id}:approved",
            "review_id": review_id,
            "decision": "approved",
        }
    }
    assert get_store().find_one("feedback_stream", {"event_key": f"review_submitted:{review_id}"}) is not None


def test_the_same_webhook_twice_changes_nothing_the_second_time(api: Any, worker: Any) -> None:
    user, product = make_user(), make_product()
    review_id = make_review(
        user, product, "This serum broke me out within three days. Returned it.", rating=1
    )
    first = _deliver(api, "/webhook/review-submitted", {"review_id": review_id})
    assert first["state"] == "succeeded", first
    rows = [(ProductReview, review_id), (Product, product), (User, user)]
    rows += [(ModerationQueue, r.id) for r in moderation_rows("review", review_id)]
    before = snapshot(*rows)
    doc = get_store().find_one("feedback_stream", {"event_key": f"review_submitted:{review_id}"})

    second = _deliver(api, "/webhook/review-submitted", {"review_id": review_id})

    assert second["state"] == "succeeded" and second["job_id"] != first["job_id"]
    assert second["result"] == first["result"]
    assert first["result"]["sentiment"]["label"] == "negative"
    assert snapshot(*rows) == before
    assert len(moderation_rows("review", review_id)) == 1
    assert len(notification_jobs(f"review_moderated:{review_id}:")) == 1
    assert get_store().find_one("feedback_stream", {"event_key": f"review_submitted:{review_id}"}) == doc
    assert get(Product, product).total_reviews == 1


def test_unknown_ids_fail_once_and_clearly(api: Any, worker: Any) -> None:
    for path, field, noun in [
        ("/webhook/review-submitted", "review_id", "review"),
        ("/webhook/progress-updated", "progress_id", "progress entry"),
        ("/webhook/question-asked", "question_id", "question"),
        ("/webhook/answer-provided", "answer_id", "answer"),
    ]:
        job = _deliver(api, path, {field: 1_999_999_999})
        assert job["state"] == "failed", job
        assert job["error"] == f"{noun} 1999999999 does not exist"
        assert job["attempts"] == 1
    time.sleep(1.5)  # a retry would have started by now; a failed job stays failed
    assert api.get(f"/v1/jobs/{job['job_id']}").json()["attempts"] == 1


def test_question_and_answer_through_the_api(api: Any, worker: Any) -> None:
    asker, answerer, product = make_user(), make_user(), make_product()
    question_id = make_question(asker, product, "Can I use this with retinol at night?")
    asked = _deliver(api, "/webhook/question-asked", {"question_id": question_id})
    assert asked["state"] == "succeeded", asked
    assert asked["result"]["question_category"] == "compatibility"
    answer_id = make_answer(
        answerer, question_id, "Yes, I use it with retinol every night and it works well."
    )

    answered = _deliver(api, "/webhook/answer-provided", {"answer_id": answer_id})

    assert answered["state"] == "succeeded", answered
    question = get(ProductQuestion, question_id)
    assert question.status == FeedbackStatus.approved
    assert (question.is_answered, question.answer_count) == (True, 1)
    assert get(User, answerer).answers_provided == 1 and get(User, asker).questions_asked == 1
    [notify] = notification_jobs(f"question_answered:{answer_id}")
    assert notify.payload["event"] == {
        "type": "question_answered",
        "event_id": f"question_answered:{answer_id}",
        "question_id": question_id,
        "answer_id": answer_id,
    }
