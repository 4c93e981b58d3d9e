"""Format rewards: required tags in order, and DAPO's soft overlong penalty."""

from __future__ import annotations

import re
from collections.abc import Callable

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards.text._text import TokenCounter, Unit, measure_length

MAX_FORMAT_CHARS = 2_000_000
"""Completions longer than this are not scanned for tags; the regexes are
linear, but there is no reason to read megabytes for a format check."""


def _tag_spans(text: str, tag: str) -> tuple[list[int], list[int]]:
    opens = [m.start() for m in re.finditer(rf"<{re.escape(tag)}\s*>", text)]
    closes = [m.start() for m in re.finditer(rf"</{re.escape(tag)}\s*>", text)]
    return opens, closes


@reward(name="format", range=(0.0, 1.0))
def format_reward(
    sample: Sample,
    *,
    tags: list[str] | None = None,
    strict: bool = False,
    allow_empty: bool = False,
    partial: bool = False,
) -> Score:
    """1 when each required tag appears once, well-formed, in the given order.

    ``tags`` defaults to ``["think", "answer"]``: ``<think>...</think>`` then
    ``<answer>...</answer>``. Each tag must open and close exactly once, close
    after it opens, not overlap the next tag, and (unless ``allow_empty``) hold
    non-blank content. With ``strict`` nothing but whitespace may stand outside
    the tags. With ``partial`` the value is the share of tags that pass; the
    order check then applies to consecutive pairs.
    """
    names = tags or ["think", "answer"]
    text = sample.completion_text
    if len(text) > MAX_FORMAT_CHARS:
        return Score.ok(0.0, reason=f"completion longer than {MAX_FORMAT_CHARS} characters")
    spans: list[tuple[int, int] | None] = []
    problems: list[str] = []
    for tag in names:
        opens, closes = _tag_spans(text, tag)
        if len(opens) != 1 or len(closes) != 1:
            problems.append(f"<{tag}> opens {len(opens)}x and closes {len(closes)}x")
            spans.append(None)
            continue
        start, end = opens[0], closes[0]
        if end < start:
            problems.append(f"</{tag}> before <{tag}>")
            spans.append(None)
            continue
        inner = re.sub(rf"^<{re.escape(tag)}\s*>", "", text[start:end])
        if not allow_empty and not inner.strip():
            problems.append(f"<{tag}> is empty")
            spans.append(None)
            continue
        spans.append((start, end + len(f"</{tag}>")))
    ok_flags = [s is not None for s in spans]
    for i in range(1, len(spans)):
        prev, cur = spans[i - 1], spans[i]
        if prev is not None and cur is not None and cur[0] < prev[1]:
            problems.append(f"<{names[i]}> is not after </{names[i - 1]}>")
            ok_flags[i] = False
    if strict and all(s is not None for s in spans):
        outside = text
        for span in sorted((s for s in spans if s is not None), reverse=True):
            outside = outside[: span[0]] + outside[span[1] :]
        if outside.strip():
            problems.append("text outside the tags")
            ok_flags = [False] * len(ok_flags)
    reason = "; ".join(problems)
    if partial:
        return Score.ok(sum(ok_flags) / len(ok_flags), reason=reason)
    return Score.ok(0.0 if problems else 1.0, reason=reason)


@reward(name="overlong", range=(-1.0, 0.0), factory=True)
def overlong(
    *,
    max_length: int = 4096,
    buffer: int = 1024,
    unit: Unit = "tokens",
    length_field: str | None = "completion_tokens",
    tokenizer: str | None = None,
) -> Callable[[Sample], Score]:
    """DAPO soft overlong penalty (Yu et al., 2025, "DAPO", eq. 13).

    With ``L`` the completion length, ``L_max = max_length`` and
    ``L_cache = buffer``::

        0                              if L <= L_max - L_cache
        ((L_max - L_cache) - L) / L_cache   if L_max - L_cache < L <= L_max
        -1                             if L > L_max

    Token counts come from ``length_field`` (default ``completion_tokens``; a
    list of token ids counts its length), else from a local ``tokenizer``
    (``tokenizer.json`` or its folder); with ``unit="chars"`` or ``"words"`` the
    text is measured instead. With no way to count tokens the sample abstains
    (a guessed count would shift the penalty silently).
    """
    counter = TokenCounter(tokenizer) if tokenizer else None  # loaded once, on first use, for this reward

    def score(sample: Sample) -> Score:
        if not 0 < buffer <= max_length:
            raise ValueError("buffer must be in (0, max_length]")
        try:
            n = measure_length(sample, unit, length_field, counter)
        except ValueError as exc:
            return Score.abstain(str(exc))
        soft_start = max_length - buffer
        if n <= soft_start:
            value = 0.0
        elif n <= max_length:
            value = (soft_start - n) / buffer
        else:
            value = -1.0
        return Score.ok(value, components={"length": n})

    return score
