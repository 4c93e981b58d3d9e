"""Untrusted text in, verdicts out: fencing the judged text and parsing the judge's required verdict line.

The judged completion is hostile input. It reaches the judge only as fenced
data: between markers named with a hash of the text itself (which the text
cannot contain), with any marker-like tag and any line shaped like a verdict
rewritten so it can neither close the fence nor be echoed back as a verdict.

A verdict is read only from a line that is exactly ``KEY: value`` (markdown
emphasis around it tolerated), the last such line of the reply after any
``<think>`` block. Anything else is no verdict, which the rewards turn into
``error``: never into 0, never into 1.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MAX_FIELD_CHARS = 24_000
"""Longest text sent to the judge per field; longer text keeps its head and tail around a visible cut mark."""

MAX_REPLY_CHARS = 50_000
"""Only the last this-many characters of a judge reply are searched for the verdict (the verdict comes last)."""

_FENCE_LABELS = ("response", "answer", "reference", "prompt", "data", "criterion", "candidate")
_TAG = re.compile(r"<\s*/?\s*(?:" + "|".join(_FENCE_LABELS) + r")\b[^<>\n]{0,80}>", re.IGNORECASE)
_DECORATION = r"[ \t*_`#]*"
_VERDICT_KEYS = r"(?:verdict|score|winner|grade|rating|answer|decision|criterion|c\d{1,3}|p\d{1,3})"
_VERDICT_LIKE = re.compile(rf"^({_DECORATION}){_VERDICT_KEYS}{_DECORATION}[:=]", re.IGNORECASE | re.MULTILINE)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def neutralise(text: str) -> str:
    """Make untrusted text inert as data: no fence tags, no verdict-shaped lines, bounded length."""
    if len(text) > MAX_FIELD_CHARS:
        half = MAX_FIELD_CHARS // 2
        text = f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"
    text = _TAG.sub(lambda m: m.group(0).replace("<", "\u2039").replace(">", "\u203a"), text)
    return _VERDICT_LIKE.sub(lambda m: f"{m.group(1)}(quoted) {m.group(0)[len(m.group(1)) :]}", text)


def fence(label: str, text: str) -> str:
    """``text`` as inert data between markers named ``<label-HASH>``, where HASH is a hash of ``text``."""
    marker = f"{label}-{content_hash(text)}"
    return f"<{marker}>\n{neutralise(text)}\n</{marker}>"


def has_content(text: str) -> bool:
    """False for text made only of whitespace and punctuation (":", ".", "...", an empty answer)."""
    return any(not unicodedata.category(c).startswith(("P", "Z", "C")) for c in text)


def strip_thinking(reply: str) -> str:
    """The part of a reply after its last ``</think>`` (reasoning models), bounded in length."""
    cut = reply.rfind("</think>")
    if cut >= 0:
        reply = reply[cut + len("</think>") :]
    return reply[-MAX_REPLY_CHARS:]


def _line_pattern(key: str, values: str) -> re.Pattern[str]:
    return re.compile(
        rf"^{_DECORATION}(?P<key>{key}){_DECORATION}[:=]{_DECORATION}(?P<value>{values}){_DECORATION}\.?{_DECORATION}$",
        re.IGNORECASE | re.MULTILINE,
    )


@dataclass(frozen=True)
class Verdict:
    """A parsed verdict: its value text and where the value starts in the reply (for logprobs)."""

    key: str
    value: str
    offset: int


def last_verdict(reply: str, key: str, values: str) -> Verdict | None:
    """The last line of ``reply`` that is exactly ``key: value`` with value matching ``values`` (a regex)."""
    body = strip_thinking(reply)
    base = len(reply) - len(body)
    found = None
    for match in _line_pattern(key, values).finditer(body):
        found = match
    if found is None:
        return None
    return Verdict(found.group("key"), found.group("value"), base + found.start("value"))


YES_NO = r"yes|no"
WINNER = r"a|b|tie"
INTEGER = r"[+-]?\d{1,4}"


def verdict_lines(reply: str, key_pattern: str, values: str) -> dict[str, Verdict]:
    """Every ``KEY: value`` line whose key matches ``key_pattern``, the last one per key (keys lower-cased)."""
    body = strip_thinking(reply)
    base = len(reply) - len(body)
    out: dict[str, Verdict] = {}
    for match in _line_pattern(key_pattern, values).finditer(body):
        key = match.group("key").lower()
        out[key] = Verdict(key, match.group("value"), base + match.start("value"))
    return out


def yes_probability(
    verdict: Verdict, logprobs: Sequence[tuple[str, float, Mapping[str, float]]] | None
) -> float | None:
    """P(yes) / (P(yes) + P(no)) at the token that carries ``verdict``'s value, from the server's top logprobs.

    None when there are no logprobs, the tokens do not spell the reply, or
    neither yes nor no is among the alternatives at that position.
    """
    if not logprobs:
        return None
    position = 0
    for token, logprob, alternatives in logprobs:
        end = position + len(token)
        if end > verdict.offset:
            if token.strip() == "" or not token.strip().lower().startswith(("y", "n")):
                position = end
                continue
            return _yes_share({token: logprob, **dict(alternatives)})
        position = end
    return None


def _yes_share(candidates: Mapping[str, float]) -> float | None:
    yes = no = 0.0
    for token, logprob in candidates.items():
        word = token.strip().lower()
        if not math.isfinite(logprob):
            continue
        if word in ("yes", "y", "ye"):
            yes += math.exp(logprob)
        elif word in ("no", "n"):
            no += math.exp(logprob)
    if yes + no <= 0:
        return None
    return yes / (yes + no)


def numbered(items: Iterable[str], prefix: str) -> str:
    """``PREFIX1. first`` lines for criteria and principles (each item fenced as data)."""
    return "\n".join(f"{prefix}{i}. {neutralise(text)}" for i, text in enumerate(items, 1))
