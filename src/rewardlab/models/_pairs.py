"""Preference pairs for training reward models: JSONL with prompt/chosen/rejected, HH transcripts, LLMBar JSON."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab._io import DataError
from rewardlab.models._inputs import content_text

HH_ASSISTANT = "\n\nAssistant:"
MAX_PAIR_FILE_ROWS = 5_000_000
"""A pairs file with more rows than this is refused rather than read into memory."""


@dataclass(frozen=True, slots=True)
class Pair:
    """One preference: the same prompt, a chosen and a rejected response (all as text)."""

    prompt: str
    chosen: str
    rejected: str


def split_transcripts(chosen: str, rejected: str) -> Pair | None:
    """An HH-style pair of whole dialogues as (shared prompt, chosen reply, rejected reply).

    The two sides share everything up to the last ``\\n\\nAssistant:``; a final reply that
    itself holds an ``Assistant:`` marker is split at the longest common prefix instead.
    """
    common = 0
    for a, b in zip(chosen, rejected):  # noqa: B905  (the sides differ in length; the shorter ends the prefix)
        if a != b:
            break
        common += 1
    cut = chosen.rfind(HH_ASSISTANT, 0, common + 1)
    if cut < 0:
        return None
    start = cut + len(HH_ASSISTANT)
    return Pair(chosen[:start], chosen[start:].strip(), rejected[start:].strip())


def _messages_text(value: Any, *, last_reply: bool) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        messages = [m for m in value if isinstance(m, Mapping)]
        if last_reply:
            return content_text(messages[-1].get("content")) if messages else ""
        return "\n\n".join(f"{m.get('role', 'user')}: {content_text(m.get('content'))}" for m in messages)
    raise TypeError(f"expected text or chat messages, got {type(value).__name__}")


def pair_from_row(row: Mapping[str, Any], path: str | Path, line: int) -> Pair:
    """One pair from a row of any supported layout; a `DataError` names the file, line and field."""
    if "input" in row and "output_1" in row:  # LLMBar
        label = row.get("label")
        if label not in (1, 2):
            raise DataError(path, line, f"label must be 1 or 2, got {label!r}", field="label")
        outputs = (str(row["output_1"]), str(row.get("output_2", "")))
        chosen, rejected = outputs if label == 1 else outputs[::-1]
        return Pair(str(row["input"]), chosen, rejected)
    for name in ("chosen", "rejected"):
        if name not in row:
            raise DataError(
                path, line, "a pair needs chosen and rejected (and prompt, or whole transcripts)", field=name
            )
    if "prompt" in row and row["prompt"] is not None:
        try:
            prompt = _messages_text(row["prompt"], last_reply=False)
        except TypeError as exc:
            raise DataError(path, line, str(exc), field="prompt") from None
        sides = []
        for name in ("chosen", "rejected"):
            try:
                sides.append(_messages_text(row[name], last_reply=True))
            except TypeError as exc:
                raise DataError(path, line, str(exc), field=name) from None
        return Pair(prompt, sides[0], sides[1])
    chosen, rejected = row["chosen"], row["rejected"]
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        raise DataError(
            path, line, "without a prompt field, chosen and rejected must be whole transcripts", field="chosen"
        )
    pair = split_transcripts(chosen, rejected)
    if pair is None:
        raise DataError(
            path, line, f"no shared {HH_ASSISTANT.strip()!r} turn to split the transcripts at", field="chosen"
        )
    return pair


def read_pairs(path: str | Path) -> list[Pair]:
    """Every pair of a ``.jsonl`` / ``.jsonl.gz`` file (one object a line) or a ``.json`` array.

    Raises:
        DataError: a malformed line or a row without the needed fields (file, line, field named).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pairs file")
    opener = gzip.open if path.name.endswith(".gz") else open
    pairs: list[Pair] = []
    if path.name.endswith((".json", ".json.gz")):
        with opener(path, "rt", encoding="utf-8") as handle:
            try:
                rows = json.load(handle)
            except ValueError as exc:
                raise DataError(path, 1, f"not valid JSON ({exc})") from None
        if not isinstance(rows, list):
            raise DataError(path, 1, "a .json pairs file holds one array of objects")
        for index, row in enumerate(rows, 1):
            if not isinstance(row, Mapping):
                raise DataError(path, index, "array item is not an object")
            pairs.append(pair_from_row(row, path, index))
        return pairs
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            if line_number > MAX_PAIR_FILE_ROWS:
                raise DataError(path, line_number, f"more than {MAX_PAIR_FILE_ROWS} rows")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataError(path, line_number, f"not valid JSON ({exc})") from None
            if not isinstance(row, Mapping):
                raise DataError(path, line_number, "not a JSON object")
            pairs.append(pair_from_row(row, path, line_number))
    if not pairs:
        raise DataError(path, 1, "no pairs in the file")
    return pairs


__all__ = ["Pair", "pair_from_row", "read_pairs", "split_transcripts"]
