"""What the audit needs to know about the math family: gold answers and boxed worked solutions.

The reward reads only the reference, so no task field is declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewardlab._probe import register_gold_renderer, register_reference_reader, register_task_fields
from rewardlab.rewards.math._answer import find_boxes


def _math_gold(reference: str, fields: Mapping[str, Any]) -> str:
    return f"The answer is \\boxed{{{reference}}}."


register_gold_renderer(("math",), _math_gold)
register_task_fields(("math",), [])


def _boxed_solution(raw: str) -> tuple[str, str | None] | None:
    """A MATH-style worked solution: the answer is the last box's content, the solution the whole text."""
    if "\\boxed" not in raw and "\\fbox" not in raw:
        return None
    boxes = find_boxes(raw)
    if boxes and boxes[-1][2].strip():
        return boxes[-1][2].strip(), raw.strip()
    return None


register_reference_reader("math.boxed", _boxed_solution)
