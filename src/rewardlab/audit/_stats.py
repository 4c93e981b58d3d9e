"""Small statistics shared by the audit sections (vectorised with numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

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
    return float(np.mean(np.asarray(values, dtype=np.float64))) if len(values) else None


def std(values: Sequence[float]) -> float | None:
    """Population standard deviation."""
    if not len(values):
        return None
    array = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.mean(np.square(array - array.mean()))))


def histogram(values: Sequence[float], low: float, high: float, bins: int = 10) -> dict[str, Any]:
    """Counts of ``values`` in ``bins`` equal-width bins over ``[low, high]`` (last bin closed)."""
    array = np.asarray(values, dtype=np.float64)
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        low = float(array.min()) if array.size else 0.0
        high = float(array.max()) if array.size else 1.0
        if high <= low:
            high = low + 1.0
    width = (high - low) / bins
    if width > 0:
        # truncation toward zero, then clamped: below ``low`` counts in the first bin, above ``high`` in the last
        index = np.clip(np.trunc((array - low) / width), 0, bins - 1).astype(np.intp)
    else:
        index = np.zeros(array.size, dtype=np.intp)
    counts = np.bincount(index, minlength=bins).tolist()
    edges = [low + i * width for i in range(bins + 1)]
    return {"edges": edges, "counts": counts}
