"""QA rewards: SQuAD token F1 and exact match, with the answer-tag policy of Search-R1-style training.

Normalisation is SQuAD's evaluation script: lower-case, drop ASCII punctuation,
drop the articles a/an/the, collapse whitespace. F1 is over the multiset of
normalised tokens; against several gold answers the best one counts.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Literal

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards.math._answer import extract_final_answer, strip_thinking

MAX_QA_COMPLETION_CHARS = 200_000
"""A completion longer than this scores 0 with a reason (search traces with
retrieved passages run to tens of thousands of characters, not hundreds)."""

_ANSWER_TAG = re.compile(r"<answer\s*>(.*?)</answer\s*>", re.IGNORECASE | re.DOTALL)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 of two answers (1 when both normalise to nothing, 0 when one does)."""
    pred_tokens = squad_normalize(prediction).split()
    gold_tokens = squad_normalize(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _golds(reference: Any) -> list[str] | None:
    if reference is None:
        return None
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, dict):  # SQuAD's {"text": [...]} answers
        reference = reference.get("text", reference.get("answers"))
        return _golds(reference)
    if isinstance(reference, (list, tuple)):
        found = [str(r) for r in reference if r is not None]
        return found or None
    return [str(reference)]


AnswerSource = Literal["auto", "tag"]


def _extract(text: str, source: AnswerSource, multiple: str) -> tuple[str | None, str, str]:
    """(answer, where it came from, why there is none)."""
    visible = strip_thinking(text)
    tags = [t.strip() for t in _ANSWER_TAG.findall(visible)]
    if tags:
        distinct = {squad_normalize(t) for t in tags}
        if len(distinct) > 1 and multiple == "zero":
            return None, "answer_tag", f"{len(tags)} different <answer> tags (an answer spray commits to none)"
        return tags[-1], "answer_tag", ""
    if source == "tag":
        return None, "none", "no <answer>...</answer> tag"
    final = extract_final_answer(text)
    if final.candidates and len({squad_normalize(c) for c in final.candidates}) > 1:
        return None, final.source, f"{len(final.candidates)} boxed answers (an answer spray commits to none)"
    if final.text is None:
        return None, "none", final.refused or "no final answer found"
    return final.text, final.source, ""


def _qa_score(sample: Sample, metric: str, source: AnswerSource, multiple: str, format_score: float) -> Score:
    golds = _golds(sample.reference)
    if golds is None:
        return Score.abstain("no gold answer")
    text = sample.completion_text
    if len(text) > MAX_QA_COMPLETION_CHARS:
        return Score.ok(0.0, components={"format": 0.0}, reason=f"completion longer than {MAX_QA_COMPLETION_CHARS}")
    answer, where, why = _extract(text, source, multiple)
    if answer is None:
        return Score.ok(0.0, components={"format": 0.0}, reason=why)
    if metric == "em":
        value = max(float(squad_normalize(answer) == squad_normalize(g)) for g in golds)
    else:
        value = max(token_f1(answer, g) for g in golds)
    reason = f"answer from {where}: {answer[:200]!r}"
    return Score.ok(max(value, format_score), components={"format": 1.0, metric: value}, reason=reason)


def _check(format_score: float) -> None:
    if not 0.0 <= format_score <= 1.0:
        raise ValueError("format_score must be in [0, 1]")


@reward(name="qa_f1", range=(0.0, 1.0))
def qa_f1(
    sample: Sample,
    *,
    answer_source: AnswerSource = "auto",
    multiple_answers: Literal["zero", "last"] = "zero",
    format_score: float = 0.0,
) -> Score:
    """SQuAD token F1 of the completion's answer against the best gold answer.

    The answer is the ``<answer>...</answer>`` tag outside ``<think>``; with
    ``answer_source="auto"`` (default) a completion without a tag falls back to
    the final-answer policy (last box, ``Answer:`` line, short completion read
    whole); ``answer_source="tag"`` is Search-R1's format policy: no tag, no
    credit. Several tags with different answers score 0 (``multiple_answers="last"``
    takes the last). A well-formed but wrong answer earns ``format_score``
    (Search-R1's format reward; default 0). The reference is one gold answer or
    a list (SQuAD's ``{"text": [...]}`` works too).
    """
    _check(format_score)
    return _qa_score(sample, "f1", answer_source, multiple_answers, format_score)


@reward(name="qa_em", range=(0.0, 1.0))
def qa_em(
    sample: Sample,
    *,
    answer_source: AnswerSource = "auto",
    multiple_answers: Literal["zero", "last"] = "zero",
    format_score: float = 0.0,
) -> Score:
    """SQuAD exact match (after SQuAD normalisation) of the completion's answer against any gold answer.

    Answer extraction and the format policy are those of `qa_f1`. With
    ``answer_source="tag"`` and ``format_score`` this is Search-R1's EM reward.
    """
    _check(format_score)
    return _qa_score(sample, "em", answer_source, multiple_answers, format_score)


__all__ = ["qa_em", "qa_f1", "squad_normalize", "token_f1"]
