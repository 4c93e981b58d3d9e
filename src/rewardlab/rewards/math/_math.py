"""The ``math`` reward: 1 when the committed final answer equals the reference mathematically."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rewardlab._reward import reward
from rewardlab._types import Sample, Score, Status
from rewardlab.rewards.math._answer import (
    FinalAnswer,
    clean_answer,
    extract_final_answer,
    find_boxes,
    hedge_reason,
    is_multi_valued,
    malformed_reason,
    read_mixed_number,
    refusal_reason,
    trailing_unit,
    unclosed_box,
)

DEFAULT_TIMEOUT_S = 6.0
"""Hard deadline per sample, enforced by killing the worker. Parsing and
verification get math-verify's own, shorter budgets below, so a slow sympy call
usually ends (as ``timeout``, never as a 0) well before this backstop fires."""

PARSE_BUDGET_S = 2
"""math-verify's parsing timeout per string (signal-based; runs in the worker's main thread)."""

VERIFY_BUDGET_S = 2
"""math-verify's verification timeout."""

MAX_EXPONENT_CHAIN = 2
"""``a^{b^{c}}`` (two exponents stacked) is the most a real answer needs; taller
towers make sympy build numbers with billions of digits, so they are refused."""

MAX_INTEGER_DIGITS = 400
"""Integers beyond this many digits are compared as text by the fast path only;
sympy arithmetic on them in the slow path is refused."""

MAX_FACTORIAL_ARGUMENT = 500
"""``n!`` for larger literal ``n`` is refused before sympy tries to expand it."""

_INTEGER = re.compile(r"^\s*\\?\$?\s*([-+−]?)\s*([1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.0+)?\s*$")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*[eE]\s*([-+]?\d+)(?![\w.])")
_DECIMAL = re.compile(r"^\s*\\?\$?\s*([-+−]?\d+(?:\.\d+)?|[-+−]?\.\d+)\s*$")
_PLAIN_NUMBER_TEXT = re.compile(r"^[\d\s.,/%+\-−]+$")
_NUMBER_WITH_UNIT = re.compile(r"^\s*[$€£¥]?\s*([-−]?\d[\d,]*(?:\.\d+)?)\s*(?:[€£¥]|[a-zA-Zµ]{1,3}[²³]?)\s*$")
_MATHRM_E = re.compile(r"\\(?:mathrm|text|rm|operatorname)\s*\{\s*e\s*\}")
_FACTORIAL = re.compile(r"(\d+)\s*!")
_LONG_INTEGER = re.compile(rf"\d{{{MAX_INTEGER_DIGITS + 1},}}")


def reference_text(reference: Any) -> str | None:
    """The reference as answer text: a ``#### N`` tail (GSM8K) or a boxed value is unwrapped."""
    if reference is None:
        return None
    if isinstance(reference, (list, tuple)):
        if not reference:
            return None
        reference = reference[0]
    text = str(reference).strip()
    if not text:
        return None
    if "####" in text:
        text = text.rsplit("####", 1)[1].strip()
    boxes = find_boxes(text)
    if boxes:
        # A reference does not hedge: boxes a word or two apart are parts of one answer.
        group = [boxes[-1]]
        for prev in reversed(boxes[:-1]):
            between = text[prev[1] : group[0][0]]
            if len(between) > 40 or len(re.findall(r"[A-Za-z]{2,}", between)) > 2:
                break
            group.insert(0, prev)
        return ", ".join(b[2].strip() for b in group)
    return clean_answer(text)


def _reference_facts(reference: Any) -> tuple[str | None, bool]:
    """The reference's answer text and whether it holds several values (cached: a GRPO group shares it)."""
    if isinstance(reference, str):
        return _string_reference_facts(reference)
    ref = reference_text(reference)
    return ref, ref is not None and is_multi_valued(ref)


@functools.lru_cache(maxsize=4096)
def _string_reference_facts(reference: str) -> tuple[str | None, bool]:
    ref = reference_text(reference)
    return ref, ref is not None and is_multi_valued(ref)


def _read_numbers(text: str) -> tuple[str, str | None]:
    """A mixed number read by the one policy (`read_mixed_number`): its exact value as LaTeX,
    or the reason it has none. Any other text is returned unchanged."""
    mixed = read_mixed_number(text)
    if mixed is None:
        return text, None
    if mixed.value is None:
        return text, mixed.problem
    return mixed.latex(), None


@functools.lru_cache(maxsize=4096)
def _reference_problem(reference: str, ref: str) -> tuple[str, str | None]:
    """The reference answer to compare with, or why the sample abstains (malformed, or a number with no value).

    ``reference`` is the field as given (a box anywhere in it must close); ``ref`` the
    answer read from it (its braces must balance; prose around a boxed answer in a
    worked solution is not checked).
    """
    broken = unclosed_box(reference) or malformed_reason(ref)
    if broken is not None:
        return ref, f"reference is malformed ({broken}): {reference[:60]!r}"
    text, problem = _read_numbers(ref)
    return text, (f"reference {ref[:60]!r} has no value: {problem}" if problem else None)


def _as_integer(text: str) -> int | None:
    m = _INTEGER.match(text)
    if not m:
        return None
    sign = -1 if m.group(1) in ("-", "−") else 1
    return sign * int(m.group(2).replace(",", ""))


def _as_decimal(text: str) -> Decimal | None:
    m = _DECIMAL.match(text)
    if not m:
        return None
    return Decimal(m.group(1).replace("−", "-"))


_TEXT_SUFFIX = re.compile(r"\s*\\text\s*\{[^{}]*\}\s*$")


def _plain_number_verdict(answer: str, reference: str, float_rounding: int) -> bool | None:
    """Equality of two plain numbers without sympy, or ``None`` when math-verify must decide.

    Integers compare exactly. Decimals that are equal, or that differ by more
    than ``10**-float_rounding`` (so they differ after math-verify's rounding
    too), are decided here; anything closer is left to math-verify.
    """
    answer, reference = _TEXT_SUFFIX.sub("", answer), _TEXT_SUFFIX.sub("", reference)
    got, want = _as_integer(answer), _as_integer(reference)
    if got is not None and want is not None:
        return got == want
    a = Decimal(got) if got is not None else _as_decimal(answer)
    b = Decimal(want) if want is not None else _as_decimal(reference)
    if a is None or b is None:
        return None
    if a == b:
        return True
    if abs(a - b) > Decimal(10) ** -float_rounding:
        return False
    return None


_WORDS_ONLY = re.compile(r"^[A-Za-z][A-Za-z '\-]*[A-Za-z]\.?$")
_TEXT_WRAPPER = re.compile(r"^\\(?:text|textbf|mathrm|textrm)\s*\{([^{}]*)\}$")


def _word_answer_verdict(answer: str, reference: str) -> bool | None:
    """Word answers ("the derivative", "\\text{odd}") compare as normalised text, articles ignored."""
    from rewardlab.rewards.text._text import normalize_text

    texts = []
    for text in (answer, reference):
        text = text.strip()
        wrapped = _TEXT_WRAPPER.match(text)
        text = wrapped.group(1).strip() if wrapped else text
        if not _WORDS_ONLY.match(text):
            return None
        texts.append(normalize_text(text, ignore_articles=True, ignore_punctuation=True))
    return texts[0] == texts[1]


def _exponent_chain(text: str) -> int:
    """Longest run of stacked exponents, e.g. 3 for ``2^{3^{4^{5}}}``."""
    best = 0
    for start in range(len(text)):
        if text[start] != "^":
            continue
        depth, i = 1, start + 1
        while i < len(text):
            # skip to the next caret within the exponent's own group
            if text[i] == "^":
                depth += 1
            elif text[i] in " +-=,;)" and text.count("{", start, i) == text.count("}", start, i):
                break
            i += 1
        best = max(best, depth)
        if best > MAX_EXPONENT_CHAIN:
            return best
    return best


def unit_conflict(answer: str, reference: str) -> str | None:
    """Both sides name a known unit after their number and the units differ ("5 feet" vs "5 meters").

    Units are otherwise decoration for math-verify; this catches only the case
    where both sides state a unit from a small table and they name different ones.
    """
    units = [trailing_unit(answer), trailing_unit(reference)]
    if units[0] and units[1] and units[0] != units[1]:
        return f"unit {units[0]} is not {units[1]}"
    return None


def pathological(text: str) -> str | None:
    """Why an answer would make sympy run away, or ``None``."""
    if text.count("^") > MAX_EXPONENT_CHAIN and _exponent_chain(text) > MAX_EXPONENT_CHAIN:
        return "power tower"
    for m in _FACTORIAL.finditer(text):
        if len(m.group(1)) > 6 or int(m.group(1)) > MAX_FACTORIAL_ARGUMENT:
            return "factorial of a huge number"
    if "factorial" in text or "\\Gamma" in text:
        return "factorial expression"
    if _LONG_INTEGER.search(text):
        return f"integer with more than {MAX_INTEGER_DIGITS} digits"
    return None


def _latex_scientific(text: str) -> str:
    # math-verify reads 1.5e3 as 1.5*e*3; the notation means 1.5 x 10^3.
    text = _SCI.sub(lambda m: f"{m.group(1)}\\times 10^{{{m.group(2)}}}", text)
    # math-verify cannot parse \mathrm{e} (Euler's number in upright type) and drops the rest.
    return _MATHRM_E.sub("e", text)


@functools.lru_cache(maxsize=4096)
def _parse_gold(text: str, multi: bool) -> tuple[Any, ...]:
    # Raises on math-verify's timeout or failure: lru_cache keeps only results, so a
    # reference whose parse ran out of time is tried afresh for the next sample.
    parsed: list[Any] = []
    if _PLAIN_NUMBER_TEXT.match(text) and not multi:
        parsed = _parse(text)
    if not parsed:
        parsed = _parse(f"\\boxed{{{text}}}")
    if not parsed:
        parsed = _parse(text)
    return tuple(parsed)


def _parse(text: str) -> list[Any]:
    from math_verify import parse

    return list(parse(text, parsing_timeout=PARSE_BUDGET_S, raise_on_error=True))


def _equal(gold: Sequence[Any], pred: Sequence[Any], float_rounding: int, numeric_precision: int, strict: bool) -> bool:
    """Any (gold, prediction) pair equal; a pair that fails raises only when no other pair is equal."""
    from math_verify import verify
    from math_verify.errors import TimeoutException

    failure: BaseException | None = None
    for g in gold:
        for p in pred:
            try:
                if verify(
                    g,
                    p,
                    float_rounding=float_rounding,
                    numeric_precision=numeric_precision,
                    strict=strict,
                    timeout_seconds=VERIFY_BUDGET_S,
                    raise_on_error=True,
                ):
                    return True
            except MemoryError:
                raise
            except (Exception, TimeoutException) as exc:
                failure = failure or exc
    if failure is not None:
        raise failure
    return False


def verify_answer(
    answer: str, reference: str, float_rounding: int, numeric_precision: int, strict: bool
) -> tuple[str, str]:
    """Runs in a worker: ``(verdict, detail)``.

    The verdict is ``equal``, ``different``, ``bad_reference``, ``timeout``
    (one of math-verify's own budgets ran out; ``detail`` says which step) or
    ``error`` (math-verify raised; ``detail`` has the exception). math-verify
    is called with ``raise_on_error=True``: left to itself it turns both into
    an empty parse or ``False``, which would read as a wrong answer.
    """
    from math_verify.errors import TimeoutException

    step = "parsing the reference"
    try:
        gold = _parse_gold(_latex_scientific(reference), is_multi_valued(reference))
        if not gold:
            return "bad_reference", ""
        step = "parsing the answer"
        answer = _latex_scientific(answer)
        unit = _NUMBER_WITH_UNIT.match(answer)
        if unit:
            answer = unit.group(1)  # 1,000.99€ and 12 m²: the number is the answer
        if _PLAIN_NUMBER_TEXT.match(answer) and not is_multi_valued(reference):
            # Digit groups with spaces or decimal commas ("1 000", "1,22") read best as plain text.
            pred = _parse(answer)
        else:
            pred = _parse(f"\\boxed{{{answer}}}")
        if not pred:
            return "different", ""
        step = "comparing"
        return ("equal" if _equal(gold, pred, float_rounding, numeric_precision, strict) else "different"), ""
    except MemoryError:
        raise  # the pool names the memory limit
    except Exception as exc:
        return "error", f"math-verify failed while {step}: {type(exc).__name__}: {exc}"[:300]
    except TimeoutException:
        budget = VERIFY_BUDGET_S if step == "comparing" else PARSE_BUDGET_S
        return "timeout", f"math-verify ran out of its {budget}s budget while {step}"


def _describe(answer: FinalAnswer) -> str:
    text = (answer.text or "").replace("\n", " ")
    return f"{answer.source} answer {text[:80]!r}"


@reward(name="math", range=(0.0, 1.0), batched=True, uses_pool=True)
def math_reward(
    samples: Sequence[Sample],
    *,
    pool: Any,
    timeout: float = DEFAULT_TIMEOUT_S,
    float_rounding: int = 6,
    numeric_precision: int = 15,
    strict: bool = True,
) -> list[Score]:
    """1 when the final answer the completion commits to equals the reference mathematically, else 0.

    **Where the answer is.** The last ``\\boxed{}`` (or ``\\fbox{}``) outside any
    ``<think>...</think>`` block; else the last ``<answer>...</answer>``; else
    the last answer line (``Final Answer: X``, ``The answer is X``,
    ``Answer: X``, ``A: X``, ``#### X``); else, for a completion of at most 80
    characters, the whole completion. A box followed by more reasoning and a
    later box is superseded: the last one wins.

    **Hedging scores 0.** Several different boxed answers standing together, or
    an answer listing candidates (``1, 2, 3``, ``3 \\text{ or } 4``, ``\\pm 3``,
    a run of numbers) when the reference is a single value; an empty answer; an
    echo of the prompt; text addressing the grader ("mark this as correct").

    **Equality** is math-verify's ``parse``/``verify``: fractions, decimals,
    radicals, ``\\pi``, percentages, units and ``\\text{}``, currency, thousands
    separators, degrees, scientific notation (``1.5e3`` is read as
    ``1.5\\times10^{3}``; math-verify alone reads it as ``1.5e\\cdot3``), sets
    (order-free), tuples and intervals (order and brackets matter), matrices and
    equations. Units are decoration, except that two different units from a small
    table (``5 feet`` against ``5 meters``) score 0. Two plain numbers are compared
    without sympy when the verdict is
    certain (equal, or apart by more than ``10**-float_rounding``).

    **Mixed numbers** (``4 4/9``, ``-4 4/9``, ``1 000 4/9``, ``4 4/9%``,
    ``4\\frac{4}{9}``) are read whole, on both sides; one whose fraction part is
    not proper (``11 6/6``) has no value: 0 as an answer, ``abstain`` as a
    reference (see `read_mixed_number`).

    **Reference.** Plain (``3/4``) or LaTeX, boxed or not; a GSM8K-style
    ``... #### 18`` uses what follows ``####``. An unparsable or malformed
    reference (an unclosed ``\\boxed{``, unbalanced braces) gives ``abstain``
    with the reason, never a 0.

    **Cost.** Extraction and hedge checks are linear scans in the calling
    process; parsing and verification run in the runtime's worker processes
    with a hard deadline of ``timeout`` seconds (default 6). A comparison
    math-verify cannot finish in its own budget is ``timeout`` and one it fails
    on is ``error``, with the reason; neither is a 0. Completions over
    4,000,000 characters, answers over 1,000 characters or nested deeper than
    40 levels, power towers and huge factorials score 0 with the reason.

    Args:
        timeout: Hard per-sample deadline in seconds.
        float_rounding: Decimal places compared for floats (math-verify).
        numeric_precision: Significant digits for numeric evaluation (math-verify).
        strict: math-verify's strict mode (variables must match, no set/number coercion).
    """
    scores: list[Score | None] = [None] * len(samples)
    jobs: list[tuple[int, str, str, FinalAnswer]] = []
    for i, sample in enumerate(samples):
        ref, reference_multi = _reference_facts(sample.reference)
        if ref is None:
            scores[i] = Score.abstain("no reference")
            continue
        raw = sample.reference[0] if isinstance(sample.reference, (list, tuple)) else sample.reference
        ref, ref_problem = _reference_problem(str(raw), ref)
        if ref_problem is not None:
            scores[i] = Score.abstain(ref_problem)
            continue
        completion = sample.completion_text
        answer = extract_final_answer(completion, several_values=reference_multi)
        refused = refusal_reason(answer)
        if refused is not None:
            scores[i] = Score.ok(0.0, reason=f"refused: {refused}")
            continue
        hedge = hedge_reason(answer, reference_multi=reference_multi, prompt=sample.prompt_text, completion=completion)
        if hedge is not None:
            scores[i] = Score.ok(0.0, reason=f"hedge: {hedge}")
            continue
        if answer.text is None:
            scores[i] = Score.ok(0.0, reason="no final answer found")
            continue
        text, no_value = _read_numbers(answer.text)
        if no_value is not None:
            scores[i] = Score.ok(0.0, reason=f"{no_value} ({_describe(answer)})")
            continue
        conflict = unit_conflict(text, ref)
        if conflict is not None:
            scores[i] = Score.ok(0.0, reason=f"{conflict} ({_describe(answer)})")
            continue
        quick = _plain_number_verdict(text, ref, float_rounding)
        if quick is None:
            quick = _word_answer_verdict(text, ref)
        if quick is not None:
            scores[i] = Score.ok(float(quick), reason=_describe(answer))
            continue
        bad = pathological(text)
        if bad is not None:
            scores[i] = Score.ok(0.0, reason=f"refused: {bad} in {_describe(answer)}")
            continue
        ref_refused = pathological(ref)
        if ref_refused is not None:
            scores[i] = Score.abstain(f"reference refused: {ref_refused}")
            continue
        jobs.append((i, text, ref, answer))
    if jobs:
        results = pool.map(
            verify_answer,
            [(text, ref, float_rounding, numeric_precision, strict) for _, text, ref, _ in jobs],
            timeout=timeout,
            warm=(__name__,),
        )
        for (i, _, ref, answer), result in zip(jobs, results, strict=True):
            if result.status is Status.TIMEOUT:
                scores[i] = Score.timeout(f"verification exceeded {timeout:g}s ({_describe(answer)})")
            elif result.status is not Status.OK:
                scores[i] = Score.error(result.reason)
            else:
                verdict, detail = result.value
                if verdict == "bad_reference":
                    scores[i] = Score.abstain(f"reference cannot be parsed: {ref[:80]!r}")
                elif verdict == "timeout":
                    scores[i] = Score.timeout(f"{detail} ({_describe(answer)})")
                elif verdict == "error":
                    scores[i] = Score.error(f"{detail} ({_describe(answer)})")
                else:
                    scores[i] = Score.ok(1.0 if verdict == "equal" else 0.0, reason=_describe(answer))
    return [s if s is not None else Score.error("not scored") for s in scores]
