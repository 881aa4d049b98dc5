"""feedback.*: the four feedback webhooks (see README, task contract; work in ``workers.feedback.service``).

Each tags and scores one item the shop's API server wrote, records the moderation outcome in
``moderation_queue``, applies an automatic decision to a still-pending item, recounts the derived
counters, upserts its ``feedback_stream`` and ``moderation_intelligence`` documents and queues the
notifications it implies (``notifications.fanout``). Safe to run again; an unknown id fails the job
at once (no retry).
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_init

from queues.names import CeleryQueue
from workers.feedback import service
from workers.feedback.moderation import get_toxicity
from workers.feedback.sentiment import get_tagger
from workers.taskbase import job_task


@worker_init.connect
def _load_models(sender: Any, **_: Any) -> None:
    """Load the text models in a feedback worker's main process, before it forks its pool: every
    child, and every child that replaces a recycled one, has them without loading them again
    (scikit-learn and the toxicity model take about a second of CPU)."""
    consumed = sender.app.amqp.queues.consume_from
    if not consumed or CeleryQueue.FEEDBACK.value in consumed:
        get_tagger()
        get_toxicity()


@job_task("feedback.review_submitted")
def review_submitted(self: Any, review_id: int) -> dict[str, Any]:
    """Sentiment, topics, verified purchase, decision; product and author counters; review_moderated."""
    return service.review_submitted(review_id)


@job_task("feedback.progress_updated")
def progress_updated(self: Any, progress_id: int) -> dict[str, Any]:
    """Notes scored; side_effects_severity >= 4 requires attention and alerts the moderators."""
    return service.progress_updated(progress_id)


@job_task("feedback.question_asked")
def question_asked(self: Any, question_id: int) -> dict[str, Any]:
    """Category, urgency, decision; the asker's questions_asked and the question's answer count."""
    return service.question_asked(question_id)


@job_task("feedback.answer_provided")
def answer_provided(self: Any, answer_id: int) -> dict[str, Any]:
    """Decision, verified buyer; answer counts; question_answered to the asker when approved."""
    return service.answer_provided(answer_id)
