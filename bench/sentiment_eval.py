"""Accuracy and macro-F1 of plain VADER vs the project's skincare tagger.

Run from the repository root: ``PYTHONPATH=. python bench/sentiment_eval.py [--errors]``.
The sets are the generated ones of ``tests/sentiment_corpus.py``: skincare reviews (balanced,
with tricky cases) and everyday sentences. ``--errors`` lists what the tagger gets wrong.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.sentiment_corpus import Example, evaluate, general_sentences, skincare_reviews
from workers.feedback.sentiment import get_tagger, label


def labellers() -> dict[str, Callable[[str], str]]:
    vader = SentimentIntensityAnalyzer()
    tagger = get_tagger()
    return {
        "plain VADER": lambda text: label(vader.polarity_scores(text)["compound"]),
        "skincare tagger": lambda text: tagger.analyse(text).label,
    }


def by_tag(labeller: Callable[[str], str], examples: list[Example]) -> dict[str, float]:
    tags = sorted({t for e in examples for t in e.tags})
    return {t: evaluate(labeller, [e for e in examples if t in e.tags]).accuracy for t in tags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--errors", action="store_true", help="list the tagger's mistakes")
    args = parser.parse_args()
    sets = {"skincare": skincare_reviews(), "general": general_sentences()}
    fns = labellers()
    print(f"{'set':<10} {'n':>4}  {'labeller':<16} {'accuracy':>8} {'macro-F1':>8}")
    for set_name, examples in sets.items():
        for name, fn in fns.items():
            s = evaluate(fn, examples)
            print(f"{set_name:<10} {s.n:>4}  {name:<16} {s.accuracy:>8.3f} {s.macro_f1:>8.3f}")
    print("\naccuracy by tricky case (skincare set):")
    tagged = {name: by_tag(fn, sets["skincare"]) for name, fn in fns.items()}
    for tag in tagged["plain VADER"]:
        print(f"  {tag:<16} " + "  ".join(f"{name} {acc[tag]:.2f}" for name, acc in tagged.items()))
    if args.errors:
        tag_fn = fns["skincare tagger"]
        for set_name, examples in sets.items():
            for e in examples:
                got = tag_fn(e.text)
                if got != e.label:
                    print(f"[{set_name}] want {e.label:<8} got {got:<8} {e.text}")


if __name__ == "__main__":
    main()
