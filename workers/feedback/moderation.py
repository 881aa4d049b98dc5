"""Moderation scoring of feedback text, and the automatic decision that follows from it.

:func:`score` measures: spam probability (links, contact details, promo codes, calls to action,
repetition, shouting, near-duplicates of other items by word-shingle Jaccard similarity),
toxicity (alt-profanity-check's linear SVM, which ships its trained model in the wheel),
medical claims ("cures eczema", "FDA approved"), dangerous DIY advice (bleach, toothpaste on
acne, lemon juice peels), misuse of actives, allergic reactions and personal data.

:func:`decide` turns that into an action with the thresholds of :class:`ModerationSettings`
(environment variables ``MODERATION_*``): clean content is approved, clear spam is rejected,
everything else goes to a human; medical claims and safety issues always do, at priority 1.
"""

from __future__ import annotations

import logging
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.models import ModerationStatus
from workers.feedback.text import PhraseMatcher, expand, normalize, sentences

log = logging.getLogger(__name__)


class ModerationSettings(BaseSettings):
    """Moderation thresholds, read from ``MODERATION_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MODERATION_", case_sensitive=False, extra="ignore")

    spam_review_at: float = Field(
        0.5, ge=0, le=1, description="Spam probability from which an item goes to a human."
    )
    spam_reject_at: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Spam probability from which an item is rejected without a human "
        "(unless it also raises a medical or safety flag, which always needs a human).",
    )
    toxicity_review_at: float = Field(
        0.7, ge=0, le=1, description="Toxicity score from which content counts as inappropriate."
    )
    toxicity_urgent_at: float = Field(
        0.9, ge=0, le=1, description="Toxicity score from which the queue priority is 2 instead of 3."
    )
    near_duplicate_similarity: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Jaccard similarity of word 3-shingles from which two texts are near-duplicates.",
    )
    near_duplicate_min_words: int = Field(
        8, ge=1, description="Texts shorter than this (in words) are never called near-duplicates."
    )
    near_duplicate_window: int = Field(
        200, ge=0, description="How many recent items of the same product a text is compared with."
    )
    attention_sentiment_at: float = Field(
        -0.75,
        ge=-1,
        le=1,
        description="Sentiment score at or below which feedback requires immediate attention.",
    )
    attention_side_effects_severity: int = Field(
        4,
        ge=0,
        le=5,
        description="Progress side_effects_severity from which moderators are alerted (priority 1).",
    )
    retention_days: int = Field(
        365, ge=1, description="Days until a moderation_intelligence document expires (expires_at)."
    )


@lru_cache(maxsize=1)
def get_moderation_settings() -> ModerationSettings:
    return ModerationSettings()


# -- Spam -------------------------------------------------------------------------------------------

#: Probability that a text with this one signal is spam; signals combine as a noisy-OR, so one
#: signal sends an item to a human and two strong ones reach the rejection threshold.
SPAM_WEIGHTS: dict[str, float] = {
    "link": 0.7,
    "contact": 0.6,
    "promo_code": 0.7,
    "call_to_action": 0.5,
    "repetition": 0.6,
    "shouting": 0.3,
    "near_duplicate": 0.8,
}

_I = re.IGNORECASE


@dataclass(frozen=True)
class _Rule:
    """A regex that can only match when one of its trigger words occurs: most texts skip it."""

    triggers: frozenset[str]
    regex: re.Pattern[str]

    def search(self, text: str, words: frozenset[str]) -> re.Match[str] | None:
        return None if self.triggers.isdisjoint(words) else self.regex.search(text)

    def findall(self, text: str, words: frozenset[str]) -> list[str]:
        return [] if self.triggers.isdisjoint(words) else [m.group(0) for m in self.regex.finditer(text)]


def _rule(triggers: str, pattern: str, flags: int = _I) -> _Rule:
    return _Rule(frozenset(triggers.split()), re.compile(pattern, flags))


_TLDS = r"(?:com|net|org|io|co|shop|store|biz|info|xyz|ly|me|link)"
_LINK_HINT_RE = re.compile(rf"https?://|www\.|\.{_TLDS}\b", _I)
_LINK_RE = re.compile(rf"\b(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]*\.{_TLDS}\b", _I)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE_RE = re.compile(r"(?<![\w+])\+?\d[\d\s().-]{7,}\d(?!\w)")
_HANDLE_RE = re.compile(r"(?<![\w@])@[a-z0-9_.]{3,}", _I)
_MESSENGERS = frozenset({"whatsapp", "telegram", "wechat", "snapchat", "kik"})
_PROMO = _rule(
    "promo discount coupon referral voucher affiliate code off",
    r"\b(?:promo|discount|coupon|referral|voucher|affiliate)\s+(?:code|link)\b"
    r"|\b(?:use|enter|apply)\s+(?:my\s+)?code\b|\bcode\s*:?\s*[A-Z0-9]{4,}\b|\b\d{1,2}\s?%\s+off\b",
)
_CALLS_TO_ACTION = PhraseMatcher(
    (seq, True)
    for form in (
        "{buy|order|shop} now",
        "click here",
        "visit {my|our}",
        "check out my",
        "{follow|dm|message|contact|text} me",
        "link in {my|} bio",
        "limited time",
        "free shipping",
        "{best|cheapest} price",
        "sign up",
        "earn money",
        "work from home",
    )
    for seq in expand(form)
)
_WORD_RE = re.compile(r"[a-z0-9']+")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_NO_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NO_LETTERS = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _repetitive(words: list[str]) -> bool:
    """Copy-paste padding: few distinct words, or one 3-word run repeated three times or more."""
    distinct = len(set(words))
    if len(words) >= 12 and distinct / len(words) < 0.4:
        return True
    if len(words) - distinct < 4:  # a 3-word run found 3 times repeats at least 4 words
        return False
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    if len(trigrams) - len(set(trigrams)) < 2:  # a run found 3 times leaves 2 duplicates
        return False
    return max(Counter(trigrams).values()) >= 3


def _shouting(text: str) -> bool:
    """Mostly capitals (ASCII letters are counted: translate() deletes them in C)."""
    letters = len(text) - len(text.translate(_NO_LETTERS))
    upper = len(text) - len(text.translate(_NO_UPPER))
    return letters >= 12 and upper / letters > 0.7


def shingles(text: str) -> frozenset[int]:
    """Hashes of the text's word 3-grams (lower-cased): the unit of near-duplicate comparison.

    Python's string hash differs between processes; shingles and fingerprints are only ever
    compared within one process, never stored.
    """
    ws = _WORD_RE.findall(text.lower())
    return frozenset(map(hash, zip(ws, ws[1:], ws[2:], strict=False) if len(ws) > 2 else [tuple(ws)]))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _simhash(hashes: Iterable[int]) -> int:
    """64-bit SimHash: each bit is the majority vote of that bit over the shingle hashes."""
    values = np.fromiter(hashes, dtype=np.int64)
    if not len(values):
        return 0
    bits = np.unpackbits(values.view(np.uint8)).reshape(len(values), 64)
    return int.from_bytes(np.packbits(bits.sum(axis=0) * 2 > len(values)).tobytes(), "big")


@lru_cache(maxsize=4096)
def _features(text: str) -> tuple[frozenset[int], int]:
    """A text's shingles and SimHash, cached: a review is compared with the same recent items
    again and again, first as the new text and then as one of the window of the next ones."""
    hashes = shingles(text)
    return hashes, _simhash(hashes)


#: SimHash fingerprints further apart than this many bits (of 64) are not compared exactly.
#: Measured on edited copies of generated reviews: of pairs with Jaccard >= 0.6, 0.3% lie
#: further apart (missed); of unrelated pairs (around 32 bits apart), 3% pass the screen.
SCREEN_BITS = 22


def nearest(
    text: str, others: Iterable[tuple[int, str]], screen_bits: int = SCREEN_BITS
) -> tuple[int | None, float]:
    """The id of the most similar of ``others`` (id, text) and its Jaccard similarity.

    SimHash screens (a popcount per candidate), exact shingle Jaccard decides for the few
    candidates within ``screen_bits``, so a window of hundreds of recent items costs
    microseconds each. ``screen_bits=64`` compares every candidate exactly.
    """
    mine: frozenset[int] | None = None
    mark = 0
    best_id: int | None = None
    best = 0.0
    for other_id, other in others:
        if mine is None:
            mine, mark = _features(text)
        hashes, fingerprint = _features(other)
        if (fingerprint ^ mark).bit_count() > screen_bits:
            continue
        sim = jaccard(mine, hashes)
        if sim > best:
            best_id, best = other_id, sim
    return best_id, best


# -- Toxicity ---------------------------------------------------------------------------------------

#: Texts the fast path must score exactly as the library does before it is trusted.
_PROBES = (
    "you are an idiot",
    "this stupid bottle leaks",
    "what a piece of shit product",
    "lovely cream, my skin is glowing",
    "damn good serum",
    "Ünïcödé wörds, you IDIOT",
    "",
)


class Toxicity:
    """alt-profanity-check's probability, computed from the model's own weights.

    The library's ``predict_prob`` costs about 3 ms per call, nearly all of it scikit-learn's
    per-call validation; the model is a TF-IDF vectorizer (lower-case, word tokens, English stop
    words, l2 norm) feeding a sigmoid-calibrated linear SVM (one per cross-validation fold,
    averaged). A sentence has a handful of known words, so the same numbers are a few sums over
    them: each term keeps its idf and its idf times each fold's weight, and a sentence's norm and
    decisions are sums of those (plain floats: for vectors this short numpy's per-call overhead
    costs more than the arithmetic). Stop words are never in the vocabulary, so keeping the
    vocabulary's tokens is the stop-word step. The fast path is checked against the library on
    probe texts when it is built, and is not used if they disagree.
    """

    def __init__(self) -> None:
        from profanity_check import profanity_check as library

        vectorizer, model = library.vectorizer, library.model
        self._library: Callable[[list[str]], Any] = library.predict_prob
        self._token = re.compile(vectorizer.token_pattern)
        # On ASCII text, \w is [A-Za-z0-9_]: the same tokens without Unicode classes.
        self._ascii_token = re.compile(vectorizer.token_pattern.replace("(?u)", ""), re.ASCII)
        folds = model.calibrated_classifiers_
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        weights = np.stack([np.asarray(cc.estimator.coef_[0], dtype=np.float64) for cc in folds], axis=1)
        #: term -> (idf, idf * weight of fold 1, ..., idf * weight of fold k)
        self._terms: dict[str, tuple[float, ...]] = {
            term: (float(idf[j]), *(idf[j] * weights[j]).tolist())
            for term, j in vectorizer.vocabulary_.items()
        }
        #: (SVM intercept, calibration a, calibration b) per fold
        self._folds = [
            (float(cc.estimator.intercept_[0]), float(cc.calibrators[0].a_), float(cc.calibrators[0].b_))
            for cc in folds
        ]
        self._empty = self._probability([])
        expected = [float(p) for p in self._library(list(_PROBES))]
        got = self._fast(list(_PROBES))
        self.fast = all(abs(g - e) < 1e-9 for g, e in zip(got, expected, strict=True))
        if not self.fast:
            log.warning("alt-profanity-check model changed shape; using its slower predict_prob")

    def _fast(self, texts: list[str]) -> list[float]:
        terms, empty = self._terms, self._empty
        out = []
        for text in texts:
            lower = text.lower()
            tokens = (self._ascii_token if lower.isascii() else self._token).findall(lower)
            found = [t for t in tokens if t in terms]
            out.append(self._probability(found) if found else empty)
        return out

    def _probability(self, found: list[str]) -> float:
        """Mean over the folds of each fold's calibrated sigmoid of its SVM decision on the
        l2-normalized TF-IDF vector of ``found`` (the sentence's vocabulary tokens)."""
        if not found:
            return sum(1.0 / (1.0 + math.exp(a * i + b)) for i, a, b in self._folds) / len(self._folds)
        if len(set(found)) == len(found):
            rows = [self._terms[t] for t in found]
        else:  # a repeated word: its term frequency scales its row
            rows = [tuple(n * x for x in self._terms[t]) for t, n in Counter(found).items()]
        idfs, *columns = zip(*rows, strict=True)
        norm = math.sqrt(sum(map(operator.mul, idfs, idfs)))
        total = 0.0
        for (i, a, b), dot in zip(self._folds, map(sum, columns), strict=True):
            total += 1.0 / (1.0 + math.exp(a * (i + dot / norm) + b))
        return total / len(self._folds)

    def __call__(self, text: str) -> float:
        """Probability (0..1) that ``text`` is offensive; the worst sentence counts."""
        parts = sentences(text) or [text]
        if self.fast:
            return max(self._fast(parts))
        return float(max(self._library(parts)))


@lru_cache(maxsize=1)
def get_toxicity() -> Toxicity:
    """Loaded on first use: importing scikit-learn takes about a second."""
    return Toxicity()


# -- Medical claims and safety ------------------------------------------------------------------------

_CONDITIONS = (
    r"(?:eczema|psoriasis|rosacea|dermatitis|melasma|vitiligo|cancer|infections?|disease|acne|cystic acne"
    r"|keratosis pilaris|warts?|fungal \w+|lupus|shingles|herpes|cold sores?)"
)
_MEDS = (
    r"(?:medications?|medicines?|prescriptions?|antibiotics|accutane|isotretinoin|steroids?|spironolactone)"
)

_CURE = "cure cures cured curing treat treats treated treating heal heals healed healing"
#: (rule, severity); the matched text becomes the claim in medical_claims_list.
_MEDICAL: tuple[tuple[_Rule, str], ...] = (
    (
        _rule(
            f"prevent prevents reverse reverses {_CURE}",
            r"\b(?:prevents?|reverses?|cures?|cured|treats?)\s+(?:skin\s+)?cancer\b",
        ),
        "high",
    ),
    (
        _rule(_CURE, rf"\b(?:cures?|cured|curing)\s+(?:(?:my|your|his|her|the)\s+)?{_CONDITIONS}\b"),
        "medium",
    ),
    (
        _rule(
            _CURE,
            r"\b(?:treats?|treated|treating|heals?|healed|healing)\s+(?:(?:my|your|his|her|the)\s+)?"
            r"(?:eczema|psoriasis|rosacea|dermatitis|melasma|vitiligo|infections?|wounds?|lupus)\b",
        ),
        "medium",
    ),
    (_rule("miracle", r"\bmiracle cure\b"), "medium"),
    (_rule("fda", r"\bfda[\s-]*(?:approved|cleared|certified)\b"), "low"),
    (_rule("clinically", r"\bclinically proven to\s+\w+"), "low"),
)
#: Advice to drop medical care: always high severity.
_UNVERIFIED_ADVICE = _rule(
    "stop stopped quit replace replaces replaced instead better need",
    rf"\b(?:stop(?:ped)?|quit)\s+(?:taking|using)\s+(?:(?:my|your)\s+)?{_MEDS}"
    rf"|\b(?:replaces?|replaced|instead of|better than|no need for)\s+(?:(?:my|your|a)\s+)?"
    rf"(?:{_MEDS}|doctors?|dermatologists?)\b",
)
_SKIN = r"(?:face|skin|spots?|dark spots|acne|pimples?|zits?|blemish(?:es)?|scars?)"
_DIY: tuple[tuple[str, _Rule], ...] = (
    (
        "bleach",
        _rule(
            "bleach",
            rf"\b(?:put|apply|applied|use|used|using|rub|mix|mixed|dab|diluted)\b[^.!?]{{0,40}}\bbleach\b"
            rf"|\bbleach\b[^.!?]{{0,30}}\b(?:on|to)\s+(?:(?:my|your|the)\s+)?{_SKIN}",
        ),
    ),
    ("toothpaste", _rule("toothpaste", rf"\btoothpaste\b[^.!?]{{0,40}}\b{_SKIN}")),
    (
        "lemon_juice",
        _rule(
            "lemon lemons",
            rf"\blemons?(?:\s+juice)?\b[^.!?]{{0,40}}\b(?:on|to)\s+(?:(?:my|your|the)\s+)?{_SKIN}"
            r"|\blemon(?:\s+juice)?\s+(?:peel|toner|mask|scrub)",
        ),
    ),
    ("baking_soda", _rule("baking", r"\bbaking soda\b[^.!?]{0,40}\b(?:face|skin|scrub|mask|exfoliat\w*)")),
    ("hydrogen_peroxide", _rule("hydrogen", rf"\bhydrogen peroxide\b[^.!?]{{0,40}}\b{_SKIN}")),
    (
        "rubbing_alcohol",
        _rule("rubbing isopropyl", rf"\b(?:rubbing|isopropyl) alcohol\b[^.!?]{{0,40}}\b{_SKIN}"),
    ),
    (
        "undiluted_oils",
        _rule(
            "undiluted neat straight pure",
            r"\b(?:undiluted|neat|straight|pure)\s+(?:tea tree|essential|apple cider vinegar|vinegar)"
            r"|\b(?:tea tree|essential) oils?\s+(?:undiluted|neat|straight)\b",
        ),
    ),
    ("acetone", _rule("nail acetone", rf"\b(?:nail polish remover|acetone)\b[^.!?]{{0,40}}\b{_SKIN}")),
)
_ACTIVE = (
    r"(?:retinol|tretinoin|retinoids?|aha|bha|glycolic|salicylic|lactic"
    r"|benzoyl peroxide|vitamin c|acids?|peel)"
)
_MISUSE = (
    _rule(
        "mix mixed mixing layer layered layering combine combined combining",
        r"\b(?:mix|mixed|mixing|layer|layered|layering|combine|combined|combining)\b[^.!?]{0,40}"
        r"\b(?:retinol|tretinoin|retinoids?)\b[^.!?]{0,40}"
        r"\b(?:aha|bha|glycolic|salicylic|benzoyl peroxide|acids?)\b",
    ),
    _rule(
        "leave left leaving",
        rf"\b(?:leave|left|leaving)\s+(?:it|the\s+{_ACTIVE})\s+on\s+(?:overnight|all night|for hours)\b",
    ),
    _rule(
        "times",
        rf"\b{_ACTIVE}\b[^.!?]{{0,40}}\b(?:[3-9]|three|four|five|several|multiple)\s+times\s+a\s+day\b",
    ),
)
_NO_SPF = _rule(
    "sunscreen spf", r"\b(?:skip|skipped|skipping|without|no|never (?:use|wear))\s+(?:sunscreen|spf)\b"
)
_ACTIVE_RE = re.compile(rf"\b{_ACTIVE}\b", _I)
_ALLERGY = _rule(
    "allergic anaphylaxis anaphylactic hives swollen swelling swelled blister blisters blistered blistering "
    "chemical er emergency urgent hospital epipen epi breathe breathing",
    r"\ballergic reactions?\b|\banaphyla\w*|\bhives\b|\bswollen\b|\bswelling\b|\bswelled\b"
    r"|\bblister\w*|\bchemical burns?\b|(?-i:\bER\b)|\bemergency room\b|\burgent care\b|\bhospital\b"
    r"|\bepi-?pen\b|\bcan'?t breathe\b|\b(?:difficulty|trouble) breathing\b",
)


# -- Verdict and decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Everything :func:`score` measured in one text."""

    spam_probability: float
    spam_signals: tuple[str, ...]
    toxicity_score: float
    inappropriate: bool
    medical_claims: tuple[str, ...]
    medical_severity: str | None
    unverified_medical_advice: bool
    harmful_diy: tuple[str, ...]
    ingredient_misuse: bool
    allergic_reaction: bool
    personal_data: tuple[str, ...]
    near_duplicate_of: int | None
    near_duplicate_similarity: float

    @property
    def medical(self) -> bool:
        return bool(self.medical_claims) or self.unverified_medical_advice

    @property
    def dangerous_advice(self) -> bool:
        return bool(self.harmful_diy) or self.ingredient_misuse or self.unverified_medical_advice

    @property
    def safety_issue(self) -> bool:
        return bool(self.harmful_diy) or self.unverified_medical_advice or self.allergic_reaction

    def signals(self) -> dict[str, Any]:
        """The findings behind the scores, as JSON (moderation_queue.content_metadata)."""
        return {
            "spam_signals": list(self.spam_signals),
            "near_duplicate_of": self.near_duplicate_of,
            "near_duplicate_similarity": self.near_duplicate_similarity,
            "medical_claims": list(self.medical_claims),
            "harmful_diy": list(self.harmful_diy),
            "ingredient_misuse": self.ingredient_misuse,
            "allergic_reaction": self.allergic_reaction,
            "personal_data": list(self.personal_data),
        }

    def flagged_reasons(self, settings: ModerationSettings) -> list[str]:
        """The seed's ``moderation_queue.flagged_reasons`` vocabulary, most serious first."""
        reasons = []
        if self.medical:
            reasons.append("medical_claims")
        if self.harmful_diy or self.unverified_medical_advice:
            reasons.append("dangerous_advice")
        if self.allergic_reaction:
            reasons.append("allergic_reaction")
        if self.ingredient_misuse:
            reasons.append("ingredient_misuse")
        if self.inappropriate:
            reasons.append("inappropriate_content")
        if self.spam_probability >= settings.spam_review_at:
            reasons.append("spam")
        if self.personal_data:
            reasons.append("personal_data")
        return reasons


def score(
    text: str,
    *,
    others: Iterable[tuple[int, str]] = (),
    settings: ModerationSettings | None = None,
) -> Verdict:
    """Score ``text``; ``others`` are (id, text) of recent items it must not duplicate."""
    settings = settings or get_moderation_settings()
    text = normalize(text)
    lower = text.lower()
    words = _WORD_RE.findall(lower)
    vocabulary = frozenset(words)
    signals: list[str] = []
    emails = _EMAIL_RE.findall(text) if "@" in text else []
    without_emails = _EMAIL_RE.sub(" ", text) if emails else text  # an email's domain is no link
    if _LINK_HINT_RE.search(without_emails) and _LINK_RE.search(without_emails):
        signals.append("link")
    phones: list[str] = []
    if len(text) - len(text.translate(_NO_DIGITS)) >= 9:
        phones = [p for p in _PHONE_RE.findall(text) if sum(c.isdigit() for c in p) >= 9]
    handle = "@" in without_emails and _HANDLE_RE.search(without_emails)
    if emails or phones or handle or not _MESSENGERS.isdisjoint(vocabulary):
        signals.append("contact")
    if _PROMO.search(text, vocabulary):
        signals.append("promo_code")
    if _CALLS_TO_ACTION.longest(words):
        signals.append("call_to_action")
    if _repetitive(words):
        signals.append("repetition")
    if _shouting(text):
        signals.append("shouting")
    dup_id: int | None = None
    dup_sim = 0.0
    if len(words) >= settings.near_duplicate_min_words:
        dup_id, dup_sim = nearest(text, others)
        if dup_sim >= settings.near_duplicate_similarity:
            signals.append("near_duplicate")
        else:
            dup_id = None
    spam = 1.0 - math.prod(1.0 - SPAM_WEIGHTS[s] for s in signals)

    toxicity = get_toxicity()(text) if text.strip() else 0.0
    claims: list[str] = []
    severity_rank = {"low": 1, "medium": 2, "high": 3}
    severity: str | None = None
    for rule, level in _MEDICAL:
        found = rule.findall(text, vocabulary)
        claims += found
        if found and (severity is None or severity_rank[level] > severity_rank[severity]):
            severity = level
    unverified = _UNVERIFIED_ADVICE.search(text, vocabulary)
    if unverified:
        claims.append(unverified.group(0))
        severity = "high"
    misuse = any(r.search(text, vocabulary) for r in _MISUSE) or bool(
        _NO_SPF.search(text, vocabulary) and _ACTIVE_RE.search(text)
    )
    personal = (["email"] if emails else []) + (["phone"] if phones else [])
    return Verdict(
        spam_probability=round(spam, 2),
        spam_signals=tuple(signals),
        toxicity_score=round(toxicity, 2),
        inappropriate=toxicity >= settings.toxicity_review_at,
        medical_claims=tuple(dict.fromkeys(claims)),
        medical_severity=severity,
        unverified_medical_advice=bool(unverified),
        harmful_diy=tuple(name for name, r in _DIY if r.search(text, vocabulary)),
        ingredient_misuse=misuse,
        allergic_reaction=bool(_ALLERGY.search(text, vocabulary)),
        personal_data=tuple(personal),
        near_duplicate_of=dup_id,
        near_duplicate_similarity=round(dup_sim, 2),
    )


@dataclass(frozen=True)
class Decision:
    """What happens to the content: ``approve``, ``reject`` or ``review`` (a human decides)."""

    action: str
    reasons: tuple[str, ...]
    priority: int | None = None  # moderation_queue.priority_level, 1 = most urgent
    queue_status: ModerationStatus | None = None
    confidence: float = 1.0

    @property
    def human_review_required(self) -> bool:
        return self.action == "review"


def decide(
    verdict: Verdict, *, extra_reasons: Iterable[str] = (), settings: ModerationSettings | None = None
) -> Decision:
    """Approve clean content, reject clear spam, send everything else to a human.

    ``extra_reasons`` are safety findings made outside the text (a progress entry's side-effect
    severity); like medical claims and safety issues they always reach a human at priority 1.
    """
    settings = settings or get_moderation_settings()
    extra = tuple(extra_reasons)
    reasons = tuple(verdict.flagged_reasons(settings)) + extra
    if not reasons:
        return Decision(
            "approve", (), confidence=round(1.0 - max(verdict.spam_probability, verdict.toxicity_score), 2)
        )
    urgent = verdict.medical or verdict.safety_issue or bool(extra)
    if verdict.spam_probability >= settings.spam_reject_at and not urgent:
        return Decision(
            "reject", reasons, queue_status=ModerationStatus.rejected, confidence=verdict.spam_probability
        )
    if urgent:
        priority = 1
    elif verdict.ingredient_misuse or verdict.toxicity_score >= settings.toxicity_urgent_at:
        priority = 2
    else:
        priority = 3
    status = ModerationStatus.needs_review if priority <= 2 else ModerationStatus.pending
    return Decision("review", reasons, priority, status, confidence=0.5)
