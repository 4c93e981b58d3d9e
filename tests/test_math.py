"""The math reward: regression table, real labelled data, math-verify's own cases, bounds, properties."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards.math._answer import extract_final_answer

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "math_cases.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def math():
    return rewardlab.load("math")


@pytest.fixture(scope="module")
def case_scores(math, pool):
    samples = [Sample(completion=c["completion"], reference=c["reference"], prompt=c.get("prompt")) for c in CASES]
    return dict(zip([c["id"] for c in CASES], math.score(samples, pool=pool), strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_regression_table(case: dict, case_scores: dict) -> None:
    score = case_scores[case["id"]]
    if case["expected"] == "abstain":
        assert score.status is Status.ABSTAIN, (case["note"], score)
    else:
        assert score.status is Status.OK, (case["note"], score)
        assert score.value == case["expected"], (case["note"], score.reason)


def test_gsm8k_labelled_solutions_have_no_false_positive_or_negative(math, pool, shared_data: Path) -> None:
    rows = [
        json.loads(line) for line in (shared_data / "gsm8k" / "model_solutions_labeled.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 5276
    scores = math.score(
        [Sample(completion=r["completion"], reference=r["reference"], prompt=r["question"]) for r in rows], pool=pool
    )
    assert all(s.status is Status.OK for s in scores), [s for s in scores if s.status is not Status.OK][:3]
    fp = [r["id"] for r, s in zip(rows, scores, strict=True) if s.value == 1.0 and not r["is_correct"]]
    fn = [r["id"] for r, s in zip(rows, scores, strict=True) if s.value == 0.0 and r["is_correct"]]
    assert fp == [] and fn == []


def test_math_verify_cases_agree_at_least_as_well_as_math_verify(math, pool, shared_data: Path) -> None:
    from math_verify import parse, verify

    rows = [json.loads(line) for line in (shared_data / "math-verify-cases" / "cases.jsonl").read_text().splitlines()]
    assert len(rows) == 262
    ours = math.score([Sample(completion=r["pred"], reference=r["gold"]) for r in rows], pool=pool)
    our_agree = sum((s.value == 1.0) == r["expected"] for r, s in zip(rows, ours, strict=True))
    theirs = sum(verify(parse(r["gold"]), parse(r["pred"])) == r["expected"] for r in rows)
    assert our_agree >= theirs, f"rewardlab {our_agree}/262 vs math-verify {theirs}/262"


# name -> (completion, status): refused inputs are a 0 with the reason; inputs that math-verify
# or the hard deadline cannot finish are ``timeout``, never a 0.
PATHOLOGICAL = {
    "tower": ("\\boxed{9^{9^{9^{9}}}}", Status.OK),
    "big-power": ("\\boxed{9^{99999999}}", Status.TIMEOUT),
    "factorial-expression": ("\\boxed{(10^{6})!}", Status.TIMEOUT),
    "nested-300": ("\\boxed{" + "(" * 300 + "1" + ")" * 300 + "}", Status.OK),
    "megabyte": ("x " * 500_000 + "\\boxed{4}", Status.OK),
    "megabyte-no-answer": ("1 + " * 300_000, Status.OK),
    "integral": ("\\boxed{\\int_0^{\\infty} e^{-x^{100}} \\sin(x^{50}) dx}", Status.TIMEOUT),
    "over-cap": ("y" * 4_000_001, Status.OK),
}


def _timed(fn):
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


@pytest.mark.parametrize("context", ["main", "thread", "asyncio"])
def test_pathological_inputs_finish_within_the_deadline(context: str, pool) -> None:
    reward = rewardlab.load("math", timeout=3.0)
    samples = [Sample(completion=c, reference="3") for c, _ in PATHOLOGICAL.values()]

    def main():
        return reward.score(samples, pool=pool)

    def thread():
        box: list = []
        t = threading.Thread(target=lambda: box.append(reward.score(samples, pool=pool)))
        t.start()
        t.join()
        return box[0]

    def in_asyncio():
        return asyncio.run(reward.ascore(samples, pool=pool))

    scores, elapsed = _timed({"main": main, "thread": thread, "asyncio": in_asyncio}[context])
    # all samples run two at a time; each one within its 3 s deadline
    assert elapsed < 3.0 * len(samples) / 2 + 2.0
    for (name, (_, status)), score in zip(PATHOLOGICAL.items(), scores, strict=True):
        assert score.status is status, (name, score)
        assert score.value == (0.0 if status is Status.OK else None), (name, score)
    assert scores[list(PATHOLOGICAL).index("over-cap")].reason.startswith("refused")


def test_a_correct_answer_the_verifier_cannot_finish_is_a_timeout_not_a_zero(math, pool) -> None:
    # (10^6)! / (10^6 - 1)! is 1000000, but sympy cannot evaluate it within math-verify's budget.
    completion = "\\boxed{\\frac{(10^{6})!}{(10^{6}-1)!}}"
    score = math.score([Sample(completion=completion, reference="1000000")], pool=pool)[0]
    assert score.status is Status.TIMEOUT, score
    assert score.value is None
    assert "\\frac{(10^{6})!}" in score.reason


def test_a_verifier_exception_is_an_error_not_a_zero(math, pool) -> None:
    # math-verify raises ValueError("Can't evaluate nan or zoo") on a reference of 1/0.
    score = math.score([Sample(completion="\\boxed{\\frac{1}{2}}", reference="\\frac{1}{0}")], pool=pool)[0]
    assert score.status is Status.ERROR, score
    assert "math-verify failed while comparing: ValueError" in score.reason


def _math_verify_parse_that_times_out_on(monkeypatch, slow: str) -> list[str]:
    """Replace math_verify.parse by one that behaves like math-verify on a timeout for ``slow``."""
    import math_verify
    from math_verify.errors import TimeoutException

    real = math_verify.parse
    calls: list[str] = []

    def parse(text, *args, raise_on_error=False, **kwargs):
        calls.append(text)
        if slow in text and calls.count(text) == 1:
            if raise_on_error:
                raise TimeoutException(f"Timeout during parsing: {text}")
            return []  # what math-verify returns on its own timeout when asked not to raise
        return real(text, *args, raise_on_error=raise_on_error, **kwargs)

    monkeypatch.setattr(math_verify, "parse", parse)
    return calls


def test_a_reference_whose_parse_timed_out_is_not_remembered_as_unparsable(monkeypatch) -> None:
    from rewardlab.rewards import _math

    _math._parse_gold.cache_clear()
    _math_verify_parse_that_times_out_on(monkeypatch, "\\sqrt{7}")
    first = _math.verify_answer("\\sqrt{7}", "\\sqrt{7}", 6, 15, True)
    assert first == ("timeout", "math-verify ran out of its 2s budget while parsing the reference")
    # the next sample with the same reference parses it afresh and is verified
    assert _math.verify_answer("\\sqrt{7}", "\\sqrt{7}", 6, 15, True) == ("equal", "")


def test_an_answer_whose_parse_timed_out_is_a_timeout(monkeypatch) -> None:
    from rewardlab.rewards import _math

    _math_verify_parse_that_times_out_on(monkeypatch, "\\sqrt{11}")
    verdict = _math.verify_answer("\\sqrt{11}", "\\sqrt{5}", 6, 15, True)
    assert verdict == ("timeout", "math-verify ran out of its 2s budget while parsing the answer")


def test_a_failing_pair_does_not_hide_an_equal_pair(monkeypatch) -> None:
    # math-verify compares every (reference, answer) parse pair; one that raises must not
    # turn a match found by another pair into an error.
    import math_verify

    from rewardlab.rewards import _math

    real = math_verify.verify

    def verify(gold, target, *, raise_on_error=False, **kwargs):
        if not isinstance(gold, str) and not isinstance(target, str):
            if raise_on_error:
                raise ValueError("sympy comparison failed")
            return False  # what math-verify returns on a failure when asked not to raise
        return real(gold, target, raise_on_error=raise_on_error, **kwargs)

    monkeypatch.setattr(math_verify, "verify", verify)
    assert _math.verify_answer("x^{2}+1", "x^{2}+1", 6, 15, True) == ("equal", "")
    verdict, reason = _math.verify_answer("x^{2}+2", "x^{2}+1", 6, 15, True)
    assert (verdict, reason) == ("error", "math-verify failed while comparing: ValueError: sympy comparison failed")


def test_caps_are_named_constants() -> None:
    from rewardlab.rewards.math import _answer, _math

    for name in ("MAX_COMPLETION_CHARS", "MAX_ANSWER_CHARS", "MAX_ANSWER_NESTING", "SHORT_COMPLETION_CHARS"):
        assert isinstance(getattr(_answer, name), int)
    assert _math.DEFAULT_TIMEOUT_S <= 6.0
    assert 2 * _math.PARSE_BUDGET_S + _math.VERIFY_BUDGET_S <= _math.DEFAULT_TIMEOUT_S


def test_signature_records_parameters() -> None:
    r = rewardlab.load("math", float_rounding=4)
    assert "float_rounding:4" in r.signature and r.signature.startswith("math|")


numbers = st.one_of(
    st.integers(min_value=-(10**9), max_value=10**9).map(str),
    st.fractions(max_denominator=1000)
    .filter(lambda f: f.denominator != 1)
    .map(lambda f: f"\\frac{{{f.numerator}}}{{{f.denominator}}}"),
    st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.tuples(st.integers(1, 50), st.integers(2, 50)).map(lambda t: f"{t[0]}\\sqrt{{{t[1]}}}"),
    st.tuples(st.integers(1, 9), st.sampled_from("xyz"), st.integers(-9, 9)).map(lambda t: f"{t[0]}{t[1]} + {t[2]}"),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=numbers, dollars=st.booleans(), pad=st.sampled_from(["", " ", "  \n", "\t"]))
def test_a_boxed_value_scores_1_against_itself_whatever_the_delimiters(
    math, pool, value: str, dollars: bool, pad: str
) -> None:
    body = f"$\\boxed{{{value}}}$" if dollars else f"\\boxed{{{value}}}"
    completion = f"Working...{pad}so the result is {pad}{body}{pad}"
    score = math.score([Sample(completion=completion, reference=value)], pool=pool)[0]
    assert score.status is Status.OK and score.value == 1.0, (value, score.reason)
    plain = math.score([Sample(completion=f"\\boxed{{{value}}}", reference=f"${value}$")], pool=pool)[0]
    assert plain.value == score.value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.fractions(max_denominator=60), b=st.fractions(max_denominator=60))
def test_fraction_equality_matches_exact_arithmetic(math, pool, a: Fraction, b: Fraction) -> None:
    completion = f"\\boxed{{\\frac{{{a.numerator}}}{{{a.denominator}}}}}"
    score = math.score([Sample(completion=completion, reference=f"{b.numerator}/{b.denominator}")], pool=pool)[0]
    assert score.value == (1.0 if a == b else 0.0)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_extraction_never_raises_and_is_deterministic(text: str) -> None:
    assert extract_final_answer(text) == extract_final_answer(text)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(others=st.lists(st.integers(0, 99), min_size=2, max_size=8), ref=st.integers(0, 99))
def test_listing_the_reference_among_candidates_never_pays(math, pool, others: list[int], ref: int) -> None:
    candidates = sorted({*others, ref})
    assume(len(candidates) >= 2)
    listed = ", ".join(map(str, candidates))
    completions = [
        f"\\boxed{{{listed}}}",
        " ".join(map(str, candidates)),
        " ".join(f"\\boxed{{{c}}}" for c in candidates),
        f"The answer is {' or '.join(map(str, candidates))}.",
    ]
    scores = math.score([Sample(completion=c, reference=str(ref)) for c in completions], pool=pool)
    assert [s.value for s in scores] == [0.0] * len(completions), [s.reason for s in scores]


plain_numbers = st.one_of(
    st.integers(-(10**7), 10**7).map(str),
    st.decimals(min_value=-(10**4), max_value=10**4, places=7, allow_nan=False).map(lambda d: format(d, "f")),
    st.decimals(min_value=-10, max_value=10, places=2, allow_nan=False).map(lambda d: format(d, "f")),
    st.integers(1, 10**6).map(lambda n: f"{n:,}"),
)


@settings(max_examples=200, deadline=None)
@given(a=plain_numbers, b=plain_numbers)
def test_plain_number_fast_path_agrees_with_math_verify(a: str, b: str) -> None:
    from math_verify import parse, verify

    from rewardlab.rewards.math._math import _plain_number_verdict

    quick = _plain_number_verdict(a, b, 6)
    assume(quick is not None)
    assert quick == verify(parse(f"\\boxed{{{b}}}"), parse(f"\\boxed{{{a}}}")), (a, b)


@settings(max_examples=100, deadline=None)
@given(d=st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False), zeros=st.integers(0, 3))
def test_plain_number_fast_path_equal_forms(d, zeros: int) -> None:
    from math_verify import parse, verify

    from rewardlab.rewards.math._math import _plain_number_verdict

    a = format(d, "f")
    b = a + "0" * zeros if "." in a else a
    assert _plain_number_verdict(a, b, 6) is True
    assert verify(parse(f"\\boxed{{{b}}}"), parse(f"\\boxed{{{a}}}"))
