"""GUI grounding rewards after GUI-G² (Tang et al., 2025, "GUI-G²: Gaussian Reward Modeling for GUI Grounding").

The target element is a box ``[x1, y1, x2, y2]``; it is modelled as a Gaussian
centred on the box with standard deviations ``sigma_scale`` times its width and
height, so a small icon demands precision and a wide text field forgives.

- ``gui_point``: a predicted click ``(x, y)`` scores the Gaussian's density
  relative to its peak, ``exp(-((x-cx)^2/sx^2 + (y-cy)^2/sy^2) / 2)``: 1 at the
  centre, about 0.61 at the box edge with the default scale.
- ``gui_box``: a predicted box is modelled the same way and scores the
  Bhattacharyya coefficient of the two Gaussians (their overlap): 1 only for
  the target box itself, falling with misplacement and with a size mismatch,
  so a box around the whole screen earns little.

Coordinates are read from ``(x, y)``, ``[x, y]``, ``[x1, y1, x2, y2]``, ``(x1, y1,
x2, y2)``, ``x=.., y=..`` (pyautogui style) and JSON (``{"x": .., "y": ..}``, ``{"point": [..]}``, ``{"bbox": [..]}``).
A completion naming several different places (a click spray) commits to none
and scores 0; so does any coordinate outside the screen.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rewardlab._reward import reward
from rewardlab._types import Sample, Score
from rewardlab.rewards.math._answer import strip_thinking

MAX_GUI_TEXT_CHARS = 20_000
"""A grounding answer longer than this is not read (an action is a line, not a page)."""

MAX_CANDIDATES = 64
"""More coordinate groups than this in one completion are not collected (a spray is refused anyway)."""

Coordinates = Literal["pixel", "normalized", "normalized_1000"]

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_GROUP = re.compile(
    rf"[\(\[]\s*({_NUM})\s*,\s*({_NUM})\s*(?:,\s*({_NUM})\s*,\s*({_NUM})\s*)?[\)\]]",
)
_KEYWORD_POINT = re.compile(rf"\bx\s*[=:]\s*({_NUM})\s*,\s*y\s*[=:]\s*({_NUM})", re.IGNORECASE)
_POINT_KEYS = ("point", "coordinate", "coordinates", "click", "position", "point_2d")
_BOX_KEYS = ("bbox", "box", "bbox_2d", "rect")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


class CoordinateError(ValueError):
    """Text or data that should hold coordinates does not."""


def _numbers(value: Any) -> tuple[float, ...] | None:
    if isinstance(value, (list, tuple)) and len(value) in (2, 4):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
    return None


def _from_json(value: Any) -> list[tuple[float, ...]]:
    direct = _numbers(value)
    if direct is not None:
        return [direct]
    if isinstance(value, Mapping):
        if isinstance(value.get("x"), (int, float)) and isinstance(value.get("y"), (int, float)):
            return [(float(value["x"]), float(value["y"]))]
        for key in (*_BOX_KEYS, *_POINT_KEYS):
            if key in value:
                return _from_json(value[key])
        for key in ("action", "arguments", "args", "params"):
            if isinstance(value.get(key), (Mapping, list)):
                return _from_json(value[key])
        return []
    if isinstance(value, list) and len(value) <= MAX_CANDIDATES:
        found: list[tuple[float, ...]] = []
        for item in value:
            found.extend(_from_json(item))
        return found
    return []


def parse_coordinates(text: str) -> list[tuple[float, ...]]:
    """Every point ``(x, y)`` or box ``(x1, y1, x2, y2)`` a completion names, in order.

    JSON (the whole answer, optionally fenced) is read by its keys; other text by
    its bracketed number groups. Text inside ``<think>`` is ignored.

    Example:
        >>> parse_coordinates("click(120, 45)")
        [(120.0, 45.0)]
        >>> parse_coordinates('{"bbox": [10, 20, 30, 40]}')
        [(10.0, 20.0, 30.0, 40.0)]
    """
    if len(text) > MAX_GUI_TEXT_CHARS:
        raise CoordinateError(f"answer longer than {MAX_GUI_TEXT_CHARS} characters")
    visible = strip_thinking(text).strip()
    fenced = _FENCE.match(visible)
    body = fenced.group(1).strip() if fenced else visible
    if body.startswith(("{", "[")):
        try:
            return _from_json(json.loads(body))
        except (json.JSONDecodeError, RecursionError):
            pass
    hits: list[tuple[int, tuple[float, ...]]] = []
    for pattern in (_GROUP, _KEYWORD_POINT):
        for m in pattern.finditer(visible):
            hits.append((m.start(), tuple(float(g) for g in m.groups() if g is not None)))
            if len(hits) > MAX_CANDIDATES:
                break
    return [coords for _, coords in sorted(hits)]


def reference_box(reference: Any) -> tuple[float, float, float, float]:
    value = reference
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            found = parse_coordinates(value)
            value = list(found[0]) if len(found) == 1 else None
    if isinstance(value, Mapping):
        value = next((value[k] for k in _BOX_KEYS if k in value), None)
    numbers = _numbers(value)
    if numbers is None or len(numbers) != 4:
        raise CoordinateError("reference is not a box [x1, y1, x2, y2]")
    x1, y1, x2, y2 = numbers
    if not (x2 > x1 and y2 > y1) or not all(math.isfinite(v) for v in numbers):
        raise CoordinateError(f"reference box {list(numbers)} has no area")
    return x1, y1, x2, y2


def _screen(sample: Sample, size_field: str) -> tuple[float, float] | None:
    raw = sample.get(size_field) if size_field else None
    if raw is None:
        w, h = sample.get("width"), sample.get("height")
        raw = [w, h] if w is not None and h is not None else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return None
    if isinstance(raw, Mapping):
        raw = [raw.get("width"), raw.get("height")]
    numbers = _numbers(raw)
    if numbers is None or len(numbers) != 2 or min(numbers) <= 0:
        return None
    return numbers[0], numbers[1]


_SPAN = {"normalized": 1.0, "normalized_1000": 1000.0}


def _to_common(
    values: Sequence[float], system: Coordinates, target: Coordinates, screen: tuple[float, float] | None
) -> list[float]:
    """Coordinates in ``system`` re-expressed in ``target`` (needs the screen size for pixels)."""
    if system == target:
        return list(values)
    if (system == "pixel" or target == "pixel") and screen is None:
        raise CoordinateError("pixel and normalised coordinates mixed without a screen size")
    out = []
    for k, v in enumerate(values):
        extent = screen[k % 2] if screen else 1.0
        unit = v / (extent if system == "pixel" else _SPAN[system])
        out.append(unit * (extent if target == "pixel" else _SPAN[target]))
    return out


def _bounds(system: Coordinates, screen: tuple[float, float] | None) -> tuple[float, float] | None:
    if system == "pixel":
        return screen
    return (_SPAN[system], _SPAN[system])


def _outside(values: Sequence[float], bounds: tuple[float, float] | None) -> bool:
    if any(v < 0 for v in values):
        return True
    if bounds is None:
        return False
    return any(v > bounds[k % 2] for k, v in enumerate(values))


def _prepare(
    sample: Sample,
    coordinates: Coordinates,
    reference_coordinates: Coordinates | None,
    size_field: str,
    want: int,
) -> tuple[list[float], tuple[float, float, float, float]] | Score:
    if sample.reference is None:
        return Score.abstain("no reference box")
    screen = _screen(sample, size_field)
    ref_system = reference_coordinates or coordinates
    try:
        ref_box = reference_box(sample.reference)
        if _outside(ref_box, _bounds(ref_system, screen)):
            raise CoordinateError(f"reference box {list(ref_box)} lies outside the screen")
        common = _to_common(ref_box, ref_system, coordinates, screen)
    except CoordinateError as exc:
        return Score.abstain(str(exc))
    try:
        found = parse_coordinates(sample.completion_text)
    except CoordinateError as exc:
        return Score.ok(0.0, components={"format": 0.0}, reason=str(exc))
    distinct = sorted(set(found))
    if not distinct:
        return Score.ok(0.0, components={"format": 0.0}, reason="no coordinates found")
    if len(distinct) > 1:
        return Score.ok(0.0, components={"format": 0.0}, reason=f"{len(distinct)} different places named (a spray)")
    pred = list(distinct[0])
    if want == 4 and len(pred) != 4:
        return Score.ok(0.0, components={"format": 0.0}, reason="expected a box [x1, y1, x2, y2], got a point")
    if _outside(pred, _bounds(coordinates, screen)):
        return Score.ok(0.0, components={"format": 1.0, "on_screen": 0.0}, reason=f"{pred} is outside the screen")
    if len(pred) == 4 and not (pred[2] > pred[0] and pred[3] > pred[1]):
        return Score.ok(0.0, components={"format": 0.0}, reason=f"box {pred} has no area (x2 <= x1 or y2 <= y1)")
    x1, y1, x2, y2 = common
    return pred, (x1, y1, x2, y2)


def _check_scale(sigma_scale: float) -> None:
    if not sigma_scale > 0:
        raise ValueError("sigma_scale must be positive")


@reward(name="gui_point", range=(0.0, 1.0))
def gui_point(
    sample: Sample,
    *,
    coordinates: Coordinates = "pixel",
    reference_coordinates: Coordinates | None = None,
    sigma_scale: float = 0.5,
    size_field: str = "image_size",
) -> Score:
    """GUI-G² Gaussian point reward: a click scored by a Gaussian on the target element.

    The reference is the element's box ``[x1, y1, x2, y2]`` (a list, its JSON
    text, or ``{"bbox": [...]}``). ``coordinates`` says how the prediction is
    expressed (``pixel``, ``normalized`` to [0, 1], or ``normalized_1000`` as
    Qwen-VL and UI-TARS emit); the reference uses ``reference_coordinates``
    (default: the same). Mixing pixel and normalised needs the screen size from
    ``size_field`` (``[width, height]``) or ``width``/``height`` fields, which
    also bounds pixel coordinates. A predicted box counts as its centre.
    Components: ``inside`` (the click is in the box), ``on_screen``, ``format``.
    """
    _check_scale(sigma_scale)
    prepared = _prepare(sample, coordinates, reference_coordinates, size_field, want=2)
    if isinstance(prepared, Score):
        return prepared
    pred, (x1, y1, x2, y2) = prepared
    if len(pred) == 4:
        pred = [(pred[0] + pred[2]) / 2, (pred[1] + pred[3]) / 2]
    x, y = pred
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx, sy = sigma_scale * (x2 - x1), sigma_scale * (y2 - y1)
    value = math.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))
    inside = float(x1 <= x <= x2 and y1 <= y <= y2)
    return Score.ok(value, components={"inside": inside, "on_screen": 1.0, "format": 1.0})


def _bhattacharyya_1d(m1: float, s1: float, m2: float, s2: float) -> float:
    var = s1 * s1 + s2 * s2
    return math.sqrt(2 * s1 * s2 / var) * math.exp(-((m1 - m2) ** 2) / (4 * var))


def _normal_mass(lo: float, hi: float, mean: float, sd: float) -> float:
    def cdf(v: float) -> float:
        return 0.5 * (1 + math.erf((v - mean) / (sd * math.sqrt(2))))

    return max(0.0, cdf(hi) - cdf(lo))


@reward(name="gui_box", range=(0.0, 1.0))
def gui_box(
    sample: Sample,
    *,
    coordinates: Coordinates = "pixel",
    reference_coordinates: Coordinates | None = None,
    sigma_scale: float = 0.5,
    size_field: str = "image_size",
) -> Score:
    """GUI-G²-style Gaussian box reward: overlap of the predicted and target boxes' Gaussians.

    Both boxes become axis-aligned Gaussians (centre, ``sigma_scale`` times the
    size); the value is their Bhattacharyya coefficient, 1 only when the boxes
    coincide. Components: ``coverage`` (the target Gaussian's mass inside the
    predicted box), ``iou``, ``format``, ``on_screen``. Coordinates and the
    reference work as in `gui_point`; a predicted point scores 0.
    """
    _check_scale(sigma_scale)
    prepared = _prepare(sample, coordinates, reference_coordinates, size_field, want=4)
    if isinstance(prepared, Score):
        return prepared
    pred, (x1, y1, x2, y2) = prepared
    p1, q1, p2, q2 = pred
    overlap = 1.0
    coverage = 1.0
    for a1, a2, b1, b2 in ((p1, p2, x1, x2), (q1, q2, y1, y2)):
        overlap *= _bhattacharyya_1d((a1 + a2) / 2, sigma_scale * (a2 - a1), (b1 + b2) / 2, sigma_scale * (b2 - b1))
        coverage *= _normal_mass(a1, a2, (b1 + b2) / 2, sigma_scale * (b2 - b1))
    inter = max(0.0, min(p2, x2) - max(p1, x1)) * max(0.0, min(q2, y2) - max(q1, y1))
    union = (p2 - p1) * (q2 - q1) + (x2 - x1) * (y2 - y1) - inter
    components = {"coverage": coverage, "iou": inter / union if union > 0 else 0.0, "format": 1.0, "on_screen": 1.0}
    return Score.ok(min(1.0, overlap), components=components)


__all__ = ["gui_box", "gui_point", "parse_coordinates"]
