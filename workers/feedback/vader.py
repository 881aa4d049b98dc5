"""VADER's compound score, the same number as vaderSentiment's, computed without its overheads.

``SentimentIntensityAnalyzer.polarity_scores`` lower-cases and copies the whole word list again
for every check of every sentiment word (negation, idioms, "but"), builds objects per call and
scans the text character by character for emoji. :class:`Compound` applies the same rules, in
the same order and with the same arithmetic, to a word list lower-cased once, and only at the
words of the lexicon; the rare texts that need the library's odd "but" rule or emoji replacement
get the library's own code for that step. :func:`scorer` checks it against the library before
it is trusted.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Callable, Iterable

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

log = logging.getLogger(__name__)

_NEGATE = frozenset(NEGATE)
_PUNCTUATION = string.punctuation
_SO_THIS = ("so", "this")
#: The words of VADER's multi-word idioms and boosters: a word sequence without them matches none.
_IDIOM_WORDS = frozenset(
    word for key in (*SPECIAL_CASES, *BOOSTER_DICT) if " " in key for word in key.split()
)


def _negated(word: str) -> bool:
    """vaderSentiment's ``negated([word])`` for one lower-cased word."""
    return word in _NEGATE or "n't" in word


class Compound:
    """``analyzer.polarity_scores(text)["compound"]`` for one analyzer (its lexicon, live)."""

    def __init__(self, analyzer: SentimentIntensityAnalyzer) -> None:
        self._analyzer = analyzer
        self._lexicon: dict[str, float] = analyzer.lexicon
        self._emojis: dict[str, str] = analyzer.emojis

    def __call__(self, text: str) -> float:
        if not text.isascii():  # every emoji of VADER's table is non-ASCII
            text = self._replace_emoji(text)
        text = text.strip()
        # SentiText's words: punctuation stripped unless that leaves two characters or fewer (":)").
        words = [t if len(s := t.strip(_PUNCTUATION)) <= 2 else s for t in text.split()]
        if not words:
            return 0.0
        lowers = [w.lower() for w in words]
        lexicon = self._lexicon
        n = len(words)
        caps = sum(map(str.isupper, words))
        is_cap_diff = 0 < n - caps < n
        valences: dict[int, float] = {}
        for i, item_lower in enumerate(lowers):
            if item_lower not in lexicon or item_lower in BOOSTER_DICT:
                continue
            if item_lower == "kind" and i < n - 1 and lowers[i + 1] == "of":
                continue
            valences[i] = self._valence(words, lowers, i, is_cap_diff)
        if "but" in lowers:
            # The library's rule rewrites values found by list.index(), duplicates and all: reuse it.
            sentiments: list[float] = [valences.get(i, 0) for i in range(n)]
            total = float(sum(SentimentIntensityAnalyzer._but_check(words, sentiments)))
        else:
            total = float(sum(valences.values()))
        ep = min(text.count("!"), 4) * 0.292
        qm_count = text.count("?")
        qm = (qm_count * 0.18 if qm_count <= 3 else 0.96) if qm_count > 1 else 0
        if total > 0:
            total += ep + qm
        elif total < 0:
            total -= ep + qm
        compound = total / math.sqrt(total * total + 15)
        return round(max(-1.0, min(1.0, compound)), 4)

    def _replace_emoji(self, text: str) -> str:
        """The library's emoji-to-description pass (a loop it runs over every text)."""
        out: list[str] = []
        prev_space = True
        for ch in text:
            description = self._emojis.get(ch)
            if description is not None:
                if not prev_space:
                    out.append(" ")
                out.append(description)
                prev_space = False
            else:
                out.append(ch)
                prev_space = ch == " "
        return "".join(out)

    def _valence(self, words: list[str], lowers: list[str], i: int, is_cap_diff: bool) -> float:
        """``sentiment_valence`` of the lexicon word at ``i``, rule for rule."""
        lexicon = self._lexicon
        item_lower = lowers[i]
        n = len(lowers)
        valence = lexicon[item_lower]
        if item_lower == "no" and i != n - 1 and lowers[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lowers[i - 1] == "no")
            or (i > 1 and lowers[i - 2] == "no")
            or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in ("or", "nor"))
        ):
            valence = lexicon[item_lower] * N_SCALAR
        if is_cap_diff and words[i].isupper():
            valence = valence + C_INCR if valence > 0 else valence - C_INCR
        for start_i in range(3):
            j = i - (start_i + 1)
            if j < 0 or lowers[j] in lexicon:
                continue
            s = 0.0
            booster = BOOSTER_DICT.get(lowers[j])
            if booster is not None:
                s = -booster if valence < 0 else booster
                if is_cap_diff and words[j].isupper():
                    s = s + C_INCR if valence > 0 else s - C_INCR
                if start_i == 1:
                    s = s * 0.95
                elif start_i == 2:
                    s = s * 0.9
            valence = valence + s
            valence = _negation(valence, lowers, start_i, i)
            if start_i == 2:
                valence = _idioms(valence, lowers, i)
        if i > 1 and lowers[i - 1] not in lexicon and lowers[i - 1] == "least":
            if lowers[i - 2] != "at" and lowers[i - 2] != "very":
                valence = valence * N_SCALAR
        elif i > 0 and lowers[i - 1] not in lexicon and lowers[i - 1] == "least":
            valence = valence * N_SCALAR
        return valence


def _negation(valence: float, lowers: list[str], start_i: int, i: int) -> float:
    """``SentimentIntensityAnalyzer._negation_check``."""
    if start_i == 0:
        if _negated(lowers[i - 1]):
            valence = valence * N_SCALAR
    elif start_i == 1:
        if lowers[i - 2] == "never" and lowers[i - 1] in _SO_THIS:
            valence = valence * 1.25
        elif lowers[i - 2] == "without" and lowers[i - 1] == "doubt":
            pass
        elif _negated(lowers[i - 2]):
            valence = valence * N_SCALAR
    else:
        if (lowers[i - 3] == "never" and lowers[i - 2] in _SO_THIS) or lowers[i - 1] in _SO_THIS:
            valence = valence * 1.25
        elif lowers[i - 3] == "without" and (lowers[i - 2] == "doubt" or lowers[i - 1] == "doubt"):
            pass
        elif _negated(lowers[i - 3]):
            valence = valence * N_SCALAR
    return valence


def _idioms(valence: float, lowers: list[str], i: int) -> float:
    """``SentimentIntensityAnalyzer._special_idioms_check`` (called with ``i > 2`` only)."""
    w0, w1, w2, w3 = lowers[i], lowers[i - 1], lowers[i - 2], lowers[i - 3]
    if w0 not in _IDIOM_WORDS and w1 not in _IDIOM_WORDS and w2 not in _IDIOM_WORDS:
        return valence  # every sequence below holds one of these three words
    onezero = f"{w1} {w0}"
    twoonezero = f"{w2} {w1} {w0}"
    twoone = f"{w2} {w1}"
    threetwoone = f"{w3} {w2} {w1}"
    threetwo = f"{w3} {w2}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            break
    n = len(lowers)
    if n - 1 > i:
        zeroone = f"{w0} {lowers[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = f"{w0} {lowers[i + 1]} {lowers[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence


#: One text per rule of the library (boosters, capitals, "no", negation, "least", "kind of",
#: idioms, "but", punctuation, emoticons, emoji).
PROBES = (
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "No good, no bad, no joy or love. It was not at all kind of good?? Really??",
    "At least it isn't a horrible book. One of the least compelling. Very least good.",
    "Never so good, never this bad, without a doubt excellent, it isn't very nice",
    "With VADER it is the shit! Yeah right, bad ass, to die for, kiss of death, just enough fun",
    "I barely cared, sort of liked it, kinda sorta good :) <3 :-( :D",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁!",
    "good good good but but bad bad ok",
    "",
)


def check(compound: Compound, analyzer: SentimentIntensityAnalyzer, texts: Iterable[str]) -> list[str]:
    """The texts on which ``compound`` and the library disagree."""
    return [t for t in texts if compound(t) != analyzer.polarity_scores(t)["compound"]]


def scorer(analyzer: SentimentIntensityAnalyzer) -> Callable[[str], float]:
    """The fast compound score if it agrees with the library on :data:`PROBES`, else the library's."""
    fast = Compound(analyzer)
    if not check(fast, analyzer, PROBES):
        return fast
    log.warning("vaderSentiment's rules changed; using its slower polarity_scores")
    return lambda text: float(analyzer.polarity_scores(text)["compound"])
