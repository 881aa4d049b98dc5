"""The analytics documents of one feedback event: ``feedback_stream`` and ``moderation_intelligence``.

Field names follow the seed's MongoDB collections. Dates are ISO 8601 strings (UTC, with ``Z``),
as both analytics backends store them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from storage.db import utcnow
from storage.models import ModerationQueue, ModerationStatus
from workers.feedback.moderation import SPAM_WEIGHTS, Verdict, get_moderation_settings
from workers.feedback.sentiment import Analysis

FEEDBACK_STREAM = "feedback_stream"
MODERATION_INTELLIGENCE = "moderation_intelligence"
_PROMOTIONAL = ("link", "promo_code", "call_to_action")


def stream_doc(
    *,
    event_type: str,
    event_key: str,
    timestamp: datetime | None,
    row: ModerationQueue,
    attention: bool,
    event_data: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's ``feedback_stream`` document, keyed by ``event_key``."""
    key = {"event_key": event_key}
    doc = {
        **key,
        "event_type": event_type,
        "event_data": event_data,
        "processing_status": {
            "sentiment_processed": True,
            "topic_extraction_done": True,
            "quality_assessment_done": True,
            "moderation_passed": row.status == ModerationStatus.approved,
            "analytics_updated": False,
        },
        "requires_immediate_attention": attention,
        "moderation_flags": list(row.flagged_reasons or []),
        "timestamp": iso(timestamp),
        "processed_at": iso(utcnow()),
    }
    return key, doc


def intel_doc(
    content_type: str,
    content_id: int,
    text: str,
    analysis: Analysis,
    verdict: Verdict,
    row: ModerationQueue,
    *,
    verified: bool,
    expert: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's ``moderation_intelligence`` document, keyed by (content_type, content_id)."""
    key = {"content_type": content_type, "content_id": content_id}
    scores = quality(
        text, analysis, verdict, verified=verified, has_media=False, has_context=expert, expert=expert
    )
    words = len(text.split())
    promotional = 1.0 - math.prod(1.0 - SPAM_WEIGHTS[s] for s in verdict.spam_signals if s in _PROMOTIONAL)
    copied = 1.0 - math.prod(
        1.0 - SPAM_WEIGHTS[s] for s in verdict.spam_signals if s in ("near_duplicate", "repetition")
    )
    status = row.status or ModerationStatus.pending
    if status == ModerationStatus.approved:
        action = "approve"
    elif status == ModerationStatus.rejected:
        action = "reject"
    else:
        action = "needs_human_review" if row.priority_level == 1 else "flag"
    decided = status in (ModerationStatus.approved, ModerationStatus.rejected)
    now = utcnow()
    doc = {
        **key,
        "safety_analysis": {
            "medical_claims_detected": verdict.medical,
            "medical_claims_list": list(verdict.medical_claims),
            "medical_severity": verdict.medical_severity or "none",
            "inappropriate_content_score": round(100 * verdict.toxicity_score),
            "spam_probability": round(100 * verdict.spam_probability),
            "fake_content_probability": round(100 * copied),
            "dangerous_advice_detected": verdict.dangerous_advice,
            "ingredient_misuse_mentioned": verdict.ingredient_misuse,
            "allergic_reaction_warning": verdict.allergic_reaction,
            "harmful_diy_instructions": bool(verdict.harmful_diy),
            "unverified_medical_advice": verdict.unverified_medical_advice,
        },
        "quality_metrics": {
            "authenticity_score": scores["authenticity_score"],
            "helpfulness_prediction": scores["quality_score"],
            "expertise_level_detected": {"beginner": "novice"}.get(
                scores["expertise_level"], scores["expertise_level"]
            ),
            "content_depth": "superficial" if words < 20 else "moderate" if words < 80 else "detailed",
            "factual_accuracy_confidence": max(
                0, 100 - 50 * verdict.medical - 30 * verdict.dangerous_advice - 20 * verdict.allergic_reaction
            ),
            "bias_detection_score": round(100 * promotional),
        },
        "moderation_decision": {
            "automated_action": action,
            "confidence": _decision_confidence(verdict, status),
            "reasoning": _reasoning(row, verdict),
            "human_review_required": not decided,
            "priority_level": {1: "urgent", 2: "high", 3: "medium"}.get(row.priority_level or 0, "low"),
            "approved_at": iso(row.reviewed_at) if status == ModerationStatus.approved else None,
            "approved_by": ("ai" if row.reviewed_by is None else str(row.reviewed_by)) if decided else None,
            "manual_override": row.reviewed_by is not None,
        },
        "signals": verdict.signals(),
        "created_at": iso(now),
        "expires_at": iso(now + timedelta(days=get_moderation_settings().retention_days)),
    }
    return key, doc


def _decision_confidence(verdict: Verdict, status: ModerationStatus) -> float:
    if status == ModerationStatus.approved:
        return round(1.0 - max(verdict.spam_probability, verdict.toxicity_score), 2)
    if status == ModerationStatus.rejected:
        return verdict.spam_probability
    return 0.5  # undecided: a human decides


def _reasoning(row: ModerationQueue, verdict: Verdict) -> list[str]:
    reasons = list(row.flagged_reasons or [])
    if not reasons:
        return ["no flags: no spam signals, low toxicity, no medical or safety findings"]
    out = []
    for reason in reasons:
        detail = {
            "spam": ", ".join(verdict.spam_signals),
            "medical_claims": "; ".join(verdict.medical_claims),
            "dangerous_advice": ", ".join(verdict.harmful_diy) or "unverified medical advice",
            "inappropriate_content": f"toxicity {verdict.toxicity_score:.2f}",
            "personal_data": ", ".join(verdict.personal_data),
        }.get(reason)
        out.append(f"{reason}: {detail}" if detail else reason)
    return out


def content_fields(text: str, analysis: Analysis) -> dict[str, Any]:
    """The text and what the tagger found in it, as ``event_data`` fields."""
    return {
        "content_text": text,
        "content_length": len(text),
        "language_detected": _language(text),
        "sentiment": analysis.label,
        "sentiment_score": round(analysis.score, 2),
        "confidence_score": analysis.confidence,
        "key_topics": analysis.topics,
        "aspect_sentiment": analysis.extracted_topics()["aspects"],
        "skin_concerns_mentioned": list(analysis.concerns),
        "ingredients_mentioned": list(analysis.ingredients),
    }


def quality(
    text: str,
    analysis: Analysis,
    verdict: Verdict,
    *,
    verified: bool,
    has_media: bool,
    has_context: bool,
    expert: bool = False,
) -> dict[str, Any]:
    """0-100 quality (length, aspects covered, specifics, context, media) and authenticity."""
    words = len(text.split())
    points = (
        40 * min(words / 80, 1.0)
        + 20 * min(len(analysis.aspects) / 3, 1.0)
        + 15 * min((len(analysis.concerns) + len(analysis.ingredients)) / 2, 1.0)
        + 10 * has_context
        + 10 * has_media
        + 5 * verified
    )
    n_ingredients = len(analysis.ingredients)
    expertise = "expert" if expert or n_ingredients >= 3 else "intermediate" if n_ingredients else "beginner"
    return {
        "quality_score": round(points * (1.0 - verdict.spam_probability)),
        "authenticity_score": round(100 * (1.0 - verdict.spam_probability) * (1.0 if verified else 0.9)),
        "expertise_level": expertise,
    }


def engagement(counters: dict[str, Any] | None) -> str:
    """``user_engagement_level`` from the user's standing reviews, questions and answers."""
    if not counters:
        return "low"
    total = counters["reviews_written"] + counters["questions_asked"] + counters["answers_provided"]
    return "high" if total >= 10 else "medium" if total >= 3 else "low"


def _language(text: str) -> str:
    """``kh`` for Khmer script, ``en`` for Latin letters (the shop's two languages)."""
    khmer = sum("\u1780" <= c <= "\u17ff" for c in text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    if not khmer and not latin:
        return "unknown"
    return "kh" if khmer > latin else "en"


def keep_first_seen(doc: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """A re-run keeps the first processing time, and the ETL's analytics_updated mark."""
    if existing is None:
        return doc
    doc = dict(doc)
    for stamp in ("processed_at", "created_at", "expires_at"):
        if stamp in doc and stamp in existing:
            doc[stamp] = existing[stamp]
    if "processing_status" in doc and (existing.get("processing_status") or {}).get("analytics_updated"):
        doc["processing_status"] = {**doc["processing_status"], "analytics_updated": True}
    return doc


def iso(moment: datetime | None) -> str | None:
    """Naive UTC as ISO 8601 with ``Z``, the form the ingest API answers with too."""
    return f"{moment.isoformat()}Z" if moment else None
