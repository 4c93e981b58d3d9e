"""What the audit needs to know about the format family: how a reference is written as a full-credit answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewardlab._probe import register_gold_renderer


def _format_gold(reference: str, fields: Mapping[str, Any]) -> str:
    return f"<think>\nReasoning.\n</think>\n<answer>{reference}</answer>"


register_gold_renderer(("format",), _format_gold)
