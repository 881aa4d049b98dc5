"""Category and urgency of a product question (``product_questions.question_category``/``urgency_level``).

Categories are the seed's: ingredients, usage, results, side_effects, compatibility; a question
matching none is ``general``. Urgency is ``high`` for reactions that need an answer now
(allergic reactions, burning, swelling), ``normal`` for other side effects and safety questions
(pregnancy, sensitive skin), else ``low``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CATEGORIES = ("side_effects", "compatibility", "ingredients", "results", "usage")

_I = re.IGNORECASE
#: (category, pattern, weight): the category with the highest total wins; ties go to the
#: earlier category in CATEGORIES (a side-effect question matters more than a usage one).
_RULES: tuple[tuple[str, re.Pattern[str], int], ...] = (
    (
        "side_effects",
        re.compile(
            r"\bside[\s-]effects?\b|\birritat\w*|\bbr(?:eak|oke|eaking)\s+(?:me\s+)?out\b|\bbreakouts?\b"
            r"|\bpurg\w*|\bsting\w*|\bburn\w*|\ballerg\w*|\breactions?\b|\brash\w*|\bredness\b|\bitch\w*"
            r"|\bpeel\w*|\bswell\w*|\bswollen\b|\bhives\b|\bdry(?:ing)? (?:me )?out\b",
            _I,
        ),
        2,
    ),
    (
        "compatibility",
        re.compile(
            r"\b(?:with|together|alongside|combin\w*|mix\w*|layer\w*|pair\w*|same routine|at the same time)\b"
            r"|\bpregnan\w*|\bbreast-?feeding\b|\bsafe (?:for|to use)\b|\b(?:oily|dry|combination|sensitive)"
            r" skin\b|\bskin type\b",
            _I,
        ),
        1,
    ),
    (
        "ingredients",
        re.compile(
            r"\bingredients?\b|\bcontains?\b|\bformula\b|\bparabens?\b|\bsilicones?\b|\bsulfates?\b|\bvegan\b"
            r"|\bcruelty[\s-]free\b|\bfragrance\b|\balcohol\b|\bconcentration\b|\bpercent(?:age)?\b|\d\s?%"
            r"|\bmade (?:with|of|from)\b|\bessential oils?\b",
            _I,
        ),
        2,
    ),
    (
        "results",
        re.compile(
            r"\bresults?\b|\bwork(?:s|ed)?\b|\beffective\b|\bhelp(?:s|ed)?\b"
            r"|\bhow long (?:until|before|till|to see)\b|\bdifference\b|\bimprove\w*"
            r"|\bfade\w*|\bclear\w*|\bget rid\b|\breduce\w*",
            _I,
        ),
        1,
    ),
    (
        "usage",
        re.compile(
            r"\bhow (?:often|much|many|do i|should i|to)\b|\bapply\w*|\bapplication\b|\bmorning\b|\bnight\w*"
            r"|\b(?:am|pm)\b|\broutine\b|\bstep\b|\bdaily\b|\bevery day\b|\bleave (?:it )?on\b|\brinse\b"
            r"|\bwash (?:it )?off\b|\bunder makeup\b|\bbefore\b|\bafter\b",
            _I,
        ),
        1,
    ),
)
_HIGH = re.compile(
    r"\ballerg\w*|\banaphyla\w*|\bburn\w*|\bswell\w*|\bswollen\b|\bhives\b|\bblister\w*|\bbleed\w*"
    r"|\bcan'?t breathe\b|\bbreathing\b|\bemergency\b|\bhospital\b|\b(?:severe|intense|unbearable) pain\b",
    _I,
)
_NORMAL = re.compile(
    r"\bside[\s-]effects?\b|\birritat\w*|\bsting\w*|\bredness\b|\brash\w*|\bitch\w*|\bpurg\w*|\bbreakouts?\b"
    r"|\bbr(?:eak|oke|eaking)\s+(?:me\s+)?out\b|\bpeel\w*|\bpregnan\w*|\bbreast-?feeding\b|\bsafe\b",
    _I,
)


def category(question: str, ingredients: Sequence[str] = ()) -> str:
    """The question's category; ``ingredients`` are the ones the tagger found in it."""
    totals = {c: 0 for c in CATEGORIES}
    for name, pattern, weight in _RULES:
        totals[name] += weight * len(pattern.findall(question))
    if ingredients:
        totals["ingredients"] += 1
        if totals["compatibility"]:  # "can I use this with retinol?"
            totals["compatibility"] += 2
    best = max(CATEGORIES, key=lambda c: (totals[c], -CATEGORIES.index(c)))
    return best if totals[best] else "general"


def urgency(question: str) -> str:
    """``high``, ``normal`` or ``low`` (the seed's urgency_level values)."""
    if _HIGH.search(question):
        return "high"
    if _NORMAL.search(question):
        return "normal"
    return "low"
