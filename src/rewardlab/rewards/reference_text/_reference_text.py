"""Reference-text rewards: BLEU, chrF and TER (sacrebleu) and ROUGE (rouge-score), scaled to [0, 1].

Each scores one completion against one or several references with the
library's own sentence-level scorer, so the value is the library's number
divided by 100 (TER: ``1 - min(TER, 100) / 100``). The library's signature
(``nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:2.6.0``) is reported
in the score's reason, so a number can be reproduced with sacrebleu alone.
The libraries are optional: ``pip install 'rewardlab[text]'``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import Any, Literal

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards._optional import require

MAX_REFERENCE_TEXT_CHARS = 100_000
"""A completion longer than this scores 0 with a reason: n-gram statistics of a
dump cost time and say nothing (about 25k tokens, beyond any reference text)."""


def text_references(reference: Any) -> list[str] | None:
    """One reference string or a list of them; ``None`` when there is none usable."""
    if reference is None:
        return None
    if isinstance(reference, str):
        return [reference] if reference.strip() else None
    if isinstance(reference, Iterable) and not isinstance(reference, (bytes, dict)):
        refs = [str(r) for r in reference if r is not None and str(r).strip()]
        return refs or None
    return [str(reference)]


def _prepare(sample: Sample) -> tuple[str, list[str]] | Score:
    refs = text_references(sample.reference)
    if refs is None:
        return Score.abstain("no reference text")
    text = sample.completion_text
    if len(text) > MAX_REFERENCE_TEXT_CHARS:
        return Score.ok(0.0, reason=f"completion longer than {MAX_REFERENCE_TEXT_CHARS} characters")
    return text, refs


@functools.lru_cache(maxsize=32)
def _sacrebleu_metric(kind: str, options: tuple[tuple[str, Any], ...]) -> Any:
    metrics = require("sacrebleu.metrics", extra="text", reward=kind)
    cls = {"bleu": metrics.BLEU, "chrf": metrics.CHRF, "ter": metrics.TER}[kind]
    return cls(**dict(options))


def _sentence(kind: str, options: dict[str, Any], text: str, refs: list[str]) -> tuple[Any, str]:
    metric = _sacrebleu_metric(kind, tuple(sorted(options.items())))
    # A metric object keeps per-call state (the signature's nrefs): one call at a time.
    with _METRIC_LOCK:
        result = metric.sentence_score(text, refs)
        return result, metric.get_signature().format()


_METRIC_LOCK = threading.Lock()


def _unit(score: float) -> float:
    """A 0-100 library score as a value in [0, 1] (sacrebleu's 100 can land at 100.00000000000004)."""
    return min(1.0, max(0.0, score / 100.0))


Tokenize = Literal["13a", "none", "intl", "char", "zh", "ja-mecab", "ko-mecab", "flores101", "flores200"]


@reward(name="bleu", range=(0.0, 1.0))
def bleu(
    sample: Sample,
    *,
    tokenize: Tokenize = "13a",
    lowercase: bool = False,
    smooth_method: Literal["exp", "floor", "add-k", "none"] = "exp",
    smooth_value: float | None = None,
    effective_order: bool = True,
) -> Score:
    """Sentence BLEU (sacrebleu) against one or several references, divided by 100.

    Defaults are sacrebleu's ``sentence_bleu``: 13a tokenisation, exponential
    smoothing, effective order. The value equals
    ``sacrebleu.sentence_bleu(completion, references).score / 100``; the
    sacrebleu signature is in the reason. No reference: ``abstain``.
    """
    prepared = _prepare(sample)
    if isinstance(prepared, Score):
        return prepared
    text, refs = prepared
    options = {
        "tokenize": tokenize,
        "lowercase": lowercase,
        "smooth_method": smooth_method,
        "smooth_value": smooth_value,
        "effective_order": effective_order,
    }
    result, signature = _sentence("bleu", options, text, refs)
    components = {f"precision_{i + 1}": p / 100.0 for i, p in enumerate(result.precisions)}
    components["brevity_penalty"] = result.bp
    return Score.ok(_unit(result.score), components=components, reason=f"sacrebleu {signature}")


@reward(name="chrf", range=(0.0, 1.0))
def chrf(
    sample: Sample,
    *,
    char_order: int = 6,
    word_order: int = 0,
    beta: int = 2,
    lowercase: bool = False,
    whitespace: bool = False,
    eps_smoothing: bool = False,
) -> Score:
    """Sentence chrF (sacrebleu) against one or several references, divided by 100.

    ``word_order=2`` gives chrF++. The value equals
    ``sacrebleu.sentence_chrf(completion, references).score / 100`` with the same
    options; the sacrebleu signature is in the reason. No reference: ``abstain``.
    """
    prepared = _prepare(sample)
    if isinstance(prepared, Score):
        return prepared
    text, refs = prepared
    options = {
        "char_order": char_order,
        "word_order": word_order,
        "beta": beta,
        "lowercase": lowercase,
        "whitespace": whitespace,
        "eps_smoothing": eps_smoothing,
    }
    result, signature = _sentence("chrf", options, text, refs)
    return Score.ok(_unit(result.score), reason=f"sacrebleu {signature}")


@reward(name="ter", range=(0.0, 1.0))
def ter(
    sample: Sample,
    *,
    normalized: bool = False,
    no_punct: bool = False,
    asian_support: bool = False,
    case_sensitive: bool = False,
) -> Score:
    """``1 - TER`` (sacrebleu's translation edit rate, capped at 100%) against the references.

    TER counts the edits (insertions, deletions, substitutions, shifts) that turn
    the completion into the closest reference, per reference word; it is 0 for
    an exact match and can exceed 100. The component ``ter`` is sacrebleu's
    number; the value is ``1 - min(ter, 100) / 100``. No reference: ``abstain``.
    """
    prepared = _prepare(sample)
    if isinstance(prepared, Score):
        return prepared
    text, refs = prepared
    options = {
        "normalized": normalized,
        "no_punct": no_punct,
        "asian_support": asian_support,
        "case_sensitive": case_sensitive,
    }
    result, signature = _sentence("ter", options, text, refs)
    return Score.ok(
        1.0 - min(result.score, 100.0) / 100.0, components={"ter": result.score}, reason=f"sacrebleu {signature}"
    )


@functools.lru_cache(maxsize=16)
def _rouge_scorer(rouge_type: str, use_stemmer: bool, split_summaries: bool) -> Any:
    scoring = require("rouge_score.rouge_scorer", extra="text", reward="rouge")
    return scoring.RougeScorer([rouge_type], use_stemmer=use_stemmer, split_summaries=split_summaries)


@reward(name="rouge", range=(0.0, 1.0))
def rouge(
    sample: Sample,
    *,
    rouge_type: Literal["rouge1", "rouge2", "rougeL", "rougeLsum"] = "rougeL",
    measure: Literal["fmeasure", "precision", "recall"] = "fmeasure",
    use_stemmer: bool = False,
    split_summaries: bool = False,
) -> Score:
    """ROUGE-1/2/L/Lsum (Google's ``rouge-score``) against the best of the references.

    With several references the one with the highest F-measure counts
    (``RougeScorer.score_multi``). Note rouge-score's tokeniser keeps only
    ASCII letters and digits: text in other scripts scores 0. ROUGE-1 ignores
    word order, so a shuffled reference scores 1 (the audit's probes show it).
    """
    prepared = _prepare(sample)
    if isinstance(prepared, Score):
        return prepared
    text, refs = prepared
    scorer = _rouge_scorer(rouge_type, use_stemmer, split_summaries)
    result = scorer.score_multi(refs, text)[rouge_type]
    components = {"precision": result.precision, "recall": result.recall, "fmeasure": result.fmeasure}
    return Score.ok(float(getattr(result, measure)), components=components)


__all__ = ["bleu", "chrf", "rouge", "ter", "text_references"]
