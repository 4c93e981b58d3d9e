"""Turning a `Sample` into what a model reads: chat messages, the model's own template, markup policy."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab._types import Sample

END_OF_TURN_MARKERS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|endoftext|>",
    "<end_of_turn>",
    "</s>",
    "<|end_of_text|>",
)
"""End-of-turn and end-of-sequence markers policies leave at the end of a completion."""

MAX_TEXT_CHARS = 400_000
"""A completion or prompt longer than this is not tokenised at all (abstain): no model reads
100k tokens, and a tokenizer on a multi-megabyte string is a denial of service."""


def content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def prompt_messages(sample: Sample) -> list[dict[str, str]]:
    """The prompt as ``[{"role", "content"}]`` (a text prompt is one user message; no prompt is ``[]``)."""
    prompt = sample.prompt
    if prompt is None or prompt == "":
        return []
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m.get("role", "user")), "content": content_text(m.get("content"))} for m in prompt]


def completion_messages(sample: Sample) -> list[dict[str, str]]:
    """The completion as assistant message(s)."""
    completion = sample.completion
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    return [{"role": str(m.get("role", "assistant")), "content": content_text(m.get("content"))} for m in completion]


def special_token_strings(tokenizer: Any) -> list[str]:
    """Every special token string of the tokenizer (named specials and added tokens marked special)."""
    found = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values():
        if getattr(token, "special", False):
            found.add(str(token.content))
    return sorted((t for t in found if t), key=len, reverse=True)


class MarkupPolicy:
    """What to do with template markup inside a completion or prompt content.

    - ``strip`` (default): end-of-turn / end-of-sequence markers at the end of the
      completion are removed (a policy's rollout often ends with its own ``<|im_end|>``),
      and any special token of the scoring model's tokenizer found anywhere in the
      content is deleted, so hostile text cannot close the assistant turn early or
      forge a turn of its own. The number of characters removed is in components.
    - ``abstain``: any such markup makes the sample ``abstain``.
    - ``keep``: the content goes to the template as it is.
    """

    def __init__(self, mode: str, tokenizer: Any) -> None:
        if mode not in ("strip", "abstain", "keep"):
            raise ValueError(f"markup must be strip, abstain or keep, got {mode!r}")
        self.mode = mode
        specials = special_token_strings(tokenizer)
        markers = sorted(set(specials) | set(END_OF_TURN_MARKERS), key=len, reverse=True)
        self._trailing = re.compile("(?:\\s*(?:" + "|".join(re.escape(m) for m in markers) + "))+\\s*$")
        self._inner = re.compile("|".join(re.escape(t) for t in specials)) if specials else None

    def apply(self, messages: list[dict[str, str]], *, completion: bool) -> tuple[list[dict[str, str]], int, str]:
        """``(messages, chars removed, abstain reason or "")``."""
        if self.mode == "keep":
            return messages, 0, ""
        removed = 0
        out = []
        for index, message in enumerate(messages):
            text = message["content"]
            original = len(text)
            if completion and index == len(messages) - 1:
                text = self._trailing.sub("", text)
            if self._inner is not None:
                if self.mode == "abstain":
                    hit = self._inner.search(text)
                    if hit:
                        return messages, 0, f"content holds the model's special token {hit.group(0)!r}"
                text = self._inner.sub("", text)
            if self.mode == "abstain" and len(text) != original:
                return messages, 0, "completion ends with template markup"
            removed += original - len(text)
            out.append({**message, "content": text})
        return out, removed, ""


def cut_prompt_left(messages: list[dict[str, str]], chars: int) -> list[dict[str, str]]:
    """The prompt with its first ``chars`` characters of content removed, dropping emptied turns.

    A system message is kept whole (it states the task); the cut runs through
    the conversation's turns from the oldest.
    """
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(system) :]
    out: list[dict[str, str]] = []
    left = chars
    for message in rest:
        text = message["content"]
        if left >= len(text):
            left -= len(text)
            continue
        out.append({**message, "content": text[left:]})
        left = 0
    return system + out


def prompt_chars(messages: list[dict[str, str]]) -> int:
    system = 1 if messages and messages[0]["role"] == "system" else 0
    return sum(len(m["content"]) for m in messages[system:])


__all__ = [
    "MarkupPolicy",
    "completion_messages",
    "content_text",
    "cut_prompt_left",
    "prompt_chars",
    "prompt_messages",
]
