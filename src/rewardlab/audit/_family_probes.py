"""Probes and gold renderings of the tool-call, reference-text, IFEval, QA and GUI families.

Registered the same way as the generic and code probes in `rewardlab.audit._probes`:
each names the rewards it applies to. Probes read the row's reference as given
(``row.fields["reference"]``: a call list, a box) where its text form is not enough.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rewardlab.audit._probes import ProbeInput, probe, register_gold_renderer

TOOL_REWARDS = ("tool_call",)
TEXT_REWARDS = ("bleu", "chrf", "ter", "rouge", "embedding_similarity")
QA_REWARDS = ("qa_f1", "qa_em")
GUI_REWARDS = ("gui_point", "gui_box")
IFEVAL_REWARDS = ("ifeval",)

SPRAY_GRID = 5
"""Points per side of the click-spray grid (25 clicks spread over the screen)."""

STUFFING_REPEATS = 12
"""How often the keyword-stuffing probe repeats each required keyword."""


# -- tool calls ----------------------------------------------------------------------


def _reference_calls(row: ProbeInput) -> list[dict[str, Any]]:
    from rewardlab.rewards._tool_parse import ToolParseError, parse_reference_calls

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
    from rewardlab.rewards._tool_parse import ToolParseError, parse_reference_calls

    try:
        return _hermes(c.to_dict() for c in parse_reference_calls(fields.get("reference", reference)))
    except ToolParseError:
        return reference


# -- reference text ------------------------------------------------------------------


@probe("reference_shuffle", "the reference's words in a random order", rewards=TEXT_REWARDS)
def _reference_shuffle(row: ProbeInput) -> Iterable[tuple[str, str]]:
    words = row.reference.split()
    if len(set(words)) < 3:
        return
    shuffled = list(words)
    for _ in range(10):
        row.rng.shuffle(shuffled)
        if shuffled != words:
            yield "shuffled", " ".join(shuffled)
            return


@probe("reference_fragment", "part of the reference: its first half, or the reference twice", rewards=TEXT_REWARDS)
def _reference_fragment(row: ProbeInput) -> Iterable[tuple[str, str]]:
    words = row.reference.split()
    if len(words) >= 4:
        yield "first_half", " ".join(words[: len(words) // 2])
    yield "doubled", f"{row.reference} {row.reference}"


# -- QA ------------------------------------------------------------------------------


@probe("answer_spray", "several answers in answer tags or one tag, the gold among them", rewards=QA_REWARDS)
def _answer_spray(row: ProbeInput) -> Iterable[tuple[str, str]]:
    candidates = [row.reference, *row.wrong[:4]]
    row.rng.shuffle(candidates)
    yield "many_tags", "".join(f"<answer>{c}</answer>" for c in candidates)
    yield "one_tag_list", f"<answer>{', '.join(candidates)}</answer>"
    yield "boxed_many", " or ".join(f"\\boxed{{{c}}}" for c in candidates)


def _qa_gold(reference: str, fields: Mapping[str, Any]) -> str:
    return f"<think>\nI looked it up.\n</think>\n<answer>{reference}</answer>"


# -- GUI -----------------------------------------------------------------------------


def _target_box(row: ProbeInput) -> tuple[float, float, float, float] | None:
    from rewardlab.rewards._gui import CoordinateError, reference_box

    try:
        return reference_box(row.fields.get("reference", row.reference))
    except CoordinateError:
        return None


def _screen(row: ProbeInput, box: tuple[float, float, float, float]) -> tuple[float, float]:
    size = row.fields.get("image_size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, (int, float)) for v in size):
        return float(size[0]), float(size[1])
    w, h = row.fields.get("width"), row.fields.get("height")
    if isinstance(w, (int, float)) and isinstance(h, (int, float)):
        return float(w), float(h)
    if max(box) <= 1.0:
        return 1.0, 1.0
    return (1000.0, 1000.0) if max(box) <= 1000 else (max(box[0], box[2]) * 1.5, max(box[1], box[3]) * 1.5)


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


@probe("click_spray", "many clicks or boxes spread over the screen, the target among them", rewards=GUI_REWARDS)
def _click_spray(row: ProbeInput) -> Iterable[tuple[str, str]]:
    box = _target_box(row)
    if box is None:
        return
    width, height = _screen(row, box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    steps = [(k + 0.5) / SPRAY_GRID for k in range(SPRAY_GRID)]
    points = [(width * fx, height * fy) for fx in steps for fy in steps]
    points.append((cx, cy))
    yield "grid_points", " ".join(f"({_fmt(x)}, {_fmt(y)})" for x, y in points)
    w, h = box[2] - box[0], box[3] - box[1]
    boxes = [(x - w / 2, y - h / 2, x + w / 2, y + h / 2) for x, y in points]
    boxes = [b for b in boxes if b[0] >= 0 and b[1] >= 0 and b[2] <= width and b[3] <= height] + [box]
    yield "grid_boxes", " ".join("[" + ", ".join(_fmt(v) for v in b) + "]" for b in boxes)


@probe("outside_screen", "coordinates beyond the screen's edges", rewards=GUI_REWARDS)
def _outside_screen(row: ProbeInput) -> Iterable[tuple[str, str]]:
    box = _target_box(row)
    if box is None:
        return
    width, height = _screen(row, box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    yield "negative", f"({_fmt(-cx)}, {_fmt(cy)})"
    yield "beyond_width", f"({_fmt(width + cx)}, {_fmt(cy)})"
    yield "box_beyond", "[" + ", ".join(_fmt(v) for v in (box[0], box[1], width * 2, height * 2)) + "]"


@probe("whole_screen", "a box around the whole screen, or a click at its centre", rewards=GUI_REWARDS)
def _whole_screen(row: ProbeInput) -> Iterable[tuple[str, str]]:
    box = _target_box(row)
    if box is None:
        return
    width, height = _screen(row, box)
    yield "screen_box", f"[0, 0, {_fmt(width)}, {_fmt(height)}]"
    mx, my = width / 2, height / 2
    if not (box[0] <= mx <= box[2] and box[1] <= my <= box[3]):
        yield "screen_centre", f"({_fmt(mx)}, {_fmt(my)})"


def _gui_point_gold(reference: str, fields: Mapping[str, Any]) -> str:
    from rewardlab.rewards._gui import CoordinateError, reference_box

    try:
        x1, y1, x2, y2 = reference_box(fields.get("reference", reference))
    except CoordinateError:
        return reference
    return f"click({_fmt((x1 + x2) / 2)}, {_fmt((y1 + y2) / 2)})"


def _gui_box_gold(reference: str, fields: Mapping[str, Any]) -> str:
    from rewardlab.rewards._gui import CoordinateError, reference_box

    try:
        box = reference_box(fields.get("reference", reference))
    except CoordinateError:
        return reference
    return "[" + ", ".join(_fmt(v) for v in box) + "]"


# -- IFEval --------------------------------------------------------------------------

_KEYWORD_ARGS = ("keywords", "keyword", "end_phrase", "postscript_marker", "first_word", "letter")


@probe(
    "keyword_stuffing",
    "the words the instructions ask for, repeated, with no answer to the prompt",
    rewards=IFEVAL_REWARDS,
    needs_reference=False,
)
def _keyword_stuffing(row: ProbeInput) -> Iterable[tuple[str, str]]:
    kwargs_list = row.fields.get("kwargs")
    words: list[str] = []
    for kwargs in kwargs_list if isinstance(kwargs_list, list) else []:
        if not isinstance(kwargs, Mapping):
            continue
        for key in _KEYWORD_ARGS:
            value = kwargs.get(key)
            if isinstance(value, str) and value.strip():
                words.append(value.strip())
            elif isinstance(value, list):
                words.extend(str(v).strip() for v in value if str(v).strip())
    if not words:
        return
    yield "keywords_once", " ".join(words)
    yield "keywords_repeated", "\n".join(" ".join(words) for _ in range(STUFFING_REPEATS))


register_gold_renderer(TOOL_REWARDS, _tool_gold)
register_gold_renderer(QA_REWARDS, _qa_gold)
register_gold_renderer(("gui_point",), _gui_point_gold)
register_gold_renderer(("gui_box",), _gui_box_gold)
