"""Text rewards: exact match, substring match, length and n-gram repetition."""

from __future__ import annotations

import functools
import re
import string
import threading
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from rewardlab._reward import reward
from rewardlab._types import Sample, Score

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


def normalize_text(
    text: str,
    *,
    ignore_case: bool = True,
    normalize_whitespace: bool = True,
    ignore_punctuation: bool = False,
    ignore_articles: bool = False,
    unicode_nfkc: bool = True,
) -> str:
    """Normalise text the way `exact_match` and `contains` compare it.

    Steps, in order: Unicode NFKC; lower-casing; removing ASCII punctuation;
    removing the English articles a/an/the (SQuAD-style); collapsing runs of
    whitespace to one space and stripping the ends.
    """
    return _normalizer(ignore_case, normalize_whitespace, ignore_punctuation, ignore_articles, unicode_nfkc)(text)


@functools.lru_cache(maxsize=64)
def _normalizer(
    ignore_case: bool,
    normalize_whitespace: bool,
    ignore_punctuation: bool,
    ignore_articles: bool,
    unicode_nfkc: bool,
) -> Callable[[str], str]:
    """`normalize_text` with its options fixed: one call per string, no option handling per call."""
    nfkc = functools.partial(unicodedata.normalize, "NFKC")

    def normalize(text: str) -> str:
        if unicode_nfkc:
            text = nfkc(text)
        if ignore_case:
            text = text.casefold()
        if ignore_punctuation:
            text = text.translate(_PUNCT_TABLE)
        if ignore_articles:
            text = _ARTICLES.sub(" ", text)
        if normalize_whitespace:
            # str.split() splits at exactly the characters the regex \s matches (str.isspace)
            text = " ".join(text.split())
        return text

    return normalize


def _references(reference: Any) -> list[str] | None:
    """A reference may be one string or a list of acceptable strings."""
    if reference is None:
        return None
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return [str(reference)]
    if isinstance(reference, Iterable):
        refs = [str(r) for r in reference if r is not None]
        return refs or None
    return [str(reference)]


@reward(name="exact_match", range=(0.0, 1.0))
def exact_match(
    sample: Sample,
    *,
    ignore_case: bool = True,
    normalize_whitespace: bool = True,
    ignore_punctuation: bool = False,
    ignore_articles: bool = False,
    unicode_nfkc: bool = True,
) -> Score:
    """1 when the normalised completion equals the normalised reference, else 0.

    The reference may be a string or a list of acceptable strings (any one
    matching scores 1). With no reference the sample is ``abstain``.

    Normalisation (each step a parameter): NFKC Unicode form (``unicode_nfkc``),
    case folding (``ignore_case``), ASCII punctuation removed
    (``ignore_punctuation``), articles a/an/the removed (``ignore_articles``),
    whitespace runs collapsed and ends stripped (``normalize_whitespace``).
    """
    normalize = _normalizer(ignore_case, normalize_whitespace, ignore_punctuation, ignore_articles, unicode_nfkc)
    reference = sample.reference
    if type(reference) is str and type(sample.completion) is str:  # the common case, without the general path
        return _MATCH if normalize(sample.completion) == normalize(reference) else _NO_MATCH
    refs = _references(reference)
    if refs is None:
        return Score.abstain("no reference")
    got = normalize(sample.completion_text)
    return _MATCH if any(got == normalize(r) for r in refs) else _NO_MATCH


_MATCH = Score.ok(1.0)
_NO_MATCH = Score.ok(0.0)


@reward(name="contains", range=(0.0, 1.0))
def contains(sample: Sample, *, ignore_case: bool = True, normalize_whitespace: bool = True) -> Score:
    """1 when the reference appears anywhere in the completion ("substring EM").

    A weak reward, kept because it is common: a completion that lists many
    candidates or sprays numbers gets full credit. `rewardlab audit` catches it.
    An empty reference is ``abstain`` (it would be contained in everything).
    """
    refs = _references(sample.reference)
    if refs is None:
        return Score.abstain("no reference")
    options = dict(ignore_case=ignore_case, normalize_whitespace=normalize_whitespace, ignore_punctuation=False)
    got = normalize_text(sample.completion_text, **options)
    needles = [normalize_text(r, **options) for r in refs]
    if not any(needles):
        return Score.abstain("empty reference")
    return Score.ok(1.0 if any(n and n in got for n in needles) else 0.0)


Unit = Literal["chars", "words", "tokens"]


def measure_length(
    sample: Sample, unit: Unit, length_field: str | None = "completion_tokens", tokenizer: TokenCounter | None = None
) -> int:
    """Length of the completion.

    ``tokens``: the sample's ``length_field`` when present (a count, or a list of
    token ids such as TRL's ``completion_ids``), else the ``tokenizer`` (a
    `TokenCounter` over a local tokenizer file or folder). rewardlab never
    guesses a token count. ``chars`` counts Unicode code points; ``words`` counts
    whitespace-separated words.
    """
    if length_field and sample.extras.get(length_field) is not None:
        value = sample.extras[length_field]
        return len(value) if isinstance(value, (list, tuple)) else int(value)
    text = sample.completion_text
    if unit == "chars":
        return len(text)
    if unit == "words":
        return len(text.split())
    if tokenizer:
        return tokenizer.count(text)
    raise ValueError(
        f"unit 'tokens' needs a token count: a {length_field!r} field, tokenizer=PATH, or unit=chars/words"
    )


class TokenCounter:
    """Counts tokens with a local tokenizer (``tokenizer.json`` or its folder), loaded on first use.

    One belongs to the reward that was given the path, and lives as long as it.
    A tokenizer that cannot be loaded raises the same `ValueError` on every use.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._tokenizer: Any = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        try:
            from tokenizers import Tokenizer
        except ImportError:  # an optional dependency (the trl extra has it)
            raise ValueError("tokenizer=... needs the 'tokenizers' package") from None
        file = Path(self.path)
        if file.is_dir():
            file = file / "tokenizer.json"
        if not file.is_file():
            raise ValueError(f"tokenizer {self.path!r}: no tokenizer.json there")
        return Tokenizer.from_file(str(file))

    def count(self, text: str) -> int:
        with self._lock:
            if self._tokenizer is None and self._error is None:
                try:
                    self._tokenizer = self._load()
                except ValueError as exc:
                    self._error = str(exc)
        if self._error is not None:
            raise ValueError(self._error)
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


@reward(name="length", range=(0.0, float("inf")))
def length(sample: Sample, *, unit: Unit = "chars", length_field: str | None = None) -> float:
    """Length of the completion in ``unit`` (chars, words, or tokens from ``length_field``)."""
    return float(measure_length(sample, unit, length_field))


@reward(name="repetition", range=(-1.0, 0.0))
def repetition(sample: Sample, *, ngram_size: int = 3) -> Score:
    """N-gram repetition penalty: ``-(1 - unique n-grams / all n-grams)`` over words.

    0 for text with no repeated n-gram, approaching -1 for text that repeats one
    n-gram over and over. Text shorter than one n-gram scores 0.
    """
    if ngram_size < 1:
        raise ValueError("ngram_size must be at least 1")
    words = sample.completion_text.lower().split()
    total = len(words) - ngram_size + 1
    if total <= 0:
        return Score.ok(0.0)
    unique = len({tuple(words[i : i + ngram_size]) for i in range(total)})
    penalty = -(1.0 - unique / total)
    return Score.ok(penalty, components={"unique_ngrams": unique, "ngrams": total})
