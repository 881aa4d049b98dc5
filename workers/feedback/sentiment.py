"""Sentiment tagging of skincare feedback: VADER with a skincare lexicon, aspects, topics.

The tagger scores text sentence by sentence with VADER (vaderSentiment), after two skincare
layers from ``lexicon.json``: single words added to VADER's lexicon, and multi-word phrases
("broke me out", "cleared up") rewritten into one synthetic word that carries the phrase's
valence. Rewriting before VADER reads the sentence keeps VADER's rules working on the phrase:
"didn't break me out" is negated, "really broke me out" boosted. Sarcasm cues ("oh great",
"just what I needed") count as negative only when their sentence, or one next to it, is negative.

The whole-text score adds the sentences' raw VADER sums and normalizes once, which is what VADER
does for a whole text, except that "but" weighs only within its own sentence. Scoring per sentence
also gives the aspect sentiment (a sentence's score goes to every aspect it mentions), and it is
cheaper than one call on a long text: VADER's idiom and negation checks are quadratic in the
length of what it is given.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from workers.feedback.text import WORD_RE, PhraseMatcher, expand, joined, normalize, sentences
from workers.feedback.vader import scorer

LEXICON_PATH = Path(__file__).with_name("lexicon.json")

#: The seed's thresholds on the compound score (product_reviews.sentiment_label).
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
#: VADER's normalization constant: compound = x / sqrt(x^2 + ALPHA).
_ALPHA = 15.0
_NEUTRAL_WORD = "skpneutral"  # not in VADER's lexicon, so it scores 0
_SARCASM_WORD = "skpsarcasm"

#: Words that turn a sentence around: aspects on either side are scored apart.
_CONTRAST = frozenset({"but", "however", "although", "though", "whereas", "yet", "except"})

ASPECTS = ("effectiveness", "texture", "scent", "packaging", "value", "results", "side_effects")


def label(score: float) -> str:
    """positive at >= 0.05, negative at <= -0.05, else neutral (the seed's rule)."""
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def _raw(compound: float) -> float:
    """VADER's sum of valences behind a compound score (inverse of its normalization)."""
    c = max(min(compound, 0.9999), -0.9999)
    return c * math.sqrt(_ALPHA / (1.0 - c * c))


def _compound(raw: float) -> float:
    return raw / math.sqrt(raw * raw + _ALPHA)


class Sentence(NamedTuple):
    text: str
    score: float
    #: (aspect, score): the sentence's score, or its clause's where "but" splits the aspects.
    aspects: tuple[tuple[str, float], ...]
    sarcastic: bool = False


class AspectScore(NamedTuple):
    score: float
    label: str
    mentions: int


@dataclass(frozen=True)
class Analysis:
    """What the tagger found in one piece of text."""

    score: float  # compound, -1..1
    label: str
    confidence: float  # 0..1: how strongly and consistently the sentences point one way
    sentences: tuple[Sentence, ...]
    aspects: dict[str, AspectScore] = field(default_factory=dict)
    concerns: tuple[str, ...] = ()
    ingredients: tuple[str, ...] = ()
    lexicon_version: int = 0

    @property
    def topics(self) -> list[str]:
        """Aspects mentioned, most mentioned first."""
        return sorted(self.aspects, key=lambda a: (-self.aspects[a].mentions, ASPECTS.index(a)))

    @property
    def sarcasm(self) -> bool:
        return any(s.sarcastic for s in self.sentences)

    def extracted_topics(self) -> dict[str, Any]:
        """The JSON kept in ``product_reviews.extracted_topics``."""
        return {
            "topics": self.topics,
            "aspects": {
                name: {"score": round(a.score, 2), "label": a.label, "mentions": a.mentions}
                for name, a in self.aspects.items()
            },
            "skin_concerns": list(self.concerns),
            "ingredients": list(self.ingredients),
            "sarcasm": self.sarcasm,
            "lexicon_version": self.lexicon_version,
        }


@dataclass(frozen=True)
class _Phrase:
    word: str  # the synthetic word that replaces the phrase
    sarcasm: bool = False


class Tagger:
    """VADER plus the skincare layer of ``lexicon.json``; build once per process (:func:`get_tagger`)."""

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        data = json.loads(lexicon_path.read_text(encoding="utf-8"))
        self.version: int = data["version"]
        # A private analyzer: the skincare words must not leak into another user of VADER.
        self._vader = SentimentIntensityAnalyzer()
        lexicon = self._vader.lexicon
        for token, entry in data["tokens"].items():
            lexicon[token] = float(entry["valence"])
        phrases: list[tuple[tuple[str, ...], _Phrase]] = []
        for key, entry in data["phrases"].items():
            valence = float(entry["valence"])
            word = "skp" + re.sub(r"[^a-z]", "", key.lower()) if valence else _NEUTRAL_WORD
            if valence:
                lexicon[word] = valence
            phrases += [(seq, _Phrase(word)) for form in entry["forms"] for seq in expand(form)]
        # An ingredient's name is not an opinion: VADER reads "vitamin" and "free" as praise.
        phrases += [
            (seq, _Phrase(_NEUTRAL_WORD))
            for terms in data["ingredients"].values()
            for term in terms
            for seq in expand(term)
        ]
        sarcasm = data["sarcasm"]
        lexicon[_SARCASM_WORD] = float(sarcasm["valence"])
        phrases += [(seq, _Phrase(_NEUTRAL_WORD, True)) for cue in sarcasm["cues"] for seq in expand(cue)]
        self._phrases = PhraseMatcher(phrases)
        # One term may name several things ("breakouts": the side_effects aspect and acne).
        vocabulary: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for kind in ("aspects", "concerns", "ingredients"):
            for name, terms in data[kind].items():
                for term in terms:
                    for seq in expand(term):
                        vocabulary.setdefault(seq, []).append((kind, name))
        self._vocabulary = PhraseMatcher(vocabulary.items())
        #: The compound score of the layered VADER on one piece of text, without rewriting. Built
        #: after the lexicon is complete, as the fast path is checked against the library with it.
        self.vader = scorer(self._vader)

    def analyse(self, *parts: str | None) -> Analysis:
        """Tag the given texts (e.g. title, body, after-notes) as one text."""
        text = normalize(joined(*parts))
        pieces = [self._read(s) for s in sentences(text)]
        scores = [p.plain for p in pieces]
        final: list[Sentence] = []
        for i, p in enumerate(pieces):
            if p.cue:
                # Sarcasm needs a negative neighbour (its own sentence read without the cue counts).
                near = [p.neutral, *scores[max(i - 1, 0) : i], *scores[i + 1 : i + 2]]
                sarcastic = min(near) <= NEGATIVE_AT
                score = p.sarcastic if sarcastic else p.plain
                final.append(Sentence(p.text, score, tuple([(a, score) for a in p.aspects]), sarcastic))
            else:
                per_aspect = p.clauses or tuple([(a, p.plain) for a in p.aspects]) if p.aspects else ()
                final.append(Sentence(p.text, p.plain, per_aspect))
        overall = _compound(sum(_raw(s.score) for s in final)) if final else 0.0
        overall_label = label(overall)
        hits: dict[str, list[float]] = {}
        for s in final:
            for name, value in s.aspects:
                hits.setdefault(name, []).append(value)
        aspects: dict[str, AspectScore] = {}
        for name in ASPECTS:
            if name in hits:
                mean = sum(hits[name]) / len(hits[name])
                aspects[name] = AspectScore(mean, label(mean), len(hits[name]))
        return Analysis(
            score=overall,
            label=overall_label,
            confidence=_confidence(overall, overall_label, final),
            sentences=tuple(final),
            aspects=aspects,
            concerns=_unique(c for p in pieces for c in p.concerns),
            ingredients=_unique(c for p in pieces for c in p.ingredients),
            lexicon_version=self.version,
        )

    def _rewrite(self, text: str) -> tuple[list[str], list[tuple[int, str]], list[str]]:
        """Phrases to synthetic words: (pieces to join, cues as (piece index, as written), words)."""
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lengthen when lower-cased; spans must fit
            text = lower
        seq = WORD_RE.findall(lower)
        matches = list(self._phrases.longest(seq))
        if not matches:
            return [text], [], seq
        spans = [m.span() for m in WORD_RE.finditer(lower)]
        out: list[str] = []
        cues: list[tuple[int, str]] = []
        pos = 0
        for start, end, phrase in matches:
            first, last = spans[start][0], spans[end - 1][1]
            out.append(text[pos:first])
            if phrase.sarcasm:
                cues.append((len(out), text[first:last]))
            out.append(phrase.word)
            pos = last
        out.append(text[pos:])
        return out, cues, seq

    def _read(self, sentence: str) -> _Read:
        out, cues, seq = self._rewrite(sentence)
        mentions: list[tuple[int, str]] = []  # (word index, aspect)
        concerns: list[str] = []
        ingredients: list[str] = []
        for start, _, names in self._vocabulary.all(seq):
            for kind, name in names:
                if kind == "aspects":
                    mentions.append((start, name))
                elif kind == "concerns":
                    concerns.append(name)
                else:
                    ingredients.append(name)
        neutral = plain = sarcastic = self.vader("".join(out))
        if cues:
            for i, written in cues:
                out[i] = written
            plain = self.vader("".join(out))
            for i, _ in cues:
                out[i] = _SARCASM_WORD
            sarcastic = self.vader("".join(out))
        aspects = _unique(name for _, name in mentions) if mentions else ()
        clauses: tuple[tuple[str, float], ...] = ()
        if len(aspects) > 1 and not cues and not _CONTRAST.isdisjoint(seq):
            clauses = self._clauses(sentence, seq, mentions)
        return _Read(
            sentence,
            plain,
            neutral,
            sarcastic,
            bool(cues),
            aspects,
            clauses,
            tuple(concerns),
            tuple(ingredients),
        )

    def _clauses(
        self, sentence: str, seq: list[str], mentions: list[tuple[int, str]]
    ) -> tuple[tuple[str, float], ...]:
        """Aspect scores per clause of "The texture is lovely but the scent is awful"."""
        bounds = [0, *(i for i, w in enumerate(seq) if w in _CONTRAST), len(seq)]
        pieces = [" ".join(seq[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
        pairs: list[tuple[str, float]] = []
        for (lo, hi), clause in zip(itertools.pairwise(bounds), pieces, strict=True):
            names = _unique(name for start, name in mentions if lo <= start < hi)
            if names:
                out, _, _ = self._rewrite(clause)
                clause_score = self.vader("".join(out))
                pairs += [(name, clause_score) for name in names]
        return tuple(pairs)


class _Read(NamedTuple):
    text: str
    plain: float  # read with the skincare layer, cues literally
    neutral: float  # cues as neutral words
    sarcastic: float  # cues as sarcasm
    cue: bool
    aspects: tuple[str, ...]
    clauses: tuple[tuple[str, float], ...]  # per-clause aspect scores when "but" splits them
    concerns: tuple[str, ...]
    ingredients: tuple[str, ...]


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _confidence(score: float, overall: str, parts: list[Sentence]) -> float:
    """Half agreement (share of sentences with the overall label), half strength of the score."""
    if not parts:
        return 0.0
    agreement = sum(label(s.score) == overall for s in parts) / len(parts)
    if overall == "neutral":
        strength = 1.0 - min(abs(score) / POSITIVE_AT, 1.0)
    else:
        strength = min(abs(score) / 0.5, 1.0)
    return round(0.5 * agreement + 0.5 * strength, 2)


@lru_cache(maxsize=1)
def get_tagger() -> Tagger:
    """The process's tagger (loading VADER's lexicon takes tens of milliseconds)."""
    return Tagger()
