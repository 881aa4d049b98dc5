"""The skincare tagger: tricky cases, aspects and topics, the lexicon data, and its evaluation."""

from __future__ import annotations

import json

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.sentiment_corpus import LABELS, evaluate, general_sentences, skincare_reviews
from workers.feedback.sentiment import LEXICON_PATH, get_tagger, label
from workers.feedback.text import PhraseMatcher, expand, sentences
from workers.feedback.vader import PROBES, Compound

VADER = SentimentIntensityAnalyzer()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This serum broke me out within three days.", "negative"),
        ("It didn't break me out, and my skin is glowing.", "positive"),
        ("It never broke me out, not even once.", "positive"),
        ("No irritation at all, even on my sensitive skin.", "positive"),
        ("Zero breakouts since I started using it.", "positive"),
        ("Without any stinging or burning, it calmed my redness.", "positive"),
        ("Finally a moisturizer that doesn't feel greasy or sticky.", "positive"),
        ("Super greasy and it pills under makeup.", "negative"),
        ("Oh great, another serum that gave me breakouts. Just what I needed.", "negative"),
        ("Love how it made my chin break out, thanks a lot.", "negative"),
        ("Oh great product, I love it!", "positive"),  # a cue without a negative neighbour is praise
        ("Nice packaging, but it broke me out and made my redness worse.", "negative"),
        ("The scent is a bit strong, but it cleared my acne, so I'm keeping it.", "positive"),
        ("Did nothing for my dark spots after six weeks.", "negative"),
        ("It killed my acne within a week.", "positive"),
        ("Bought this for my acne. Will update in a few weeks.", "neutral"),
        ("The bottle is clear glass with a dropper.", "neutral"),
        ("I alternate it with vitamin C on different nights.", "neutral"),
    ],
)
def test_tricky_cases(text: str, expected: str) -> None:
    assert get_tagger().analyse(text).label == expected


def test_phrases_fix_what_plain_vader_gets_wrong() -> None:
    # The reason the layer exists: plain VADER reads each of these the other way or not at all.
    for text, expected in [
        ("It didn't break me out.", "positive"),
        ("Oh great, another serum that gave me breakouts. Just what I needed.", "negative"),
        ("It killed my acne.", "positive"),
        ("Super greasy and it pills under makeup.", "negative"),
    ]:
        assert label(VADER.polarity_scores(text)["compound"]) != expected
        assert get_tagger().analyse(text).label == expected


def test_aspects_are_scored_per_clause_and_sentence() -> None:
    a = get_tagger().analyse("Love the texture but the scent is awful. The pump broke on day two.")
    assert a.aspects["texture"].label == "positive"
    assert a.aspects["scent"].label == "negative"
    assert a.aspects["packaging"].label == "negative"
    assert set(a.topics) == {"texture", "scent", "packaging"}


def test_topics_concerns_and_ingredients() -> None:
    a = get_tagger().analyse(
        "Great value.",  # title
        "The niacinamide and salicylic acid serum faded my dark spots and calmed my rosacea. No breakouts!",
        None,
        "Slight tingling the first week.",
    )
    assert a.label == "positive"
    assert set(a.ingredients) == {"niacinamide", "salicylic acid"}
    assert {"hyperpigmentation", "rosacea", "acne"} <= set(a.concerns)
    assert {"value", "results", "side_effects"} <= set(a.topics)
    topics = a.extracted_topics()
    assert json.loads(json.dumps(topics)) == topics  # stored as JSON as it is
    assert topics["aspects"]["value"] == {
        "score": round(a.aspects["value"].score, 2),
        "label": "positive",
        "mentions": 1,
    }
    assert 0.0 <= a.confidence <= 1.0


def test_fast_compound_is_vaders_own_number() -> None:
    tagger = get_tagger()
    assert isinstance(tagger.vader, Compound)  # it agreed with the library on the probes
    analyzer = tagger._vader  # the library with the skincare words, as the tagger layers it
    texts = [e.text for e in skincare_reviews() + general_sentences()]
    texts += [s for t in texts for s in sentences(t)] + list(PROBES)
    texts += [
        "Not such a BADASS after all!!",
        "kind of GOOD but NOT great, no way ????",
        "\u00c9T\u00c9 \U0001f60d :-)",
    ]
    for text in texts:
        assert tagger.vader(text) == analyzer.polarity_scores(text)["compound"], text


def test_empty_and_non_english_text_is_neutral() -> None:
    assert get_tagger().analyse(None, "", "   ").label == "neutral"
    khmer = get_tagger().analyse("ផលិតផលនេះល្អណាស់")
    assert khmer.label == "neutral" and khmer.topics == []


def test_lexicon_entries_carry_valence_and_reason() -> None:
    data = json.loads(LEXICON_PATH.read_text())
    for token, entry in data["tokens"].items():
        assert " " not in token and -4 <= entry["valence"] <= 4 and entry["reason"], token
    for key, entry in data["phrases"].items():
        assert -4 <= entry["valence"] <= 4 and entry["reason"] and entry["forms"], key
        assert any(len(seq) >= 2 for form in entry["forms"] for seq in expand(form)), key
    assert data["sarcasm"]["valence"] < 0 and data["sarcasm"]["cues"]


def test_phrase_forms_expand_and_match_longest_first() -> None:
    assert expand("{broke|break} {my|} skin out") == [
        ("broke", "my", "skin", "out"),
        ("broke", "skin", "out"),
        ("break", "my", "skin", "out"),
        ("break", "skin", "out"),
    ]
    assert ("did", "not", "notice", "any", "difference") in expand("{didn't|did not} notice any difference")
    m = PhraseMatcher([(("broke",), "a"), (("broke", "me", "out"), "b"), (("out",), "c")])
    assert m.longest(["it", "broke", "me", "out", "and", "out"]) == [(1, 4, "b"), (5, 6, "c")]
    assert list(m.all(["broke", "me", "out"])) == [(0, 1, "a"), (0, 3, "b"), (2, 3, "c")]
    assert sentences("Title without a dot\nOne. Two!  Three?") == [
        "Title without a dot",
        "One.",
        "Two!",
        "Three?",
    ]


def test_generated_corpus_is_large_balanced_and_tricky() -> None:
    reviews = skincare_reviews()
    assert len(reviews) >= 300 and len({r.text for r in reviews}) == len(reviews)
    assert {lab: sum(r.label == lab for r in reviews) for lab in LABELS} == dict.fromkeys(LABELS, 112)
    tags = {t for r in reviews for t in r.tags}
    assert {"negation", "phrase", "no_irritation", "sarcasm", "mixed"} <= tags
    assert skincare_reviews() == reviews  # deterministic


def test_tagger_beats_plain_vader_on_skincare_without_losing_on_general_text() -> None:
    tagger = get_tagger()

    def plain(text: str) -> str:
        return label(VADER.polarity_scores(text)["compound"])

    def ours(text: str) -> str:
        return tagger.analyse(text).label

    skincare, general = skincare_reviews(), general_sentences()
    assert evaluate(ours, skincare).accuracy > evaluate(plain, skincare).accuracy
    assert evaluate(ours, skincare).macro_f1 > evaluate(plain, skincare).macro_f1
    assert evaluate(ours, general).accuracy >= evaluate(plain, general).accuracy
    assert evaluate(ours, general).macro_f1 >= evaluate(plain, general).macro_f1
    # The templates written after the lexicon was tuned are the honest measure of the gain.
    unseen = [r for r in skincare if "unseen" in r.tags]
    assert evaluate(ours, unseen).accuracy > evaluate(plain, unseen).accuracy
