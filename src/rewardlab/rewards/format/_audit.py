"""What the audit needs to know about the format family: gold answers, and the token count `overlong` reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewardlab._probe import TaskField, register_gold_renderer, register_task_fields


def _format_gold(reference: str, fields: Mapping[str, Any]) -> str:
    return f"<think>\nReasoning.\n</think>\n<answer>{reference}</answer>"


register_gold_renderer(("format",), _format_gold)
register_task_fields(("format",), [])
register_task_fields(
    ("overlong",), [TaskField("completion_tokens", "the completion's length in tokens", param="length_field")]
)
