"""The ``tool_call`` reward: predicted tool calls against reference calls.

Pieces, each a component of the score:

- ``format``: the completion could be read as calls (else the value is 0 with the reason).
- ``name``, ``keys``, ``values``: per matched pair, the name matches; the Jaccard
  overlap of argument names; the share of argument names (of either side) whose
  values match with typed comparison. Averaged over the matched pairs.
- ``schema``: the share of predicted calls whose arguments validate against the
  row's tool schema (``jsonschema``); an unknown tool fails it.
- ``match``: optimal one-to-one matching of predicted to reference calls
  (``scipy.optimize.linear_sum_assignment`` on the pair scores), the matched
  total divided by ``max(predicted, reference)`` so both missing and surplus
  calls cost credit (MatchTIR's assignment view of multi-call credit).
- ``order``: the longest run of matched pairs in reference order, over
  ``max(predicted, reference)``.
- ``efficiency``: OTC's tool-use coefficient (Wang et al., 2025, "Acting Less
  is Reasoning More") with ``m`` predicted and ``n`` reference calls.

The value is ``(1 - order_weight) * match + order_weight * order``, multiplied by
``efficiency`` when ``efficiency=True``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards._optional import MissingExtra, require
from rewardlab.rewards.tool_call._tool_parse import (
    ALL_FORMATS,
    CallFormat,
    NoToolCall,
    ToolCall,
    ToolParseError,
    parse_reference_calls,
    parse_tool_calls,
)

MAX_SCHEMA_CHARS = 200_000
"""A row's tool schemas longer than this (as JSON) are refused as malformed data."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_equal(expected: Any, got: Any, *, tolerance: float = 0.0, ignore_case: bool = False) -> bool:
    """Typed comparison: ``True`` is not ``1``, ``"5"`` is not ``5``; numbers within ``tolerance``.

    Integers and floats compare as numbers (``2 == 2.0``), with relative and
    absolute ``tolerance``; strings exactly (or case-folded and stripped with
    ``ignore_case``); lists element by element in order; objects key by key.
    """
    if isinstance(expected, bool) or isinstance(got, bool):
        return isinstance(expected, bool) and isinstance(got, bool) and expected == got
    if _is_number(expected) and _is_number(got):
        return math.isclose(float(expected), float(got), rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(expected, str) and isinstance(got, str):
        if ignore_case:
            return expected.strip().casefold() == got.strip().casefold()
        return expected == got
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        return set(expected) == set(got) and all(
            values_equal(expected[k], got[k], tolerance=tolerance, ignore_case=ignore_case) for k in expected
        )
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(
            values_equal(a, b, tolerance=tolerance, ignore_case=ignore_case) for a, b in zip(expected, got, strict=True)
        )
    return False


def _pair_parts(ref: ToolCall, pred: ToolCall, tolerance: float, ignore_case: bool) -> tuple[float, float, float]:
    """(name, keys, values) for one reference/prediction pair; keys and values are 0 when names differ."""
    if ref.name != pred.name:
        return 0.0, 0.0, 0.0
    ref_keys, pred_keys = set(ref.arguments), set(pred.arguments)
    union = ref_keys | pred_keys
    if not union:
        return 1.0, 1.0, 1.0
    keys = len(ref_keys & pred_keys) / len(union)
    same = sum(
        1
        for k in ref_keys & pred_keys
        if values_equal(ref.arguments[k], pred.arguments[k], tolerance=tolerance, ignore_case=ignore_case)
    )
    return 1.0, keys, same / len(union)


def otc_efficiency(predicted: int, needed: int, *, smoothing: float = 1.0) -> float:
    """OTC's tool-use coefficient: 1 at the needed count, falling off on both sides.

    With ``m`` calls made and ``n`` needed: ``1`` when both are 0;
    ``cos(m*pi / (2m + c))`` when ``n = 0``; else ``sin(f*pi / (2n))`` with
    ``f = m`` for ``m <= n`` and ``f = 2nm / (m + n)`` above it.
    """
    m, n = predicted, needed
    if m == 0 and n == 0:
        return 1.0
    if n == 0:
        return math.cos(m * math.pi / (2 * m + smoothing))
    f = m if m <= n else 2 * n * m / (m + n)
    return max(0.0, math.sin(f * math.pi / (2 * n)))


def _longest_increasing(seq: Sequence[int]) -> int:
    import bisect

    tails: list[int] = []
    for x in seq:
        i = bisect.bisect_left(tails, x)
        if i == len(tails):
            tails.append(x)
        else:
            tails[i] = x
    return len(tails)


def _tool_schemas(raw: Any) -> dict[str, Any]:
    """Tool name -> JSON schema of its arguments, from OpenAI-style or plain tool lists.

    Raises:
        ValueError: the tools are malformed.
    """
    if isinstance(raw, str):
        if len(raw) > MAX_SCHEMA_CHARS:
            raise ValueError(f"tool schemas longer than {MAX_SCHEMA_CHARS} characters")
        raw = json.loads(raw)
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ValueError("tools must be a list of tool definitions")
    schemas: dict[str, Any] = {}
    for tool in raw:
        if not isinstance(tool, Mapping):
            raise ValueError("a tool definition is not an object")
        spec = tool.get("function", tool)
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ValueError("a tool definition has no name")
        params = spec.get("parameters", {"type": "object"})
        if not isinstance(params, Mapping):
            raise ValueError(f"tool {spec['name']!r}: parameters is not a JSON schema object")
        schemas[spec["name"]] = params
    return schemas


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    jsonschema = require("jsonschema", extra="tools", reward="tool_call")
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_valid(call: ToolCall, schemas: Mapping[str, Any]) -> tuple[bool, str]:
    schema = schemas.get(call.name)
    if schema is None:
        return False, f"{call.name}: not one of the row's tools"
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = next(iter(validator.iter_errors(dict(call.arguments))), None)
    if error is None:
        return True, ""
    where = "/".join(str(p) for p in error.absolute_path) or "arguments"
    return False, f"{call.name}: {where}: {error.message}"[:200]


def _assign(quality: list[list[float]]) -> list[tuple[int, int]]:
    """Maximum-total one-to-one matching (rows: predictions, columns: references)."""
    if not quality or not quality[0]:
        return []
    optimize = require("scipy.optimize", extra="tools", reward="tool_call")
    np = require("numpy", extra="tools", reward="tool_call")
    rows, cols = optimize.linear_sum_assignment(np.asarray(quality, dtype=float), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


@reward(name="tool_call", range=(0.0, 1.0))
def tool_call(
    sample: Sample,
    *,
    formats: list[CallFormat] | None = None,
    tools_field: str = "tools",
    check_schema: bool = True,
    numeric_tolerance: float = 0.0,
    ignore_case: bool = False,
    name_weight: float = 0.2,
    keys_weight: float = 0.2,
    values_weight: float = 0.6,
    order_weight: float = 0.0,
    efficiency: bool = False,
    efficiency_smoothing: float = 1.0,
) -> Score:
    """Predicted tool calls against the reference calls: names, arguments, schema, matching, order, efficiency.

    The completion may use OpenAI ``tool_calls``, Hermes ``<tool_call>`` tags, a
    JSON call or list, or Python-call syntax (see `parse_tool_calls`); the
    reference is a call, a list of calls, or their text in any of those forms
    (a malformed reference is ``abstain``). A call's quality against a reference
    call is ``name_weight * name + keys_weight * keys + values_weight * values``
    (0 for a wrong name; with ``check_schema`` and a ``tools_field`` in the row,
    0 for a call whose arguments fail the tool's JSON schema). Predictions and
    references are matched one to one to maximise the total quality, and the
    total is divided by ``max(predicted, reference)``: surplus calls (a list
    padded with every tool) dilute the credit as much as missing ones.

    A reference of no calls (``[]``) is met by a completion that makes none
    (a plain answer, or ``"tool_calls": []``).

    ``order_weight`` mixes in credit for calling in the reference order;
    ``efficiency`` multiplies by OTC's tool-use coefficient (see `otc_efficiency`).
    An unreadable completion scores 0 with the reason.
    """
    weights = (name_weight, keys_weight, values_weight)
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError("name_weight, keys_weight and values_weight must be >= 0 with a positive sum")
    if not 0.0 <= order_weight <= 1.0:
        raise ValueError("order_weight must be in [0, 1]")
    if sample.reference is None:
        return Score.abstain("no reference calls")
    try:
        refs = parse_reference_calls(sample.reference)
    except ToolParseError as exc:
        return Score.abstain(f"reference is not tool calls: {exc}")
    schemas: dict[str, Any] | None = None
    raw_tools = sample.get(tools_field) if tools_field else None
    if check_schema and raw_tools is not None:
        try:
            schemas = _tool_schemas(raw_tools)
            for schema in schemas.values():
                _validator(json.dumps(schema, sort_keys=True))
        except MissingExtra:
            raise
        except Exception as exc:
            return Score.abstain(f"{tools_field!r} is not a list of tool schemas: {exc}"[:300])
    try:
        preds = parse_tool_calls(sample.completion, formats=tuple(formats) if formats else ALL_FORMATS)
    except NoToolCall:
        if not refs:  # no call needed, none made: a plain answer is the right behaviour
            return Score.ok(1.0, components={"format": 1.0, "calls": 0.0, "reference_calls": 0.0})
        return Score.ok(0.0, components={"format": 0.0}, reason="no readable tool call: no tool call found")
    except ToolParseError as exc:
        return Score.ok(0.0, components={"format": 0.0}, reason=f"no readable tool call: {exc}")

    problems: list[str] = []
    valid = [True] * len(preds)
    if schemas is not None:
        for i, call in enumerate(preds):
            valid[i], why = _schema_valid(call, schemas)
            if why:
                problems.append(why)
    total_weight = sum(weights)
    parts = [
        [_pair_parts(r, p, numeric_tolerance, ignore_case) if valid[i] else (0.0, 0.0, 0.0) for r in refs]
        for i, p in enumerate(preds)
    ]
    quality = [[sum(w * x for w, x in zip(weights, cell, strict=True)) / total_weight for cell in row] for row in parts]
    pairs = [(i, j) for i, j in _assign(quality) if quality[i][j] > 0]
    size = max(len(preds), len(refs))
    if size == 0:
        match = order = 1.0
    else:
        match = sum(quality[i][j] for i, j in pairs) / size
        order = _longest_increasing([j for _, j in sorted(pairs)]) / size
    coefficient = otc_efficiency(len(preds), len(refs), smoothing=efficiency_smoothing)
    value = (1.0 - order_weight) * match + order_weight * order
    if efficiency:
        value *= coefficient
    matched = [parts[i][j] for i, j in pairs]
    components = {
        "format": 1.0,
        "calls": float(len(preds)),
        "reference_calls": float(len(refs)),
        "name": sum(m[0] for m in matched) / size if size else 1.0,
        "keys": sum(m[1] for m in matched) / size if size else 1.0,
        "values": sum(m[2] for m in matched) / size if size else 1.0,
        "match": match,
        "order": order,
        "efficiency": coefficient,
    }
    if schemas is not None:
        components["schema"] = sum(valid) / len(valid) if valid else 1.0
    if len(preds) > len(refs):
        problems.append(f"{len(preds) - len(refs)} call(s) more than the reference")
    elif len(preds) < len(refs):
        problems.append(f"{len(refs) - len(preds)} reference call(s) missing")
    return Score.ok(min(1.0, max(0.0, value)), components=components, reason="; ".join(problems)[:500])


__all__ = ["ToolCall", "otc_efficiency", "parse_tool_calls", "tool_call", "values_equal"]
