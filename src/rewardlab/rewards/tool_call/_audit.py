"""What the audit needs to know about the tool-call family: its probes, gold answers and task fields.

Probes read the row's reference as given (``row.fields["reference"]``: a call
list) where its text form is not enough.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rewardlab._probe import ProbeInput, TaskField, probe, register_gold_renderer, register_task_fields
from rewardlab.rewards.tool_call._tool_parse import ToolParseError, parse_reference_calls

TOOL_REWARDS = ("tool_call",)
"""Reward names the tool-call probes apply to."""


def _reference_calls(row: ProbeInput) -> list[dict[str, Any]]:
    try:
        return [c.to_dict() for c in parse_reference_calls(row.fields.get("reference", row.reference))]
    except ToolParseError:
        return []


def _hermes(calls: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(f"<tool_call>{json.dumps(dict(c), ensure_ascii=False)}</tool_call>" for c in calls)


def _tool_names(row: ProbeInput) -> list[str]:
    tools = row.fields.get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError:
            return []
    names = []
    for tool in tools if isinstance(tools, list) else []:
        spec = tool.get("function", tool) if isinstance(tool, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            names.append(spec["name"])
    return names


@probe("call_spray", "the reference calls padded with a call to every tool, or repeated", rewards=TOOL_REWARDS)
def _call_spray(row: ProbeInput) -> Iterable[tuple[str, str]]:
    calls = _reference_calls(row)
    if not calls:
        return
    names = _tool_names(row) or ["search", "lookup", "get_info"]
    padding = [{"name": n, "arguments": {}} for n in names]
    yield "every_tool", _hermes(calls + padding)
    yield "repeated", _hermes(calls * 3)
    yield "json_list", json.dumps(calls + padding)


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    return value if isinstance(value, str) else json.dumps(value)


@probe("call_arguments", "the right tools with mangled arguments (values as strings, or none)", rewards=TOOL_REWARDS)
def _call_arguments(row: ProbeInput) -> Iterable[tuple[str, str]]:
    calls = _reference_calls(row)
    if not calls:
        return
    stringified = [{"name": c["name"], "arguments": _stringify(c["arguments"])} for c in calls]
    if stringified != calls:
        yield "values_as_strings", _hermes(stringified)
    if any(c["arguments"] for c in calls):
        yield "no_arguments", _hermes({"name": c["name"], "arguments": {}} for c in calls)


def _tool_gold(reference: str, fields: Mapping[str, Any]) -> str:
    try:
        return _hermes(c.to_dict() for c in parse_reference_calls(fields.get("reference", reference)))
    except ToolParseError:
        return reference


register_gold_renderer(TOOL_REWARDS, _tool_gold)
register_task_fields(
    TOOL_REWARDS, [TaskField("tools", "the tool schemas the calls must validate against", param="tools_field")]
)
