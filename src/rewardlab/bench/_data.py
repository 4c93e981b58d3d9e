"""Reading reward-model benchmark data into one shape: an item with good and bad candidates.

Every format the field publishes is read into `BenchRecord` (prompt, chosen candidates,
rejected candidates, subset, id); `--scores` files are read straight into metric items.
Errors name the file, the line (JSONL) or the record index (JSON arrays) and the field.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.bench._metrics import Item

FORMATS = ("pairs", "llmbar", "rmbench", "bon", "rewardmath", "judgebench")
"""Data formats `load_bench_data` reads; ``auto`` picks one from the first record's fields."""

DEFAULT_METRIC = {
    "pairs": "accuracy",
    "llmbar": "accuracy",
    "rmbench": "rmbench",
    "bon": "rewardbench2",
    "rewardmath": "rewardmath",
    "judgebench": "judgebench",
}

HH_HUMAN = "\n\nHuman:"
HH_ASSISTANT = "\n\nAssistant:"

LLMBAR_SUBSETS = {
    "natural": "llmbar-natural",
    "neighbor": "llmbar-adver-neighbor",
    "gptinst": "llmbar-adver-GPTInst",
    "gptout": "llmbar-adver-GPTOut",
    "manual": "llmbar-adver-manual",
}
"""LLMBar folders under the names RewardBench v1 gives them, so `rewardbench` can weigh them."""


class BenchDataError(ValueError):
    """A benchmark file or record is unusable; names the file, the line or record, and the field."""

    def __init__(self, place: str | Path, message: str, *, field: str | None = None) -> None:
        self.place = str(place)
        self.field = field
        super().__init__(f"{place}" + (f": field {field!r}" if field else "") + f": {message}")


@dataclass
class BenchRecord:
    """One benchmark item: a prompt and its good and bad candidate responses.

    Attributes:
        id: Item id (from the data, else ``<file>:<index>``).
        subset: Subset, section, domain or source.
        prompt: Prompt text or chat messages (empty when the data has none).
        chosen: Good candidates (text or messages), in the data's order.
        rejected: Bad candidates, in the data's order.
        reference: A reference answer, when the data has one (math sets).
        meta: Extra fields a metric needs (JudgeBench ``label``, published ``decisions``).
    """

    id: str
    subset: str
    prompt: Any
    chosen: list[Any]
    rejected: list[Any]
    reference: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = ""


def read_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(place, record)`` from a JSONL (optionally gzipped) or JSON-array file.

    ``place`` is ``file:line`` for JSONL and ``file[index]`` for JSON arrays.
    """
    path = Path(path)
    if not path.exists():
        raise BenchDataError(path, "no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        head = handle.read(1)
        while head and head.isspace():
            head = handle.read(1)
        if head == "[":
            try:
                data = json.loads(head + handle.read())
            except json.JSONDecodeError as exc:
                raise BenchDataError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg}") from None
            for index, record in enumerate(data):
                if not isinstance(record, dict):
                    raise BenchDataError(f"{path}[{index}]", "a record must be a JSON object")
                yield f"{path}[{index}]", record
            return
        handle.seek(0)
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchDataError(f"{path}:{number}", f"invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise BenchDataError(f"{path}:{number}", "a row must be a JSON object")
            yield f"{path}:{number}", record


def detect_format(record: Mapping[str, Any]) -> str:
    """Guess a data format from one record's fields."""
    keys = set(record)
    if {"response_A", "response_B"} <= keys:
        return "judgebench"
    if {"output_1", "output_2"} <= keys:
        return "llmbar"
    if {"eval_solution", "solution_type"} <= keys:
        return "rewardmath"
    if {"chosen", "rejected"} <= keys:
        chosen = record["chosen"]
        if isinstance(chosen, list) and chosen and not _is_message(chosen[0]):
            if "num_correct" in keys:
                return "bon"
            if len(chosen) == 3 and isinstance(record["rejected"], list) and len(record["rejected"]) == 3:
                return "rmbench"
            return "bon"
        return "pairs"
    raise ValueError(
        f"cannot tell the data format from the fields {sorted(keys)}; pass --format ({', '.join(FORMATS)})"
    )


def _is_message(value: Any) -> bool:
    return isinstance(value, Mapping) and "role" in value and "content" in value


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith((".json", ".jsonl", ".jsonl.gz")))
        if not found:
            raise BenchDataError(path, "the folder holds no .json or .jsonl files")
        return found
    return [path]


def load_bench_data(path: str | Path, fmt: str = "auto") -> tuple[str, list[BenchRecord]]:
    """Read benchmark data (a file or a folder of files) into records.

    Returns the format used and the records, in file order.
    """
    root = Path(path)
    records: list[BenchRecord] = []
    used = fmt
    for file in _files(root):
        rows = list(read_records(file))
        if not rows:
            continue
        if used == "auto":
            place, first = rows[0]
            try:
                used = detect_format(first)
            except ValueError as exc:
                raise BenchDataError(file, str(exc)) from None
        if used not in FORMATS:
            raise ValueError(f"unknown format {used!r}; choose one of {', '.join(FORMATS)}")
        reader = _READERS[used]
        records.extend(reader(rows, file, root))
    if not records:
        raise BenchDataError(root, "no records")
    return used, records


def _need(record: Mapping[str, Any], key: str, place: str, kind: type | tuple[type, ...] | None = None) -> Any:
    if key not in record:
        raise BenchDataError(place, f"missing field {key!r}", field=key)
    value = record[key]
    if kind is not None and not isinstance(value, kind):
        raise BenchDataError(place, f"field {key!r} has type {type(value).__name__}", field=key)
    return value


def _pairs(rows: Sequence[tuple[str, dict[str, Any]]], file: Path, root: Path) -> Iterator[BenchRecord]:
    for index, (place, row) in enumerate(rows):
        chosen = _need(row, "chosen", place)
        rejected = _need(row, "rejected", place)
        prompt = row.get("prompt", "")
        if isinstance(chosen, list) and isinstance(rejected, list) and chosen and _is_message(chosen[0]):
            prompt, chosen, rejected = _split_messages(chosen, rejected, place)
        elif not prompt and isinstance(chosen, str) and HH_ASSISTANT in chosen:
            prompt, chosen, rejected = split_transcripts(chosen, rejected)
        elif not isinstance(chosen, (str, list)) or not isinstance(rejected, (str, list)):
            raise BenchDataError(place, "fields 'chosen' and 'rejected' must be text or messages")
        yield BenchRecord(
            id=str(row.get("id", f"{file.name}:{index}")),
            subset=str(row.get("subset", _subset_from_path(file, root))),
            prompt=prompt,
            chosen=[chosen],
            rejected=[rejected],
            reference=row.get("reference"),
            where=place,
        )


def _split_messages(chosen: list[Any], rejected: list[Any], place: str) -> tuple[Any, Any, Any]:
    if chosen[:-1] != rejected[:-1]:
        raise BenchDataError(place, "chosen and rejected conversations differ before their last message")
    return chosen[:-1], [chosen[-1]], [rejected[-1]]


def split_transcripts(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two HH-style transcripts into the shared prompt and the two final replies.

    The prompt is everything up to and including the last ``Assistant:`` marker the two
    share; when a final reply itself contains a marker, the split falls back to the
    longest common prefix, cut back to the last marker inside it.
    """
    cut_c, cut_r = chosen.rfind(HH_ASSISTANT), rejected.rfind(HH_ASSISTANT)
    if cut_c >= 0 and chosen[:cut_c] == rejected[:cut_r]:
        end = cut_c + len(HH_ASSISTANT)
        return chosen[:end], chosen[end:].strip(), rejected[cut_r + len(HH_ASSISTANT) :].strip()
    common = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        common += 1
    cut = chosen.rfind(HH_ASSISTANT, 0, common)
    if cut < 0:
        return "", chosen.strip(), rejected.strip()
    end = cut + len(HH_ASSISTANT)
    return chosen[:end], chosen[end:].strip(), rejected[end:].strip()


def _subset_from_path(file: Path, root: Path) -> str:
    if root.is_dir():
        relative = file.parent.relative_to(root)
        return "/".join(relative.parts) or file.stem
    return file.stem.split(".")[0]


def _llmbar(rows: Sequence[tuple[str, dict[str, Any]]], file: Path, root: Path) -> Iterator[BenchRecord]:
    folder = file.parent.name.lower()
    subset = LLMBAR_SUBSETS.get(folder, _subset_from_path(file, root))
    for index, (place, row) in enumerate(rows):
        instruction = _need(row, "input", place, str)
        first = _need(row, "output_1", place, str)
        second = _need(row, "output_2", place, str)
        label = _need(row, "label", place)
        if label not in (1, 2, "1", "2"):
            raise BenchDataError(place, f"field 'label' must be 1 or 2, got {label!r}", field="label")
        good, bad = (first, second) if int(label) == 1 else (second, first)
        yield BenchRecord(
            id=str(row.get("id", f"{subset}:{index}")),
            subset=str(row.get("subset", subset)),
            prompt=instruction,
            chosen=[good],
            rejected=[bad],
            where=place,
        )


def _lists(row: Mapping[str, Any], place: str) -> tuple[list[Any], list[Any]]:
    chosen = _need(row, "chosen", place)
    rejected = _need(row, "rejected", place)
    chosen = chosen if isinstance(chosen, list) else [chosen]
    rejected = rejected if isinstance(rejected, list) else [rejected]
    if not chosen or not rejected:
        raise BenchDataError(place, "needs at least one chosen and one rejected response")
    return chosen, rejected


def _rmbench(rows: Sequence[tuple[str, dict[str, Any]]], file: Path, root: Path) -> Iterator[BenchRecord]:
    for index, (place, row) in enumerate(rows):
        chosen, rejected = _lists(row, place)
        if len(chosen) != 3 or len(rejected) != 3:
            raise BenchDataError(
                place,
                "RM-Bench rows hold 3 chosen and 3 rejected responses (concise, detailed plain, detailed markdown)",
            )
        yield BenchRecord(
            id=str(row.get("id", index)),
            subset=str(row.get("domain") or _rmbench_file_domain(file) or row.get("subset", file.stem)),
            prompt=_need(row, "prompt", place),
            chosen=chosen,
            rejected=rejected,
            where=place,
        )


def _rmbench_file_domain(file: Path) -> str | None:
    """RM-Bench's per-domain files (``chat_filtered.json``, ``safety-refuse_filtered.json``)
    carry their domain in the name; only ``total_dataset.json`` has a ``domain`` field."""
    for domain in ("chat", "math", "code", "safety-refuse", "safety-response"):
        if file.name.startswith(domain):
            return domain
    return None


def _bon(rows: Sequence[tuple[str, dict[str, Any]]], file: Path, root: Path) -> Iterator[BenchRecord]:
    for index, (place, row) in enumerate(rows):
        chosen, rejected = _lists(row, place)
        yield BenchRecord(
            id=str(row.get("id", index)),
            subset=str(row.get("subset", _subset_from_path(file, root))),
            prompt=row.get("prompt", ""),
            chosen=chosen,
            rejected=rejected,
            reference=row.get("reference", row.get("answer")),
            meta={"num_correct": row.get("num_correct", len(chosen))},
            where=place,
        )


def _rewardmath(rows: Sequence[tuple[str, dict[str, Any]]], file: Path, root: Path) -> Iterator[BenchRecord]:
    groups: dict[Any, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for place, row in rows:
        groups[row.get("problem_id", row.get("problem"))].append((place, row))
    for key, members in groups.items():
        place, first = members[0]
        chosen: list[str] = []
        rejected: list[str] = []
        for where, row in members:
            steps = _need(row, "eval_solution", where)
            text = "\n".join(steps) if isinstance(steps, list) else str(steps)
            kind = _need(row, "solution_type", where)
            if kind not in ("chosen", "rejected"):
                raise BenchDataError(where, f"solution_type must be chosen or rejected, got {kind!r}")
            (chosen if kind == "chosen" else rejected).append(text)
        if not chosen or not rejected:
            raise BenchDataError(place, f"problem {key!r} needs a chosen and a rejected solution")
        yield BenchRecord(
            id=str(key),
            subset=str(first.get("subject", first.get("data_source", "math"))),
            prompt=_need(first, "problem", place),
            chosen=chosen,
            rejected=rejected,
            reference=first.get("answer"),
            where=place,
        )


def _judgebench(rows: Sequence[tuple[str, dict[str, Any]]], file: Path, root: Path) -> Iterator[BenchRecord]:
    for index, (place, row) in enumerate(rows):
        label = _need(row, "label", place, str)
        if label not in ("A>B", "B>A"):
            raise BenchDataError(place, f"label must be 'A>B' or 'B>A', got {label!r}", field="label")
        a = _need(row, "response_A", place, str)
        b = _need(row, "response_B", place, str)
        good, bad = (a, b) if label == "A>B" else (b, a)
        yield BenchRecord(
            id=str(row.get("pair_id", index)),
            subset=str(row.get("source", "judgebench")),
            prompt=_need(row, "question", place, str),
            chosen=[good],
            rejected=[bad],
            meta={"label": label},
            where=place,
        )


_READERS = {
    "pairs": _pairs,
    "llmbar": _llmbar,
    "rmbench": _rmbench,
    "bon": _bon,
    "rewardmath": _rewardmath,
    "judgebench": _judgebench,
}


# --- precomputed scores ---------------------------------------------------------------

SCORE_FORMATS = ("scores", "rewardmath-results", "judgebench-outputs")


STEP_AGGREGATES = ("min", "max", "prod", "geometric_mean", "mean", "mean_logit", "mean_odd", "last")
"""How a list of step scores (a process reward model's) becomes one score, as RewardMATH's
``RewardMATHEvaluation._calculate_final_reward`` (``src/evaluation/eval.py``) does it."""


def aggregate_steps(steps: Sequence[float], how: str) -> float:
    """One score from step scores (probabilities for ``mean_logit`` and ``mean_odd``)."""
    import math

    values = [float(v) for v in steps]
    if not values:
        raise ValueError("no step scores to aggregate")
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    if how == "prod":
        return math.prod(values)
    if how == "geometric_mean":
        return float(math.prod(values) ** (1 / len(values)))
    if how == "mean":
        return sum(values) / len(values)
    if how == "mean_logit":
        logits = [math.log(p / (1 - p)) for p in values]
        return 1 / (1 + math.exp(-sum(logits) / len(logits)))
    if how == "mean_odd":
        return max(0.0, sum(p / (1 - p) for p in values) / len(values))
    if how == "last":
        return values[-1]
    raise ValueError(f"unknown step aggregate {how!r}; choose one of {', '.join(STEP_AGGREGATES)}")


def load_score_items(path: str | Path, fmt: str = "auto", *, steps: str | None = None) -> tuple[str, list[Item]]:
    """Read precomputed scores into metric items.

    ``scores``: one object per line, ``{"id", "subset", "chosen": [float...], "rejected":
    [float...]}``. ``rewardmath-results``: RewardMATH's published result files (``problem``,
    ``solution_reference``, ``score``; the ``human_to_GPT-4`` solution is the chosen one).
    ``judgebench-outputs``: JudgeBench's published judge outputs (``label`` and two
    ``judgments`` with a ``decision``). A score that is a list of step scores needs
    ``steps`` (one of `STEP_AGGREGATES`).
    """
    items: list[Item] = []
    used = fmt
    for place, row in read_records(path):
        if used == "auto":
            if "solution_reference" in row and "score" in row:
                used = "rewardmath-results"
            elif "judgments" in row and "label" in row:
                used = "judgebench-outputs"
            else:
                used = "scores"
        items.append(_SCORE_READERS[used](row, place, len(items), steps))
    if not items:
        raise BenchDataError(path, "no score rows")
    return used, items


def _score_list(row: Mapping[str, Any], key: str, place: str, steps: str | None) -> tuple[float | None, ...]:
    value = _need(row, key, place)
    values = value if isinstance(value, list) else [value]
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
        else:
            out.append(_one(v, place, steps, key))
    if not out:
        raise BenchDataError(place, f"field {key!r} is empty", field=key)
    return tuple(out)


def _plain_scores(row: Mapping[str, Any], place: str, index: int, steps: str | None) -> Item:
    return Item(
        id=str(row.get("id", index)),
        subset=str(row.get("subset", "all")),
        chosen=_score_list(row, "chosen", place, steps),
        rejected=_score_list(row, "rejected", place, steps),
        meta={k: row[k] for k in ("label", "decisions") if k in row},
    )


def _rewardmath_scores(row: Mapping[str, Any], place: str, index: int, steps: str | None) -> Item:
    names = _need(row, "solution_reference", place, list)
    scores = _need(row, "score", place, list)
    if len(names) != len(scores):
        raise BenchDataError(place, "solution_reference and score have different lengths")
    chosen = [_one(s, place, steps) for n, s in zip(names, scores, strict=True) if n == "human_to_GPT-4"]
    rejected = [_one(s, place, steps) for n, s in zip(names, scores, strict=True) if n != "human_to_GPT-4"]
    if not chosen:
        raise BenchDataError(place, "no 'human_to_GPT-4' (chosen) solution")
    return Item(id=str(index), subset="math", chosen=tuple(chosen), rejected=tuple(rejected))


def _one(value: Any, place: str, steps: str | None, key: str = "score") -> float:
    if isinstance(value, list) and len(value) == 1 and steps is None:
        value = value[0]
    if isinstance(value, list):
        if steps is None:
            raise BenchDataError(
                place,
                f"a score is a list of {len(value)} step scores; say how to combine them "
                f"(--steps {'|'.join(STEP_AGGREGATES)})",
                field=key,
            )
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise BenchDataError(place, "step scores must be numbers", field=key)
        try:
            return aggregate_steps(value, steps)
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            raise BenchDataError(place, f"cannot aggregate step scores: {exc}", field=key) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise BenchDataError(place, f"score {value!r} is not a number", field=key)


def _judgebench_outputs(row: Mapping[str, Any], place: str, index: int, steps: str | None) -> Item:
    label = _need(row, "label", place, str)
    judgments = _need(row, "judgments", place, list)
    decisions = [j.get("decision") if isinstance(j, Mapping) else None for j in judgments]
    return Item(
        id=str(row.get("pair_id", index)),
        subset=str(row.get("source", "judgebench")),
        chosen=(None,),
        rejected=(None,),
        meta={"label": label, "decisions": decisions},
    )


_SCORE_READERS = {
    "scores": _plain_scores,
    "rewardmath-results": _rewardmath_scores,
    "judgebench-outputs": _judgebench_outputs,
}
