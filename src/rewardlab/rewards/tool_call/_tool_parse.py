"""Reading tool calls out of a completion (and out of a reference).

Four forms are read, each strictly, so that prose around a call never becomes a call:

- OpenAI ``tool_calls``: the completion is a list of chat messages whose last
  assistant message carries ``tool_calls`` (``{"function": {"name", "arguments"}}``,
  ``arguments`` a JSON string or an object), or the completion text is a JSON
  object with a ``tool_calls`` list.
- Hermes: one or more ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  blocks anywhere in the text.
- JSON: the whole completion (optionally inside one ```json fence) is a call
  object or a list of call objects. A call object has ``name`` and
  ``arguments`` (or ``parameters``); OpenAI's ``{"function": {...}}`` wrapping is accepted.
- Python calls: the whole completion (optionally fenced) is ``f(a=1, b="x")``,
  a list ``[f(a=1), g(b=2)]``, or one call per line, with keyword arguments whose
  values are Python literals (the BFCL style). Positional arguments are refused:
  without the schema they have no names to compare.

Every reader opens with its caps; nothing is evaluated, only parsed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_TOOL_TEXT_CHARS = 200_000
"""A completion longer than this is not read for calls (a call list this long is a dump)."""

MAX_CALLS = 64
"""More calls than this in one completion are refused rather than matched (matching is cubic in the count)."""

MAX_NESTING = 32
"""JSON or Python literal nesting deeper than this is refused (the parsers recurse per level)."""

CallFormat = Literal["openai", "hermes", "json", "python"]
ALL_FORMATS: tuple[CallFormat, ...] = ("openai", "hermes", "json", "python")

_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_HERMES_OPEN = re.compile(r"<tool_call>")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


class ToolParseError(ValueError):
    """The text holds something call-shaped that cannot be read as calls."""


class NoToolCall(ToolParseError):
    """The text holds nothing call-shaped at all (a plain answer)."""


@dataclass(frozen=True)
class ToolCall:
    """One tool call: a function name and its arguments.

    Attributes:
        name: The tool (function) name.
        arguments: Argument name -> value, as parsed JSON (or Python literals).
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments)}


def _depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Nesting depth of a parsed value, stopping early past ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, Mapping):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _loads(text: str) -> Any:
    # The nesting is checked before json.loads, which recurses once per bracket.
    depth = max_depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            max_depth = max(max_depth, depth)
            if max_depth > MAX_NESTING:
                raise ToolParseError(f"JSON nested deeper than {MAX_NESTING} levels")
        elif ch in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ToolParseError(f"invalid JSON: {exc}") from None


def call_from_object(obj: Any) -> ToolCall:
    """A `ToolCall` from one call object in any of the accepted JSON shapes.

    Raises:
        ToolParseError: the object is not a call (no name, arguments not an object).
    """
    if not isinstance(obj, Mapping):
        raise ToolParseError(f"a call must be an object, got {type(obj).__name__}")
    if isinstance(obj.get("function"), Mapping):
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ToolParseError("a call has no name")
    args: Any = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        args = _loads(args) if args.strip() else {}
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise ToolParseError(f"arguments of {name!r} are not an object")
    if _depth(args) > MAX_NESTING:
        raise ToolParseError(f"arguments of {name!r} nested deeper than {MAX_NESTING} levels")
    return ToolCall(name.strip(), dict(args))


def calls_from_value(value: Any) -> list[ToolCall]:
    """Calls from parsed data: a call object, a list of them, or ``{"tool_calls": [...]}``.

    Raises:
        ToolParseError: the data is not calls.
    """
    if isinstance(value, Mapping) and "tool_calls" in value:
        value = value["tool_calls"]
        if value is None:
            return []
    if isinstance(value, Mapping):
        return [call_from_object(value)]
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_CALLS:
            raise ToolParseError(f"more than {MAX_CALLS} calls")
        return [call_from_object(v) for v in value]
    raise ToolParseError(f"expected a call object or a list of calls, got {type(value).__name__}")


def _unfence(text: str) -> str:
    m = _FENCE.match(text)
    return m.group(1) if m else text


def _from_openai(completion: Any, text: str) -> list[ToolCall] | None:
    if isinstance(completion, Sequence) and not isinstance(completion, str):
        for message in reversed(completion):
            if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
                calls = message.get("tool_calls")
                if calls is None:
                    return None
                return calls_from_value(list(calls))
        return None
    body = _unfence(text).strip()
    if body.startswith("{") and '"tool_calls"' in body:
        value = _loads(body)
        if isinstance(value, Mapping) and "tool_calls" in value:
            return calls_from_value(value)
    return None


def _from_hermes(text: str) -> list[ToolCall] | None:
    blocks = _HERMES.findall(text)
    if not blocks:
        if _HERMES_OPEN.search(text):
            raise ToolParseError("<tool_call> is never closed")
        return None
    if len(blocks) > MAX_CALLS:
        raise ToolParseError(f"more than {MAX_CALLS} calls")
    calls: list[ToolCall] = []
    for block in blocks:
        calls.extend(calls_from_value(_loads(block)))
    return calls


def _from_json(text: str) -> list[ToolCall] | None:
    body = _unfence(text).strip()
    if not body.startswith(("{", "[")):
        return None
    try:
        value = _loads(body)
    except ToolParseError:
        if body.startswith("[") and re.match(r"\[\s*[A-Za-z_][\w.]*\s*\(", body):
            return None  # a Python call list, for the next reader
        raise
    return calls_from_value(value)


def _literal(node: ast.expr, name: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise ToolParseError(f"argument {name!r} is not a literal value") from None


def _call_from_ast(node: ast.expr) -> ToolCall:
    if not isinstance(node, ast.Call):
        raise ToolParseError("not a function call")
    try:
        name = ast.unparse(node.func)
    except Exception:
        raise ToolParseError("unreadable function name") from None
    if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        raise ToolParseError(f"{name!r} is not a function name")
    if node.args:
        raise ToolParseError(f"{name}(): positional arguments have no names to compare; use keyword arguments")
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise ToolParseError(f"{name}(): **kwargs cannot be read")
        args[kw.arg] = _literal(kw.value, kw.arg)
    return ToolCall(name, args)


def _from_python(text: str) -> list[ToolCall] | None:
    body = _unfence(text).strip()
    if not re.match(r"\[?\s*[A-Za-z_][\w.]*\s*\(", body):
        return None
    if body.count("(") > MAX_CALLS * 8 or body.count("[") + body.count("{") > MAX_CALLS * MAX_NESTING:
        raise ToolParseError("too many brackets for a call list")
    try:
        tree = ast.parse(body, mode="eval")
        exprs: list[ast.expr] = list(tree.body.elts) if isinstance(tree.body, ast.List) else [tree.body]
    except (SyntaxError, RecursionError, ValueError, MemoryError):
        try:  # one call per line
            module = ast.parse(body, mode="exec")
        except (SyntaxError, RecursionError, ValueError, MemoryError) as exc:
            raise ToolParseError(f"not a Python call: {exc}") from None
        if not all(isinstance(stmt, ast.Expr) for stmt in module.body):
            raise ToolParseError("only calls may appear, one per line") from None
        exprs = [stmt.value for stmt in module.body if isinstance(stmt, ast.Expr)]
    if len(exprs) > MAX_CALLS:
        raise ToolParseError(f"more than {MAX_CALLS} calls")
    return [_call_from_ast(e) for e in exprs]


def parse_tool_calls(completion: Any, *, formats: Sequence[CallFormat] = ALL_FORMATS) -> list[ToolCall]:
    """The tool calls a completion makes.

    Args:
        completion: Text, or chat messages (OpenAI ``tool_calls`` on the last
            assistant message).
        formats: The forms to try, in order (default all: openai, hermes, json, python).

    Returns:
        The calls, in the order written (an empty list for ``"tool_calls": []``).

    Raises:
        ToolParseError: no call was found, or a call-shaped text is malformed.

    Example:
        >>> parse_tool_calls('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
        [ToolCall(name='f', arguments={'x': 1})]
        >>> parse_tool_calls('get_weather(city="Paris")')
        [ToolCall(name='get_weather', arguments={'city': 'Paris'})]
    """
    from rewardlab._types import _text_of

    text = _text_of(completion) if not isinstance(completion, str) else completion
    if len(text) > MAX_TOOL_TEXT_CHARS:
        raise ToolParseError(f"completion longer than {MAX_TOOL_TEXT_CHARS} characters")
    for form in formats:
        if form == "openai":
            found = _from_openai(completion, text)
        elif form == "hermes":
            found = _from_hermes(text)
        elif form == "json":
            found = _from_json(text)
        elif form == "python":
            found = _from_python(text)
        else:
            raise ValueError(f"unknown tool-call format {form!r}; use {', '.join(ALL_FORMATS)}")
        if found is not None:
            if len(found) > MAX_CALLS:
                raise ToolParseError(f"more than {MAX_CALLS} calls")
            return found
    raise NoToolCall("no tool call found")


def parse_reference_calls(reference: Any) -> list[ToolCall]:
    """Reference calls: a list of call objects, one object, their JSON text, or Python-call text.

    Raises:
        ToolParseError: the reference is not calls.
    """
    if isinstance(reference, str):
        return parse_tool_calls(reference, formats=("openai", "hermes", "json", "python"))
    return calls_from_value(reference)
