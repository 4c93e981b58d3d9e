"""Small statistics shared by the audit sections (no numpy needed for these)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rewardlab._types import Score, Status

FULL_CREDIT_TOLERANCE = 1e-6
"""A value within this of the full-credit threshold counts as full credit (float noise)."""

EXAMPLE_CHARS = 600
"""Example texts in reports are cut to this many characters (the report stays readable)."""


def is_full_credit(score: Score, threshold: float) -> bool:
    """``ok`` and ``value >= threshold - FULL_CREDIT_TOLERANCE``."""
    return score.status is Status.OK and score.value is not None and score.value >= threshold - FULL_CREDIT_TOLERANCE


def clip_text(value: Any, limit: int = EXAMPLE_CHARS) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def std(values: Sequence[float]) -> float | None:
    """Population standard deviation."""
    if not values:
        return None
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def histogram(values: Sequence[float], low: float, high: float, bins: int = 10) -> dict[str, Any]:
    """Counts of ``values`` in ``bins`` equal-width bins over ``[low, high]`` (last bin closed)."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        low = min(values, default=0.0)
        high = max(values, default=1.0)
        if high <= low:
            high = low + 1.0
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        index = int((v - low) / width) if width > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    edges = [low + i * width for i in range(bins + 1)]
    return {"edges": edges, "counts": counts}
