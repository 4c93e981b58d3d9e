"""gui_point / gui_box: GUI-G² Gaussian rewards, coordinate systems, sprays and off-screen output."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewardlab
from rewardlab import Sample, Status
from rewardlab.rewards import parse_coordinates

SCREEN = [1920, 1080]
BOX = [100, 200, 300, 260]  # 200 x 60 pixels, centre (200, 230)
EDGE = math.exp(-0.5 * (0.5 / 0.5) ** 2)  # the Gaussian at the box edge with sigma = half the size


def gauss(dx_in_widths: float, dy_in_heights: float, scale: float = 0.5) -> float:
    return math.exp(-0.5 * ((dx_in_widths / scale) ** 2 + (dy_in_heights / scale) ** 2))


# (id, reward, params, completion, reference, extras, expected value or status)
ROWS = [
    ("point-centre-parens", "gui_point", {}, "(200, 230)", BOX, {}, 1.0),
    ("point-centre-action", "gui_point", {}, "click(200, 230)", BOX, {}, 1.0),
    ("point-centre-brackets", "gui_point", {}, "I will click [200, 230].", BOX, {}, 1.0),
    ("point-json-xy", "gui_point", {}, '{"x": 200, "y": 230}', BOX, {}, 1.0),
    ("point-pyautogui", "gui_point", {}, "pyautogui.click(x=200, y=230)", BOX, {}, 1.0),
    ("point-ui-tars", "gui_point", {}, "Action: click(start_box='(200,230)')", BOX, {}, 1.0),
    ("point-json-action", "gui_point", {}, '```json\n{"action": "click", "coordinate": [200, 230]}\n```', BOX, {}, 1.0),
    ("point-edge", "gui_point", {}, "(300, 230)", BOX, {}, EDGE),
    ("point-corner", "gui_point", {}, "(300, 260)", BOX, {}, gauss(0.5, 0.5)),
    ("point-far", "gui_point", {}, "(1500, 900)", BOX, {}, gauss(6.5, 670 / 60)),
    ("point-sigma-scale", "gui_point", {"sigma_scale": 1.0}, "(300, 230)", BOX, {}, gauss(0.5, 0, 1.0)),
    ("point-from-box-centre", "gui_point", {}, "[150, 210, 250, 250]", BOX, {}, 1.0),
    ("point-repeated-same-place", "gui_point", {}, "(200, 230) -> confirm (200, 230)", BOX, {}, 1.0),
    ("point-think-ignored", "gui_point", {}, "<think>(5, 5) no</think>(200, 230)", BOX, {}, 1.0),
    (
        "point-normalized",
        "gui_point",
        {"coordinates": "normalized", "reference_coordinates": "pixel"},
        f"({200 / 1920:.6f}, {230 / 1080:.6f})",
        BOX,
        {"image_size": SCREEN},
        1.0,
    ),
    (
        "point-normalized-1000",
        "gui_point",
        {"coordinates": "normalized_1000", "reference_coordinates": "pixel"},
        f"({200 / 1920 * 1000:.3f}, {230 / 1080 * 1000:.3f})",
        BOX,
        {"image_size": SCREEN},
        1.0,
    ),
    (
        "point-both-normalized",
        "gui_point",
        {"coordinates": "normalized"},
        "(0.5, 0.5)",
        [0.4, 0.45, 0.6, 0.55],
        {},
        1.0,
    ),
    (
        "point-width-height-fields",
        "gui_point",
        {"coordinates": "normalized", "reference_coordinates": "pixel"},
        f"({200 / 1920:.6f}, {230 / 1080:.6f})",
        BOX,
        {"width": 1920, "height": 1080},
        1.0,
    ),
    ("reference-json-text", "gui_point", {}, "(200, 230)", "[100, 200, 300, 260]", {}, 1.0),
    ("reference-bbox-dict", "gui_point", {}, "(200, 230)", {"bbox": BOX}, {}, 1.0),
    # off the screen: 0 with a reason
    ("point-negative", "gui_point", {}, "(-200, 230)", BOX, {"image_size": SCREEN}, 0.0),
    ("point-beyond-width", "gui_point", {}, "(2120, 230)", BOX, {"image_size": SCREEN}, 0.0),
    (
        "point-beyond-normalized",
        "gui_point",
        {"coordinates": "normalized"},
        "(1.4, 0.5)",
        [0.4, 0.45, 0.6, 0.55],
        {},
        0.0,
    ),
    (
        "point-beyond-1000",
        "gui_point",
        {"coordinates": "normalized_1000"},
        "(1200, 500)",
        [400, 450, 600, 550],
        {},
        0.0,
    ),
    # sprays and junk
    ("spray-two-points", "gui_point", {}, "(200, 230) or (900, 500)", BOX, {}, 0.0),
    (
        "spray-grid",
        "gui_point",
        {},
        " ".join(f"({x}, {y})" for x in range(0, 1920, 200) for y in range(0, 1080, 200)) + " (200, 230)",
        BOX,
        {},
        0.0,
    ),
    ("no-coordinates", "gui_point", {}, "Click the submit button.", BOX, {}, 0.0),
    ("empty", "gui_point", {}, "", BOX, {}, 0.0),
    ("too-long", "gui_point", {}, "x" * 30_000 + "(200, 230)", BOX, {}, 0.0),
    ("no-reference", "gui_point", {}, "(200, 230)", None, {}, Status.ABSTAIN),
    ("reference-not-a-box", "gui_point", {}, "(200, 230)", [200, 230], {}, Status.ABSTAIN),
    ("reference-no-area", "gui_point", {}, "(200, 230)", [300, 200, 100, 260], {}, Status.ABSTAIN),
    (
        "reference-off-screen",
        "gui_point",
        {},
        "(200, 230)",
        [100, 200, 3000, 260],
        {"image_size": SCREEN},
        Status.ABSTAIN,
    ),
    (
        "mixed-systems-without-size",
        "gui_point",
        {"coordinates": "normalized", "reference_coordinates": "pixel"},
        "(0.1, 0.2)",
        BOX,
        {},
        Status.ABSTAIN,
    ),
    # boxes
    ("box-exact", "gui_box", {}, "[100, 200, 300, 260]", BOX, {}, 1.0),
    ("box-parens", "gui_box", {}, "(100, 200, 300, 260)", BOX, {}, 1.0),
    ("box-json", "gui_box", {}, '{"bbox_2d": [100, 200, 300, 260]}', BOX, {}, 1.0),
    ("box-shifted", "gui_box", {}, "[150, 200, 350, 260]", BOX, {}, math.exp(-(50**2) / (4 * 2 * 100**2))),
    ("box-whole-screen", "gui_box", {}, "[0, 0, 1920, 1080]", BOX, {"image_size": SCREEN}, "<0.2"),
    ("box-point-given", "gui_box", {}, "(200, 230)", BOX, {}, 0.0),
    ("box-no-area", "gui_box", {}, "[300, 200, 100, 260]", BOX, {}, 0.0),
    ("box-beyond-screen", "gui_box", {}, "[100, 200, 3000, 260]", BOX, {"image_size": SCREEN}, 0.0),
    ("box-spray", "gui_box", {}, "[100, 200, 300, 260] [0, 0, 50, 50]", BOX, {}, 0.0),
    (
        "box-normalized-1000",
        "gui_box",
        {"coordinates": "normalized_1000", "reference_coordinates": "pixel"},
        f"[{100 / 1.92:.4f}, {200 / 1.08:.4f}, {300 / 1.92:.4f}, {260 / 1.08:.4f}]",
        BOX,
        {"image_size": SCREEN},
        1.0,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_regression_rows(row: tuple) -> None:
    _, name, params, completion, reference, extras, expected = row
    score = rewardlab.load(name, **params).score_one(Sample(completion=completion, reference=reference, extras=extras))
    if isinstance(expected, Status):
        assert score.status is expected, score
        assert score.reason
        return
    assert score.status is Status.OK, score.reason
    if expected == "<0.2":
        assert score.value < 0.2 and score.components["coverage"] > 0.95
    else:
        assert score.value == pytest.approx(expected, abs=1e-4), score
    if score.value == 0.0:
        assert score.reason, "a zero says why"


def test_components() -> None:
    point = rewardlab.load("gui_point").score_one({"completion": "(290, 250)", "reference": BOX})
    assert point.components["inside"] == 1.0 and 0 < point.value < 1
    outside = rewardlab.load("gui_point").score_one({"completion": "(310, 230)", "reference": BOX})
    assert outside.components["inside"] == 0.0 and outside.value > 0.5  # near misses still get a gradient
    box = rewardlab.load("gui_box").score_one({"completion": "[100, 200, 200, 260]", "reference": BOX})
    assert box.components["iou"] == pytest.approx(0.5)
    assert 0 < box.value < 1


def test_parse_coordinates_forms() -> None:
    assert parse_coordinates("(12, 34)") == [(12.0, 34.0)]
    assert parse_coordinates("[1.5, 2.5, 3.5, 4.5]") == [(1.5, 2.5, 3.5, 4.5)]
    assert parse_coordinates('{"point": [5, 6]}') == [(5.0, 6.0)]
    assert parse_coordinates('[{"x": 1, "y": 2}, {"x": 3, "y": 4}]') == [(1.0, 2.0), (3.0, 4.0)]
    assert parse_coordinates("no numbers") == []


_coord = st.floats(0, 1000, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(x=_coord, y=_coord, x1=_coord, y1=_coord, w=st.floats(1, 500), h=st.floats(1, 500))
def test_properties(x: float, y: float, x1: float, y1: float, w: float, h: float) -> None:
    ref = [x1, y1, x1 + w, y1 + h]
    screen = {"image_size": [2000, 2000]}
    point = rewardlab.load("gui_point").score_one({"completion": f"({x}, {y})", "reference": ref, **screen})
    assert point.status is Status.OK and 0.0 <= point.value <= 1.0
    centre = rewardlab.load("gui_point").score_one(
        {"completion": f"({x1 + w / 2}, {y1 + h / 2})", "reference": ref, **screen}
    )
    assert centre.value == pytest.approx(1.0) and centre.value >= point.value - 1e-12
    box = rewardlab.load("gui_box").score_one(
        {"completion": f"[{x1}, {y1}, {x1 + w}, {y1 + h}]", "reference": ref, **screen}
    )
    assert box.value == pytest.approx(1.0)
    # scaling both axes (pixel -> normalised) leaves the point reward unchanged
    norm = rewardlab.load("gui_point", coordinates="normalized", reference_coordinates="pixel").score_one(
        {"completion": f"({x / 2000}, {y / 2000})", "reference": ref, **screen}
    )
    assert norm.value == pytest.approx(point.value, abs=1e-9)
