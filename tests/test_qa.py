"""qa_f1 / qa_em: SQuAD normalisation, answer extraction, Search-R1's tag policy, sprays."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards import squad_normalize, token_f1

# (id, reward, params, completion, reference, expected value or status)
ROWS = [
    ("tag-exact", "qa_em", {}, "<think>search...</think><answer>Paris</answer>", "Paris", 1.0),
    ("tag-normalised", "qa_em", {}, "<answer>the Eiffel Tower!</answer>", "Eiffel tower", 1.0),
    ("several-golds", "qa_em", {}, "<answer>NYC</answer>", ["New York City", "NYC"], 1.0),
    ("squad-dict-golds", "qa_em", {}, "<answer>1889</answer>", {"text": ["1889", "in 1889"]}, 1.0),
    ("em-partial-is-zero", "qa_em", {}, "<answer>Paris, France</answer>", "Paris", 0.0),
    ("f1-partial", "qa_f1", {}, "<answer>Paris, France</answer>", "Paris", 2 * 0.5 * 1 / 1.5),
    ("f1-best-gold", "qa_f1", {}, "<answer>New York</answer>", ["York", "New York City"], 0.8),
    ("f1-articles-dropped", "qa_f1", {}, "<answer>The Beatles</answer>", "Beatles", 1.0),
    ("final-answer-line", "qa_f1", {}, "After searching I found it.\nFinal answer: Marie Curie", "Marie Curie", 1.0),
    ("answer-is-sentence", "qa_em", {}, "Let me check.\nThe answer is 1889.", "1889", 1.0),
    ("short-whole", "qa_em", {}, "Marie Curie", "Marie Curie", 1.0),
    (
        "tag-inside-think-ignored",
        "qa_em",
        {"answer_source": "tag"},
        "<think><answer>Paris</answer></think>",
        "Paris",
        0.0,
    ),
    (
        "last-tag-after-think",
        "qa_em",
        {},
        "<think>maybe <answer>Lyon</answer></think><answer>Paris</answer>",
        "Paris",
        1.0,
    ),
    # Search-R1's format policy: no answer tag, no credit; a well-formed wrong answer earns format_score
    ("search-r1-no-tag", "qa_em", {"answer_source": "tag"}, "Final answer: Paris", "Paris", 0.0),
    ("search-r1-tag", "qa_em", {"answer_source": "tag"}, "<answer>Paris</answer>", "Paris", 1.0),
    (
        "search-r1-format-score",
        "qa_em",
        {"answer_source": "tag", "format_score": 0.1},
        "<answer>Lyon</answer>",
        "Paris",
        0.1,
    ),
    ("search-r1-format-score-no-tag", "qa_em", {"answer_source": "tag", "format_score": 0.1}, "Paris", "Paris", 0.0),
    # adversarial: answer sprays
    (
        "spray-many-tags",
        "qa_f1",
        {},
        "<answer>London</answer><answer>Paris</answer><answer>Rome</answer>",
        "Paris",
        0.0,
    ),
    ("spray-many-tags-em", "qa_em", {}, "<answer>Paris</answer><answer>London</answer>", "Paris", 0.0),
    (
        "spray-many-tags-last",
        "qa_em",
        {"multiple_answers": "last"},
        "<answer>London</answer><answer>Paris</answer>",
        "Paris",
        1.0,
    ),
    ("repeated-same-tag-ok", "qa_em", {}, "<answer>Paris</answer> so <answer>paris</answer>", "Paris", 1.0),
    (
        "spray-one-tag",
        "qa_f1",
        {},
        "<answer>Paris London Berlin Rome Madrid Vienna</answer>",
        "Paris",
        2 * (1 / 6) / (1 + 1 / 6),
    ),
    ("spray-one-tag-em", "qa_em", {}, "<answer>Paris London Berlin Rome</answer>", "Paris", 0.0),
    ("spray-boxed", "qa_f1", {}, "\\boxed{London} or \\boxed{Paris} or \\boxed{Rome}", "Paris", 0.0),
    (
        "spray-word-salad",
        "qa_f1",
        {},
        "Paris London Berlin Rome Madrid Vienna Prague Oslo Bern Dublin " * 20,
        "Paris",
        0.0,
    ),
    (
        "no-answer",
        "qa_f1",
        {},
        "I could not find anything useful in the search results, so I will keep looking tomorrow "
        "and the day after, reading more pages and trying other queries until something turns up.",
        "Paris",
        0.0,
    ),
    ("empty", "qa_f1", {}, "", "Paris", 0.0),
    ("no-gold", "qa_f1", {}, "<answer>Paris</answer>", None, Status.ABSTAIN),
    ("too-long", "qa_f1", {}, "<answer>Paris</answer>" + " x" * 150_000, "Paris", 0.0),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_regression_rows(row: tuple) -> None:
    _, name, params, completion, reference, expected = row
    score = rewardlab.load(name, **params).score_one(Sample(completion=completion, reference=reference))
    if isinstance(expected, Status):
        assert score.status is expected
        return
    assert score.status is Status.OK, score.reason
    assert score.value == pytest.approx(expected), score
    if score.value == 0.0 and score.components.get("format") == 0.0:
        assert score.reason


def test_squad_normalisation_matches_the_official_script() -> None:
    # the SQuAD v1.1 evaluation script's normalize_answer, step by step
    assert squad_normalize("The  Quick, brown fox!") == "quick brown fox"
    assert squad_normalize("An apple a day") == "apple day"
    assert squad_normalize("“Smart” quotes") == "“smart” quotes"  # non-ASCII punctuation is kept, as there
    assert token_f1("", "") == 1.0 and token_f1("b", "") == 0.0
    assert token_f1("the cat the cat", "cat") == pytest.approx(2 * 0.5 * 1 / 1.5)


@settings(max_examples=60, deadline=None)
@given(
    answer=st.text(alphabet="abcde XYZ,.", min_size=1, max_size=30),
    golds=st.lists(st.text("abcde XY", min_size=1, max_size=20), min_size=1, max_size=3),
)
def test_properties(answer: str, golds: list[str]) -> None:
    f1 = rewardlab.load("qa_f1").score_one({"completion": f"<answer>{answer}</answer>", "reference": golds})
    em = rewardlab.load("qa_em").score_one({"completion": f"<answer>{answer}</answer>", "reference": golds})
    assert f1.status is em.status is Status.OK
    assert 0.0 <= em.value <= f1.value <= 1.0  # an exact match is a full F1
    for gold in golds:
        if squad_normalize(gold):
            itself = rewardlab.load("qa_f1").score_one({"completion": f"<answer>{gold}</answer>", "reference": golds})
            assert itself.value == 1.0
