"""HTML reports from Jinja2 templates with autoescaping on: model output in a report is hostile input.

Every report (audit, diff, bench, ``select --eval``) is a template under ``_templates/``. Python
hands the templates plain data: numbers, strings and plot geometry, never markup, so every
string a model or a data file wrote is escaped where it is printed. No template marks a value
``safe``; a test keeps it so.

The pages are self-contained: inline CSS, inline SVG plots drawn by the templates from the
geometry computed here, no scripts and no external assets.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

FPR_WARN = 0.01
"""Bars above this false-positive rate are drawn in the warning colour."""

SERIES_COLORS = ("#3456c7", "#1a7f4b", "#b54708", "#b42318", "#6941c6", "#5d6678")


def pct(value: float | None, digits: int = 1) -> str:
    """A rate in [0, 1] as a percentage; ``None`` as ``n/a``."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    """A number for a table: short decimals, thousands separators for large whole numbers."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}f}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def thousands(value: int | float) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def score_cell(value: float | None) -> str:
    """A raw score, short."""
    return "n/a" if value is None else f"{value:.4g}"


@functools.cache
def environment() -> Environment:
    """The one template environment: package templates, autoescape on, undefined names fail."""
    # jinja2 is imported on first use: scoring never needs it
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("rewardlab", "_templates"),
        # On for every template whatever its name (select_autoescape would key it on the suffix).
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=pct, num=num, thousands=thousands, score_cell=score_cell)
    return env


def render(template: str, **context: Any) -> str:
    """Render one report template with ``context``; every string in it is escaped on output."""
    return environment().get_template(template).render(**context)


# -- plot geometry: numbers for the templates' SVG macros ------------------------------------------


def bars(items: Sequence[tuple[str, float | None]], *, threshold: float = FPR_WARN) -> dict[str, Any]:
    """Horizontal bars of rates in [0, 1], one per item; ``None`` is drawn as ``n/a``."""
    label_w, bar_w, row_h, top = 190, 420, 24, 26
    width, height = label_w + bar_w + 70, top + row_h * len(items) + 12
    rows = []
    for i, (name, value) in enumerate(items):
        y = top + i * row_h
        w = None if value is None else max(value * bar_w, 1.5 if value > 0 else 0)
        rows.append({"name": name, "value": value, "y": y, "w": w, "bad": value is not None and value > threshold})
    return {
        "width": width,
        "height": height,
        "label_w": label_w,
        "row_h": row_h,
        "top": top,
        "ticks": [(label_w + t * bar_w, int(t * 100)) for t in (0, 0.25, 0.5, 0.75, 1.0)],
        "threshold_x": label_w + threshold * bar_w,
        "rows": rows,
    }


def histogram(edges: Sequence[float], counts: Sequence[int]) -> dict[str, Any] | None:
    """Vertical bars of counts over bins given by ``edges``; ``None`` when there is nothing to draw."""
    if not counts or sum(counts) == 0:
        return None
    left, bottom, plot_w, plot_h, top = 56, 40, 520, 210, 14
    peak = max(counts)
    bw = plot_w / len(counts)
    binned = []
    for i, n in enumerate(counts):
        h = plot_h * n / peak
        binned.append({"x": left + i * bw, "h": h, "y": top + plot_h - h, "n": n, "lo": edges[i], "hi": edges[i + 1]})
    step = max(1, len(counts) // 5)
    return {
        "width": left + plot_w + 16,
        "height": top + plot_h + bottom,
        "left": left,
        "top": top,
        "plot_w": plot_w,
        "plot_h": plot_h,
        "bw": bw,
        "grid": [(top + plot_h - f * plot_h, int(round(f * peak))) for f in (0, 0.5, 1.0)],
        "bins": binned,
        "x_ticks": [(left + i * bw, edges[i]) for i in range(0, len(edges), step)],
    }


def confusion(matrix: Mapping[str, int]) -> dict[str, Any]:
    """A 2x2 confusion matrix: rows are labels, columns the reward's decision."""
    tp, fp, tn, fn = (int(matrix.get(k, 0)) for k in ("tp", "fp", "tn", "fn"))
    peak = max(tp, fp, tn, fn, 1)
    left, top, size = 120, 44, 150
    cells = []
    for k, (name, n, good) in enumerate((("TP", tp, True), ("FN", fn, False), ("FP", fp, False), ("TN", tn, True))):
        i, j = divmod(k, 2)
        alpha = 0.12 + 0.75 * n / peak
        cells.append(
            {
                "x": left + j * size,
                "y": top + i * size,
                "name": name,
                "n": n,
                "fill": f"rgba({'26,127,75' if good else '180,35,24'},{alpha:.2f})",
                "light_text": alpha > 0.55,
            }
        )
    return {"width": left + 2 * size + 20, "height": top + 2 * size + 16, "left": left, "top": top, "size": size,
            "cells": cells}  # fmt: skip


def scatter(points: Sequence[Sequence[float]]) -> dict[str, Any] | None:
    """Reward (y) against completion length (x); a small deterministic jitter separates discrete rewards."""
    if not points:
        return None
    left, bottom, plot_w, plot_h, top = 56, 40, 520, 210, 12
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    x_hi = max(xs) or 1.0
    y_lo, y_hi = min(ys), max(ys)
    if y_hi - y_lo < 1e-12:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = 0.06 * (y_hi - y_lo)
    y_lo, y_hi = y_lo - pad, y_hi + pad
    dots = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        jitter = ((i * 2654435761) % 1000 / 1000.0 - 0.5) * 0.04 * (y_hi - y_lo)
        dots.append((left + plot_w * x / x_hi, top + plot_h * (1 - (y + jitter - y_lo) / (y_hi - y_lo))))
    return {
        "width": left + plot_w + 16,
        "height": top + plot_h + bottom,
        "left": left,
        "top": top,
        "plot_w": plot_w,
        "plot_h": plot_h,
        "dots": dots,
        "x_ticks": [(left + f * plot_w, f * x_hi) for f in (0, 0.5, 1.0)],
        "y_ticks": [(top + plot_h * (1 - f), y_lo + f * (y_hi - y_lo)) for f in (0, 0.5, 1.0)],
    }


def lines(series: Mapping[str, Sequence[tuple[float, float]]], *, log2_x: bool = True) -> dict[str, Any] | None:
    """A line chart of named series of (x, y) points, y a rate in [0, 1]; x on a log2 axis by default."""
    points = [p for s in series.values() for p in s]
    if not points:
        return None
    left, right, top, bottom, width, height = 56, 150, 16, 44, 640, 320
    xs = [math.log2(x) if log2_x else x for x, _ in points]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    ys = [y for _, y in points]
    y0, y1 = max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05)
    y1 = y1 if y1 > y0 else y0 + 0.1

    def sx(x: float) -> float:
        v = math.log2(x) if log2_x else x
        return left + (v - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    drawn = []
    for n, (name, pts) in enumerate(series.items()):
        ordered = sorted(pts)
        drawn.append(
            {
                "name": name,
                "color": SERIES_COLORS[n % len(SERIES_COLORS)],
                "points": " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered),
                "dots": [(sx(x), sy(y)) for x, y in ordered],
                "legend_y": top + 14 + n * 18,
            }
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "bottom": bottom,
        "y_ticks": [(sy(y0 + (y1 - y0) * k / 4), y0 + (y1 - y0) * k / 4) for k in range(5)],
        "x_ticks": [(sx(x), x) for x in sorted({x for x, _ in points})],
        "series": drawn,
    }


__all__ = ["FPR_WARN", "bars", "confusion", "environment", "histogram", "lines", "num", "pct", "render", "scatter",
           "score_cell", "thousands"]  # fmt: skip
