"""Built-in text rewards: regression rows with ids, and properties with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Status

# (id, reward, params, completion, reference, expected value or status)
ROWS = [
    ("em-identical", "exact_match", {}, "Paris", "Paris", 1.0),
    ("em-case", "exact_match", {}, "paris", "Paris", 1.0),
    ("em-case-strict", "exact_match", {"ignore_case": False}, "paris", "Paris", 0.0),
    ("em-whitespace", "exact_match", {}, "  New   York\n", "New York", 1.0),
    ("em-punct-kept", "exact_match", {}, "Paris.", "Paris", 0.0),
    ("em-punct-ignored", "exact_match", {"ignore_punctuation": True}, "Paris.", "Paris", 1.0),
    ("em-articles", "exact_match", {"ignore_articles": True}, "The Beatles", "beatles", 1.0),
    ("em-nfkc", "exact_match", {}, "ｆｕｌｌ", "full", 1.0),
    ("em-list-reference", "exact_match", {}, "NYC", ["New York", "NYC"], 1.0),
    ("em-no-reference", "exact_match", {}, "x", None, Status.ABSTAIN),
    ("em-superset-is-wrong", "exact_match", {}, "Paris or Rome", "Paris", 0.0),
    ("contains-substring", "contains", {}, "I think it is Paris, maybe Rome", "paris", 1.0),
    ("contains-hedge-passes", "contains", {}, "1 2 3 4 5 6 7 8 9 10", "7", 1.0),
    ("contains-missing", "contains", {}, "Rome", "Paris", 0.0),
    ("contains-empty-ref", "contains", {}, "anything", "", Status.ABSTAIN),
    ("format-ok", "format", {}, "<think>reason</think>\n<answer>4</answer>", None, 1.0),
    ("format-wrong-order", "format", {}, "<answer>4</answer><think>reason</think>", None, 0.0),
    ("format-missing-answer", "format", {}, "<think>reason</think> 4", None, 0.0),
    ("format-empty-think", "format", {}, "<think> </think><answer>4</answer>", None, 0.0),
    ("format-twice", "format", {}, "<think>a</think><think>b</think><answer>4</answer>", None, 0.0),
    ("format-unclosed", "format", {}, "<think>a<answer>4</answer>", None, 0.0),
    ("format-nested", "format", {}, "<think>a<answer>4</answer></think>", None, 0.0),
    ("format-strict-outside", "format", {"strict": True}, "hi <think>a</think><answer>4</answer>", None, 0.0),
    ("format-strict-ok", "format", {"strict": True}, " <think>a</think>\n<answer>4</answer>\n", None, 1.0),
    ("format-partial", "format", {"partial": True}, "<think>a</think> 4", None, 0.5),
    ("format-custom-tags", "format", {"tags": ["plan", "code"]}, "<plan>p</plan><code>c</code>", None, 1.0),
    ("repetition-none", "repetition", {}, "the quick brown fox jumps over the lazy dog", None, 0.0),
    ("repetition-loop", "repetition", {"ngram_size": 2}, "a b a b a b a b", None, -(1 - 2 / 7)),
    ("repetition-short", "repetition", {}, "hi", None, 0.0),
    ("length-chars", "length", {}, "héllo", None, 5.0),
    ("length-words", "length", {"unit": "words"}, "one two  three", None, 3.0),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_regression_rows(row: tuple) -> None:
    _, name, params, completion, reference, expected = row
    score = rewardlab.load(name, **params).score([Sample(completion=completion, reference=reference)])[0]
    if isinstance(expected, Status):
        assert score.status is expected
        assert score.value is None
    else:
        assert score.status is Status.OK, score.reason
        assert score.value == pytest.approx(expected)


OVERLONG = [
    # (length, max_length, buffer, expected): DAPO eq. 13
    (0, 100, 20, 0.0),
    (80, 100, 20, 0.0),
    (81, 100, 20, -1 / 20),
    (90, 100, 20, -0.5),
    (100, 100, 20, -1.0),
    (101, 100, 20, -1.0),
    (5000, 100, 20, -1.0),
]


@pytest.mark.parametrize(("n", "max_length", "buffer", "expected"), OVERLONG)
def test_overlong_matches_dapo(n: int, max_length: int, buffer: int, expected: float) -> None:
    r = rewardlab.load("overlong", max_length=max_length, buffer=buffer)
    score = r.score([Sample(completion="x", extras={"completion_tokens": n})])[0]
    assert score.value == pytest.approx(expected)


def test_overlong_by_characters_and_missing_token_count() -> None:
    by_chars = rewardlab.load("overlong", max_length=10, buffer=5, unit="chars", length_field=None)
    assert by_chars.score([{"completion": "x" * 8}])[0].value == pytest.approx(-0.6)
    no_counts = rewardlab.load("overlong")
    assert no_counts.score([{"completion": "abc"}])[0].status is Status.ABSTAIN


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(completion=text, reference=text)
def test_exact_match_in_range_and_deterministic(completion: str, reference: str) -> None:
    r = rewardlab.load("exact_match")
    first = r.score([{"completion": completion, "reference": reference}])[0]
    again = r.score([{"completion": completion, "reference": reference}])[0]
    assert first == again
    assert first.value in (0.0, 1.0)


@settings(max_examples=150, deadline=None)
@given(reference=text, pad_left=st.sampled_from(["", " ", "\n\t "]), pad_right=st.sampled_from(["", "  ", "\n"]))
def test_reference_scores_maximal_against_itself(reference: str, pad_left: str, pad_right: str) -> None:
    r = rewardlab.load("exact_match")
    score = r.score([{"completion": pad_left + reference + pad_right, "reference": reference}])[0]
    assert score.value == 1.0


@settings(max_examples=100, deadline=None)
@given(completion=text, reference=text.filter(lambda s: s.strip() != ""))
def test_exact_match_implies_contains(completion: str, reference: str) -> None:
    row = [{"completion": completion, "reference": reference}]
    if rewardlab.load("exact_match").score(row)[0].value == 1.0:
        contains = rewardlab.load("contains").score(row)[0]
        assert contains.status is Status.ABSTAIN or contains.value == 1.0


@settings(max_examples=150, deadline=None)
@given(completion=text, name=st.sampled_from(["format", "repetition", "overlong", "contains", "exact_match"]))
def test_values_stay_in_declared_range(completion: str, name: str) -> None:
    r = rewardlab.load(name) if name != "overlong" else rewardlab.load("overlong", unit="chars", length_field=None)
    score = r.score([{"completion": completion, "reference": "x"}])[0]
    lo, hi = r.range
    assert score.status is Status.OK
    assert lo <= score.value <= hi


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=0, max_value=10_000), max_length=st.integers(1, 5000), frac=st.floats(0.01, 1.0))
def test_overlong_monotone_and_bounded(n: int, max_length: int, frac: float) -> None:
    buffer = max(1, int(max_length * frac))
    r = rewardlab.load("overlong", max_length=max_length, buffer=buffer)
    a = r.score([Sample(completion="", extras={"completion_tokens": n})])[0].value
    b = r.score([Sample(completion="", extras={"completion_tokens": n + 1})])[0].value
    assert -1.0 <= b <= a <= 0.0


def test_overlong_counts_token_id_lists_and_a_local_tokenizer(tmp_path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["the cat sat on the mat ."] * 10, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    text = "the cat sat on the mat ."  # 7 tokens
    by_ids = rewardlab.load("overlong", max_length=10, buffer=5, length_field="completion_ids")
    assert by_ids.score([Sample(completion=text, extras={"completion_ids": list(range(8))})])[0].value == -0.6
    by_tokenizer = rewardlab.load("overlong", max_length=10, buffer=5, tokenizer=str(tmp_path))
    score = by_tokenizer.score([Sample(completion=text)])[0]
    assert score.value == pytest.approx(-0.4) and score.components["length"] == 7
    missing = rewardlab.load("overlong", max_length=10, buffer=5, tokenizer=str(tmp_path / "nope"))
    assert missing.score([Sample(completion=text)])[0].status is Status.ABSTAIN
