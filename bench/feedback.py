"""Reviews per second per core: the full feedback analysis vs bare VADER on the same texts.

Run from the repository root: ``PYTHONPATH=. python bench/feedback.py [--reviews N] [--window W]``.
One process, one core, the same review texts for every side; the sides are timed in turn over
several rounds and each side's best round counts (the least disturbed by other work on the
machine). The tagger alone (sentiment, aspects, topics) is shown too.

"Full analysis" is what ``feedback.review_submitted`` computes for a review besides database and
analytics I/O: the skincare tagger (sentence-level VADER with the lexicon, aspects, concerns,
ingredients), moderation scoring (spam signals, toxicity, medical and safety patterns, and
near-duplicate comparison with ``--window`` earlier reviews of the product) and the decision.
The goal is at least 50% of bare VADER's rate.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.sentiment_corpus import skincare_reviews
from workers.feedback.moderation import decide, get_toxicity, score
from workers.feedback.sentiment import get_tagger


def reviews(n: int, seed: int = 7) -> list[str]:
    """Realistic multi-sentence reviews: a few corpus sentences joined, 2 to 6 per review."""
    pool = [e.text for e in skincare_reviews()]
    rng = random.Random(seed)
    return [" ".join(rng.sample(pool, rng.randint(2, 6))) for _ in range(n)]


def timed(fn: Callable[[str, int], object], texts: list[str]) -> float:
    start = time.perf_counter()
    for i, text in enumerate(texts):
        fn(text, i)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=600)
    parser.add_argument("--window", type=int, default=50, help="earlier reviews compared for near-duplicates")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    texts = reviews(args.reviews)
    vader = SentimentIntensityAnalyzer()
    tagger = get_tagger()
    get_toxicity()  # load the model outside the timing, as a worker does on its first task

    def bare(text: str, _i: int) -> object:
        return vader.polarity_scores(text)

    def full(text: str, i: int) -> object:
        others = [(j, texts[j]) for j in range(max(0, i - args.window), i)]
        analysis = tagger.analyse(text)
        return analysis, decide(score(text, others=others))

    def sentiment_only(text: str, _i: int) -> object:
        return tagger.analyse(text)

    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} reviews, {words:.0f} words on average, near-duplicate window {args.window}")
    sides = {"bare VADER": bare, "tagger only": sentiment_only, "full analysis": full}
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(args.rounds):  # interleaved, so a busy moment on the machine hits every side
        for name, fn in sides.items():
            best[name] = min(best[name], timed(fn, texts))
    rates = {name: len(texts) / seconds for name, seconds in best.items()}
    for name, rate in rates.items():
        ratio = rate / rates["bare VADER"]
        print(f"{name:<14} {rate:8.0f} reviews/s/core  {ratio:6.1%} of bare VADER")
    met = rates["full analysis"] >= rates["bare VADER"] / 2
    print(f"goal: full analysis >= 50% of bare VADER: {'met' if met else 'not met'}")


if __name__ == "__main__":
    main()
