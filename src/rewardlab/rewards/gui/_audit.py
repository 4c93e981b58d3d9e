"""What the audit needs to know about the GUI family: click sprays, off-screen coordinates, gold answers.

Probes read the row's reference as given (``row.fields["reference"]``: a box)
where its text form is not enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rewardlab._probe import ProbeInput, TaskField, probe, register_gold_renderer, register_task_fields
from rewardlab.rewards.gui._gui import CoordinateError, reference_box

GUI_REWARDS = ("gui_point", "gui_box")
"""Reward names the GUI probes apply to."""

SPRAY_GRID = 5
"""Points per side of the click-spray grid (25 clicks spread over the screen)."""


def _target_box(row: ProbeInput) -> tuple[float, float, float, float] | None:
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
    try:
        x1, y1, x2, y2 = reference_box(fields.get("reference", reference))
    except CoordinateError:
        return reference
    return f"click({_fmt((x1 + x2) / 2)}, {_fmt((y1 + y2) / 2)})"


def _gui_box_gold(reference: str, fields: Mapping[str, Any]) -> str:
    try:
        box = reference_box(fields.get("reference", reference))
    except CoordinateError:
        return reference
    return "[" + ", ".join(_fmt(v) for v in box) + "]"


register_gold_renderer(("gui_point",), _gui_point_gold)
register_gold_renderer(("gui_box",), _gui_box_gold)
register_task_fields(
    GUI_REWARDS,
    [
        TaskField("image_size", "the screen's [width, height]", param="size_field"),
        TaskField("width", "the screen's width (when there is no image_size)"),
        TaskField("height", "the screen's height (when there is no image_size)"),
    ],
)
