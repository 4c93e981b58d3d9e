"""Add an ``advantage`` column to a scored JSONL/Parquet file, group by group."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rewardlab._io import DataError, RowWriter, file_format, iter_raw_rows, parse_row
from rewardlab.advantages._advantages import DEFAULT_EPS, ESTIMATORS, field_value, group_advantages

WRITE_BATCH_ROWS = 2048
"""Rows per write: the output is flushed this often."""


@dataclass
class AdvantageSummary:
    """What an advantages run did."""

    rows: int = 0
    groups: int = 0
    with_advantage: int = 0
    excluded: Counter[str] = field(default_factory=Counter)


def _group_key(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def advantages_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    group_by: str,
    estimator: str = "grpo",
    reward_fields: Sequence[str] = ("reward",),
    status_field: str | None = "reward_status",
    output_field: str = "advantage",
    eps: float = DEFAULT_EPS,
    weights: Sequence[float] | None = None,
    batch_normalize: bool = True,
    min_value: float = 0.0,
    max_value: float = 1.0,
    on_row: Callable[[int], None] | None = None,
) -> AdvantageSummary:
    """Compute group advantages for every row of a JSONL/Parquet file and write them as a new column.

    Two passes over the input: the first reads only group keys and rewards
    (memory grows with the row count, not the row size), the second streams
    the rows again into the output with ``output_field`` added (``null`` where
    the reward is unusable). A row is excluded (advantage ``null``) when its
    reward is missing, non-numeric or non-finite, or when ``status_field`` is
    present in the row and is not ``ok``. ``reward_fields`` may name nested
    values with dots (``reward_components.format``); ``normalize_then_sum``
    uses every field given, the other estimators exactly one.

    Raises:
        DataError: a row is not valid JSON or lacks the ``group_by`` field (names file and line).
        ValueError: bad options (unknown estimator, wrong number of fields, rewards outside bnpo's range).
    """
    path = str(input_path)
    file_format(path)
    file_format(str(output_path))
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if not reward_fields:
        raise ValueError("give at least one reward field")
    if estimator != "normalize_then_sum" and len(reward_fields) != 1:
        raise ValueError(f"estimator {estimator!r} takes one reward field, got {len(reward_fields)}")
    if Path(output_path).resolve() == Path(path).resolve():
        raise ValueError("the output must be a different file from the input")

    summary = AdvantageSummary()
    keys: list[Any] = []
    rewards: list[Any] = []
    for raw in iter_raw_rows(path):
        row = parse_row(path, raw)
        if group_by not in row and field_value(row, group_by) is None:
            raise DataError(path, raw.line, "missing group field", field=group_by)
        keys.append(_group_key(field_value(row, group_by)))
        status = row.get(status_field) if status_field else None
        values = [field_value(row, f) for f in reward_fields]
        if status is not None and status != "ok":
            summary.excluded[f"status {status}"] += 1
            values = [None] * len(values)
        elif any(
            v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values
        ):
            summary.excluded["missing or non-finite reward"] += 1
            values = [None] * len(values)  # one unusable reward excludes the whole row, for every estimator
        rewards.append(values if estimator == "normalize_then_sum" else values[0])
    summary.rows = len(keys)
    summary.groups = len(set(keys))
    advantages = group_advantages(
        rewards,
        keys,
        estimator,
        eps=eps,
        weights=weights,
        batch_normalize=batch_normalize,
        min_value=min_value,
        max_value=max_value,
    )
    summary.with_advantage = sum(a is not None for a in advantages)
    if estimator == "rloo":
        ok_rewards = sum(r is not None for r in rewards)
        summary.excluded["group of one (rloo)"] += max(0, ok_rewards - summary.with_advantage)

    writer = RowWriter(output_path, resume=False)
    finished = False
    try:
        batch: list[Any] = []
        for index, raw in enumerate(iter_raw_rows(path)):
            row = parse_row(path, raw)
            row[output_field] = advantages[index]
            batch.append(row)
            if len(batch) >= WRITE_BATCH_ROWS:
                writer.write(batch)
                if on_row:
                    on_row(len(batch))
                batch = []
        writer.write(batch)
        if on_row and batch:
            on_row(len(batch))
        finished = True
    finally:
        writer.close(finished=finished)
    return summary
