"""Labelled text for judging the sentiment tagger, generated deterministically from templates.

``skincare_reviews()``: at least 300 skincare reviews, a third each positive, negative and
neutral, with the cases plain VADER gets wrong tagged (negation, phrases like "broke me out",
"no irritation", sarcasm, mixed aspects, skincare words VADER does not know). Each template is
filled with varied products, concerns, ingredients and durations, and each label rotates through
its templates, so every kind of case is represented evenly.

``general_sentences()``: a small hand-labelled set of everyday (non-skincare) sentences, to show
the skincare layer does not cost accuracy outside its domain.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

LABELS = ("positive", "negative", "neutral")


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    tags: tuple[str, ...] = ()


SLOTS: dict[str, tuple[str, ...]] = {
    "product": (
        "serum",
        "moisturizer",
        "cleanser",
        "toner",
        "sunscreen",
        "night cream",
        "eye cream",
        "face oil",
        "exfoliant",
        "clay mask",
        "essence",
        "gel cream",
    ),
    "concern": (
        "acne",
        "dark spots",
        "dryness",
        "blackheads",
        "fine lines",
        "hyperpigmentation",
        "large pores",
        "dullness",
        "acne scars",
        "uneven tone",
    ),
    "acne": ("acne", "breakouts", "pimples", "blackheads"),
    "spots": ("dark spots", "acne marks", "sun spots", "scars"),
    "weeks": ("two", "three", "four", "six", "eight", "2", "3", "4", "6"),
    "days": ("two", "three", "four", "five", "2", "3"),
    "skin": ("oily", "dry", "combination", "sensitive", "acne-prone", "normal"),
    "ingredient": (
        "niacinamide",
        "retinol",
        "vitamin C",
        "salicylic acid",
        "hyaluronic acid",
        "glycolic acid",
        "ceramides",
        "azelaic acid",
    ),
    "area": ("cheeks", "forehead", "chin", "jawline", "nose"),
    "glow": (
        "my skin is glowing",
        "my skin feels so soft",
        "my skin looks plump and dewy",
        "my complexion is brighter",
        "my skin feels hydrated all day",
        "my skin is smoother than ever",
    ),
    "texture": ("thin gel", "thick cream", "light lotion", "watery essence", "balm"),
    "container": ("pump bottle", "tube", "glass jar", "dropper bottle"),
    "day": ("Monday", "Tuesday", "Friday", "the weekend"),
}

TEMPLATES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "positive": [
        ("This {product} cleared up my {acne} in {weeks} weeks.", ("phrase",)),
        ("No irritation at all, even on my {skin} skin.", ("no_irritation", "negation")),
        ("It didn't break me out, and {glow}.", ("negation", "phrase")),
        ("Finally a {product} that doesn't feel greasy or sticky.", ("negation", "domain_word")),
        ("Holy grail! After {weeks} weeks {glow}.", ("phrase",)),
        ("Absorbs quickly, lightweight, and {glow}.", ("domain_word",)),
        ("I was scared it would break me out, but it never did. My {spots} are fading.", ("negation",)),
        (
            "The scent is a bit strong, but it cleared my {acne}, so I'm keeping it.",
            ("mixed", "phrase"),
        ),
        ("Zero breakouts since I started using it on my {skin} skin.", ("negation", "phrase")),
        ("My {spots} have faded and {glow}.", ("phrase",)),
        ("Pricey, but {glow}.", ("mixed",)),
        ("Without any stinging or burning, it calmed my redness.", ("negation", "domain_word")),
        ("Will repurchase. The {ingredient} works wonders on my {concern}.", ("phrase",)),
        ("Not greasy at all and it sinks in fast.", ("negation", "domain_word")),
        (
            "The pump sticks and the box was dented, but the formula is amazing and {glow}.",
            ("mixed",),
        ),
        ("It killed my {acne} within a week.", ("phrase",)),
        ("It got rid of my {acne} and never broke me out.", ("phrase", "negation")),
        ("My skin drank it up and feels plump and dewy.", ("domain_word",)),
        ("No stinging, no redness, no breakouts. Love it.", ("no_irritation", "negation")),
        ("Obsessed with this {product}, {glow}.", ("domain_word",)),
        # Written after the lexicon was tuned, and not tuned on: the "unseen" tag.
        ("My skin hasn't looked this good in years.", ("unseen", "negation")),
        ("I get compliments on my skin every day now.", ("unseen",)),
        ("After {weeks} weeks of {ingredient}, my {concern} is barely noticeable.", ("unseen",)),
        ("Gentle enough for my {skin} skin and it doesn't leave any residue.", ("unseen", "negation")),
        ("It layers nicely under makeup and keeps me matte until evening.", ("unseen",)),
        ("10/10, already on my second bottle of this {product}.", ("unseen",)),
        ("Doesn't sting even on freshly shaved skin.", ("unseen", "negation")),
        ("My {spots} are so much lighter now.", ("unseen",)),
    ],
    "negative": [
        ("This {product} broke me out within {days} days.", ("phrase",)),
        ("Burning and stinging every time I apply it.", ("domain_word",)),
        ("Super greasy and it pills under makeup.", ("domain_word",)),
        ("Left my skin flaky and tight.", ("domain_word", "phrase")),
        (
            "Oh great, another {product} that gave me breakouts. Just what I needed.",
            ("sarcasm", "phrase"),
        ),
        ("Love how it made my {area} break out, thanks a lot.", ("sarcasm", "phrase")),
        (
            "Nice packaging, but it broke me out and made my redness worse.",
            ("mixed", "phrase"),
        ),
        ("Did nothing for my {concern} after {weeks} weeks.", ("phrase",)),
        ("I didn't notice any difference after a month of daily use.", ("phrase",)),
        ("Smells amazing but gave me a rash on my {area}.", ("mixed", "phrase")),
        (
            "The {ingredient} in this is way too strong, my face was red and peeling for days.",
            ("domain_word",),
        ),
        ("Clogged my pores and gave me tiny bumps all over my {area}.", ("domain_word", "phrase")),
        ("Great, just great. My {skin} skin is now covered in pimples.", ("sarcasm",)),
        ("It never absorbs and leaves a white cast.", ("negation", "phrase")),
        ("Not worth the money, it dried out my skin.", ("negation", "phrase")),
        ("Heavy, sticky and it smells like glue.", ("domain_word", "phrase")),
        ("My {concern} got worse and I returned it.", ("phrase",)),
        ("Such a strong fragrance that it gave me a headache.", ("phrase",)),
        ("I really wanted to love this {product}, but it stings so badly.", ("mixed", "domain_word")),
        ("Purging for {weeks} weeks and still breaking out on my {area}.", ("domain_word", "phrase")),
        ("Gave me a purge that never ended, {weeks} weeks of cystic bumps.", ("unseen",)),
        ("The pump broke on day one and half the {product} leaked into the box.", ("unseen",)),
        ("Way too expensive for such a tiny bottle that does nothing.", ("unseen", "phrase")),
        ("My face turned red and itchy within minutes.", ("unseen",)),
        ("It feels like putting glue on my face.", ("unseen",)),
        ("I'd give zero stars if I could.", ("unseen",)),
        ("It made my {concern} so much worse.", ("unseen",)),
        ("Five minutes after applying it my {area} was on fire.", ("unseen",)),
    ],
    "neutral": [
        ("I use it every night after cleansing.", ()),
        ("Contains {ingredient} and comes in a 30ml {container}.", ()),
        ("Arrived on {day}. Haven't tried it yet.", ()),
        ("Bought this for my {acne}. Will update in a few weeks.", ("concern_mention",)),
        ("The bottle is clear glass with a dropper.", ("domain_word",)),
        ("Too early to tell if it helps with my {concern}.", ("concern_mention",)),
        ("I apply the {product} after toner and before moisturizer.", ()),
        ("The texture is a {texture} and the scent is mild.", ()),
        ("Using it on my {area} twice a day, I have {skin} skin.", ()),
        ("It is a {texture} that comes in a {container}.", ()),
        ("Week {weeks} of using it on my {skin} skin, tracking my {concern}.", ("concern_mention",)),
        ("Same formula as the travel size, just a bigger {container}.", ()),
        ("I switched from my old {product} to this one last month.", ()),
        ("It contains {ingredient} and is labelled fragrance-free.", ()),
        ("I'm prone to redness, so I patch tested it on my {area} first.", ("concern_mention",)),
        ("Been using it for {weeks} weeks, no changes yet.", ("phrase",)),
        ("Applied a pea-sized amount on damp skin, then sunscreen.", ()),
        ("The clear gel comes out of a {container}.", ("domain_word",)),
        ("I have {skin} skin with some {concern} on my {area}.", ("concern_mention",)),
        ("I ordered the {product} together with the matching cleanser.", ()),
        ("Swapped my usual {product} for this one during winter.", ("unseen",)),
        ("It is an unscented {texture}.", ("unseen",)),
        ("I alternate it with {ingredient} on different nights.", ("unseen",)),
        ("Patch tested behind my ear for {days} days before using it.", ("unseen",)),
        ("The instructions say to use it twice a day.", ("unseen",)),
        ("Is this safe to use with {ingredient}? Asking before I start.", ("unseen",)),
        ("Got it as part of a gift set.", ("unseen",)),
        ("I keep the {container} in the fridge.", ("unseen",)),
    ],
}

#: Neutral lead-ins put before a template, so templates without slots still vary.
OPENERS = (
    "",
    "",
    "Update after {weeks} weeks:",
    "Used it on my {area}.",
    "Bought the {product} last month.",
    "Week {weeks}.",
)

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random) -> str:
    opener = rng.choice(OPENERS)
    text = _SLOT_RE.sub(lambda m: rng.choice(SLOTS[m.group(1)]), f"{opener} {template}".strip())
    return text[0].upper() + text[1:]


def skincare_reviews(per_label: int = 112, seed: int = 20240601) -> list[Example]:
    """``per_label`` distinct reviews of each label (336 by default), the same on every call."""
    rng = random.Random(seed)
    out: list[Example] = []
    seen: set[str] = set()
    for lab in LABELS:
        templates = TEMPLATES[lab]
        for i in range(per_label):
            template, tags = templates[i % len(templates)]
            text = _fill(template, rng)
            for _ in range(50):  # draw again until the text is new
                if text not in seen:
                    break
                text = _fill(template, rng)
            seen.add(text)
            out.append(Example(text, lab, tags))
    return out


#: Everyday sentences (restaurants, films, gadgets, travel, plain facts), labelled by hand.
GENERAL: tuple[tuple[str, str], ...] = (
    ("The food was delicious and the staff were friendly.", "positive"),
    ("What a fantastic movie, I loved every minute of it.", "positive"),
    ("The hotel room was clean, quiet and comfortable.", "positive"),
    ("Great battery life and a beautiful screen.", "positive"),
    ("Our guide was funny and knew everything about the city.", "positive"),
    ("The concert was amazing, best night of the year!", "positive"),
    ("Delivery was fast and the courier was polite.", "positive"),
    ("I'm so happy with this laptop, it is quick and reliable.", "positive"),
    ("The new update cleared up the bug that kept crashing my app.", "positive"),
    ("Smooth checkout and the support team was helpful.", "positive"),
    ("The hike was tough but the view at the top was worth it.", "positive"),
    ("Lovely little cafe with excellent coffee.", "positive"),
    ("The kids had a wonderful time at the zoo.", "positive"),
    ("Not bad at all, better than I expected.", "positive"),
    ("She gave a brilliant speech and everyone applauded.", "positive"),
    ("The soup was cold and the bread was stale.", "negative"),
    ("Worst customer service I have ever experienced.", "negative"),
    ("The movie was boring and far too long.", "negative"),
    ("My phone broke after two days and they refused to replace it.", "negative"),
    ("The flight was delayed for five hours and nobody told us why.", "negative"),
    ("The room smelled awful and the sheets were dirty.", "negative"),
    ("This chair is uncomfortable and the instructions were useless.", "negative"),
    ("I waited an hour and the order was still wrong.", "negative"),
    ("The fries were greasy and soggy.", "negative"),
    ("Terrible sound quality, I regret buying these headphones.", "negative"),
    ("The app keeps crashing and I lost all my notes.", "negative"),
    ("The neighbours were loud all night and I could not sleep.", "negative"),
    ("The game was a disappointment, the ending made no sense.", "negative"),
    ("The train was crowded, late and dirty.", "negative"),
    ("I am not happy with the way this was handled.", "negative"),
    ("The meeting is scheduled for Thursday at ten.", "neutral"),
    ("The package contains two cables and a charger.", "neutral"),
    ("The museum opens at nine and closes at five.", "neutral"),
    ("He moved to Berlin in 2019.", "neutral"),
    ("The book has twelve chapters.", "neutral"),
    ("We took the bus to the station.", "neutral"),
    ("The report is due next week.", "neutral"),
    ("The store is on the corner of Main Street.", "neutral"),
    ("I ordered the blue one in a medium size.", "neutral"),
    ("The recipe calls for two eggs and a cup of flour.", "neutral"),
    ("The laptop has 16 GB of memory and a 512 GB drive.", "neutral"),
    ("The film is in French with English subtitles.", "neutral"),
    ("Tickets can be bought online or at the door.", "neutral"),
    ("The bridge was built in the nineteenth century.", "neutral"),
    ("My sister works at the hospital downtown.", "neutral"),
)


def general_sentences() -> list[Example]:
    return [Example(text, lab) for text, lab in GENERAL]


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    n: int


def evaluate(labeller: Callable[[str], str], examples: Sequence[Example]) -> Scores:
    """Accuracy and macro-F1 (mean of the per-label F1 over the three labels) of ``labeller``."""
    predicted = [labeller(e.text) for e in examples]
    correct = sum(p == e.label for p, e in zip(predicted, examples, strict=True))
    f1s = []
    for lab in LABELS:
        tp = sum(p == lab == e.label for p, e in zip(predicted, examples, strict=True))
        fp = sum(p == lab != e.label for p, e in zip(predicted, examples, strict=True))
        fn = sum(e.label == lab != p for p, e in zip(predicted, examples, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return Scores(correct / len(examples), sum(f1s) / len(f1s), len(examples))
