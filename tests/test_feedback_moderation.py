"""Moderation scoring and the automatic decision, plus question category and urgency."""

from __future__ import annotations

import pytest
from profanity_check import predict_prob

from storage.models import ModerationStatus
from tests.sentiment_corpus import general_sentences, skincare_reviews
from workers.feedback import questions
from workers.feedback.moderation import (
    ModerationSettings,
    decide,
    get_toxicity,
    jaccard,
    nearest,
    score,
    shingles,
)
from workers.feedback.sentiment import get_tagger
from workers.feedback.text import sentences

CLEAN = "Lovely light serum, my skin is glowing and it never broke me out."


def test_clean_text_is_approved() -> None:
    v = score(CLEAN)
    assert v.spam_probability == 0 and v.toxicity_score < 0.5 and not v.medical and not v.safety_issue
    d = decide(v)
    assert (d.action, d.reasons, d.priority, d.human_review_required) == ("approve", (), None, False)


def test_clear_spam_is_rejected_and_one_signal_goes_to_a_human() -> None:
    spam = score("Buy now at https://glow-deals.shop and use code GLOW50 for 50% off!")
    assert set(spam.spam_signals) == {"link", "promo_code", "call_to_action"}
    assert spam.spam_probability >= 0.9
    d = decide(spam)
    assert (d.action, d.queue_status, d.reasons) == ("reject", ModerationStatus.rejected, ("spam",))

    one_link = score("Great serum, I wrote more about it on www.myskinblog.com")
    assert one_link.spam_signals == ("link",)
    d = decide(one_link)
    assert (d.action, d.priority, d.queue_status) == ("review", 3, ModerationStatus.pending)


def test_contact_details_are_spam_signals_and_personal_data() -> None:
    v = score("Works great! Questions? Email jane.doe@example.com or call +1 (415) 555-0199.")
    assert v.personal_data == ("email", "phone")
    assert v.spam_signals == ("contact",)  # the email's domain is not counted as a link
    assert decide(v).reasons == ("spam", "personal_data")
    assert score("DM me on whatsapp").spam_signals == ("contact", "call_to_action")
    assert score("Used it for 3 weeks, 2 times a day, 30ml lasts 60 days.").personal_data == ()


def test_repetition_and_shouting() -> None:
    assert "repetition" in score("best serum best serum best serum best serum ever ever").spam_signals
    assert "shouting" in score("THIS IS THE BEST SERUM EVER MADE BUY IT").spam_signals
    assert score(CLEAN).spam_signals == ()


@pytest.mark.parametrize(
    ("text", "claim", "severity"),
    [
        ("This cream cures eczema, I promise.", "cures eczema", "medium"),
        ("It treats rosacea better than anything.", "treats rosacea", "medium"),
        ("FDA approved and gentle.", "FDA approved", "low"),
        ("I stopped taking my antibiotics, this works better.", "stopped taking my antibiotics", "high"),
        ("It even prevents skin cancer.", "prevents skin cancer", "high"),
    ],
)
def test_medical_claims_always_reach_a_human_first(text: str, claim: str, severity: str) -> None:
    v = score(text)
    assert claim in v.medical_claims and v.medical_severity == severity
    d = decide(v)
    assert (d.action, d.priority, d.queue_status) == ("review", 1, ModerationStatus.needs_review)
    assert "medical_claims" in d.reasons


@pytest.mark.parametrize(
    ("text", "diy"),
    [
        ("Pro tip: dab toothpaste on your pimples overnight.", "toothpaste"),
        ("I use lemon juice on my dark spots every day.", "lemon_juice"),
        ("A little diluted bleach on the face clears acne.", "bleach"),
        ("Scrub with baking soda on your face twice a week.", "baking_soda"),
        ("Put undiluted tea tree oil on every spot.", "undiluted_oils"),
    ],
)
def test_dangerous_diy_advice_is_a_safety_issue(text: str, diy: str) -> None:
    v = score(text)
    assert diy in v.harmful_diy and v.dangerous_advice and v.safety_issue
    d = decide(v)
    assert (d.priority, d.reasons[0]) == (1, "dangerous_advice")


def test_even_spam_with_a_safety_issue_is_not_auto_rejected() -> None:
    v = score("Buy now at www.cheap.shop, code SAVE20 for 20% off, and put toothpaste on your acne!")
    assert v.spam_probability >= 0.9 and v.safety_issue
    assert (decide(v).action, decide(v).priority) == ("review", 1)


def test_allergic_reactions_and_misuse_of_actives() -> None:
    allergy = score("My eyes were swollen the next morning and I had hives.")
    assert allergy.allergic_reaction and decide(allergy).priority == 1
    assert not score("Some mild tingling, nothing else.").allergic_reaction
    misuse = score("I mix retinol with glycolic acid every night and skip sunscreen.")
    assert misuse.ingredient_misuse and not misuse.safety_issue
    assert (decide(misuse).priority, decide(misuse).reasons) == (2, ("ingredient_misuse",))


def test_toxicity_uses_the_shipped_model_exactly() -> None:
    toxicity = get_toxicity()
    assert toxicity.fast  # the fast path agreed with the library on its probes
    texts = [e.text for e in skincare_reviews()[::7] + general_sentences()]
    texts += ["what a piece of shit", "you are all idiots", "Ünïcödé text, you IDIOT", ""]
    for text in texts:
        worst_sentence = max(float(p) for p in predict_prob(sentences(text) or [text]))
        assert toxicity(text) == pytest.approx(worst_sentence, abs=1e-9)


def test_an_offensive_sentence_counts_even_in_a_long_review() -> None:
    long = CLEAN + " The texture is great and the pump works. " + "Customer service are useless idiots."
    v = score(long)
    assert v.toxicity_score >= 0.7 and v.inappropriate
    assert decide(v).reasons == ("inappropriate_content",)


def test_near_duplicates_by_shingles() -> None:
    text = "I have used this serum every night for a month and my skin has never looked better than now"
    edited = text.replace("a month", "two months")
    # 17 three-word shingles each; the 4 that touch "a month" differ: 13 shared of 21.
    assert jaccard(shingles(text), shingles(edited)) == pytest.approx(13 / 21)
    assert nearest(
        edited, [(1, "Completely different words here about a toner"), (2, text)], screen_bits=64
    ) == (
        2,
        pytest.approx(13 / 21),
    )
    # The SimHash screen never drops an exact copy; a copy is spam on its own.
    v = score(text.upper().lower() + "!", others=[(7, text)])
    assert v.near_duplicate_of == 7 and "near_duplicate" in v.spam_signals
    assert score("Great serum", others=[(7, "Great serum")]).near_duplicate_of is None  # too short to judge


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATION_SPAM_REJECT_AT", "0.6")
    monkeypatch.setenv("MODERATION_TOXICITY_REVIEW_AT", "0.95")
    settings = ModerationSettings()
    assert settings.spam_reject_at == 0.6 and settings.toxicity_review_at == 0.95
    one_link = score("Read more on www.myskinblog.com", settings=settings)
    assert decide(one_link, settings=settings).action == "reject"
    with pytest.raises(ValueError):
        ModerationSettings(spam_review_at=1.5)


@pytest.mark.parametrize(
    ("question", "category", "urgency"),
    [
        ("Can I use this with retinol?", "compatibility", "low"),
        ("Does it contain fragrance or alcohol?", "ingredients", "low"),
        ("How often should I apply it, morning or night?", "usage", "low"),
        ("How long until I see results on my dark spots?", "results", "low"),
        ("Will this break me out? My skin purges easily.", "side_effects", "normal"),
        ("I had an allergic reaction and my lips are swelling, what do I do?", "side_effects", "high"),
        ("Is a burning feeling normal after applying?", "side_effects", "high"),
        ("Is it safe during pregnancy?", "compatibility", "normal"),
        ("Where is it made?", "general", "low"),
    ],
)
def test_question_category_and_urgency(question: str, category: str, urgency: str) -> None:
    assert questions.category(question, get_tagger().analyse(question).ingredients) == category
    assert questions.urgency(question) == urgency
